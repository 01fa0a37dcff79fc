"""collect with image seeds, against the tests' fault server: image parts on the wire, records by path
and sha256, keys that follow the image, bad images stopped before anything is sent, a teacher that
refuses images stopped at once, kill -9 / torn lines, and --batch."""
import base64
import io
import json
from collections import Counter

import pytest
from conftest import kill_9_after
from fault_server import FaultServer
from PIL import Image
from test_collect_faults import lines

from imitate.cli import main
from imitate.vision import drawn


@pytest.fixture
def image_seeds(tmp_path):
    """5 drawn images (96 px, one of each kind) and their seeds.jsonl."""
    return drawn.draw(tmp_path / "set", n_per_kind=1)


def cmd(srv, seeds, run, *extra):
    return ["collect", "--seeds", str(seeds), "--run", str(run), "--teacher-url", srv.url, "--teacher-model", "vlm",
            "--max-tokens", "16", *map(str, extra)]


def image_parts(body):
    user = next(m for m in body["messages"] if m["role"] == "user")
    assert isinstance(user["content"], list)
    return [p for p in user["content"] if p["type"] == "image_url"], [p for p in user["content"] if p["type"] == "text"]


def test_images_are_sent_as_downscaled_data_uris_and_kept_by_path_and_hash(tmp_path, image_seeds):
    run = tmp_path / "run"
    with FaultServer() as srv:
        assert main(cmd(srv, image_seeds, run, "--max-image-side", "48", "--concurrency", "1")) == 0
    seeds = {s["id"]: s for s in map(json.loads, image_seeds.read_text().splitlines())}
    assert srv.count() == 5
    for req in srv.requests:
        images, texts = image_parts(req["body"])
        assert len(images) == 1 and len(texts) == 1
        head, b64 = images[0]["image_url"]["url"].split(",", 1)
        assert head == "data:image/png;base64"
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert img.format == "PNG" and img.size == (48, 48)   # 96 px drawn, downscaled
        assert texts[0]["text"] in {s["question"] for s in seeds.values()}
    recs = lines(run / "collected.jsonl")
    assert len(recs) == 5
    raw = (run / "collected.jsonl").read_text()
    assert "base64" not in raw   # by path and hash, never inline
    for r in recs:
        seed = seeds[r["seed_id"]]
        path = image_seeds.parent / seed["image"]
        import hashlib
        assert r["images"] == [{"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]
        assert r["messages"][1] == {"role": "user", "content": seed["question"]}   # text stays text
        assert r["reference"] == seed["reference"]


def test_the_key_follows_the_image(tmp_path, image_seeds):
    run = tmp_path / "run"
    with FaultServer() as srv:
        args = cmd(srv, image_seeds, run)
        assert main(args) == 0
        first = {r["seed_id"]: r["id"] for r in lines(run / "collected.jsonl")}
        Image.new("RGB", (96, 96), (0, 0, 0)).save(image_seeds.parent / "circles_00.png")   # edited image
        assert main(args) == 0
        assert srv.count() == 6   # only the edited image's question is asked again
        assert main([*args, "--max-image-side", "64"]) == 0   # another size: another question
        assert srv.count() == 11
    recs = lines(run / "collected.jsonl")
    assert len({r["id"] for r in recs}) == 11
    assert first["circles-00"] != [r["id"] for r in recs if r["seed_id"] == "circles-00"][1]


def test_one_question_about_two_images_is_two_seeds(tmp_path, image_seeds):
    seeds = tmp_path / "same.jsonl"   # no ids: the made ids hash the images too
    seeds.write_text("".join(json.dumps({"question": "What is in the picture?", "image": str(image_seeds.parent / f)})
                             + "\n" for f in ("circles_00.png", "square_00.png")))
    with FaultServer() as srv:
        assert main(cmd(srv, seeds, tmp_path / "run")) == 0
    recs = lines(tmp_path / "run" / "collected.jsonl")
    assert len({r["seed_id"] for r in recs}) == 2 and len({r["id"] for r in recs}) == 2


@pytest.mark.parametrize("case", ["missing", "garbage", "bmp", "not_a_path", "images_not_a_list"])
def test_a_bad_image_names_the_seed_file_and_line_and_sends_nothing(tmp_path, image_seeds, capsys, case):
    rows = [json.loads(x) for x in image_seeds.read_text().splitlines()]
    bad = dict(rows[2])
    if case == "missing":
        bad["image"] = "nowhere.png"
    elif case == "garbage":
        (image_seeds.parent / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
        bad["image"] = "garbage.png"
    elif case == "bmp":
        Image.new("RGB", (8, 8)).save(image_seeds.parent / "x.bmp")
        bad["image"] = "x.bmp"
    elif case == "not_a_path":
        bad["image"] = 7
    else:
        del bad["image"]
        bad["images"] = {"a": "circles_00.png"}
    rows[2] = bad
    image_seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    with FaultServer() as srv:
        assert main(cmd(srv, image_seeds, run)) == 2
    assert srv.count() == 0 and not run.exists()
    err = capsys.readouterr().err
    assert f"{image_seeds}:3: " in err
    assert {"missing": "not found", "garbage": "'garbage.png' cannot be read", "bmp": "supported formats: PNG", "not_a_path": "must be a path",
            "images_not_a_list": "must be a list"}[case] in err


def test_a_teacher_that_refuses_images_stops_the_run_at_once(tmp_path, image_seeds, capsys):
    run = tmp_path / "run"
    with FaultServer(always="400image") as srv:
        assert main(cmd(srv, image_seeds, run, "--concurrency", "1")) == 1
    assert srv.count() == 1
    out = capsys.readouterr().out
    assert out.count("refuses images") == 1 and "Qwen2-VL" in out
    assert not lines(run / "collected.jsonl")


def test_a_plain_400_still_fails_one_request_only(tmp_path, image_seeds):
    with FaultServer(["400"]) as srv:
        assert main(cmd(srv, image_seeds, tmp_path / "run", "--concurrency", "1")) == 0
    assert srv.count() == 5 and len(lines(tmp_path / "run" / "failed.jsonl")) == 1
    assert lines(tmp_path / "run" / "failed.jsonl")[0]["images"][0]["sha256"]


def test_the_embedded_teacher_is_refused_before_it_starts(tmp_path, image_seeds, capsys):
    assert main(["collect", "--seeds", str(image_seeds), "--run", str(tmp_path / "run")]) == 2
    assert "reads text only" in capsys.readouterr().err


def test_kill_9_then_resume_and_a_torn_line_with_images(tmp_path):
    seeds = drawn.draw(tmp_path / "set", n_per_kind=3)   # 15 seeds x 2 samples
    run = tmp_path / "run"
    out = run / "collected.jsonl"
    with FaultServer(delay=0.1) as srv:
        args = cmd(srv, seeds, run, "--samples", "2", "--concurrency", "3")
        kill_9_after(args, out, 8)
        first = len(lines(out))
        assert 8 <= first < 30
        whole = out.read_text().splitlines(keepends=True)
        out.write_text("".join(whole[:-1]) + whole[-1][:60])   # and the last line torn
        assert main(args) == 0
        assert srv.count() <= 30 + 3 + 1
        sent = srv.count()
        assert main(args) == 0 and srv.count() == sent
    recs = lines(out)
    per_pair = Counter((r["seed_id"], r["sample"]) for r in recs)
    assert len(per_pair) == 30 and set(per_pair.values()) == {1}
    assert all(r["images"][0]["sha256"] for r in recs)


def test_batch_lines_carry_the_images(tmp_path, image_seeds):
    run = tmp_path / "run"
    with FaultServer() as srv:
        assert main(cmd(srv, image_seeds, run, "--batch", "--poll", "0.05")) == 0
    body = lines(run / "batch_input" / "0000.jsonl")[0]["body"]
    images, _ = image_parts(body)
    assert images[0]["image_url"]["url"].startswith("data:image/png;base64,")
    recs = lines(run / "collected.jsonl")
    assert len(recs) == 5 and all(r["images"] for r in recs)
