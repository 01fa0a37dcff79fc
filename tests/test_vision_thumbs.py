"""Thumbnails next to the teacher's answers (report.html and notebooks)."""
import base64
import hashlib
import io
import json
from pathlib import Path

from PIL import Image

from imitate.cli import main
from imitate.vision import drawn
from imitate.vision.thumbs import examples_html, section


def run_with_images(tmp_path, n=3):
    seeds = drawn.draw(tmp_path / "set", n_per_kind=1)
    run = tmp_path / "run"
    run.mkdir()
    rows = [json.loads(x) for x in seeds.read_text().splitlines()][:n]
    with (run / "kept.jsonl").open("w") as f:
        for s in rows:
            img = (seeds.parent / s["image"]).resolve()
            f.write(json.dumps({"id": s["id"], "reference": s["reference"], "messages": [
                {"role": "user", "content": s["question"] + " <b>"}, {"role": "assistant", "content": "It is 3."}],
                "images": [{"path": str(img), "sha256": hashlib.sha256(img.read_bytes()).hexdigest()}]}) + "\n")
    return run, rows


def test_thumbnails_sit_next_to_the_answers(tmp_path):
    run, rows = run_with_images(tmp_path)
    page = examples_html(run)
    assert page.count("<img") == 3 and page.count("It is 3.") == 3
    assert "&lt;b&gt;" in page and "<b>" not in page    # text is escaped
    b64 = page.split("data:image/png;base64,", 1)[1].split('"', 1)[0]
    assert Image.open(io.BytesIO(base64.b64decode(b64))).size == (96, 96)   # within THUMB: kept as drawn
    assert rows[0]["reference"] in page
    Image.new("RGB", (8, 8)).save(json.loads((run / "kept.jsonl").read_text().splitlines()[1])["images"][0]["path"])
    assert "image changed" in examples_html(run)
    assert section(run)[0] == "<h2>Images and answers</h2>"


def test_a_text_run_has_no_image_section(tmp_path):
    (tmp_path / "kept.jsonl").write_text(json.dumps({"id": "a", "messages": [
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}) + "\n")
    assert section(tmp_path) == [] and examples_html(tmp_path / "nowhere") == ""


def test_report_shows_the_thumbnails(tmp_path):
    run, _ = run_with_images(tmp_path)
    assert main(["report", "--run", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Images and answers" in page and page.count("It is 3.") >= 3


def with_eval(run, rows):
    """Add eval.jsonl to a run_with_images folder: per drawn question a student that is wrong and a teacher
    that is right, about the question's image, and one text question the judge decided."""
    kept = [json.loads(x) for x in (run / "kept.jsonl").read_text().splitlines()]
    recs = []
    for k in kept:
        for model, answer, correct in (("student", "No idea <i>", False), ("teacher", "It is 3.", True)):
            recs.append({"id": f"{model}/{k['id']}", "seed_id": k["id"], "model": model, "category": "drawn",
                         "reference": k["reference"], "images": k["images"], "correct": correct,
                         "messages": [k["messages"][0], {"role": "assistant", "content": answer}]})
    for model, judge in (("student", "loss"), ("teacher", None)):
        recs.append({"id": f"{model}/t", "seed_id": "t", "model": model, "category": "math", "correct": None,
                     "judge": judge, "messages": [{"role": "user", "content": "What is 2 plus 3?"},
                                                  {"role": "assistant", "content": "5"}]})
    (run / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return run


def test_report_shows_thumbnails_in_the_eval_section(tmp_path):
    from imitate import inspect as insp

    run, rows = run_with_images(tmp_path, n=2)
    with_eval(run, rows)
    examples = insp.eval_examples(insp.load_run(run), n=3)
    assert [len(ims) for ims in examples["images"]] == [1, 1, 0]   # the text question has none
    assert main(["report", "--run", str(run)]) == 0
    page = (run / "report.html").read_text()
    evals = page.split("<h2>Evaluation", 1)[1].split("<h2>", 1)[0]
    names = [Path(json.loads(x)["images"][0]["path"]).name for x in (run / "kept.jsonl").read_text().splitlines()]
    assert all(f'<img alt="{name}" src="data:image/png;base64,' in evals for name in names)
    assert evals.count("<img") == 2 and "What is 2 plus 3?" in evals
    assert "No idea &lt;i&gt;" in evals and "&lt;b&gt;" in evals and "<i>" not in evals   # text is escaped
    assert '"sha256"' not in evals   # thumbnails, not the image records
