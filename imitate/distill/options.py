"""The KD options of finetune (and of the notebook and benchmarks that build a KD trainer themselves)."""
from __future__ import annotations

from dataclasses import dataclass

from imitate.config import opt
from imitate.distill import check_kd


@dataclass
class KDOptions:
    kd_teacher: list[str] = opt(None, "white-box KD: teacher model folders or hub ids whose weights are loaded "
                                "next to the student ('embedded': the embedded model); with a vision-language "
                                "--student and --kd feature: one vision encoder (SigLIP, CLIP) whose features "
                                "of each image the student's image tokens learn (cross-modal KD)", factory=list,
                                old=("teacher_model",))
    kd: list[str] = opt(None, "KD losses: logit, feature (white-box, with --kd-teacher); topk (gray-box, from "
                        "RUN/topk/, no teacher loaded)", factory=list)
    layer_map: str = opt("", "KD feature layers as 'student:teacher,...' ('': middle layers, proportional; "
                         "cross-modal: the student's middle layer and the encoder's last)")
    kd_temperature: float = opt(2.0, "KD softmax temperature", old=("temperature",))
    lambda_ce: float = opt(1.0, "KD weight of the cross-entropy on the teacher's answers")
    lambda_kl: float = opt(1.0, "KD weight of the logit KL term")
    lambda_mse: float = opt(1.0, "KD weight of the feature MSE term")

    def __post_init__(self):
        self.kinds()

    def kinds(self) -> tuple[str, ...]:
        """The KD kinds, checked (imitate.distill.check_kd)."""
        return check_kd(self.kd, self.kd_teacher, self.kd_temperature, self.weights())

    def weights(self) -> dict[str, float]:
        return {"lambda_ce": self.lambda_ce, "lambda_kl": self.lambda_kl, "lambda_mse": self.lambda_mse}
