"""Records with images through the filter stage: dedup keys include the image hash; text filters read
the text; kept.jsonl keeps the images by path and sha256."""
import json

from fault_server import FaultServer
from test_collect_faults import lines

from imitate.cli import main
from imitate.filters.dedup import Dedup
from imitate.vision import drawn

ANSWER = ("The picture shows three black circles on a white background, spread apart so that none of "
          "them touches another, so the count is three.")


def rec(id, answer=ANSWER, sha=None):
    r = {"id": id, "messages": [{"role": "user", "content": "How many circles are in the picture?"},
                                {"role": "assistant", "content": answer}]}
    if sha:
        r["images"] = [{"path": f"/x/{sha}.png", "sha256": sha * 8}]
    return r


def test_same_words_about_different_images_are_not_duplicates():
    near = ANSWER + " Counted once."
    recs = [rec("a", sha="a"), rec("b", sha="b"), rec("c", sha="a"), rec("d", near, sha="b"), rec("e", near, sha="c"),
            rec("t"), rec("u")]
    drops = Dedup().check_all(recs)
    assert sorted(drops) == [2, 3, 6]
    assert drops[2].code == "exact" and drops[2].evidence == "same as a"   # same image, same words
    assert drops[3].code == "near" and drops[3].evidence.startswith("near b")   # same image, near words
    assert drops[6].evidence == "same as t"   # text records as before
    # e: near the words of d, b and a, but about an image none of them shows


def test_filter_stage_keeps_image_records_with_their_images(tmp_path):
    seeds = drawn.draw(tmp_path / "set", n_per_kind=2)   # two questions per kind are the same words
    run = tmp_path / "run"

    def answer(body):   # the same words for the two images of a kind
        user = next(m for m in body["messages"] if m["role"] == "user")
        text = next(p["text"] for p in user["content"] if p["type"] == "text")
        return f"Looking closely at the image for the question '{text}', I count and compare carefully. " + ANSWER

    with FaultServer(answer=answer) as srv:
        assert main(["collect", "--seeds", str(seeds), "--run", str(run), "--teacher-url", srv.url,
                     "--teacher-model", "vlm", "--max-tokens", "64"]) == 0
    assert main(["filter", "--run", str(run)]) == 0
    kept, dropped = lines(run / "kept.jsonl"), lines(run / "dropped.jsonl")
    assert len(kept) + len(dropped) == 10
    assert not [d for d in dropped if d["drop_reason"].startswith("dedup:")]
    assert len(kept) >= 2 and all(r["images"][0]["sha256"] and r["images"][0]["path"].endswith(".png") for r in kept)
    stats = json.loads((run / "filter_stats.json").read_text())
    assert stats["input"] == 10 and not any(k.startswith("dedup") for k in stats["reasons"])
