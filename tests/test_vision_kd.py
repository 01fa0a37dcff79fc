"""Cross-modal feature KD: the loss against hand-computed values, the grouping of image tokens, and a
tiny VLM student trained against a tiny SigLIP encoder (MSE falls, regressor.pt saved)."""
import json

import pytest
import torch
from test_vision_student import cfg, kept_file

from imitate.distill.features import load_regressors
from imitate.errors import UserError
from imitate.stages import finetune
from imitate.vision.kd import cross_modal_loss, grid_features, image_groups
from imitate.vision.tiny import build_encoder, build_vlm

IMG = 9


def test_cross_modal_loss_golden_value():
    # one row: text, 4 image tokens (a 2 x 2 grid), text; the text positions carry huge values that must not count
    ids = torch.tensor([[1, IMG, IMG, IMG, IMG, 2]])
    h = torch.tensor([[[100., -50.], [1., 1.], [2., -2.], [-1., -1.], [5., 5.], [-70., 30.]]])
    # RMS-normalized student: [1,1], [1,-1], [-1,-1], [1,1]
    # a 4 x 4 teacher grid behind a class token; the 2 x 2 blocks average to [1,1], [3,-3], [0,0], [-2,-2]
    blocks = {(0, 0): [[0, 2], [2, 0], [1, 1], [1, 1]], (0, 1): [[2, -2], [4, -4], [3, -3], [3, -3]],
              (1, 0): [[1, -1], [-1, 1], [0, 0], [0, 0]], (1, 1): [[-2, -2]] * 4}
    grid = torch.zeros(4, 4, 2)
    for (bi, bj), vals in blocks.items():
        for n, v in enumerate(vals):
            grid[2 * bi + n // 2, 2 * bj + n % 2] = torch.tensor(v, dtype=torch.float)
    feats = torch.cat([torch.full((1, 2), 1e3), grid.reshape(16, 2)])[None]    # (1, 17, 2): class token first
    reg = torch.nn.Linear(2, 2)
    with torch.no_grad():
        reg.weight.copy_(torch.tensor([[1., 0.], [0., 2.]]))
        reg.bias.copy_(torch.tensor([0., 0.5]))
    # predictions [1,2.5], [1,-1.5], [-1,-1.5], [1,2.5] against targets [1,1], [1,-1], [0,0], [-1,-1]:
    # squared errors per position, mean over 2 dims: 1.125, 0.125, 1.625, 8.125 -> mean 2.75
    loss = cross_modal_loss(h, ids, IMG, [1], feats, reg, k=4)
    assert loss.item() == pytest.approx(2.75, abs=1e-5)
    loss.backward()
    assert reg.weight.grad is not None and reg.weight.grad.abs().sum() > 0


def test_pooling_and_groups():
    feats = torch.arange(16.)[None, :, None]          # a 4 x 4 grid, no class token
    assert grid_features(feats, 2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    with pytest.raises(ValueError, match="square grid"):
        grid_features(torch.zeros(1, 7, 2), 2)
    # row 0: one image shown as two tiles and a global view (3 runs of 2); row 1: two images of one run each
    ids = torch.tensor([[0, IMG, IMG, 0, IMG, IMG, 0, IMG, IMG], [IMG, IMG, 0, IMG, IMG, 0, 0, 0, 0]])
    groups = image_groups(ids, IMG, [1, 2], k=2)
    assert [(r, p.tolist()) for r, p in groups] == [(0, [7, 8]), (1, [0, 1]), (1, [3, 4])]
    with pytest.raises(ValueError, match="do not split"):
        image_groups(ids, IMG, [2, 2], k=2)
    # a row without images counts for nothing
    h = torch.randn(1, 3, 2, requires_grad=True)
    zero = cross_modal_loss(h, torch.tensor([[0, 0, 0]]), IMG, [0], torch.zeros(0, 16, 2), torch.nn.Linear(2, 2), 4)
    assert zero.item() == 0.0
    zero.backward()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("kd")
    return build_vlm(root / "student"), build_encoder(root / "siglip")


def test_feature_kd_trains_the_image_positions_onto_the_encoder(tmp_path, models):
    student, encoder = models
    kept = kept_file(tmp_path)
    c = cfg(tmp_path, student, input=kept, max_steps=6, kd=["feature"], kd_teacher=[str(encoder)],
            learning_rate=1e-2)
    trainer, info = finetune.build_trainer(c)
    assert trainer.kd_layer_map == [(1, 2)]     # the student's middle layer, the encoder's last
    batch = trainer.data_collator([trainer.train_dataset[0]])
    assert batch["kd_pixel_values"].shape == (1, 3, 32, 32) and batch["kd_image_counts"].tolist() == [1]
    trainer.train()
    logs = [x for x in trainer.state.log_history if "kd_mse" in x]
    assert len(logs) == 6 and logs[-1]["kd_mse"] < logs[0]["kd_mse"]
    assert all(x["kd_ce"] > 0 for x in logs)
    out = finetune.save_student(trainer, c, info)
    regs, pairs = load_regressors(out)
    assert pairs == [(1, 2)] and regs["s1_t2"].weight.shape == (48, 64)
    assert not any("kd_regressors" in k for k in json.loads((out / "adapter_config.json").read_text()))


def test_bad_kd_teachers_are_clear_errors(tmp_path, models):
    student, encoder = models
    kept = kept_file(tmp_path)
    with pytest.raises(UserError, match="must be a vision encoder"):
        finetune.build_trainer(cfg(tmp_path, student, input=kept, kd=["feature"], kd_teacher=[str(student)]))
    with pytest.raises(UserError, match="--kd feature only"):
        finetune.build_trainer(cfg(tmp_path, student, input=kept, kd=["logit"], kd_teacher=[str(encoder)]))
    with pytest.raises(UserError, match="out of range"):
        finetune.build_trainer(cfg(tmp_path, student, input=kept, kd=["feature"], kd_teacher=[str(encoder)],
                                   layer_map="1:3"))
