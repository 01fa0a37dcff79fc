"""`imitate report`: one self-contained, escaped HTML page; missing stages read "not run yet"."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imitate.errors import UserError
from imitate.stages import report

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
IMG = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def copy_run(tmp_path: Path, *names: str) -> Path:
    """A copy of the fixture run, whole or holding only `names`."""
    out = tmp_path / "run"
    if not names:
        shutil.copytree(FIXTURE, out)
        return out
    out.mkdir(parents=True)
    for n in names:
        shutil.copy(FIXTURE / n, out / n)
    return out


def write_report(run_dir: Path, **kw) -> str:
    assert report.run(report.Config(run=run_dir, **kw)) == 0
    return (kw.get("out") or run_dir / "report.html").read_text(encoding="utf-8")


def test_full_report_is_self_contained_and_complete(tmp_path):
    run_dir = copy_run(tmp_path)
    page = write_report(run_dir)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    images = IMG.findall(page)
    assert len(images) == 8  # one per figure
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page
    assert 'class="missing"' not in page and 'class="error"' not in page
    assert json.loads((run_dir / "report_config.json").read_text())["run"] == str(run_dir)


def test_summary_is_the_first_section(tmp_path):
    run_dir = copy_run(tmp_path)
    page = write_report(run_dir)
    stats = json.loads((run_dir / "filter_stats.json").read_text())
    first = re.findall(r"<h2[^>]*>([^<]*)</h2>", page)[0]
    assert first == "Summary"
    summary = page.split("<h2", 2)[1]
    share = round(100 * stats["kept"] / stats["input"])
    assert f"{stats['input']} collected → {stats['kept']} kept ({share}%)" in summary
    top = max(stats["reasons"], key=stats["reasons"].get)
    assert f"dropped most for {top} ({stats['reasons'][top]})" in summary
    assert "reference accuracy" in summary and "filter pass rate" in summary   # the eval table
    assert "max tokens per answer" in summary and "LoRA rank" in summary      # the settings
    assert ">report<" not in page.split("<h2>Stages</h2>")[1].split("</table>")[0]   # not this page


def test_record_text_is_escaped(tmp_path):
    page = write_report(copy_run(tmp_path))
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; done" in page
    assert "<script" not in page.lower()
    # Korean questions of dropped records come through as text
    korean = [r for r in map(json.loads, (FIXTURE / "dropped.jsonl").read_text().splitlines())
              if r["drop_reason"].startswith("lang_mismatch")]
    assert korean and korean[0]["messages"][1]["content"] in page


def test_partial_runs_show_not_run_yet(tmp_path):
    page = write_report(copy_run(tmp_path / "a", "collected.jsonl"))
    assert len(IMG.findall(page)) == 4  # categories, answer length, language mix, teacher usage
    # drop reasons, dropped examples, collect summary, failed requests, selection (figure and table miss the
    # same files: one note), fine-tuning (the same), evaluation (figure and table: one note; its examples:
    # another), the summary's settings
    assert page.count('class="missing">not run yet') == 9
    assert "needs finetune_stats.json" in page

    page = write_report(copy_run(tmp_path / "b", "finetune_stats.json"))
    assert len(IMG.findall(page)) == 1 and "held-out" in page

    empty = tmp_path / "c"
    empty.mkdir()
    page = write_report(empty)
    assert not IMG.findall(page) and page.count('class="missing">not run yet') >= 7  # every section


def test_out_elsewhere(tmp_path):
    run_dir = copy_run(tmp_path, "collected.jsonl")
    out = tmp_path / "pages" / "r.html"
    write_report(run_dir, out=out)
    assert out.is_file() and not (run_dir / "report.html").exists()


def test_config_errors(tmp_path):
    with pytest.raises(UserError, match="run folder not found"):
        report.Config(run=tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        report.Config(run=tmp_path / "f")
    with pytest.raises(UserError, match="--examples"):
        report.Config(run=tmp_path, examples=-1)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "imitate", "report", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_the_report(tmp_path):
    run_dir = copy_run(tmp_path)
    res = cli("--run", str(run_dir), "--examples", "1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"wrote {run_dir / 'report.html'}"
    assert "Dropped examples (1 per reason)" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_cli_missing_folder_exits_2(tmp_path):
    res = cli("--run", str(tmp_path / "nope"))
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: {tmp_path / 'nope'}: run folder not found"


def test_cli_bad_line_exits_2_naming_it(tmp_path):
    run_dir = copy_run(tmp_path, "kept.jsonl")
    with open(run_dir / "kept.jsonl", "a", encoding="utf-8") as f:
        f.write("[1, 2]\n")
    res = cli("--run", str(run_dir))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    n = len((run_dir / "kept.jsonl").read_text(encoding="utf-8").splitlines())
    assert f"kept.jsonl:{n}: a line must be a JSON object" in res.stderr
