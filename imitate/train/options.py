"""The training options every student path shares (text SFT, KD, vision-language): finetune's Config
inherits them, and imitate.train.model takes them; a flag is added here once."""
from __future__ import annotations

from dataclasses import dataclass

from imitate.config import opt
from imitate.errors import UserError


@dataclass
class TrainOptions:
    max_steps: int = opt(-1, "optimizer steps; -1: train for --epochs")
    epochs: float = opt(3.0, "passes over the training records (when --max-steps is -1)")
    learning_rate: float = opt(2e-4, "peak learning rate (linear decay)")
    batch_size: int = opt(8, "records per device per step (on CPU: in padding-free micro-batches of at most "
                          "2048 tokens, gradients accumulated over the step)")
    grad_accum: int = opt(1, "micro-batches accumulated per optimizer step")
    max_length: int = opt(1024, "tokens per record (longer ones are cut); the row length when packing")
    lora_r: int = opt(16, "LoRA rank")
    lora_alpha: float = opt(32.0, "LoRA alpha (scale = alpha / r)")
    lora_dropout: float = opt(0.05, "dropout on the LoRA path")
    target_modules: list[str] = opt(None, "modules to adapt: all-linear, or names like q_proj,v_proj",
                                    factory=lambda: ["all-linear"])
    eval_fraction: float = opt(0.05, "share of records held out for the before/after loss")
    rng_seed: int = opt(0, "random seed of the split, the LoRA init and the data order", old=("seed",))
    student_system: str | None = opt(None, "replace the teacher's system message with this text in the "
                                     "training data ('' drops it; unset: keep it)")
    report_to: str = opt("none", "where TRL sends training reports",
                         choices=["none", "tensorboard", "wandb", "mlflow"])
    bf16: bool | None = opt(None, "bf16 mixed precision (the frozen base in bf16, the LoRA adapters in fp32); "
                            "unset: on when the GPU supports it, or where this CPU multiplies bf16 faster than fp32 "
                            "(IMITATE_CPU_DTYPE=float32 or bfloat16 sets that for every stage)")
    packing: bool | None = opt(None, "pack records into full rows, padding-free; unset: on a GPU only")
    gradient_checkpointing: bool = opt(False, "recompute activations in the backward pass to save memory")

    def __post_init__(self):
        positive = {"batch_size": self.batch_size, "grad_accum": self.grad_accum, "lora_r": self.lora_r,
                    "learning_rate": self.learning_rate, "epochs": self.epochs, "lora_alpha": self.lora_alpha}
        for name, value in positive.items():
            if not value > 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive")
        if self.max_steps == 0 or self.max_steps < -1:
            raise UserError("--max-steps must be at least 1, or -1 to train for --epochs")
        if self.max_length < 16:
            raise UserError("--max-length must be at least 16 tokens")
        if not 0 <= self.lora_dropout < 1:
            raise UserError("--lora-dropout must be in [0, 1)")
        if not 0 < self.eval_fraction <= 0.5:
            raise UserError("--eval-fraction must be in (0, 0.5]")
        if not self.target_modules:
            raise UserError("--target-modules needs at least one name (or all-linear)")

    def device(self) -> dict:
        """The device rule's choices for these options (imitate.device.training)."""
        from imitate.device import training

        return training(self.bf16, self.packing, self.batch_size, self.max_length)
