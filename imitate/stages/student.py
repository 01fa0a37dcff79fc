"""Cut a shallower student from the teacher: keep N of its decoder layers (ShortGPT / Minitron).

    python -m imitate student --from embedded --out students/s20 --keep-layers 20 [--by uniform]
    python -m imitate finetune --run runs/r1 --student students/s20 [--kd-teacher embedded --kd logit]

--by influence (default) keeps the N layers that change their input most (1 - cosine similarity
between a layer's input and output hidden states, averaged over the tokens of a few shipped seed
questions); --by uniform keeps N evenly spaced layers. The folder is a plain LLaMA-family model with
the teacher's embeddings, norm, lm_head, tokenizer and chat template, and pruned.json (the kept and
dropped layers, the influence scores). Not a run-folder stage: it writes only --out.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from imitate.config import opt
from imitate.data.records import write_json
from imitate.errors import UserError
from imitate.train.prune import METHODS, prune


@dataclass
class Config:
    teacher: str = opt("embedded", "teacher model folder to prune ('embedded': the embedded SmolLM2-135M-Instruct)",
                       flag="--from")
    out: str | None = opt(None, "folder to write the student to (must not exist, or be empty)")
    keep_layers: int | None = opt(None, "decoder layers the student keeps")
    by: str = opt("influence", "how layers are chosen: influence (the most influential) or uniform "
                  "(evenly spaced)", choices=list(METHODS))
    calibration_texts: int = opt(8, "seed questions whose tokens the influence is averaged over")

    def __post_init__(self):
        if not self.out:
            raise UserError("--out is required: the folder to write the student to")
        if self.keep_layers is None:
            raise UserError("--keep-layers is required: how many decoder layers the student keeps")
        if self.calibration_texts < 1:
            raise UserError("--calibration-texts must be at least 1")


def teacher_dir(teacher: str) -> Path:
    from imitate import embedded

    path = Path(embedded.resolve(teacher)).expanduser()
    if not (path / "config.json").is_file():
        raise UserError("teacher folder not found, or it has no config.json (not a model folder)", path)
    return path


def check(teacher: Path, cfg: Config) -> None:
    from transformers import AutoConfig

    n_layers = AutoConfig.from_pretrained(teacher).num_hidden_layers
    if not 1 <= cfg.keep_layers < n_layers:
        raise UserError(f"--keep-layers must be between 1 and {n_layers - 1}: the teacher has {n_layers} layers")
    out = Path(cfg.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("already exists and is not an empty folder; choose another --out or remove it", out)


def run(cfg: Config) -> int:
    teacher = teacher_dir(cfg.teacher)
    check(teacher, cfg)
    out = Path(cfg.out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    info = prune(teacher, partial, cfg.keep_layers, cfg.by, cfg.calibration_texts)
    write_json(partial / "pruned.json", info)
    if out.exists():
        out.rmdir()
    os.replace(partial, out)
    print(f"student: kept layers {info['kept']} of the teacher's {info['teacher_layers']} (by {cfg.by}); "
          f"dropped {info['dropped']}")
    if info["influence"]:
        print("influence per layer: " + ", ".join(f"{i}:{s:.4f}" for i, s in enumerate(info["influence"])))
    print(f"wrote {out}; train it with: python -m imitate finetune --run RUN --student {out}")
    return 0
