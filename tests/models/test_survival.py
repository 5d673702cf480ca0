"""Cox partial-likelihood (Breslow) and discrete-time hazard losses by hand and against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from radlens.errors import ModelError
from radlens.models import cox_ph_loss, discrete_time_loss, discretise_times


def test_cox_loss_by_hand_with_tied_events() -> None:
    time = torch.tensor([1.0, 2.0, 2.0, 3.0])
    event = torch.tensor([1, 1, 1, 0])
    risk = torch.tensor([0.0, 0.0, math.log(2.0), 0.0])  # exp: 1, 1, 2, 1
    # risk sets (Breslow): t=1 all (sum 5); t=2 both tied events + t=3 (sum 4) for each
    # loss = -[(0 - ln 5) + (0 - ln 4) + (ln 2 - ln 4)] / 3 = ln 40 / 3
    assert cox_ph_loss(risk, time, event).item() == pytest.approx(math.log(40.0) / 3)


def _numpy_cox(r: np.ndarray, t: np.ndarray, e: np.ndarray) -> float:
    total = 0.0
    for i in np.flatnonzero(e):
        total += r[i] - np.log(np.exp(r[t >= t[i]]).sum())
    return -total / e.sum()


def test_cox_loss_against_numpy_and_its_gradient() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        n = 40
        t = rng.integers(1, 10, n).astype(float)  # many ties
        e = (rng.random(n) < 0.6).astype(float)
        r = rng.normal(size=n)
        got = cox_ph_loss(torch.tensor(r), torch.tensor(t), torch.tensor(e)).item()
        assert got == pytest.approx(_numpy_cox(r, t, e), abs=1e-10)
    risk = torch.tensor(r, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: cox_ph_loss(x, torch.tensor(t), torch.tensor(e)), (risk,)
    )


def test_cox_loss_without_events_is_zero_and_shapes_are_checked() -> None:
    r = torch.zeros(3, requires_grad=True)
    loss = cox_ph_loss(r, torch.tensor([1.0, 2, 3]), torch.zeros(3))
    assert loss.item() == 0.0
    loss.backward()
    assert cox_ph_loss(torch.zeros(3, 1), torch.ones(3), torch.ones(3)).item() == pytest.approx(
        math.log(3.0)
    )  # (N, 1) head output accepted; all tied: -(0 - ln 3) each
    with pytest.raises(ModelError, match="1-D risk"):
        cox_ph_loss(torch.zeros(3), torch.ones(4), torch.ones(3))


def test_discrete_time_loss_by_hand() -> None:
    logits = torch.tensor([[0.0, math.log(3.0), 5.0], [math.log(1 / 3), 0.0, 0.0]])
    interval = torch.tensor([1, 0])
    event = torch.tensor([1, 0])
    # A: survived interval 0 (h = 1/2), event in 1 (h = 3/4): -(ln 1/2 + ln 3/4)
    # B: censored in interval 0 (h = 1/4), taken to survive it: -ln 3/4
    expected = (math.log(2.0) + 2 * math.log(4 / 3)) / 2
    assert discrete_time_loss(logits, interval, event).item() == pytest.approx(expected)


def test_discretise_times_and_bad_inputs() -> None:
    got = discretise_times(np.array([0.0, 11.9, 12.0, 30.0, 99.0]), [12.0, 24.0, 36.0])
    assert got.tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ModelError, match="increasing"):
        discretise_times([1.0], [12.0, 12.0])
    with pytest.raises(ModelError, match=r"\[0, 3\)"):
        discrete_time_loss(torch.zeros(1, 3), torch.tensor([3]), torch.tensor([1]))
    with pytest.raises(ModelError, match="logits"):
        discrete_time_loss(torch.zeros(3), torch.tensor([0]), torch.tensor([1]))


def test_survival_net_concatenates_image_features_and_covariates() -> None:
    from torch import nn

    from radlens.models import SurvivalNet

    net = SurvivalNet(nn.Flatten(), n_features=2, n_covariates=1, n_outputs=1)
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
        net.head.bias.zero_()
    x = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    out = net(x, torch.tensor([[1.0], [-1.0]]))
    assert out[:, 0].tolist() == [1 + 2 + 3, 4 - 3]
    with pytest.raises(ModelError, match=r"expects covariates \(2, 1\); got None"):
        net(x)


def test_discrete_survival_and_risk_by_hand() -> None:
    from radlens.models import discrete_risk, discrete_survival

    # hazards 0.5, 0.5 -> S = 0.5, 0.25; intervals (0, 2], (2, 5]: RMST = 2 * 1 + 3 * 0.5 = 3.5
    logits = torch.tensor([[0.0, 0.0], [-30.0, -30.0]])
    surv = discrete_survival(logits)
    torch.testing.assert_close(surv[0], torch.tensor([0.5, 0.25]))
    risk = discrete_risk(surv, [2.0, 5.0])
    assert risk[0].item() == pytest.approx(-3.5)
    assert risk[1].item() == pytest.approx(-5.0, abs=1e-6)  # no hazard: survives throughout
