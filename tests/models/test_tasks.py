"""Task metrics: hand-computed cases, an independent transcription of the MedMNIST v2 evaluator
(from its published definitions, not its code), scikit-learn agreement, NaN masking, losses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from radlens.errors import ConfigError, EvaluationError
from radlens.models.tasks import Task, prevalence

NAMES = {
    "binary": ("normal", "pneumonia"),
    "multi-class": ("a", "b", "c", "d"),
    "multi-label": ("l0", "l1", "l2"),
    "ordinal-regression": ("g0", "g1", "g2", "g3", "g4"),
}


# ---- independent reference: AUC as the Mann-Whitney probability, ACC from its definition ------
def pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(tie), by counting every pair."""
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def reference_auc(task: str, y: np.ndarray, s: np.ndarray) -> float:
    """MedMNIST v2: binary -> AUC of the last column; multi-class/ordinal -> mean one-vs-rest AUC
    over classes; multi-label -> mean per-label AUC (unknown labels left out)."""
    if task == "binary":
        return pairwise_auc(y, s[:, -1])
    if task == "multi-label":
        per = [
            pairwise_auc(y[~np.isnan(y[:, i]), i], s[~np.isnan(y[:, i]), i])
            for i in range(s.shape[1])
        ]
        return float(np.mean(per))
    return float(np.mean([pairwise_auc((y == i).astype(int), s[:, i]) for i in range(s.shape[1])]))


def reference_acc(task: str, y: np.ndarray, s: np.ndarray) -> float:
    """binary: positive score > 0.5; multi-label: mean over labels of accuracy at > 0.5;
    multi-class/ordinal: argmax."""
    if task == "binary":
        return float(np.mean((s[:, -1] > 0.5).astype(int) == y))
    if task == "multi-label":
        per = []
        for i in range(s.shape[1]):
            known = ~np.isnan(y[:, i])
            per.append(np.mean((s[known, i] > 0.5).astype(int) == y[known, i]))
        return float(np.mean(per))
    return float(np.mean(np.argmax(s, axis=1) == y))


def random_case(task: str, n: int, rng: np.random.Generator, ties: bool = False):
    k = len(NAMES[task])
    if task == "multi-label":
        y = rng.integers(0, 2, size=(n, k)).astype(float)
        y[rng.random((n, k)) < 0.1] = np.nan
        y[:2] = [[0] * k, [1] * k]  # both classes present in every label
        s = rng.random((n, k))
    else:
        y = rng.integers(0, k, size=n)
        y[:k] = np.arange(k)
        s = rng.dirichlet(np.ones(k), size=n)
    if ties:
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("task", list(NAMES))
@pytest.mark.parametrize("seed", range(4))
def test_matches_medmnist_evaluator_on_random_inputs(task: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, s = random_case(task, 60, rng, ties=seed % 2 == 1)
    t = Task(task, NAMES[task])
    assert t.auc(y, s) == pytest.approx(reference_auc(task, y, s), abs=1e-12)
    assert t.acc(y, s) == pytest.approx(reference_acc(task, y, s), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    task=st.sampled_from(list(NAMES)),
    seed=st.integers(0, 10_000),
    n=st.integers(8, 40),
)
def test_evaluator_equivalence_property(task: str, seed: int, n: int) -> None:
    y, s = random_case(task, n, np.random.default_rng(seed), ties=seed % 3 == 0)
    t = Task(task, NAMES[task])
    assert t.auc(y, s) == pytest.approx(reference_auc(task, y, s), abs=1e-12)
    assert t.acc(y, s) == pytest.approx(reference_acc(task, y, s), abs=1e-12)


def test_binary_hand_case() -> None:
    t = Task("binary", NAMES["binary"])
    y = np.array([0, 0, 1, 1])
    s1 = np.array([0.1, 0.4, 0.35, 0.8])
    s = np.stack([1 - s1, s1], axis=1)
    # pairs (pos, neg): (.35,.1) win, (.35,.4) loss, (.8,.1) win, (.8,.4) win -> 3/4
    assert t.auc(y, s) == pytest.approx(0.75)
    # predictions at > 0.5: 0, 0, 0, 1 -> 3 of 4 right; a score of exactly 0.5 is negative
    assert t.acc(y, s) == pytest.approx(0.75)
    s_half = np.array([[0.5, 0.5], [0.5, 0.5], [0.4, 0.6], [0.4, 0.6]])
    assert t.acc(y, s_half) == pytest.approx(1.0)


def test_multiclass_hand_case() -> None:
    t = Task("multi-class", ("a", "b", "c"))
    y = np.array([0, 1, 2, 2])
    s = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    # class a: positive .7 above all 3 negatives -> 1; class b: positive .5 vs .2, .6, .2 -> 2/3;
    # class c: positives .3, .6 vs negatives .1, .3: .3>.1, .3=.3 (1/2), .6>.1, .6>.3 -> 3.5/4
    assert t.auc(y, s) == pytest.approx((1 + 2 / 3 + 3.5 / 4) / 3)
    assert t.acc(y, s) == pytest.approx(3 / 4)  # argmax: a, b, b, c


def test_multilabel_nan_masked_hand_case() -> None:
    t = Task("multi-label", ("x", "y"))
    y = np.array([[1, 0], [0, np.nan], [1, 1], [0, 0]], dtype=float)
    s = np.array([[0.9, 0.2], [0.3, 0.99], [0.4, 0.7], [0.6, 0.4]])
    # x: positives .9, .4 vs negatives .3, .6 -> (1 + 1 + 1 + 0) / 4 = .75; y (row 2 unknown):
    # positive .7 vs .2, .4 -> 1.  ACC x: preds 1,0,0,1 vs 1,0,1,0 -> .5; y: 0,1,0 vs 0,1,0 -> 1
    assert t.auc(y, s) == pytest.approx((0.75 + 1.0) / 2)
    assert t.acc(y, s) == pytest.approx((0.5 + 1.0) / 2)
    m = t.metrics(y, s)
    assert m["auc_per_label"] == pytest.approx({"x": 0.75, "y": 1.0})


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, s = random_case("binary", 80, rng)
    assert Task("binary", NAMES["binary"]).auc(y, s) == pytest.approx(roc_auc_score(y, s[:, 1]))
    y, s = random_case("multi-class", 80, rng)
    ovr = roc_auc_score(y, s, multi_class="ovr", average="macro")
    assert Task("multi-class", NAMES["multi-class"]).auc(y, s) == pytest.approx(ovr)
    y, s = random_case("multi-label", 80, rng)
    y_full = np.nan_to_num(y, nan=0.0)  # compare without unknowns against sklearn's macro AUC
    assert Task("multi-label", NAMES["multi-label"]).auc(y_full, s) == pytest.approx(
        roc_auc_score(y_full, s, average="macro")
    )


def test_ordinal_mae_and_quadratic_kappa() -> None:
    t = Task("ordinal-regression", ("g0", "g1", "g2"))
    y = np.array([0, 1, 2, 2, 1, 0])
    pred = np.array([0, 2, 2, 1, 1, 1])
    s = np.eye(3)[pred] * 0.8 + 0.2 / 3
    m = t.metrics(y, s)
    assert m["mae"] == pytest.approx(3 / 6)
    # quadratic-weighted kappa from its definition: 1 - sum(w O) / sum(w E), w = (i-j)^2/(K-1)^2
    k = 3
    observed = np.zeros((k, k))
    for a, b in zip(y, pred, strict=True):
        observed[a, b] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    w = np.array([[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)])
    assert m["qwk"] == pytest.approx(1 - (w * observed).sum() / (w * expected).sum())
    assert m["qwk"] == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic"))
    assert set(m["auc_per_class"]) == {"g0", "g1", "g2"}


def test_coral_outputs_and_loss() -> None:
    t = Task("ordinal-regression", ("g0", "g1", "g2", "g3"), ordinal_loss="coral")
    assert t.num_outputs == 3
    logits = torch.tensor([[5.0, 5.0, 5.0], [-5.0, -5.0, -5.0], [5.0, -5.0, 3.0]])
    probs = t.activate(logits)
    assert probs.shape == (3, 4)
    assert torch.allclose(probs.sum(1), torch.ones(3))
    assert (probs >= 0).all()
    assert probs.argmax(1).tolist() == [3, 0, 1]  # monotone cumulative: P(y>1) capped by P(y>0)
    good = t.loss(torch.tensor([[9.0, 9.0, -9.0]]), torch.tensor([[2.0]]))
    bad = t.loss(torch.tensor([[-9.0, -9.0, 9.0]]), torch.tensor([[2.0]]))
    assert good < 0.01 < bad


def test_multilabel_loss_ignores_unknown_labels() -> None:
    t = Task("multi-label", ("x", "y"))
    logits = torch.tensor([[2.0, -50.0], [0.0, 1.0]])
    known = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    loss = t.loss(logits, known)
    assert torch.isfinite(loss)
    # the unknown entry's huge error must not count: equal to the mean over the 3 known entries
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = (
        bce(torch.tensor(2.0), torch.tensor(1.0))
        + bce(torch.tensor(0.0), torch.tensor(0.0))
        + bce(torch.tensor(1.0), torch.tensor(1.0))
    ) / 3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_balanced_class_weights_and_prevalence() -> None:
    t = Task("binary", ("normal", "pneumonia"))
    labels = np.array([[0]] * 10 + [[1]] * 90, dtype=np.float32)
    w = t.class_weights(labels)
    assert w.tolist() == pytest.approx([100 / (2 * 10), 100 / (2 * 90)])
    assert prevalence(t, labels) == pytest.approx({"normal": 0.1, "pneumonia": 0.9})


def test_bad_inputs() -> None:
    t = Task("binary", ("normal", "pneumonia"))
    with pytest.raises(EvaluationError, match=r"scores have shape \(3, 3\); expected \(3, 2\)"):
        t.auc(np.array([0, 1, 0]), np.zeros((3, 3)))
    with pytest.raises(EvaluationError, match="empty split"):
        t.metrics(np.zeros(0), np.zeros((0, 2)))
    with pytest.raises(ConfigError, match="unknown task 'regression'"):
        Task("regression", ("a", "b"))
    with pytest.raises(ConfigError, match="at least 2 label names"):
        Task("multi-class", ("only",))
    with pytest.raises(ConfigError, match="ordinal_loss"):
        Task("ordinal-regression", ("a", "b"), ordinal_loss="hinge")  # type: ignore[arg-type]


def test_single_class_split_gives_nan_auc_not_crash() -> None:
    t = Task("binary", ("normal", "pneumonia"))
    assert np.isnan(t.auc(np.array([1, 1, 1]), np.full((3, 2), 0.5)))
