"""White-box knowledge distillation: logit KD (KL on softened logits, multi-teacher ensemble) and
feature KD (FitNets: MSE between teacher features and a regressor of the student's); gray-box top-k
KD from the teacher's cached top-k log-probabilities (`topk`: RUN/topk/, no teacher loaded).

`losses` holds pure functions, `features` the layer capture and regressors, `trainer` the TRL
trainer (imported on demand: it pulls in trl). This module holds what the finetune stage checks
before anything heavy is imported.
"""
from imitate.errors import UserError

KD_KINDS = ("logit", "feature", "topk")   # what `finetune --kd` takes


def check_kd(kd, teachers, temperature: float, weights: dict[str, float]) -> tuple[str, ...]:
    """The KD settings, checked once for the finetune stage and kd_setup: known kinds, a teacher
    for any kind, a positive temperature, weights >= 0. Returns the kinds without repeats."""
    kd = tuple(dict.fromkeys(kd))
    bad = [k for k in kd if k not in KD_KINDS]
    if bad:
        raise UserError(f"--kd takes {', '.join(KD_KINDS)}; got {', '.join(bad)}")
    if "topk" in kd:
        if len(kd) > 1 or teachers:
            raise UserError("--kd topk trains from the cached top-k in RUN/topk/ and loads no teacher: give it "
                            "alone, without --kd-teacher (or use --kd logit/feature with --kd-teacher)")
    elif bool(kd) != bool(teachers):
        raise UserError("white-box KD needs both --kd (logit, feature) and --kd-teacher (a model folder "
                        "or 'embedded')")
    if not temperature > 0:
        raise UserError(f"--kd-temperature must be > 0, got {temperature}")
    for name, value in weights.items():
        if value < 0:
            raise UserError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    return kd
