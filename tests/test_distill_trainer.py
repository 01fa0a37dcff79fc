"""KDTrainer and kd_setup on tiny random LLaMAs (teacher d=64, 4 layers; student d=32, 2 layers)
sharing the embedded tokenizer. A few optimizer steps each; no network."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from datasets import Dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

from imitate.distill.features import load_regressors, pair_key, rms_normalize  # noqa: E402
from imitate.distill.losses import feature_kd, logit_kd  # noqa: E402
from imitate.distill.kd_trainer import KDTrainer, kd_setup  # noqa: E402
from imitate.embedded import model_dir  # noqa: E402
from imitate.errors import UserError  # noqa: E402
from imitate.device import fastest_cpu_dtype, precision, training  # noqa: E402
from imitate.distill.options import KDOptions  # noqa: E402


def tiny_llama(tok, hidden, layers, seed):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(model_dir())


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, tok):
    d = tmp_path_factory.mktemp("teacher")
    tiny_llama(tok, 64, 4, seed=1).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def dataset():
    qa = [("What is 2+2?", "2+2 is 4."), ("Name a colour.", "Blue is a colour."),
          ("Capital of France?", "Paris is the capital of France."), ("Say hi.", "Hi there!"),
          ("What is ice?", "Ice is frozen water."), ("Count to three.", "One, two, three."),
          ("Is the sky blue?", "Yes, on a clear day."), ("What is 3*3?", "3*3 is 9.")]
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in qa]
    return Dataset.from_list(rows)


def kd_cfg(teacher_dir, kd=("logit", "feature"), **kw):
    base = dict(kd_teacher=[str(teacher_dir)], kd=list(kd), layer_map="", kd_temperature=2.0,
                lambda_ce=1.0, lambda_kl=1.0, lambda_mse=1.0)
    return KDOptions(**{**base, **kw})


def make_trainer(tmp_path, tok, dataset, teacher_dir, peft=True, kd=("logit", "feature"), steps=3, **kw):
    model = tiny_llama(tok, 32, 2, seed=0)
    extra = kd_setup(kd_cfg(teacher_dir, kd, **kw), model, tok)
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=steps, per_device_train_batch_size=4,
                     learning_rate=1e-2, logging_steps=1, save_strategy="no", report_to=[], **precision(training()),
                     max_length=64, seed=0, dataloader_num_workers=0)
    peft_config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM") if peft else None
    return KDTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=dataset,
                     processing_class=tok, peft_config=peft_config, **extra)


def one_batch(trainer):
    batch = next(iter(trainer.get_train_dataloader()))
    return trainer._prepare_inputs(batch)


def test_kd_setup_builds_frozen_teachers_and_default_regressor(tok, teacher_dir):
    model = tiny_llama(tok, 32, 2, seed=0)
    extra = kd_setup(kd_cfg(teacher_dir), model, tok)
    (teacher,) = extra["teachers"]
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert teacher.dtype == fastest_cpu_dtype()  # on a CPU: bf16 where it multiplies faster, else fp32
    assert extra["layer_map"] == [(1, 2)]
    reg = extra["regressors"][pair_key(1, 2)]
    assert isinstance(reg, torch.nn.Linear) and (reg.in_features, reg.out_features) == (32, 64)


def test_layer_map_out_of_range_is_a_user_error(tok, teacher_dir):
    with pytest.raises(UserError, match="student layer 3 .* out of range 1..2"):
        kd_setup(kd_cfg(teacher_dir, layer_map="3:2"), tiny_llama(tok, 32, 2, 0), tok)
    with pytest.raises(UserError, match="teacher layer 5 .* out of range 1..4"):
        kd_setup(kd_cfg(teacher_dir, layer_map="1:5"), tiny_llama(tok, 32, 2, 0), tok)


def test_bad_kd_settings(tok, teacher_dir):
    model = tiny_llama(tok, 32, 2, 0)
    with pytest.raises(UserError, match="--kd takes"):
        kd_setup(kd_cfg(teacher_dir, kd=("logits",)), model, tok)
    with pytest.raises(UserError, match="kd-teacher"):
        kd_setup(kd_cfg(teacher_dir, kd_teacher=[]), model, tok)
    with pytest.raises(UserError, match="temperature"):
        kd_setup(kd_cfg(teacher_dir, kd_temperature=0.0), model, tok)
    with pytest.raises(UserError, match="cannot load the teacher"):
        kd_setup(kd_cfg(teacher_dir, kd_teacher=[str(teacher_dir / "missing")]), model, tok)


def test_vocabulary_mismatch_refused_for_logit_kd_only(tmp_path, tok, teacher_dir):
    other = AutoTokenizer.from_pretrained(model_dir())
    other.add_tokens(["<only_in_teacher>"])
    d = tmp_path / "other_teacher"
    tiny_llama(other, 64, 4, seed=2).save_pretrained(d)
    other.save_pretrained(d)
    model = tiny_llama(tok, 32, 2, 0)
    with pytest.raises(UserError, match="vocabulary"):
        kd_setup(kd_cfg(d, kd=("logit",)), model, tok)
    extra = kd_setup(kd_cfg(d, kd=("feature",)), model, tok)  # features need no shared vocabulary
    assert extra["layer_map"] == [(1, 2)]


def test_loss_adds_the_kd_terms(tmp_path, tok, dataset, teacher_dir):
    trainer = make_trainer(tmp_path, tok, dataset, teacher_dir, lambda_kl=0.5, lambda_mse=2.0)
    model = trainer.model
    model.train()
    inputs = one_batch(trainer)
    # CE from the full logits equals TRL's fused-head CE.
    trainer.lambda_kl = trainer.lambda_mse = 0.0
    ce_only = trainer.compute_loss(model, dict(inputs))
    torch.testing.assert_close(ce_only, SFTTrainer.compute_loss(trainer, model, dict(inputs)))
    trainer.lambda_kl, trainer.lambda_mse = 0.5, 2.0
    total = trainer.compute_loss(model, dict(inputs))
    # Independent KD terms: full forwards with output_hidden_states (hidden_states[k] = after block k).
    fwd = {k: v for k, v in inputs.items() if k != "labels"}
    labels = inputs["labels"]
    with torch.no_grad():
        s_out = model(**fwd, output_hidden_states=True)
        t_out = trainer.kd_teachers[0](**fwd, output_hidden_states=True)
        kl = logit_kd(s_out.logits[:, :-1], t_out.logits[:, :-1], labels[:, 1:] != -100, temperature=2.0)
        # features at the positions the CE counts: those that predict an answer token
        mse = feature_kd(rms_normalize(s_out.hidden_states[1][:, :-1]), rms_normalize(t_out.hidden_states[2][:, :-1]),
                         trainer.regressors[pair_key(1, 2)], labels[:, 1:] != -100)
    assert kl > 0 and mse > 0
    torch.testing.assert_close(total.detach(), ce_only.detach() + 0.5 * kl + 2.0 * mse, rtol=1e-4, atol=1e-5)


def test_lora_training_updates_regressor_and_saves_it(tmp_path, tok, dataset, teacher_dir):
    trainer = make_trainer(tmp_path, tok, dataset, teacher_dir, peft=True, steps=3)
    reg = trainer.regressors[pair_key(1, 2)]
    assert reg.weight.requires_grad
    w0 = reg.weight.detach().clone()
    lora0 = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    trainer.train()
    assert not torch.allclose(reg.weight.detach(), w0)
    assert any(not torch.equal(p.detach(), lora0[n]) for n, p in trainer.model.named_parameters() if n in lora0)
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 3 and all("kd_kl" in h and "kd_mse" in h and "kd_ce" in h for h in logged)
    assert all(h["kd_kl"] > 0 and h["kd_mse"] > 0 for h in logged)
    out = tmp_path / "saved"
    trainer.save_model(str(out))
    assert (out / "adapter_model.safetensors").exists()
    assert not any("kd_regressors" in k for k in load_file(out / "adapter_model.safetensors"))
    regs, pairs = load_regressors(out)
    assert pairs == [(1, 2)]
    torch.testing.assert_close(regs[pair_key(1, 2)].weight, reg.weight.detach().cpu())
    assert trainer.regressors is reg or trainer.regressors[pair_key(1, 2)] is reg  # reattached after saving


def test_full_finetune_feature_only(tmp_path, tok, dataset, teacher_dir):
    trainer = make_trainer(tmp_path, tok, dataset, teacher_dir, peft=False, kd=("feature",), steps=2,
                           layer_map="1:3,2:4")
    assert set(trainer.regressors.keys()) == {"s1_t3", "s2_t4"}
    w0 = {k: r.weight.detach().clone() for k, r in trainer.regressors.items()}
    trainer.train()
    assert all(not torch.allclose(r.weight.detach(), w0[k]) for k, r in trainer.regressors.items())
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert all("kd_mse" in h and "kd_kl" not in h for h in logged)
    out = tmp_path / "full"
    trainer.save_model(str(out))
    assert not any("kd_regressors" in k for k in load_file(out / "model.safetensors"))
    LlamaForCausalLM.from_pretrained(out)  # loads as a plain model
    assert (out / "regressor.pt").exists()
    ev = trainer.evaluate()
    assert "eval_loss" in ev and "eval_kd_kl" not in ev  # evaluation is plain CE


def test_two_identical_teachers_give_the_single_teacher_loss(tmp_path, tok, dataset, teacher_dir):
    one = make_trainer(tmp_path, tok, dataset, teacher_dir, kd=("logit",))
    two = make_trainer(tmp_path, tok, dataset, teacher_dir, kd=("logit",),
                       kd_teacher=[str(teacher_dir), str(teacher_dir)])
    assert len(two.kd_teachers) == 2
    one.model.train()
    two.model.train()
    inputs = one_batch(one)
    torch.testing.assert_close(one.compute_loss(one.model, dict(inputs)), two.compute_loss(two.model, dict(inputs)))


def test_feature_loss_reaches_exactly_the_student_layers_below_the_hint(tmp_path, tok, dataset, teacher_dir):
    """With CE off, the MSE on block 1's output moves LoRA weights of block 1, none of block 2."""
    trainer = make_trainer(tmp_path, tok, dataset, teacher_dir, kd=("feature",), lambda_ce=0.0, layer_map="1:2")
    trainer.model.train()
    trainer.compute_loss(trainer.model, one_batch(trainer)).backward()
    # lora_B: lora_A gets no gradient at first, since B starts at zero
    grads = {n: p.grad for n, p in trainer.model.named_parameters() if "lora_B" in n}
    below = [g for n, g in grads.items() if ".layers.0." in n]
    above = [g for n, g in grads.items() if ".layers.1." in n]
    assert below and above
    assert any(g is not None and g.abs().sum() > 0 for g in below)
    assert all(g is None or g.abs().sum() == 0 for g in above)
    assert trainer.regressors["s1_t2"].weight.grad.abs().sum() > 0


def test_kd_weighs_tokens_as_the_ce_does_over_uneven_micro_batches(tmp_path, tok, dataset, teacher_dir):
    """With gradient accumulation, TRL's CE divides token sums by the answer tokens of the whole
    batch (num_items_in_batch); the KD terms must too: each micro-batch's KD term is its token sum
    over that total, not its own mean over the accumulation steps (which would weigh a short
    micro-batch's tokens more)."""
    trainer = make_trainer(tmp_path, tok, dataset, teacher_dir, kd=("logit",), lambda_ce=0.0)
    model = trainer.model
    model.train()
    assert trainer.model_accepts_loss_kwargs
    batch = one_batch(trainer)
    halves = [{k: v[:1] for k, v in batch.items()}, {k: v[1:] for k, v in batch.items()}]
    counts = [int((h["labels"][:, 1:] != -100).sum()) for h in halves]
    total = sum(counts)
    assert abs(counts[0] / total - 0.5) > 0.2   # uneven micro-batches
    for h in halves:
        got = trainer.compute_loss(model, dict(h), num_items_in_batch=torch.tensor(total))
        with torch.no_grad():
            fwd = {k: v for k, v in h.items() if k != "labels"}
            s_logits, t_logits = model(**fwd).logits, trainer.kd_teachers[0](**fwd).logits
            mask = h["labels"][:, 1:] != -100
            want = logit_kd(s_logits[:, :-1], t_logits[:, :-1], mask, 2.0, reduction="sum") / total
            old = logit_kd(s_logits[:, :-1], t_logits[:, :-1], mask, 2.0) / len(halves)
        torch.testing.assert_close(got.detach(), want, rtol=1e-4, atol=1e-6)
        assert abs(float(old) - float(want)) > 0.1 * float(want)


def test_logged_kd_terms_add_up_to_the_loss_over_micro_batches(tmp_path, tok, dataset, teacher_dir):
    """Each micro-batch's KD term is its share of the step's value; the logs show the step's value, so
    with lambda_ce = lambda_kl = 1 the logged kd_ce + kd_kl is the logged loss, whatever the accumulation."""
    model = tiny_llama(tok, 32, 2, seed=0)
    extra = kd_setup(kd_cfg(teacher_dir, ("logit",), lambda_ce=1.0, lambda_kl=1.0), model, tok)
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=1,
                     gradient_accumulation_steps=4, learning_rate=1e-2, logging_steps=1, save_strategy="no",
                     report_to=[], max_length=64, seed=0, dataloader_num_workers=0, **precision(training(bf16=False)))
    trainer = KDTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok, **extra)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "kd_kl" in h]
    assert len(logs) == 2
    for h in logs:
        assert h["kd_ce"] + h["kd_kl"] == pytest.approx(h["loss"], rel=1e-3)
