"""A tiny random-init vision-language student (Idefics3 = SmolVLM's architecture, built from a config):
labels on the assistant tokens only, image tokens never trained, LoRA on the language model only, and
the drawn set through collect -> filter -> finetune -> report against the fault server."""
import json

import pytest
import torch
from fault_server import FaultServer

from imitate.cli import main
from imitate.errors import UserError
from imitate.stages import finetune
from imitate.vision import drawn
from imitate.vision.tiny import build_vlm


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return build_vlm(tmp_path_factory.mktemp("vlm") / "student")


def kept_file(tmp_path, n_per_kind=1):
    """Records as collect writes them: the drawn images, answered with their references."""
    seeds = drawn.draw(tmp_path / "set", n_per_kind=n_per_kind)
    import hashlib
    out = tmp_path / "kept.jsonl"
    with out.open("w") as f:
        for s in map(json.loads, seeds.read_text().splitlines()):
            img = (seeds.parent / s["image"]).resolve()
            f.write(json.dumps({"id": s["id"], "seed_id": s["id"], "messages": [
                {"role": "system", "content": "Answer briefly."}, {"role": "user", "content": s["question"]},
                {"role": "assistant", "content": s["reference"]}],
                "images": [{"path": str(img), "sha256": hashlib.sha256(img.read_bytes()).hexdigest()}]}) + "\n")
    return out


def cfg(tmp_path, student, **kw):
    return finetune.Config(run=str(tmp_path / "run"), input=str(kw.pop("input")), student=str(student),
                           eval_fraction=0.2, max_steps=kw.pop("max_steps", 2), batch_size=kw.pop("batch_size", 1), **kw)


def test_labels_are_exactly_the_assistant_tokens_and_never_an_image_token(tmp_path, tiny_vlm):
    kept = kept_file(tmp_path)
    trainer, info = finetune.build_trainer(cfg(tmp_path, tiny_vlm, input=kept))
    proc = trainer.processing_class
    tok = proc.tokenizer
    rows = list(trainer.train_dataset)
    image_id = tok.convert_tokens_to_ids("<image>")
    batch = trainer.data_collator(rows)   # several rows at once: padding must not be trained either
    for r, row in enumerate(rows):
        ids, labels = batch["input_ids"][r], batch["labels"][r]
        trained = ids[labels != -100]
        # SmolVLM's template: "Assistant:" ends the prompt, " ANSWER<end_of_utterance>\n" is the turn
        assert tok.decode(trained) == " " + row["completion"][0]["content"] + "<end_of_utterance>"
        assert (ids == image_id).sum() == 4 and (labels[ids == image_id] == -100).all()
        assert tok.decode(ids[: (labels != -100).nonzero()[0]]).endswith("Assistant:")   # the prompt before
    assert batch["pixel_values"].shape[:2] == (len(rows), 1)
    # LoRA sits on the language model's linear layers only: the vision tower and connector stay as they were
    lora = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert lora and all("lora_" in n and ".text_model." in n for n in lora)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in lora} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_a_changed_image_is_refused_when_its_batch_is_built(tmp_path, tiny_vlm):
    kept = kept_file(tmp_path)
    trainer, _ = finetune.build_trainer(cfg(tmp_path, tiny_vlm, input=kept))
    row = trainer.train_dataset[0]
    from PIL import Image
    Image.new("RGB", (8, 8)).save(row["images"][0]["path"])
    with pytest.raises(UserError, match="sha256 differs"):
        trainer.data_collator([row])


def test_a_text_student_refuses_image_records(tmp_path, tiny):
    kept = kept_file(tmp_path)
    with pytest.raises(UserError, match="reads text only"):
        finetune.build_trainer(cfg(tmp_path, tiny, input=kept))


def test_drawn_set_through_collect_filter_finetune_report(tmp_path, tiny_vlm):
    seeds = drawn.draw(tmp_path / "set", n_per_kind=2)
    refs = {s["question"]: s["reference"] for s in map(json.loads, seeds.read_text().splitlines())}
    run = tmp_path / "run"

    def answer(body):
        user = next(m for m in body["messages"] if m["role"] == "user")
        text = next(p["text"] for p in user["content"] if p["type"] == "text")
        return f"Looking at the picture to answer '{text}', I checked each part of it carefully. The answer is {refs[text]}."

    with FaultServer(answer=answer) as srv:
        assert main(["collect", "--seeds", str(seeds), "--run", str(run), "--teacher-url", srv.url,
                     "--teacher-model", "vlm", "--max-tokens", "64", "--max-image-side", "64"]) == 0
    assert main(["filter", "--run", str(run)]) == 0
    kept = [json.loads(x) for x in (run / "kept.jsonl").read_text().splitlines()]
    assert len(kept) >= 4 and all(r["images"] for r in kept)
    assert main(["finetune", "--run", str(run), "--student", str(tiny_vlm), "--max-steps", "8",
                 "--batch-size", "2", "--learning-rate", "1e-2", "--eval-fraction", "0.25", "--max-length", "128",
                 "--merge"]) == 0
    stats = json.loads((run / "finetune_stats.json").read_text())
    assert stats["eval_loss_after"] < stats["eval_loss_before"]
    saved = run / "student"
    assert (saved / "adapter_config.json").is_file() and (saved / "processor_config.json").is_file()
    targets = json.loads((saved / "adapter_config.json").read_text())["target_modules"]
    assert all(".text_model." in t for t in targets)
    assert main(["report", "--run", str(run)]) == 0
    assert (run / "report.html").is_file()

    # the saved adapter and processor load on the base and generate from an image
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_vlm), str(saved)).eval()
    proc = AutoProcessor.from_pretrained(saved)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the square?"}]}]
    inputs = proc(text=proc.apply_chat_template(msgs, add_generation_prompt=True),
                  images=[[Image.new("RGB", (96, 96), (220, 30, 30))]], return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(**inputs, max_new_tokens=3, do_sample=False)
        merged = AutoModelForImageTextToText.from_pretrained(saved / "merged").eval()   # --merge
        assert torch.allclose(merged(**inputs).logits, model(**inputs).logits, atol=1e-4)
        base = AutoModelForImageTextToText.from_pretrained(tiny_vlm).eval()
        assert not torch.allclose(base(**inputs).logits, model(**inputs).logits, atol=1e-4)   # it trained
    assert gen.shape[1] == inputs["input_ids"].shape[1] + 3
    assert (saved / "merged" / "processor_config.json").is_file()
