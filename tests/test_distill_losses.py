"""The KD losses against values computed independently with torch.nn.functional, and their identities."""
import math

import pytest
import torch
import torch.nn.functional as F

from imitate.distill.features import default_layer_map, parse_layer_map
from imitate.distill.losses import feature_kd, logit_kd
from imitate.errors import UserError

B, T, V = 2, 5, 11


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(B, T, V, generator=g) * 2
    t = torch.randn(B, T, V, generator=g) * 2
    mask = torch.tensor([[True, True, False, True, False], [False, True, True, True, True]])
    return s, t, mask


def ref_kl(p_logits, q_logits, temp):
    """KL(p || q) per position with F.kl_div, (N, V) -> (N,)."""
    return F.kl_div(F.log_softmax(q_logits / temp, -1), F.log_softmax(p_logits / temp, -1),
                    reduction="none", log_target=True).sum(-1)


@pytest.mark.parametrize("temp", [1.0, 2.0, 0.5])
def test_forward_matches_kl_div(data, temp):
    s, t, mask = data
    want = ref_kl(t[mask], s[mask], temp).mean() * temp ** 2
    got = logit_kd(s, t, mask, temperature=temp, kind="forward")
    torch.testing.assert_close(got, want)


def test_reverse_matches_kl_div_and_differs_from_forward(data):
    s, t, mask = data
    want = ref_kl(s[mask], t[mask], 2.0).mean() * 4
    got = logit_kd(s, t, mask, temperature=2.0, kind="reverse")
    torch.testing.assert_close(got, want)
    assert not torch.isclose(got, logit_kd(s, t, mask, temperature=2.0, kind="forward"))


@pytest.mark.parametrize("beta", [0.5, 0.2, 0.9])
def test_jsd_matches_manual_mixture(data, beta):
    s, t, mask = data
    ps, pt = F.softmax(s[mask] / 2, -1), F.softmax(t[mask] / 2, -1)
    m = beta * pt + (1 - beta) * ps
    kl = lambda p, q: (p * (p.log() - q.log())).sum(-1)  # noqa: E731
    want = (beta * kl(pt, m) + (1 - beta) * kl(ps, m)).mean() * 4
    torch.testing.assert_close(logit_kd(s, t, mask, 2.0, kind="jsd", beta=beta), want)


def test_symmetric_jsd_is_symmetric_and_bounded(data):
    s, t, mask = data
    a = logit_kd(s, t, mask, kind="jsd", beta=0.5)
    b = logit_kd(t, s, mask, kind="jsd", beta=0.5)
    torch.testing.assert_close(a, b)
    assert 0 < a.item() <= math.log(2)


@pytest.mark.parametrize("kind", ["forward", "reverse", "jsd"])
def test_zero_for_identical_inputs(data, kind):
    s, _, mask = data
    assert logit_kd(s, s.clone(), mask, temperature=3.0, kind=kind).abs().item() < 1e-6


def test_temperature_squared_scaling(data):
    s, t, mask = data
    raw = ref_kl(t[mask], s[mask], 4.0).mean()
    torch.testing.assert_close(logit_kd(s, t, mask, temperature=4.0), raw * 16)
    # Scaling the logits by T undoes the softening: KL at T on (k*T*logits) == T^2 * KL at 1 on (k*logits).
    torch.testing.assert_close(logit_kd(s * 4, t * 4, mask, temperature=4.0),
                               logit_kd(s, t, mask, temperature=1.0) * 16)


def test_masked_positions_do_not_count(data):
    s, t, mask = data
    before = logit_kd(s, t, mask)
    s2, t2 = s.clone(), t.clone()
    s2[~mask] = torch.randn_like(s2[~mask]) * 50
    t2[~mask] = torch.randn_like(t2[~mask]) * 50
    torch.testing.assert_close(logit_kd(s2, t2, mask), before)
    one = torch.zeros(B, T, dtype=torch.bool)
    one[1, 2] = True
    torch.testing.assert_close(logit_kd(s, t, one), ref_kl(t[1, 2:3], s[1, 2:3], 1.0).mean())


def test_empty_mask_gives_zero_with_graph(data):
    s, t, _ = data
    s = s.clone().requires_grad_(True)
    out = logit_kd(s, t, torch.zeros(B, T, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and s.grad is not None


def test_identical_teachers_average_to_one_teacher(data):
    s, t, mask = data
    one = logit_kd(s, t, mask, temperature=2.0)
    torch.testing.assert_close(logit_kd(s, [t, t.clone(), t.clone()], mask, temperature=2.0), one)
    torch.testing.assert_close(logit_kd(s, [t, t.clone()], mask, temperature=2.0, weights=[0.9, 0.1]), one)


def test_multi_teacher_averages_distributions(data):
    s, t, mask = data
    t2 = torch.randn_like(t)
    p = 0.25 * F.softmax(t[mask] / 2, -1) + 0.75 * F.softmax(t2[mask] / 2, -1)
    want = F.kl_div(F.log_softmax(s[mask] / 2, -1), p, reduction="none").sum(-1).mean() * 4
    torch.testing.assert_close(logit_kd(s, [t, t2], mask, 2.0, weights=[1, 3]), want)
    # a zero weight drops that teacher
    torch.testing.assert_close(logit_kd(s, [t, t2], mask, 2.0, weights=[1, 0]), logit_kd(s, t, mask, 2.0))


def test_bf16_inputs_computed_in_fp32(data):
    s, t, mask = data
    out = logit_kd(s.bfloat16(), t.bfloat16(), mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, logit_kd(s.bfloat16().float(), t.bfloat16().float(), mask))


def test_bad_arguments(data):
    s, t, mask = data
    with pytest.raises(ValueError, match="kind"):
        logit_kd(s, t, mask, kind="sideways")
    with pytest.raises(ValueError, match="temperature"):
        logit_kd(s, t, mask, temperature=0)
    with pytest.raises(ValueError, match="beta"):
        logit_kd(s, t, mask, kind="jsd", beta=1.0)
    with pytest.raises(ValueError, match="weights"):
        logit_kd(s, [t, t], mask, weights=[1.0])
    with pytest.raises(ValueError, match="shape"):
        logit_kd(s, t[..., :5], mask)


def test_feature_kd_matches_mse_loss_and_masks():
    g = torch.Generator().manual_seed(1)
    hs, ht = torch.randn(B, T, 6, generator=g), torch.randn(B, T, 9, generator=g)
    mask = torch.tensor([[True, False, True, True, False], [True, True, False, False, True]])
    reg = torch.nn.Linear(6, 9)
    want = F.mse_loss(reg(hs[mask]), ht[mask])
    torch.testing.assert_close(feature_kd(hs, ht, reg, mask), want)
    ht2 = ht.clone()
    ht2[~mask] = 1e3  # masked positions never count
    torch.testing.assert_close(feature_kd(hs, ht2, reg, mask), want)


def test_feature_kd_zero_when_regressor_reproduces_teacher():
    hs = torch.randn(B, T, 4)
    reg = torch.nn.Linear(4, 4)
    with torch.no_grad():
        reg.weight.copy_(torch.eye(4) * 2)
        reg.bias.fill_(1.0)
    assert feature_kd(hs, hs * 2 + 1, reg, torch.ones(B, T, dtype=torch.bool)).item() < 1e-10


def test_feature_kd_gradient_reaches_regressor_and_student_not_teacher():
    hs = torch.randn(B, T, 6, requires_grad=True)
    ht = torch.randn(B, T, 9, requires_grad=True)
    reg = torch.nn.Linear(6, 9)
    feature_kd(hs, ht.detach(), reg, torch.ones(B, T, dtype=torch.bool)).backward()
    assert reg.weight.grad is not None and reg.weight.grad.abs().sum() > 0
    assert reg.bias.grad.abs().sum() > 0
    assert hs.grad.abs().sum() > 0
    assert ht.grad is None


def test_layer_map_parsing():
    assert parse_layer_map("3:15,4:20", 6, 30) == [(3, 15), (4, 20)]
    assert parse_layer_map(" 1 : 30 ", 6, 30) == [(1, 30)]
    assert parse_layer_map("", 6, 30) == default_layer_map(6, 30) == [(3, 15)]
    assert default_layer_map(2, 4) == [(1, 2)]
    assert default_layer_map(5, 30) == [(3, 18)]


@pytest.mark.parametrize("text,msg", [
    ("3-15", "STUDENT:TEACHER"), ("a:1", "STUDENT:TEACHER"), ("3:15,", "STUDENT:TEACHER"),
    ("1.5:2", "STUDENT:TEACHER"), ("7:15", "student layer 7 .* out of range 1..6"),
    ("0:15", "student layer 0"), ("3:31", "teacher layer 31 .* out of range 1..30"),
    ("3:-1", "teacher layer -1"), ("3:15,3:15", "twice"),
])
def test_layer_map_errors(text, msg):
    with pytest.raises(UserError, match=msg):
        parse_layer_map(text, 6, 30)
