"""The eval stage: every score on known answers, the judge in both orders, held-out questions from
finetune, resume after kill -9, bad run folders (fast: tiny random LLaMAs and stub answers); the
embedded model end to end (slow)."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import kill_9_after, run_cli
from fault_server import FaultServer

from imitate.eval import generate
from imitate.cli import main
from imitate.errors import UserError
from imitate.eval.likelihood import answer_nll
from imitate.data.records import Appender, read_jsonl
from imitate.rundir import RunDir
from imitate.eval import questions, stats
from imitate.eval.local import request_key
from imitate.stages import eval as ev

SEEDS = [  # id, category, question, reference
    ("q1", "math", "What is 2 plus 3?", "5"),
    ("q2", "math", "What is 4 times 5?", "20"),
    ("q3", "math", "What is 10 minus 3?", "7"),
    ("q4", "writing", "Write two sentences about the sea.", None),
    ("q5", "writing", "바다에 대해 두 문장으로 써 주세요.", None),
]
SEA_EN = "The sea is wide and deep, and its waves never rest. Ships cross it carrying people and goods."
SEA_KO = "바다는 넓고 깊으며 파도는 쉬지 않습니다. 배들은 사람과 물건을 싣고 바다를 건넙니다."
ANSWERS = {  # model -> question id -> answer
    "teacher": {"q1": "2 plus 3 is 5. The answer is 5.", "q2": "4 times 5 is 21. The answer is 21.",
                "q3": "10 minus 3 is 7. The answer is 7.", "q4": SEA_EN, "q5": SEA_KO},
    "student": {"q1": "2 plus 3 is 5. The answer is 5.", "q2": "4 times 5 is 20. The answer is 20.",
                "q3": "10 minus 3 is 6. The answer is 6.", "q4": SEA_EN, "q5": SEA_EN},
    "base": {"q1": "The answer is 6.", "q2": "The answer is 9.", "q3": "The answer is 1.",
             "q4": "I'm sorry, but I can't help with that request.", "q5": SEA_KO},
}
JUDGE = "Please act as an impartial judge"


def write_seeds(path, seeds=SEEDS):
    with open(path, "w") as f:
        for sid, cat, q, ref in seeds:
            f.write(json.dumps({"id": sid, "category": cat, "question": q,
                                **({"reference": ref} if ref else {})}, ensure_ascii=False) + "\n")
    return path


def fair_judge(body: dict) -> str:
    """Prefers the answer holding the reference; a tie when both or neither do."""
    text = body["messages"][-1]["content"]
    refs = {q: ref for _, _, q, ref in SEEDS if ref}
    ref = next((r for q, r in refs.items() if q in text), None)
    a = text.split("[The Start of Assistant A's Answer]")[1].split("[The End")[0]
    b = text.split("[The Start of Assistant B's Answer]")[1].split("[The End")[0]
    good_a, good_b = (ref is not None and f"is {ref}." in x for x in (a, b))
    return "Both are fine. [[C]]" if good_a == good_b else ("[[A]]" if good_a else "[[B]]")


def teacher_and_judge(judge=fair_judge):
    """Answers teacher requests from ANSWERS['teacher'] and judge requests with `judge`."""
    def answer(body):
        if body["messages"][0]["content"].startswith(JUDGE):
            return judge(body)
        question = body["messages"][-1]["content"]
        return next(ANSWERS["teacher"][sid] for sid, _, q, _ in SEEDS if q == question)
    return answer


@pytest.fixture
def run_dir(tmp_path, tiny):  # noqa: F811
    """A run folder whose finetune trained `tiny`; its student is a copy of `tiny` (the stub answers need no
    generation, but the teacher's answers are scored under each student: teacher_nll)."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(tiny, run / "student")
    (run / "finetune_config.json").write_text(json.dumps({"student": str(tiny), "student_system": "Be brief."}))
    return run


def stub(run, seeds, models=("base", "student"), students=(), answers=None):
    """Put the answers of the local models (ANSWERS, or answers[model]) into eval_requests.jsonl, as if
    generated before; `students` as --student takes them."""
    cfg = ev.Config(run=str(run), eval_seeds=str(seeds), student=list(students))
    trained = json.loads((run / "finetune_config.json").read_text())
    local = ev.local_models(cfg, RunDir(run), trained)
    params = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature}
    with Appender(run / "eval_requests.jsonl") as out:
        for q in questions.new_questions(cfg.eval_seeds, {}, cfg.rng_seed, set()):
            for m in models:
                chat = questions.student_chat(q, trained["student_system"])
                out.write({"id": request_key(local[m]["label"], chat, params), "kind": m, "messages": chat,
                           "content": (answers or ANSWERS)[m][q["id"]], "finish_reason": "stop"})


def test_every_score_on_known_answers(run_dir, tmp_path, capsys):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    stub(run_dir, seeds)
    with FaultServer(answer=teacher_and_judge()) as srv:
        assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(seeds), "--teacher-url", srv.url,
                     "--teacher-model", "t"]) == 0
    assert srv.count() == 5 + 2 * 2 * 5   # the teacher's 5 answers; 2 models x 5 questions x 2 orders
    st = json.loads((run_dir / "eval_stats.json").read_text())
    got = {m: st["scores"][m]["all"] for m in ("base", "student", "teacher")}
    assert [got[m]["reference_accuracy"] for m in ("base", "student", "teacher")] == [0.0, 0.6667, 0.6667]
    assert got["student"]["judge"] == {"win": 1, "tie": 3, "loss": 1}   # q2 won, q3 lost
    assert got["base"]["judge"] == {"win": 0, "tie": 3, "loss": 2}
    assert got["student"]["judge_margin"] == 0.0 and got["base"]["judge_margin"] == -0.4
    assert got["teacher"]["judge"] is None
    assert got["student"]["language_match"] == 0.8   # q5 answered in English
    assert got["base"]["drop_reasons"] == {"hallucination:wrong_answer": 3, "refusal:refusal": 1}
    assert got["student"]["drop_reasons"] == {"hallucination:wrong_answer": 1, "language:mismatch": 1}
    assert got["teacher"]["drop_reasons"] == {"hallucination:wrong_answer": 1}
    assert [got[m]["filter_pass"] for m in ("base", "student", "teacher")] == [0.2, 0.6, 0.8]
    assert got["student"]["mean_words"] == pytest.approx(sum(len(a.split()) for a in ANSWERS["student"].values()) / 5,
                                                          abs=0.05)
    assert st["gap"]["base"]["all"]["reference_accuracy"] == 0.6667
    assert st["gap"]["student"]["all"]["reference_accuracy"] == 0.0
    assert st["gap"]["student"]["all"]["filter_pass"] == 0.2 and st["gap"]["base"]["all"]["judge_margin"] == 0.4
    assert st["scores"]["student"]["categories"]["math"]["reference_accuracy"] == 0.6667
    assert st["gap"]["student"]["categories"]["writing"]["language_match"] == 0.5
    recs = read_jsonl(run_dir / "eval.jsonl")
    assert len(recs) == 15
    q3 = next(r for r in recs if r["id"] == "student/q3")
    assert q3["correct"] is False and q3["judge"] == "loss" and q3["verdicts"] == ["B", "A"]
    assert q3["messages"][0] == {"role": "system", "content": "Be brief."}   # as the student was trained
    # The teacher's answer to q3 under the student (a copy of tiny), given the messages the student was asked.
    lm, tok = generate.load(str(run_dir / "student"))
    conv = q3["messages"][:-1] + [{"role": "assistant", "content": ANSWERS["teacher"]["q3"]}]
    (want, n), = answer_nll(lm, tok, [conv])
    assert q3["teacher_nll"] == pytest.approx(want, abs=1e-3) and q3["teacher_tokens"] == n > 0
    nll = [r for r in recs if r["model"] == "student"]
    assert got["student"]["teacher_nll"] == pytest.approx(sum(r["teacher_nll"] for r in nll) /
                                                          sum(r["teacher_tokens"] for r in nll), abs=1e-4)
    assert got["teacher"]["teacher_nll"] is None and "teacher_nll" not in st["gap"]["student"]["all"]
    # Question by question against the base: the student and the teacher each get q1 and q2 right, which
    # the base got wrong, and lose none.
    paired = st["against_base"]
    assert paired["student"]["reference_accuracy"] == {"gained": 2, "lost": 0, "n": 3, "p": 0.5}
    assert paired["teacher"]["reference_accuracy"] == {"gained": 2, "lost": 0, "n": 3, "p": 0.5}
    assert paired["student"]["filter_pass"] == {"gained": 3, "lost": 1, "n": 5, "p": 0.625}   # 2 (1 + 4) / 2^4
    assert paired["teacher"]["filter_pass"] == {"gained": 3, "lost": 0, "n": 5, "p": 0.25}
    assert paired["student"]["teacher_nll"]["n"] == 5 and "teacher_nll" not in paired["teacher"]
    assert st["verdict"].startswith("student: ") and "p 0.500: too few changed answers" in st["verdict"]
    out = capsys.readouterr().out
    assert "reference_accuracy" in out and "gap student" in out and "1/3/1" in out
    assert "reference_accuracy: student +2 -0 (p 0.500), teacher +2 -0 (p 0.500)" in out
    assert main(["report", "--run", str(run_dir)]) == 0   # before, after and teacher side by side
    page = (run_dir / "report.html").read_text()
    assert "Evaluation: before and after training" in page and "10 minus 3 is 6." in page   # a disagreement
    assert page.count("<td>0.625</td>") == 1   # the table against the base


def test_sign_test_on_known_splits():
    assert stats.sign_test(0, 0) == 1.0 and stats.sign_test(3, 3) == 1.0
    assert stats.sign_test(5, 0) == stats.sign_test(0, 5) == 0.0625   # 2 / 2^5
    assert stats.sign_test(6, 1) == 0.125   # 2 (1 + 7) / 2^7
    assert stats.sign_test(10, 0) == 0.002   # 2 / 1024, rounded


def test_a_judge_that_always_says_a_gives_ties(run_dir, tmp_path):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    stub(run_dir, seeds)
    with FaultServer(answer=teacher_and_judge(lambda body: "[[A]]")) as srv:
        assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(seeds), "--teacher-url", srv.url,
                     "--teacher-model", "t", "--models", "student,teacher"]) == 0
    st = json.loads((run_dir / "eval_stats.json").read_text())
    assert st["scores"]["student"]["all"]["judge"] == {"win": 0, "tie": 5, "loss": 0}
    assert "base" not in st["scores"]


def nudged(tiny, out, seed):
    """A copy of `tiny` with its weights moved a little: another student."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(out)


def test_several_named_students_side_by_side(run_dir, tmp_path, tiny, capsys):  # noqa: F811
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    students = []
    for name, seed in (("sft", 1), ("kd", 2)):   # different weights: different answers
        nudged(tiny, tmp_path / name, seed)
        students.append(f"{name}={tmp_path / name}")
    stub(run_dir, seeds, ("base", "sft", "kd"), students,
         {"base": ANSWERS["base"], "sft": ANSWERS["base"], "kd": ANSWERS["student"]})
    flags = [a for s in students for a in ("--student", s)]
    with FaultServer(answer=teacher_and_judge()) as srv:
        assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(seeds), "--teacher-url", srv.url,
                     "--teacher-model", "t", *flags]) == 0
    st = json.loads((run_dir / "eval_stats.json").read_text())
    assert list(st["scores"]) == ["base", "sft", "kd", "teacher"] and list(st["gap"]) == ["base", "sft", "kd"]
    assert [st["scores"][m]["all"]["reference_accuracy"] for m in ("sft", "kd")] == [0.0, 0.6667]
    assert st["gap"]["kd"]["all"]["reference_accuracy"] == 0.0 and st["gap"]["sft"]["all"]["judge_margin"] == 0.4
    assert "gap kd" in capsys.readouterr().out
    with pytest.raises(UserError, match="must differ"):
        ev.Config(run=str(run_dir), student=[f"base={tmp_path / 'sft'}"])


def test_eval_seeds_leave_out_the_trained_questions(run_dir, tmp_path, capsys):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    stub(run_dir, seeds)
    _, _, q1, _ = SEEDS[0]
    (run_dir / "kept.jsonl").write_text(json.dumps({"id": "k1", "messages": [
        {"role": "user", "content": q1}, {"role": "assistant", "content": ANSWERS["teacher"]["q1"]}]}) + "\n")
    with FaultServer(answer=teacher_and_judge()) as srv:
        assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(seeds), "--teacher-url", srv.url,
                     "--teacher-model", "t", "--no-judge"]) == 0
    st = json.loads((run_dir / "eval_stats.json").read_text())
    assert st["questions"] == 4 and "1 of the --eval-seeds questions were collected or trained on" in \
        capsys.readouterr().err


def test_with_reference_asks_only_questions_that_have_one(run_dir, tmp_path, capsys):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    stub(run_dir, seeds)
    with FaultServer(answer=teacher_and_judge()) as srv:
        assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(seeds), "--teacher-url", srv.url,
                     "--teacher-model", "t", "--no-judge", "--with-reference"]) == 0
    rows = [json.loads(x) for x in (run_dir / "eval.jsonl").read_text().splitlines()]
    with_ref = {sid for sid, _, _, ref in SEEDS if ref}
    assert with_ref and len(with_ref) < len(SEEDS)
    assert {r["id"].split("/", 1)[1] for r in rows} == with_ref
    plain = [(sid, cat, q, None) for sid, cat, q, _ in SEEDS]
    assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(write_seeds(tmp_path / "plain.jsonl", plain)),
                 "--no-judge", "--with-reference"]) == 2
    assert "none of the questions has a reference" in capsys.readouterr().err


def test_rerun_asks_and_generates_nothing(run_dir, tmp_path, capsys):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    stub(run_dir, seeds)
    files = {}
    for attempt in range(2):
        with FaultServer(answer=teacher_and_judge()) as srv:
            assert main(["eval", "--run", str(run_dir), "--eval-seeds", str(seeds), "--teacher-url", srv.url,
                         "--teacher-model", "t"]) == 0
        assert srv.count() == (25 if attempt == 0 else 0)
        now = {n: (run_dir / n).read_text() for n in ("eval_requests.jsonl", "eval.jsonl")}
        assert files in ({}, now)
        files = now
    assert "0 to generate" in capsys.readouterr().err


# -- held-out questions from a real finetune, on a tiny student --------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny):  # noqa: F811
    from test_finetune import write_kept
    run = tmp_path_factory.mktemp("trained")
    write_kept(run / "kept.jsonl")
    assert main(["finetune", "--run", str(run), "--student", str(tiny), "--max-steps", "1", "--batch-size", "4",
                 "--student-system", "Answer briefly."]) == 0
    return run


def test_held_out_questions_and_the_trained_adapter(trained, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    args = ["eval", "--run", str(run), "--no-judge", "--max-tokens", "6", "--batch-size", "3"]
    assert main(args) == 0
    ids = json.loads((run / "finetune_stats.json").read_text())["eval_ids"]
    kept = {r["id"]: r for r in read_jsonl(run / "kept.jsonl")}
    recs = read_jsonl(run / "eval.jsonl")
    prompts = {kept[i]["messages"][-2]["content"]: i for i in reversed(ids)}   # the first id of each question
    assert len(prompts) < len(ids)   # the fixture repeats a question: it is asked once
    assert {r["seed_id"] for r in recs} == set(prompts.values()) and len(recs) == 3 * len(prompts)
    for r in recs:
        assert r["messages"][-2] == kept[r["seed_id"]]["messages"][-2]   # the same question
        if r["model"] == "teacher":   # the answer it was trained on
            assert r["messages"] == kept[r["seed_id"]]["messages"]
        else:
            assert r["messages"][0] == {"role": "system", "content": "Answer briefly."}
    answered = read_jsonl(run / "eval_requests.jsonl")
    assert {r["kind"] for r in answered} == {"base", "student"} and len(answered) <= 2 * len(prompts)
    st = json.loads((run / "eval_stats.json").read_text())
    assert st["models"]["student"].startswith("student ") and st["generation"]["base"]["generated"] > 0
    capsys.readouterr()
    assert main(args) == 0   # a re-run loads no model and generates nothing
    assert read_jsonl(run / "eval_requests.jsonl") == answered
    assert capsys.readouterr().err.count("0 to generate") == 2


def test_resume_after_kill_9(run_dir, tmp_path):
    many = [(f"m{i}", "math", f"What is {i} plus {i}?", str(2 * i)) for i in range(30)]
    seeds = write_seeds(tmp_path / "seeds.jsonl", many)
    args = ["eval", "--run", run_dir, "--eval-seeds", seeds, "--models", "base", "--batch-size", "1",
            "--max-tokens", "4"]
    out = run_dir / "eval_requests.jsonl"
    kill_9_after(args, out, lines=3)
    before = out.read_text().splitlines()
    assert 3 <= len(before) < 30 and not (run_dir / "eval.jsonl").exists()
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert f"{len(before)} answers on disk, {30 - len(before)} to generate" in res.stderr
    after = read_jsonl(out)
    assert out.read_text().splitlines()[:len(before)] == before
    assert len(after) == len({r["id"] for r in after}) == 30
    assert len(read_jsonl(run_dir / "eval.jsonl")) == 30


# -- bad input: exit 2, nothing written -------------------------------------------------------------

@pytest.mark.parametrize("case, message", [
    ("missing", "run folder not found"),
    ("file", "not a folder"),
    ("empty", "no finetune_stats.json: run finetune first"),
    ("old_stats", "names no held-out record ids"),
    ("no_student", "no trained student here"),
    ("models", "--models takes some of base, student, teacher"),
])
def test_bad_run_folder_exits_2_and_writes_nothing(tmp_path, capsys, case, message):
    run = tmp_path / "run"
    args = []
    if case == "file":
        run.write_text("x")
    elif case != "missing":
        run.mkdir()
    if case == "old_stats":
        (run / "finetune_stats.json").write_text(json.dumps({"eval_records": 4}))
    if case == "no_student":
        args = ["--eval-seeds", str(write_seeds(tmp_path / "seeds.jsonl")), "--models", "student"]
    if case == "models":
        args = ["--models", "base,teacher,oracle"]
    before = sorted(p.name for p in run.iterdir()) if run.is_dir() else None
    assert main(["eval", "--run", str(run), *args]) == 2
    assert message in capsys.readouterr().err
    assert (sorted(p.name for p in run.iterdir()) if run.is_dir() else None) == before


# -- the embedded model, end to end ----------------------------------------------------------------

@pytest.mark.slow
def test_embedded_end_to_end(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS[:2])
    res = run_cli("eval", "--run", run, "--eval-seeds", seeds, "--models", "base,teacher", "--max-tokens", "48",
                  timeout=900)
    assert res.returncode == 0, res.stderr
    st = json.loads((run / "eval_stats.json").read_text())
    assert st["scores"]["base"]["all"]["answers"] == st["scores"]["teacher"]["all"]["answers"] == 2
    assert st["scores"]["base"]["all"]["judge"] is not None and "gap base" in res.stdout
    assert (run / "teacher_server.log").is_file()


# -- questions with images: the teacher and judge see them, a vision-language student answers them ----

@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    from imitate.vision.tiny import build_vlm
    return build_vlm(tmp_path_factory.mktemp("vlm") / "student")


def image_run(tmp_path, student: str, held_out=("circles-00", "square-00"), trained_on=("bars-00",)):
    """A run folder whose finetune trained `student` on drawn-image records (some held out), and
    --eval-seeds: the whole drawn set (2 of each kind) plus one text question."""
    import hashlib
    from imitate.vision import drawn
    seeds = drawn.draw(tmp_path / "set", n_per_kind=2)
    rows = [json.loads(x) for x in seeds.read_text().splitlines()]
    refs = {}
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "kept.jsonl", "w") as f:
        for s in rows:
            img = (seeds.parent / s["image"]).resolve()
            sha = hashlib.sha256(img.read_bytes()).hexdigest()
            refs[sha] = s["reference"]
            if s["id"] in held_out + trained_on:
                f.write(json.dumps({"id": s["id"], "seed_id": s["id"], "category": s["category"],
                                    "reference": s["reference"], "images": [{"path": str(img), "sha256": sha}],
                                    "messages": [{"role": "system", "content": "Look closely."},
                                                 {"role": "user", "content": s["question"]},
                                                 {"role": "assistant", "content": f"The answer is {s['reference']}."}]})
                        + "\n")
    with open(seeds, "a") as f:
        f.write(json.dumps({"id": "text-1", "category": "math", "question": "What is 2 plus 3?", "reference": "5"}) + "\n")
    (run / "finetune_config.json").write_text(json.dumps({"student": str(student), "student_system": "Be brief."}))
    (run / "finetune_stats.json").write_text(json.dumps({"eval_ids": list(held_out)}))
    return run, seeds, refs


def image_parts(body: dict) -> list[str]:
    """The data URIs of the image parts in a request's last user turn."""
    user = [m for m in body["messages"] if m["role"] == "user"][-1]
    return [p["image_url"]["url"] for p in user["content"] if p.get("type") == "image_url"] \
        if isinstance(user["content"], list) else []


def sha_of(uri: str) -> str:
    import base64
    import hashlib
    assert uri.startswith("data:image/png;base64,")
    return hashlib.sha256(base64.b64decode(uri.split(",", 1)[1])).hexdigest()


def test_image_questions_are_asked_with_their_images(tmp_path, tiny_vlm, capsys):
    from fault_server import text_of
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    run, seeds, refs = image_run(tmp_path, tiny_vlm)
    # the trained student: a LoRA adapter on the tiny VLM with its processor, as finetune saves it
    lora = get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_vlm),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(run / "student")
    AutoProcessor.from_pretrained(tiny_vlm).save_pretrained(run / "student")

    def answer(body):
        uris = image_parts(body)
        if text_of(body["messages"][0]["content"]).startswith(JUDGE):
            return "Both are fine. [[C]]"
        return f"The answer is {refs[sha_of(uris[0])] if uris else '5'}."

    def args(url):
        return ["eval", "--run", str(run), "--eval-seeds", str(seeds), "--teacher-url", url, "--teacher-model",
                "vlm", "--max-tokens", "4", "--batch-size", "4"]

    with FaultServer(answer=answer) as srv:
        assert main(args(srv.url)) == 0
    bodies = [r["body"] for r in srv.requests]
    teacher = [b for b in bodies if not text_of(b["messages"][0]["content"]).startswith(JUDGE)]
    judged = [b for b in bodies if text_of(b["messages"][0]["content"]).startswith(JUDGE)]
    # 10 drawn + 1 text seed, less the 3 trained on or held out (same words and image); circles-01 is
    # the same words as circles-00 about another image: fresh
    assert "3 of the --eval-seeds questions were collected or trained on" in capsys.readouterr().err
    assert len(teacher) == 8 and sorted(len(image_parts(b)) for b in teacher) == [0] + [1] * 7
    import hashlib
    fresh = [(seeds.parent / r["image"]).read_bytes() for r in map(json.loads, seeds.read_text().splitlines())
             if r.get("image") and r["id"] not in ("circles-00", "square-00", "bars-00")]
    assert sorted(sha_of(image_parts(b)[0]) for b in teacher if image_parts(b)) == sorted(
        hashlib.sha256(data).hexdigest() for data in fresh)   # sign_00 and sign_01 are the same picture
    assert len(judged) == 2 * 10 * 2 and sum(len(image_parts(b)) == 1 for b in judged) == 2 * 9 * 2
    st = json.loads((run / "eval_stats.json").read_text())
    assert st["questions"] == 10 and st["sources"] == {"held_out": 2, "eval_seeds": 8}
    assert st["scores"]["teacher"]["all"]["reference_accuracy"] == 1.0   # each image went with its question
    for m in ("base", "student"):
        s = st["scores"][m]["all"]
        assert s["answers"] == 10 and s["with_reference"] == 10 and s["reference_accuracy"] is not None
        assert s["judge"] == {"win": 0, "tie": 10, "loss": 0}
        assert st["generation"][m]["generated"] == 9   # the two sign questions are one chat: generated once
    assert st["models"]["student"] != st["models"]["base"]
    recs = read_jsonl(run / "eval.jsonl")
    assert len(recs) == 30 and sum(bool(r.get("images")) for r in recs) == 27
    local = [r for r in read_jsonl(run / "eval_requests.jsonl") if r["kind"] in ("base", "student")]
    assert len(local) == 18 and all(isinstance(r["content"], str) for r in local)
    assert sum(len(r.get("images", [])) for r in local) == 16
    # the same words about two images: two questions, two answers of each model
    circles = [r for r in recs if r["model"] == "student" and r["category"] == "circles"]
    assert len({r["images"][0]["sha256"] for r in circles}) == 2
    with FaultServer(answer=answer) as srv:   # a re-run asks and generates nothing
        assert main(args(srv.url)) == 0
    assert srv.count() == 0 and capsys.readouterr().err.count("0 to generate") == 2
    from imitate.vision.answer import end_of_turn   # generation stops where training's labels end
    proc = AutoProcessor.from_pretrained(tiny_vlm)
    assert end_of_turn(proc) == proc.tokenizer.convert_tokens_to_ids("<end_of_utterance>")


@pytest.mark.parametrize("case, message", [
    ("text_student", "9 questions carry images and base reads text only"),
    ("embedded_teacher", "the embedded teacher reads text only"),
    ("embedded_judge", "the embedded judge reads text only"),
])
def test_image_questions_need_vision_models(tmp_path, tiny, tiny_vlm, capsys, case, message):
    run, seeds, _ = image_run(tmp_path, tiny if case == "text_student" else tiny_vlm)
    args = ["eval", "--run", str(run), "--eval-seeds", str(seeds), "--models",
            "base,teacher" if case != "embedded_judge" else "base"]
    if case == "text_student":
        args += ["--teacher-url", "http://127.0.0.1:9/v1", "--teacher-model", "vlm"]
    if case == "embedded_judge":   # held-out answers only: no teacher asked, but the judge reads them
        args = ["eval", "--run", str(run), "--models", "base,teacher"]
        message = "2 questions carry images, and the embedded judge reads text only"
    before = sorted(p.name for p in run.iterdir())
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == before


def test_answer_nll_is_the_models_own_loss_on_the_answer_tokens(tiny):  # noqa: F811
    """Batched with right padding, the head on answer positions only: the same sum as the model's own
    loss over finetune's labels, row by row."""
    from imitate.train.data import encode
    lm, tok = generate.load(str(tiny))
    lm.float()
    convs = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}]
             for q, a in (("What is 2+2?", "4."), ("Name three colours.", "Red, green and a rather deep blue."))]
    got = answer_nll(lm, tok, convs, batch_size=2)
    for conv, (nll, n) in zip(convs, got):
        row = encode(tok, conv)
        with torch.no_grad():
            loss = lm(input_ids=torch.tensor([row["input_ids"]]), labels=torch.tensor([row["labels"]])).loss
        assert n == sum(x != -100 for x in row["labels"][1:]) and nll == pytest.approx(float(loss) * n, rel=1e-4)
    assert got[0][1] != got[1][1]   # rows of different lengths were padded together


def test_held_out_answers_to_one_prompt_make_one_question(tmp_path):
    """collect --samples 2 gives two answers to one prompt; held out together, they are one question."""
    from imitate.rundir import RunDir
    from imitate.eval.questions import held_out

    def rec(i, seed, question, answer):
        return {"id": i, "seed_id": seed, "category": "math", "reference": "4",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question},
                             {"role": "assistant", "content": answer}]}
    rows = [rec("a0", "s1", "2 + 2?", "4"), rec("a1", "s1", "2 + 2?", "It is 4."), rec("b0", "s2", "3 + 1?", "4")]
    (tmp_path / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "finetune_stats.json").write_text(json.dumps({"eval_ids": ["a0", "a1", "b0"]}))
    qs = held_out(RunDir(tmp_path), {}, optional=False)
    assert [q["id"] for q in qs] == ["a0", "b0"] and qs[0]["answer"]["content"] == "4"
