"""StudentTrainer's answer-only, chunked CE against TRL's own loss on a tiny random LLaMA: the same
value and the same gradients, over several chunks, with padding, LoRA and uneven micro-batches."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from accelerate.state import AcceleratorState  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

from imitate.device import precision, training  # noqa: E402
from imitate.embedded import model_dir  # noqa: E402
from imitate.train import student_trainer as st  # noqa: E402
from imitate.train.data import encode_all  # noqa: E402


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(model_dir())


def make(tmp_path, tok, peft, bf16=False):
    AcceleratorState._reset_state(reset_partial_state=True)   # one process, several trainers' precisions
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id)
    qa = [("What is 2+2?", "4."), ("Name a colour.", "Blue is a colour, and so is a deep shade of red."),
          ("Capital of France?", "Paris."), ("Say hi.", "Hi there, how are you today?")]
    data = encode_all(tok, [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
                            for q, a in qa], "test")   # finetune's encoding: labels on the answers only
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4,
                     save_strategy="no", report_to=[], max_length=64, seed=0, **precision(training(bf16=bf16)),
                     dataloader_num_workers=0)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM") if peft else None
    trainer = st.StudentTrainer(model=LlamaForCausalLM(cfg), args=args, train_dataset=data,
                                processing_class=tok, peft_config=lora)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    trainer.model.train()
    return trainer, batch


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("peft", [False, True])
def test_chunked_ce_equals_trls_loss_and_gradients(tmp_path, tok, monkeypatch, peft):
    trainer, batch = make(tmp_path, tok, peft)
    model = trainer.model
    assert (batch["attention_mask"] == 0).any()   # padded rows
    n_answer = int((batch["labels"][:, 1:] != -100).sum())
    assert n_answer < batch["labels"].numel() // 2   # prompts are most of the batch: they must not count
    # Chunks of 5 positions: several per batch.
    monkeypatch.setattr(st, "CHUNK_BYTES", 4 * len(tok) * 5)
    want = SFTTrainer.compute_loss(trainer, model, dict(batch))
    g_want = grads(model, want)
    got = trainer.compute_loss(model, dict(batch))
    g_got = grads(model, got)
    torch.testing.assert_close(got.detach(), want.detach(), rtol=1e-5, atol=1e-6)
    assert g_got.keys() == g_want.keys() and g_got
    for n in g_want:
        torch.testing.assert_close(g_got[n], g_want[n], rtol=1e-4, atol=1e-6)


def test_bf16_autocast_covers_the_head(tmp_path, tok):
    """With bf16 on (autocast: finetune's choice on a CPU that multiplies bf16 faster),
    the chunks run under the forward's autocast, so in a training step the head multiplies in bf16, and
    the loss stays within bf16 rounding of the fp32 step's."""
    loss, dtypes = {}, {}
    for bf16 in (False, True):
        trainer, _ = make(tmp_path, tok, True, bf16=bf16)
        seen = dtypes[bf16] = set()
        trainer.model.get_output_embeddings().register_forward_hook(lambda m, i, out, seen=seen: seen.add(out.dtype))
        loss[bf16] = trainer.train().training_loss
    assert dtypes == {False: {torch.float32}, True: {torch.bfloat16}}
    assert loss[True] == pytest.approx(loss[False], rel=2e-2)


def test_token_sums_over_uneven_micro_batches(tmp_path, tok):
    """With gradient accumulation TRL divides each micro-batch's token sum by the answer tokens of the
    whole batch (num_items_in_batch); so does the chunked CE."""
    trainer, batch = make(tmp_path, tok, False)
    model = trainer.model
    total = int((batch["labels"][:, 1:] != -100).sum())
    for rows in (slice(0, 1), slice(1, 4)):
        half = {k: v[rows] for k, v in batch.items()}
        n = torch.tensor(total)
        want = SFTTrainer.compute_loss(trainer, model, dict(half), num_items_in_batch=n)
        got = trainer.compute_loss(model, dict(half), num_items_in_batch=n)
        torch.testing.assert_close(got.detach(), want.detach(), rtol=1e-5, atol=1e-6)


def test_a_micro_batch_without_answer_tokens_gives_a_zero_in_the_graph(tmp_path, tok):
    trainer, batch = make(tmp_path, tok, False)
    batch["labels"] = torch.full_like(batch["labels"], -100)
    loss = trainer.compute_loss(trainer.model, dict(batch))
    assert loss.item() == 0.0
    loss.backward()   # does not raise
