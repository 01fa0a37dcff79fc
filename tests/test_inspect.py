"""imitate.inspect: load a run folder (whole or partial) into pandas, and draw every figure."""
from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from imitate import inspect as insp
from imitate.errors import UserError

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
TABLES = [insp.category_counts, *insp.TABLES]


def raw(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURE / name).read_text(encoding="utf-8").splitlines() if line]


def partial(tmp_path: Path, *names: str) -> Path:
    """A copy of the fixture run holding only `names`."""
    out = tmp_path / "run"
    out.mkdir()
    for n in names:
        shutil.copy(FIXTURE / n, out / n)
    return out


@pytest.fixture(scope="module")
def full():
    return insp.load_run(FIXTURE)


def test_script_language():
    assert insp.script_language("하늘은 왜 파란가요?") == "ko"
    assert insp.script_language("Why is the sky blue?") == "en"
    # Korean prose with an English term and code names: still Korean
    assert insp.script_language("Rayleigh 산란 때문에 하늘이 파랗게 보입니다. fib(n) 함수를 씁니다.") == "ko"
    assert insp.script_language("Korean word 하나 in an English sentence about many things") == "en"
    assert insp.script_language("12 * 7 = 84") == "other"
    assert insp.script_language("") == "other"


def test_add_columns_prefers_the_records_own_language_and_fills_category():
    recs = [{"messages": [{"role": "user", "content": "안녕하세요?"},
                          {"role": "assistant", "content": "Hello there, how are you?"}]},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "네 알겠습니다"}],
             "category": "chat", "language": "ja", "usage": {"prompt_tokens": 5, "completion_tokens": 3},
             "teacher": {"model": "t1"}}]
    df = insp.add_columns(pd.DataFrame(recs))
    assert list(df["language"]) == ["en", "ja"]  # heuristic on the answer; the stamped field wins
    assert list(df["category"]) == ["(none)", "chat"]
    assert list(df["question"]) == ["안녕하세요?", "q"]
    assert list(df["answer_chars"]) == [len("Hello there, how are you?"), len("네 알겠습니다")]
    assert list(df["answer_words"]) == [5, 2]
    assert list(df["teacher_model"]) == ["(unknown)", "t1"]
    assert pd.isna(df["completion_tokens"][0]) and df["completion_tokens"][1] == 3


def test_add_columns_on_an_empty_frame():
    df = insp.add_columns(pd.DataFrame(columns=["messages"]))
    assert len(df) == 0 and {"answer_chars", "language", "category", "drop_reason"} <= set(df.columns)


def test_load_run_full(full):
    assert len(full.collected) == len(raw("collected.jsonl"))
    assert len(full.kept) + len(full.dropped) == full.filter_stats["input"] == len(full.collected)
    assert len(full.failed) == full.collect_stats["failed"] == len(raw("failed.jsonl"))
    assert full.finetune_stats["log_history"]
    want = [r["messages"][-1]["content"] for r in raw("dropped.jsonl")]
    assert list(full.dropped["answer"]) == want
    assert list(full.dropped["drop_reason"]) == [r["drop_reason"] for r in raw("dropped.jsonl")]
    assert {"en", "ko"} <= set(full.collected["language"]) <= {"en", "ko", "other"}   # other: "84"
    status = insp.stages(full).set_index("stage")["status"]
    assert status["collect"] == status["filter"] == status["finetune"] == "done"
    assert status["questions"] == "not run yet"


def test_load_run_only_collected(tmp_path):
    run = insp.load_run(partial(tmp_path, "collected.jsonl"))
    assert len(run.collected) == len(raw("collected.jsonl"))
    assert run.kept is None and run.dropped is None and run.failed is None
    assert run.collect_stats is None and run.filter_stats is None and run.finetune_stats is None
    assert insp.stages(run).set_index("stage")["status"]["collect"] == "partial"
    counts = insp.category_counts(run)
    assert counts["after"].isna().all()
    assert dict(zip(counts["category"], counts["before"])) == dict(Counter(r["category"] for r in raw(
        "collected.jsonl")))
    for fn in (insp.fig_categories, insp.fig_answer_length, insp.fig_language_mix, insp.fig_teacher_usage):
        assert isinstance(fn(run), Figure)
    for fn in (insp.fig_drop_reasons, insp.fig_loss_curve, insp.dropped_examples, insp.collect_summary):
        with pytest.raises(insp.NotRunYet, match="in .*run"):
            fn(run)


def test_load_run_only_finetune_stats(tmp_path):
    run = insp.load_run(partial(tmp_path, "finetune_stats.json"))
    assert run.finetune_stats["eval_loss_after"] == 1.21
    assert run.collected is None and run.kept is None
    assert isinstance(insp.fig_loss_curve(run), Figure)
    assert set(insp.finetune_summary(run)["metric"]) >= {"held-out loss before", "held-out loss after"}
    with pytest.raises(insp.NotRunYet, match="collected.jsonl"):
        insp.fig_answer_length(run)


def test_load_run_empty_folder(tmp_path):
    run = insp.load_run(partial(tmp_path))
    for attr in ("collected", "failed", "kept", "dropped", "collect_stats", "filter_stats", "finetune_stats"):
        assert getattr(run, attr) is None
    assert set(insp.stages(run)["status"]) == {"not run yet"}
    for fn in insp.FIGURES + TABLES:
        with pytest.raises(insp.NotRunYet):
            fn(run)


def test_load_run_missing_folder_or_file(tmp_path):
    with pytest.raises(UserError, match="run folder not found"):
        insp.load_run(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        insp.load_run(tmp_path / "f")


def test_load_run_skips_a_torn_tail_but_names_a_bad_line(tmp_path):
    run_dir = partial(tmp_path, "collected.jsonl")
    path = run_dir / "collected.jsonl"
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"messages": [{"role": "user", "cont')  # a collect still writing
    assert len(insp.load_run(run_dir).collected) == len(raw("collected.jsonl"))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = "{not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"collected.jsonl:3: invalid JSON"):
        insp.load_run(run_dir)
    (run_dir / "collected.jsonl").unlink()
    (run_dir / "filter_stats.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(UserError, match=r"filter_stats.json:1: invalid JSON"):
        insp.load_run(run_dir)


@pytest.mark.parametrize("fn", insp.FIGURES, ids=lambda f: f.__name__)
def test_every_figure_draws_on_the_full_fixture(full, fn):
    fig = fn(full)
    assert isinstance(fig, Figure)
    assert any(ax.has_data() for ax in fig.axes)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("fn", TABLES, ids=lambda f: f.__name__)
def test_every_table_has_rows_on_the_full_fixture(full, fn):
    df = fn(full)
    assert isinstance(df, pd.DataFrame) and len(df) > 0


def test_category_counts_match_filter_stats_and_frames(full, tmp_path):
    counts = insp.category_counts(full).set_index("category")
    assert counts["before"].to_dict() == full.filter_stats["categories_before"]
    assert counts["after"].to_dict() == full.filter_stats["categories_after"]
    code = counts.loc["code"]
    assert code["kept_pct"] == round(100 * code["after"] / code["before"], 1)
    # without filter_stats.json the counts come from the frames, and agree
    run = insp.load_run(partial(tmp_path, "collected.jsonl", "kept.jsonl"))
    assert insp.category_counts(run).set_index("category")[["before", "after"]].equals(
        counts[["before", "after"]].loc[insp.category_counts(run)["category"]])


def test_drop_reasons_from_dropped_alone(tmp_path):
    run = insp.load_run(partial(tmp_path, "dropped.jsonl"))
    fig = insp.fig_drop_reasons(run)
    ax = fig.axes[0]
    drawn = {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert drawn == dict(Counter(r["drop_reason"] for r in raw("dropped.jsonl")))


def test_dropped_examples(full):
    df = insp.dropped_examples(full, per_reason=2, width=20)
    reasons = Counter(r["drop_reason"] for r in raw("dropped.jsonl"))
    assert set(df["drop_reason"]) == set(reasons)
    assert dict(Counter(df["drop_reason"])) == {r: min(n, 2) for r, n in reasons.items()}
    assert df["answer"].str.len().max() <= 20 and df["answer"].str.endswith("…").any()
    assert json.loads(insp.dropped_examples(full, width=1000)["evidence"][0])  # evidence kept as JSON


def test_teacher_table_sums_usage(full):
    table = insp.teacher_table(full).set_index("teacher")
    recs = raw("collected.jsonl")
    for model in {r["teacher"]["model"] for r in recs}:
        mine = [r for r in recs if r["teacher"]["model"] == model]
        assert table.loc[model, "answers"] == len(mine)
        assert table.loc[model, "completion_tokens"] == sum(r["usage"]["completion_tokens"] for r in mine)
    assert table["failed"].sum() == len(raw("failed.jsonl"))


def test_failed_table_groups_errors(full):
    table = insp.failed_table(full)
    recs = raw("failed.jsonl")
    assert table["requests"].sum() == len(recs)
    assert set(zip(table["teacher"], table["error"])) == {(r["teacher"], r["error"]) for r in recs}


def test_loss_curve_plots_the_log_history(full):
    ax = insp.fig_loss_curve(full).axes[0]
    train = [h for h in full.finetune_stats["log_history"] if "loss" in h]
    line = next(l for l in ax.get_lines() if l.get_label() == "train loss")
    assert list(line.get_ydata()) == [h["loss"] for h in train]
    assert "1.920 → 1.210" in ax.get_title()


def test_show_prints_not_run_yet(tmp_path, capsys, full):
    assert isinstance(insp.show(insp.fig_loss_curve, full), Figure)
    empty = insp.load_run(partial(tmp_path))
    assert insp.show(insp.fig_loss_curve, empty) is None
    assert "not run yet: fig_loss_curve needs finetune_stats.json" in capsys.readouterr().out


def test_stages_list_every_student_the_run_trained(tmp_path):
    """finetune --output puts a student anywhere in the run (the demo's student_kd): the Stages table
    names each folder that holds a student's finetune_stats.json, and no other folder."""
    path = partial(tmp_path, "finetune_stats.json")
    for name, stats in (("student", True), ("student_kd", True), ("pruned", False)):
        (path / name).mkdir()
        if stats:
            (path / name / "finetune_stats.json").write_text("{}")
    files = insp.stages(insp.load_run(path)).set_index("stage")["files"]["finetune"].split(", ")
    assert {"student", "student_kd"} <= set(files) and "pruned" not in files
