"""Survival losses for right-censored follow-up: Cox partial likelihood and discrete-time hazard.

- `cox_ph_loss`: the negative Cox partial log-likelihood with Breslow's handling of tied event
  times, averaged over events:
  -1/D * sum_{i: event} [ r_i - log sum_{j: t_j >= t_i} exp(r_j) ].
  Every subject whose time ties with t_i is in i's risk set (Breslow). A batch without an event
  has no partial likelihood: the loss is 0 (and carries no gradient).
- `discrete_time_loss`: logistic hazard per interval (as pycox's LogisticHazard). A subject
  whose event or censoring falls in interval k survived intervals 0..k-1; an event contributes
  log h_k, a censoring log(1 - h_k) (censored subjects are taken to survive the interval they
  are censored in). The loss is the negative log-likelihood averaged over subjects.
- `discretise_times`: interval index of each time for the interval edges `cuts`.
- `SurvivalNet`: an image encoder (any classifier of the factory, its outputs taken as image
  features) and tabular covariates concatenated into one linear head: 1 output (the Cox log
  relative hazard) or K (discrete-time hazard logits, one per interval).
- `discrete_survival` / `discrete_risk`: survival curve S(t_k) = prod_{j<=k} (1 - h_j) of hazard
  logits, and one risk score per subject from it (the negative restricted mean survival time
  over the intervals: higher risk, shorter expected survival).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import ModelError


def _check(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> None:
    if risk.ndim != 1 or time.shape != risk.shape or event.shape != risk.shape:
        raise ModelError(
            f"survival loss needs 1-D risk, time and event of one length; got shapes "
            f"{tuple(risk.shape)}, {tuple(time.shape)}, {tuple(event.shape)}"
        )


def cox_ph_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood per event (Breslow ties) of log-risk scores (N,)."""
    risk = risk.reshape(-1) if risk.ndim == 2 and risk.shape[1] == 1 else risk
    _check(risk, time, event)
    ev = event.to(risk.dtype)
    n_events = ev.sum()
    if n_events == 0:
        return risk.sum() * 0.0
    order = torch.argsort(time, descending=True)
    t_desc = time[order]
    log_cum = torch.logcumsumexp(risk[order], dim=0)  # log sum over the first k (latest times)
    # risk set of t_i: every j with t_j >= t_i, i.e. up to the last position whose time >= t_i
    n_at_risk = torch.searchsorted(-t_desc.contiguous(), -time.contiguous(), right=True)
    log_risk_set = log_cum[n_at_risk - 1]
    return -((risk - log_risk_set) * ev).sum() / n_events


def discretise_times(time: np.ndarray | torch.Tensor, cuts: Sequence[float]) -> torch.Tensor:
    """Interval index of each time: interval k is [cuts[k-1], cuts[k]) with cuts[-1] = 0; times
    at or past the last cut fall in the last interval."""
    edges = torch.as_tensor(np.asarray(cuts, dtype=np.float64))
    if edges.ndim != 1 or len(edges) < 1 or bool((torch.diff(edges) <= 0).any()):
        raise ModelError(f"cuts must be increasing interval ends; got {list(cuts)}")
    t = torch.as_tensor(np.asarray(time, dtype=np.float64))
    return torch.clamp(torch.bucketize(t, edges, right=True), max=len(edges) - 1)


def discrete_time_loss(
    logits: torch.Tensor, interval: torch.Tensor, event: torch.Tensor
) -> torch.Tensor:
    """Negative log-likelihood of the logistic hazards `logits` (N, K) for subjects whose event or
    censoring falls in `interval` (N,) (see the module's convention)."""
    if logits.ndim != 2 or interval.shape != (logits.shape[0],) or event.shape != interval.shape:
        raise ModelError(
            f"discrete-time loss needs logits (N, K), interval (N,), event (N,); got "
            f"{tuple(logits.shape)}, {tuple(interval.shape)}, {tuple(event.shape)}"
        )
    k = logits.shape[1]
    idx = interval.long()
    if bool(((idx < 0) | (idx >= k)).any()):
        raise ModelError(f"interval indices must lie in [0, {k}); got {idx.tolist()}")
    steps = torch.arange(k, device=logits.device)[None, :]
    target = ((steps == idx[:, None]) & event.bool()[:, None]).to(logits.dtype)
    seen = (steps <= idx[:, None]).to(logits.dtype)  # intervals each subject was observed in
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * seen).sum(dim=1).mean()


class SurvivalNet(nn.Module):
    """Image features (`encoder`: (B, C, ...) -> (B, n_features)) and covariates (B, n_cov)
    -> one linear head with `n_outputs` (1: Cox log hazard; K: discrete-time hazard logits)."""

    def __init__(
        self, encoder: nn.Module, n_features: int, n_covariates: int, n_outputs: int
    ) -> None:
        super().__init__()
        if n_features < 1 or n_covariates < 0 or n_outputs < 1:
            raise ModelError(
                f"SurvivalNet needs n_features >= 1, n_covariates >= 0, n_outputs >= 1; got "
                f"{n_features}, {n_covariates}, {n_outputs}"
            )
        self.encoder = encoder
        self.n_covariates = n_covariates
        self.head = nn.Linear(n_features + n_covariates, n_outputs)

    def forward(self, x: torch.Tensor, covariates: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encoder(x)
        if self.n_covariates:
            if covariates is None or covariates.shape != (len(x), self.n_covariates):
                got = None if covariates is None else tuple(covariates.shape)
                raise ModelError(
                    f"SurvivalNet expects covariates ({len(x)}, {self.n_covariates}); got {got}"
                )
            features = torch.cat([features, covariates.to(features.dtype)], dim=1)
        return self.head(features)


def discrete_survival(logits: torch.Tensor) -> torch.Tensor:
    """S(end of interval k) = prod_{j <= k} (1 - sigmoid(logit_j)) of hazard logits (N, K)."""
    return torch.cumprod(1.0 - torch.sigmoid(logits.float()), dim=1)


def discrete_risk(survival: torch.Tensor, cuts: Sequence[float]) -> torch.Tensor:
    """Negative restricted mean survival over the intervals (0, cuts[0]], ..., of curves (N, K)
    (the step function: S(t) is 1 in the first interval, S(cut_k) after cut_k)."""
    edges = torch.as_tensor(np.r_[0.0, np.asarray(cuts, dtype=np.float64)], dtype=survival.dtype)
    widths = torch.diff(edges)
    before = torch.cat([torch.ones_like(survival[:, :1]), survival[:, :-1]], dim=1)
    return -(before * widths[None, :]).sum(dim=1)
