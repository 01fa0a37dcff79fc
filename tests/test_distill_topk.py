"""Gray-box top-k KD: the loss (K+1 outcomes), the sidecar from collect --logprobs (kill -9 safe), from
`teacher topk`, and finetune --kd topk on tiny random LLaMAs. Fast; no network."""
import json
import math

import pytest
import torch

from conftest import kill_9_after
from fault_server import FaultServer
from test_collect_faults import lines, seeds_file
from test_finetune import write_kept

from imitate.cli import main
from imitate.distill import check_kd
from imitate.data import topk as sidecar
from imitate.distill.losses import topk_kd
from imitate.errors import UserError


# -- the loss ------------------------------------------------------------------------------------

def toy(seed=0, n=5, v=11, k=3):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, v, generator=g, dtype=torch.float64) * 2
    lp, ids = torch.log_softmax(t, -1).topk(k, -1)
    return t, ids, lp


def at(logits, ids):
    """The log-probabilities of `ids` under `logits`: what the trainer gives topk_kd."""
    return torch.log_softmax(logits, -1).gather(-1, ids.clamp(min=0))


def reference(student, ids, lp):
    """KL over K+1 outcomes, by hand, one position at a time."""
    out = 0.0
    for s, i, p in zip(student, ids, lp):
        q = torch.softmax(s, -1)
        pt, qt = p.exp().tolist(), q[i].tolist()
        pt.append(1 - sum(pt))
        qt.append(1 - sum(qt))
        out += sum(a * math.log(a / b) for a, b in zip(pt, qt) if a > 0)
    return out / len(student)


def test_topk_kl_matches_a_hand_computation():
    t, ids, lp = toy()
    s = torch.randn_like(t)
    assert topk_kd(at(s, ids), ids, lp).item() == pytest.approx(reference(s, ids, lp), rel=1e-6)
    assert topk_kd(at(s, ids), ids, lp, reduction="sum").item() == pytest.approx(5 * reference(s, ids, lp), rel=1e-6)


def test_zero_when_the_student_equals_the_teacher_on_the_support_and_rest():
    t, ids, lp = toy()
    assert abs(topk_kd(at(t, ids), ids, lp).item()) < 1e-9
    # Any student with the teacher's top-k probabilities (and so the same rest mass) scores zero ...
    s = t.clone()
    drop = torch.ones_like(s, dtype=torch.bool).scatter(-1, ids, False)
    s[drop] = s[drop] + torch.randn(int(drop.sum()), dtype=s.dtype).clamp(-0.5, 0.5)
    s[drop] = s[drop] - (torch.logsumexp(s.masked_fill(~drop, -math.inf), -1) -
                         torch.logsumexp(t.masked_fill(~drop, -math.inf), -1)).repeat_interleave(drop.sum(-1))
    assert abs(topk_kd(at(s, ids), ids, lp).item()) < 1e-9
    # ... but one that renormalises well on the k ids while putting mass outside them does not.
    s2 = t.clone()
    s2[drop] += 3.0
    assert topk_kd(at(s2, ids), ids, lp).item() > 0.1


def test_gradient_is_right():
    t, ids, lp = toy(n=3, v=7, k=3)
    s = torch.randn_like(t, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: topk_kd(at(x, ids), ids, lp, temperature=1.0), (s,))
    assert torch.autograd.gradcheck(lambda x: topk_kd(at(x, ids), ids, lp, temperature=2.0), (s,))
    ids2 = ids.clone()
    ids2[0, 2] = -1   # an unknown alternative: its mass joins the rest bucket
    assert torch.autograd.gradcheck(lambda x: topk_kd(at(x, ids2), ids2, lp), (s,))


def test_a_repeated_id_counts_once_and_fp32_matches_the_hand_computation():
    t, ids, lp = toy(k=4)
    s = torch.randn_like(t)
    rep, unknown = ids.clone(), ids.clone()
    rep[:, 3], unknown[:, 3] = rep[:, 0], -1   # the repeat's teacher mass joins the rest, like an unknown id
    assert topk_kd(at(s, rep), rep, lp).item() == pytest.approx(topk_kd(at(s, unknown), unknown, lp).item(), rel=1e-9)
    none = torch.full_like(ids, -1)   # a position without a top-k: no KD
    assert topk_kd(at(s, none), none, lp).item() == 0.0
    got = topk_kd(at(s.float(), ids), ids, lp.float())
    assert got.dtype == torch.float32 and got.item() == pytest.approx(reference(s, ids, lp), rel=1e-5)


def test_empty_and_kd_checks():
    z = torch.zeros(0, 2, requires_grad=True)
    topk_kd(z, torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2)).backward()
    assert check_kd(["topk"], [], 1.0, {}) == ("topk",)
    with pytest.raises(UserError, match="alone"):
        check_kd(["topk", "logit"], ["embedded"], 1.0, {})
    with pytest.raises(UserError, match="no teacher"):
        check_kd(["topk"], ["embedded"], 1.0, {})


# -- collect --logprobs --------------------------------------------------------------------------

def collect_args(srv, seeds, run, k=5, conc=4):
    return ["collect", "--seeds", str(seeds), "--run", str(run), "--teacher-url", srv.url, "--teacher-model", "m",
            "--concurrency", str(conc), "--max-tokens", "16", "--samples", "2", "--logprobs", str(k)]


def test_fault_server_returns_top_logprobs_and_records_carry_them(tmp_path):
    seeds = seeds_file(tmp_path, 3)
    run = tmp_path / "run"
    with FaultServer() as srv:
        assert main(collect_args(srv, seeds, run, k=4)) == 0
        assert all(r["body"]["logprobs"] is True and r["body"]["top_logprobs"] == 4 for r in srv.requests)
        assert all("logprobs" not in r["teacher"]["params"] for r in lines(run / "collected.jsonl"))
    meta, rows = sidecar.load(run / "topk")
    recs = lines(run / "collected.jsonl")
    assert meta["k"] == 4 and meta["source"] == "api" and set(rows) == {r["id"] for r in recs}
    for r in recs:
        row = rows[r["id"]]
        assert "".join(row["token"]) == r["messages"][-1]["content"]
        assert len(row["top_token"]) == len(row["top_logprob"]) == 4 * len(row["token"])
    assert not (run / "topk" / "staging.jsonl").exists()


def test_a_teacher_without_logprobs_warns_once_and_goes_on(tmp_path, capsys):
    seeds = seeds_file(tmp_path, 3)
    run = tmp_path / "run"
    with FaultServer(logprobs=False) as srv:
        assert main(collect_args(srv, seeds, run)) == 0
    err = capsys.readouterr().err
    assert err.count("returned no logprobs") == 1
    assert len(lines(run / "collected.jsonl")) == 6
    assert sidecar.shards(run / "topk") == []


def test_sidecar_survives_kill_9_and_resume(tmp_path):
    n = 30
    seeds = seeds_file(tmp_path, n)
    run = tmp_path / "run"
    out = run / "collected.jsonl"
    with FaultServer(delay=0.1) as srv:
        args = collect_args(srv, seeds, run)
        kill_9_after(args, out, 12)
        assert 12 <= len(lines(out)) < 2 * n
        staged = [json.loads(x) for x in (run / "topk" / "staging.jsonl").read_text().splitlines() if x.strip()]
        # staged before appended: every record on disk has its staged top-k
        assert {r["id"] for r in lines(out)} <= {s["id"] for s in staged}
        assert main(args) == 0
        assert main(args) == 0   # nothing to send: the sidecar stays as it is
    recs = lines(out)
    _, rows = sidecar.load(run / "topk")
    assert len(recs) == 2 * n and set(rows) == {r["id"] for r in recs}
    assert sum(len(sidecar.shard_ids(run / "topk")) for _ in [0]) == 2 * n
    assert not (run / "topk" / "staging.jsonl").exists()


def test_logprobs_flag_checks():
    from imitate.stages.collect import Config
    with pytest.raises(UserError, match="between 1 and 20"):
        Config(logprobs=21)


# -- teacher topk + finetune --kd topk ------------------------------------------------------------

@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tokenizer):  # noqa: F811
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    out = tmp_path_factory.mktemp("teacher") / "teacher"
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():   # a peaked teacher: a random one is near-uniform over 49k tokens
        model.lm_head.weight.mul_(200.0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_teacher_topk_then_finetune_kd_topk(tmp_path, tiny, teacher):  # noqa: F811
    from imitate.stages import finetune
    write_kept(tmp_path / "kept.jsonl")
    assert main(["teacher", "topk", "--run", str(tmp_path), "--teacher-model", str(teacher), "--k", "5"]) == 0
    meta, rows = sidecar.load(tmp_path / "topk")
    assert meta["k"] == 5 and meta["source"] == "local" and meta["vocab_hash"] and len(rows) == 24
    cfg = finetune.Config(run=str(tmp_path), student=str(tiny), max_steps=8, batch_size=4, kd=["topk"],
                          kd_temperature=1.0, learning_rate=2e-2, lambda_ce=0.0)
    assert finetune.run(cfg) == 0
    hist = [h for h in json.loads((tmp_path / "finetune_stats.json").read_text())["log_history"] if "kd_kl" in h]
    assert hist[0]["kd_kl"] > 0.01 and hist[-1]["kd_kl"] < hist[0]["kd_kl"]
    assert hist[-1]["loss"] < hist[0]["loss"]


def test_kd_topk_loss_is_ce_plus_kl_on_the_ce_tokens(tmp_path, tiny, teacher):  # noqa: F811
    """With the teacher's weights as the student's, the KL is zero and the loss is the CE."""
    from imitate.stages import finetune
    write_kept(tmp_path / "kept.jsonl")
    assert main(["teacher", "topk", "--run", str(tmp_path), "--teacher-model", str(tiny), "--k", "3"]) == 0
    trainer, _ = finetune.build_trainer(finetune.Config(run=str(tmp_path), student=str(tiny), max_steps=1,
                                                        batch_size=4, kd=["topk"], lora_dropout=0.0))
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["kd_ids"].shape[:2] == batch["input_ids"].shape and batch["kd_ids"].shape[2] == 3
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    assert abs(trainer.kd_logs["kd_kl"][-1]) < 1e-5
    assert loss.item() == pytest.approx(trainer.kd_logs["kd_ce"][-1], rel=1e-5)


def test_tokenizer_mismatch_is_refused(tmp_path, tiny, teacher):  # noqa: F811
    from imitate.stages import finetune
    write_kept(tmp_path / "kept.jsonl")
    assert main(["teacher", "topk", "--run", str(tmp_path), "--teacher-model", str(teacher), "--k", "2"]) == 0
    meta = json.loads((tmp_path / "topk" / "meta.json").read_text())
    (tmp_path / "topk" / "meta.json").write_text(json.dumps({**meta, "vocab_hash": "0123456789abcdef"}))
    with pytest.raises(UserError, match="another tokenizer"):
        finetune.build_trainer(finetune.Config(run=str(tmp_path), student=str(tiny), max_steps=1, kd=["topk"]))


def test_api_sidecar_maps_texts_onto_the_student_tokens(tmp_path, tiny):  # noqa: F811
    """collect --logprobs against the fault server (word tokens), then finetune --kd topk: the words
    that are one student token map, the others are reported and left out."""
    from imitate.stages import finetune
    seeds = seeds_file(tmp_path, 12)
    with FaultServer() as srv:
        assert main(collect_args(srv, seeds, tmp_path, k=3)) == 0
    (tmp_path / "kept.jsonl").write_text((tmp_path / "collected.jsonl").read_text())
    trainer, _ = finetune.build_trainer(finetune.Config(run=str(tmp_path), student=str(tiny), max_steps=1,
                                                        batch_size=4, kd=["topk"]))
    batch = next(iter(trainer.get_train_dataloader()))
    has = (batch["kd_ids"] >= 0).any(-1)
    assert has.any() and not has.all()
    assert ((batch["labels"] != -100) | ~has).all()   # top-k only on trained tokens
