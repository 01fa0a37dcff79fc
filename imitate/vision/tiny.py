"""Tiny random-init vision models built from a config, with no download: for tests, benchmarks and a
smoke test of the image path on a machine that cannot fetch real weights.

    python -m imitate.vision.tiny vlm OUT        # an Idefics3 (SmolVLM) student: ~3.5 M parameters
    python -m imitate.vision.tiny encoder OUT    # a SigLIP vision encoder (feature KD teacher)

The student has SmolVLM's architecture (Idefics3: a SigLIP vision tower, a pixel-shuffle connector, a
LLaMA language model) and tokenizer (the embedded SmolLM2 tokenizer plus SmolVLM's four image tokens)
and SmolVLM's chat template; its images are resized to 32 px, 16 patches of 8 px, shuffled into 4
image tokens. Its weights are random: it learns, it does not know anything.
"""
from __future__ import annotations

import sys
from pathlib import Path

IMAGE_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
# SmolVLM's chat template (HuggingFaceTB/SmolVLM-256M-Instruct, chat_template.json).
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")
IMAGE_SIDE = 32


def build_vlm(out: str | Path, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    """Save a tiny Idefics3ForConditionalGeneration and its processor into `out`."""
    import torch
    from transformers import AutoTokenizer, Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    from imitate.embedded import model_dir

    tok = AutoTokenizer.from_pretrained(model_dir())
    tok.add_special_tokens({"additional_special_tokens": IMAGE_TOKENS})
    images = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": IMAGE_SIDE},
                                       max_image_size={"longest_edge": IMAGE_SIDE})
    processor = Idefics3Processor(image_processor=images, tokenizer=tok, image_seq_len=4,
                                  chat_template=SMOLVLM_TEMPLATE)
    cfg = Idefics3Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=IMAGE_SIDE, patch_size=8),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        scale_factor=2, image_token_id=tok.convert_tokens_to_ids("<image>"))
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(cfg)
    torch.random.set_rng_state(state)
    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_encoder(out: str | Path, seed: int = 1, hidden: int = 48, image_size: int = 32, patch: int = 4) -> Path:
    """Save a tiny SiglipVisionModel (an 8 x 8 grid of patch features, `hidden` wide) and its image
    processor into `out`."""
    import torch
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    cfg = SiglipVisionConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                             num_attention_heads=4, image_size=image_size, patch_size=patch)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = SiglipVisionModel(cfg)
    torch.random.set_rng_state(state)
    out = Path(out)
    model.save_pretrained(out)
    SiglipImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("vlm", "encoder"):
        print("usage: python -m imitate.vision.tiny {vlm,encoder} OUT", file=sys.stderr)
        return 2
    out = (build_vlm if argv[0] == "vlm" else build_encoder)(argv[1])
    print(f"tiny random {argv[0]}: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
