"""The run-folder contract: every stage writes exactly the files it declares (WRITES), one default
run folder, and the README's and docs' tables of files and drop codes match the declarations."""
import os
import re
from pathlib import Path

import pytest
from conftest import ROOT
from fault_server import FaultServer
from seed_teacher import teacher
from test_questions_stage import seeds_file

from imitate import config as config_mod
from imitate.filters.balance import Balance
from imitate.cli import main
from imitate.filters import FILTERS
from imitate.rundir import DEFAULT, FILES, STAGES, RunDir, files_table


def snapshot(run: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in run.iterdir()} if run.exists() else {}


def written(run: Path, before: dict) -> set[str]:
    after = snapshot(run)
    return {name for name, t in after.items() if before.get(name) != t}


def check(stage: str, run: Path, before: dict) -> None:
    _, writes = STAGES[stage]
    names = written(run, before)
    declared = {FILES[k].name for k in writes}
    always = {FILES[k].name for k in writes if not FILES[k].when}
    assert names <= declared, f"{stage} wrote undeclared files: {names - declared}"
    assert always <= names, f"{stage} did not write {always - names}"


def test_each_stage_writes_exactly_what_it_declares(tmp_path, tiny):  # noqa: F811
    run = tmp_path / "run"
    with FaultServer(answer=teacher()) as srv:
        before = snapshot(run)
        assert main(["questions", "--seeds", str(seeds_file(tmp_path)), "--run", str(run), "--teacher-url",
                     srv.url, "--teacher-model", "t", "--n", "4"]) == 0
        check("questions", run, before)
        before = snapshot(run)
        assert main(["collect", "--run", str(run), "--teacher-url", srv.url, "--teacher-model", "t",
                     "--max-tokens", "16", "--samples", "3"]) == 0
        check("collect", run, before)
    before = snapshot(run)
    assert main(["filter", "--run", str(run), "--filters", "none", "--balance", "none"]) == 0
    check("filter", run, before)
    with FaultServer(answer=lambda body: "Score: 4\nAccurate.") as srv:   # the teacher rates
        before = snapshot(run)
        assert main(["select", "--run", str(run), "--by", "ifd,judge", "--model", str(tiny), "--keep-share", "0.8",
                     "--teacher-url", srv.url, "--teacher-model", "t"]) == 0
        check("select", run, before)
    before = snapshot(run)
    assert main(["finetune", "--run", str(run), "--student", str(tiny), "--max-steps", "1", "--batch-size", "2",
                 "--max-length", "256"]) == 0
    check("finetune", run, before)
    with FaultServer(answer=teacher()) as srv:   # the teacher judges
        before = snapshot(run)
        assert main(["eval", "--run", str(run), "--teacher-url", srv.url, "--teacher-model", "t",
                     "--max-tokens", "4"]) == 0
        check("eval", run, before)
    for stage, args in (("export", []), ("report", [])):
        before = snapshot(run)
        assert main([stage, "--run", str(run), *args]) == 0
        check(stage, run, before)


def test_collect_asks_the_questions_the_questions_stage_wrote(tmp_path, capsys):
    run = tmp_path / "run"
    with FaultServer(answer=teacher()) as srv:
        assert main(["questions", "--seeds", str(seeds_file(tmp_path)), "--run", str(run), "--teacher-url",
                     srv.url, "--teacher-model", "t", "--n", "3"]) == 0
        assert main(["collect", "--run", str(run), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"seed questions: {RunDir(run).questions}" in out and "dry run: 3 requests" in out


def test_one_default_run_folder():
    for stage in STAGES:
        cls = __import__(f"imitate.stages.{stage}", fromlist=["Config"]).Config
        run = next(f for f in cls.__dataclass_fields__.values() if f.name == "run")
        assert str(run.default) == DEFAULT, stage


def test_renamed_flags_still_work_with_one_warning(tmp_path, capsys):
    seeds = seeds_file(tmp_path)
    with FaultServer(answer=teacher()) as srv:
        assert main(["seeds", "--from", str(seeds), "--seed", "3", "--run", str(tmp_path / "r"), "--teacher-url",
                     srv.url, "--teacher-model", "t", "--n", "2"]) == 0
    err = capsys.readouterr().err
    for old, new in (("`imitate seeds`", "`imitate questions`"), ("--from", "--seeds"), ("--seed", "--rng-seed")):
        assert f"warning: {old} is now {new}" in err
    assert (tmp_path / "r" / "questions.jsonl").is_file()
    yaml = tmp_path / "finetune.yaml"
    yaml.write_text("temperature: 3.0\nseed: 5\n")   # former names in a config file
    cfg = config_mod.build(__import__("imitate.stages.finetune", fromlist=["Config"]).Config, {}, yaml)
    assert cfg.kd_temperature == 3.0 and cfg.rng_seed == 5
    assert "setting 'temperature'" in capsys.readouterr().err


def test_abbreviations_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["collect", "--seed", "3", "--dry-run"])   # once read as --seeds 3
    assert e.value.code == 2 and "unrecognized arguments: --seed" in capsys.readouterr().err


def _codes_in_usage() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "usage.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([a-z_, ]+) \|", text, re.M)
    return {name: {c.strip() for c in codes.split(",")} for name, codes in rows}


def test_readme_filter_table_matches_the_declared_codes():
    readme = _codes_in_usage()
    for name, cls in {**FILTERS, "balance": Balance}.items():
        assert readme.get(name) == set(cls.codes), name


def test_readme_and_architecture_show_the_generated_file_table():
    table = files_table()
    assert table in (ROOT / "docs/architecture.md").read_text(), \
        "docs/architecture.md: regenerate with python -m imitate.rundir"


def test_rundir_names_every_file():
    r = RunDir("x")
    assert r.collected == Path("x") / "collected.jsonl" and str(r) == "x"
    with pytest.raises(AttributeError, match="no run-folder file"):
        r.nope  # noqa: B018
    assert os.sep not in "".join(f.name for f in FILES.values())
