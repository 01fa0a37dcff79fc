"""Thumbnails next to the teacher's answers (report.html and notebooks)."""
import base64
import hashlib
import io
import json

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
