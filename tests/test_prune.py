"""`imitate student`: depth pruning of a tiny random-init LLaMA (fast)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from imitate import cli  # noqa: E402
from imitate.train import prune  # noqa: E402

LAYERS = 6
IDENTITY = (2, 3)   # layers made exact identities: their influence is 0


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tokenizer):
    """A 6-layer random LLaMA with the embedded tokenizer, whose layers 2 and 3 add nothing to the
    residual stream (o_proj and down_proj zeroed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for i in IDENTITY:
            model.model.layers[i].self_attn.o_proj.weight.zero_()
            model.model.layers[i].mlp.down_proj.weight.zero_()
    out = tmp_path_factory.mktemp("teacher") / "teacher"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def student(tmp_path, teacher, capsys, *flags) -> tuple[int, str]:
    code = cli.main(["student", "--from", str(teacher), "--out", str(tmp_path / "s"), *map(str, flags)])
    out, err = capsys.readouterr()
    return code, out + err


def test_influence_drops_the_identity_layers_uniform_does_not(tmp_path, teacher, capsys):
    code, out = student(tmp_path, teacher, capsys, "--keep-layers", 4)
    assert code == 0, out
    info = json.loads((tmp_path / "s" / "pruned.json").read_text())
    assert info["kept"] == [0, 1, 4, 5] and info["dropped"] == list(IDENTITY)
    assert "kept layers [0, 1, 4, 5]" in out
    assert len(info["influence"]) == LAYERS
    assert max(info["influence"][i] for i in IDENTITY) < 1e-4 < min(info["influence"][i] for i in (0, 1, 4, 5))
    assert prune.choose(LAYERS, 4, None) == [0, 2, 3, 5]   # uniform keeps what influence drops
    code, out = student(tmp_path / "u", teacher, capsys, "--keep-layers", 4, "--by", "uniform")
    assert code == 0, out
    info = json.loads((tmp_path / "u" / "s" / "pruned.json").read_text())
    assert info["kept"] == [0, 2, 3, 5] and info["influence"] is None


def test_student_has_n_renumbered_layers_and_generates(tmp_path, teacher, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert student(tmp_path, teacher, capsys, "--keep-layers", 3)[0] == 0
    out = tmp_path / "s"
    model = AutoModelForCausalLM.from_pretrained(out)
    kept = json.loads((out / "pruned.json").read_text())["kept"]
    assert model.config.num_hidden_layers == len(model.model.layers) == len(kept) == 3
    source = AutoModelForCausalLM.from_pretrained(teacher)
    for new, old in enumerate(kept):
        assert torch.equal(model.model.layers[new].mlp.up_proj.weight, source.model.layers[old].mlp.up_proj.weight)
    assert torch.equal(model.lm_head.weight, source.lm_head.weight)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(teacher).chat_template
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    generated = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] == ids["input_ids"].shape[1] + 5


def test_finetune_trains_the_pruned_student(tmp_path, teacher, capsys):
    from test_finetune import write_kept

    assert student(tmp_path, teacher, capsys, "--keep-layers", 2)[0] == 0
    write_kept(tmp_path / "kept.jsonl")
    code = cli.main(["finetune", "--run", str(tmp_path), "--student", str(tmp_path / "s"), "--max-steps", "1",
                     "--batch-size", "4"])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert (tmp_path / "student" / "adapter_config.json").is_file()


@pytest.mark.parametrize("flags, message", [
    (["--keep-layers", 0], "between 1 and 5"),
    (["--keep-layers", LAYERS], "between 1 and 5"),
    ([], "--keep-layers is required"),
])
def test_bad_keep_layers_exit_2(tmp_path, teacher, capsys, flags, message):
    code, out = student(tmp_path, teacher, capsys, *flags)
    assert code == 2 and message in out
    assert not (tmp_path / "s").exists()


def test_missing_teacher_or_used_out_exit_2(tmp_path, teacher, capsys):
    code, out = student(tmp_path, tmp_path / "nowhere", capsys, "--keep-layers", 2)
    assert code == 2 and "teacher folder not found" in out
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "mine.txt").write_text("keep me")
    code, out = student(tmp_path, teacher, capsys, "--keep-layers", 2)
    assert code == 2 and "not an empty folder" in out and (tmp_path / "s" / "mine.txt").exists()
