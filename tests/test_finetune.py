"""The finetune stage on a tiny random-init LLaMA (fast) and on the embedded student (slow)."""
from __future__ import annotations

import json
import random
import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from imitate import cli, device  # noqa: E402
from imitate.errors import UserError  # noqa: E402
from imitate.stages import finetune  # noqa: E402
from imitate.train import data  # noqa: E402

SYSTEM = "You are a careful assistant. Think step by step."


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_kept(path, n=24, seed=0):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            a, b = rng.randint(1, 9), rng.randint(1, 9)
            f.write(json.dumps({"id": f"r{i}", "seed_id": f"s{i // 2}", "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"What is {a} plus {b}?"},
                {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]}) + "\n")
    return path


def make_cfg(tmp_path, student, **kw):
    write_kept(tmp_path / "kept.jsonl")
    base = dict(run=str(tmp_path), student=str(student), max_steps=3, batch_size=4)
    return finetune.Config(**{**base, **kw})


# -- loss masking ------------------------------------------------------------------------------

def test_labels_cover_assistant_turns_only(tokenizer):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello there!"}, {"role": "user", "content": "and 2+2?"},
            {"role": "assistant", "content": "4"}]
    row = data.encode(tokenizer, msgs)
    ids, labels = row["input_ids"], row["labels"]
    assert ids == tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    trained = [i for i, lab in zip(ids, labels) if lab != -100]
    assert all(lab in (-100, i) for i, lab in zip(ids, labels))
    # Exactly the two answers and the end-of-turn token after each; no system, user or role header.
    assert tokenizer.decode(trained) == "Hello there!<|im_end|>4<|im_end|>"
    untrained = tokenizer.decode([i for i, lab in zip(ids, labels) if lab == -100])
    for text in ("Be brief.", "hi", "and 2+2?", "<|im_start|>assistant"):
        assert text in untrained


def test_trainer_loss_is_cross_entropy_on_assistant_tokens(tmp_path, tiny):
    trainer, info = finetune.build_trainer(make_cfg(tmp_path, tiny, lora_dropout=0.0))
    row = trainer.train_dataset[0]
    assert row["labels"] != row["input_ids"] and -100 in row["labels"]  # TRL kept our labels
    batch = trainer.data_collator([row])
    model = trainer.model.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(model, dict(batch)).item()
        logits = model(input_ids=batch["input_ids"]).logits[0, :-1]
    targets = torch.tensor(row["input_ids"][1:])
    per_token = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
    on_answer = torch.tensor(row["labels"][1:]) != -100
    assert trl_loss == pytest.approx(per_token[on_answer].mean().item(), rel=1e-4)
    assert trl_loss != pytest.approx(per_token.mean().item(), rel=1e-3)  # the prompt tokens are left out


def test_packing_keeps_records_apart(tmp_path, tiny, monkeypatch):
    """Packed, padding-free eval (the GPU path) gives the same loss as padded batches: the records
    in one packed row do not attend to each other."""
    monkeypatch.setattr(device, "CPU_ROW_TOKENS", 1)   # one record per pass: no padding-free rows
    plain, _ = finetune.build_trainer(make_cfg(tmp_path, tiny, packing=False, batch_size=8))
    assert not plain.args.padding_free
    packed, _ = finetune.build_trainer(make_cfg(tmp_path, tiny, packing=True, batch_size=8))
    assert packed.args.padding_free and len(packed.eval_dataset) == 1  # 4 records packed into one row
    assert plain.evaluate()["eval_loss"] == pytest.approx(packed.evaluate()["eval_loss"], rel=1e-4)


def test_cpu_micro_batch_is_the_largest_divisor_that_fits():
    assert device.cpu_micro_batch(4, 320) == 4
    assert device.cpu_micro_batch(8, 1024) == 2
    assert device.cpu_micro_batch(6, 700) == 2
    assert device.cpu_micro_batch(8, 4096) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path")
def test_cpu_padding_free_micro_batches_train_as_one_record_at_a_time(tmp_path, tiny, monkeypatch):
    """On CPU a step's records go through flattened into one padding-free row: the same training loss
    as one record per forward pass (records do not attend to each other), and rows are cut to max_length."""
    loss = {}
    for row_tokens in (1, device.CPU_ROW_TOKENS):
        monkeypatch.setattr(device, "CPU_ROW_TOKENS", row_tokens)
        trainer, info = finetune.build_trainer(make_cfg(tmp_path, tiny, bf16=False, lora_dropout=0.0, max_length=38))
        assert info["device"]["micro_batch"] == (1 if row_tokens == 1 else 4)
        assert trainer.args.padding_free == (row_tokens > 1)
        assert max(len(r) for r in trainer.train_dataset["input_ids"]) == 38   # cut inside the answers, as TRL would
        loss[row_tokens] = trainer.train().training_loss
    assert loss[1] > 0 and loss[1] == pytest.approx(loss[device.CPU_ROW_TOKENS], rel=1e-4)


# -- data preparation --------------------------------------------------------------------------

def test_rows_without_an_answer_token_after_the_cut_are_dropped(tokenizer, capsys):
    recs = [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is 3 plus 4? " * 8},
                          {"role": "assistant", "content": "3 plus 4 is 7."}]},
            {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi?"},
                          {"role": "assistant", "content": "Hello, how are you today?"}]}]
    ds = data.encode_all(tokenizer, recs, "test", max_length=40)   # the first prompt alone is longer than 40
    assert len(ds) == 1 and max(len(r) for r in ds["input_ids"]) <= 40
    assert any(x != -100 for x in ds["labels"][0])
    assert "1 of them have no answer token left and are dropped" in capsys.readouterr().err


def test_student_system_replaces_drops_or_keeps():
    recs = [{"messages": [{"role": "system", "content": "long"}, {"role": "user", "content": "q"},
                          {"role": "assistant", "content": "a"}]}]
    assert data.set_system(recs, None) == recs
    assert data.set_system(recs, "")[0]["messages"][0] == {"role": "user", "content": "q"}
    assert data.set_system(recs, "short")[0]["messages"][0] == {"role": "system", "content": "short"}
    assert recs[0]["messages"][0]["content"] == "long"  # the input is not changed in place


def test_split_is_seeded_and_keeps_questions_together():
    recs = [{"seed_id": f"s{i // 3}", "messages": []} for i in range(60)]
    train, held = data.split(recs, 0.05, seed=1)
    assert len(held) >= data.MIN_EVAL and len(train) + len(held) == 60
    assert not {r["seed_id"] for r in train} & {r["seed_id"] for r in held}
    assert data.split(recs, 0.05, seed=1) == (train, held)
    assert data.split(recs, 0.05, seed=2)[1] != held
    with pytest.raises(UserError, match="at least 2 records"):
        data.split(recs[:1], 0.05, seed=0)


# -- the whole stage ---------------------------------------------------------------------------

def test_finetune_tiny_end_to_end(tmp_path, tiny, tokenizer):
    from peft import AutoPeftModelForCausalLM
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    assert finetune.run(make_cfg(tmp_path, tiny, merge=True)) == 0
    stats = json.loads((tmp_path / "finetune_stats.json").read_text())
    for key in ("student", "train_records", "eval_records", "eval_loss_before", "eval_loss_after",
                "eval_ppl_before", "eval_ppl_after", "train_runtime_s", "train_tokens", "tokens_per_s",
                "max_steps", "log_history"):
        assert key in stats
    assert stats["train_records"] + stats["eval_records"] == 24 and stats["max_steps"] == 3
    assert any("loss" in h for h in stats["log_history"]) and stats["train_tokens"] > 0
    assert json.loads((tmp_path / "finetune_config.json").read_text())["max_steps"] == 3

    student = tmp_path / "student"
    adapter = load_file(student / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())  # B starts at zero
    model = AutoPeftModelForCausalLM.from_pretrained(student)
    base = AutoModelForCausalLM.from_pretrained(tiny)
    base_weights = dict(base.named_parameters())
    for name, p in model.get_base_model().named_parameters():
        if "lora_" not in name:
            clean = name.replace("base_layer.", "")
            assert torch.equal(p, base_weights[clean]), name  # the base model is untouched
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 plus 3?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    merged = AutoModelForCausalLM.from_pretrained(student / "merged")
    with torch.no_grad():
        assert torch.allclose(model(**prompt).logits, merged(**prompt).logits, atol=1e-4)


# -- user errors: exit 2 with a clear message --------------------------------------------------

def _cli(capsys, *argv):
    code = cli.main(["finetune", *argv])
    return code, capsys.readouterr().err


def test_error_empty_kept_file(tmp_path, tiny, capsys):
    (tmp_path / "kept.jsonl").write_text("")
    code, err = _cli(capsys, "--run", str(tmp_path), "--student", str(tiny))
    assert code == 2 and "kept.jsonl" in err and "no records" in err


def test_error_missing_student(tmp_path, capsys):
    write_kept(tmp_path / "kept.jsonl")
    code, err = _cli(capsys, "--run", str(tmp_path), "--student", str(tmp_path / "nope"))
    assert code == 2 and "student model folder not found" in err


def test_error_record_without_assistant_turn(tmp_path, tiny, capsys):
    write_kept(tmp_path / "kept.jsonl", n=3)
    with open(tmp_path / "kept.jsonl", "a") as f:
        f.write(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    code, err = _cli(capsys, "--run", str(tmp_path), "--student", str(tiny))
    assert code == 2 and "kept.jsonl:4:" in err and "no assistant turn" in err


def test_error_empty_assistant_answer_names_its_line(tmp_path, tiny, capsys):
    write_kept(tmp_path / "kept.jsonl", n=8)
    lines = (tmp_path / "kept.jsonl").read_text().splitlines()
    rec = json.loads(lines[2])
    rec["messages"][-1]["content"] = ""
    lines[2] = json.dumps(rec)
    (tmp_path / "kept.jsonl").write_text("\n".join(lines) + "\n")
    code, err = _cli(capsys, "--run", str(tmp_path), "--student", str(tiny))
    assert code == 2 and "kept.jsonl:3:" in err and "empty assistant" in err


def test_error_tokenizer_without_chat_template(tmp_path, tiny, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(tiny, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    tok_cfg = json.loads((bare / "tokenizer_config.json").read_text())
    tok_cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    write_kept(tmp_path / "kept.jsonl")
    code, err = _cli(capsys, "--run", str(tmp_path), "--student", str(bare))
    assert code == 2 and "no chat template" in err


@pytest.mark.parametrize("kw, msg", [({"kd": ["logit"]}, "--kd-teacher"),
                                     ({"kd_teacher": ["t"]}, "--kd"),
                                     ({"kd": ["logits"], "kd_teacher": ["t"]}, "logit, feature"),
                                     ({"max_steps": 0}, "--max-steps"),
                                     ({"eval_fraction": 0.9}, "--eval-fraction")])
def test_config_checks(kw, msg):
    with pytest.raises(UserError, match=msg):
        finetune.Config(**kw)


# -- the embedded student really learns (slow) -------------------------------------------------

@pytest.mark.slow
def test_embedded_student_learns_the_teacher(tmp_path):
    write_kept(tmp_path / "kept.jsonl", n=32)
    cfg = finetune.Config(run=str(tmp_path), max_steps=8, batch_size=4, max_length=128)
    assert finetune.run(cfg) == 0
    stats = json.loads((tmp_path / "finetune_stats.json").read_text())
    assert stats["student"] == "SmolLM2-135M-Instruct"
    assert stats["eval_loss_after"] < stats["eval_loss_before"]
    assert stats["eval_ppl_after"] < stats["eval_ppl_before"]
