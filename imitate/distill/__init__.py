"""White-box knowledge distillation: logit KD (KL on softened logits, multi-teacher ensemble) and
feature KD (FitNets: MSE between teacher features and a regressor of the student's).

`losses` holds pure functions, `features` the layer capture and regressors, `trainer` the TRL
trainer (imported on demand: it pulls in trl).
"""
from imitate.distill.features import default_layer_map, parse_layer_map
from imitate.distill.losses import feature_kd, logit_kd

__all__ = ["logit_kd", "feature_kd", "parse_layer_map", "default_layer_map"]
