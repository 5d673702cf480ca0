"""Model-randomisation sanity check of explanations (Adebayo et al., "Sanity Checks for Saliency
Maps", NeurIPS 2018): re-initialise the weights and explain again. A map that still localizes
the lesion after the model has forgotten everything reflects the image or the method, not the
model; one that depends on the model falls to chance.

`randomised_models` gives the re-initialised copies: "full" (every layer at once, one model) or
"cascading" (layers re-initialised one more at a time from the output back to the input, one
model per step). Re-initialising means each module's own `reset_parameters()` (PyTorch's default
initialisation; batch-norm layers also forget their running statistics) under a fixed seed.
`sanity_table` puts the trained and randomised localization side by side; `sanity_localization`
computes it for any model, inputs and masks without drawing anything.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from radlens.core import look_up_option
from radlens.errors import ModelError
from radlens.explain.cam import CamMethod
from radlens.explain.evidence import Tolerance, case_maps, localize_cases

__all__ = [
    "SANITY_COLUMNS",
    "SANITY_CSV",
    "SANITY_MODES",
    "randomised_models",
    "sanity_localization",
    "sanity_table",
]

SANITY_MODES: tuple[str, ...] = ("full", "cascading")
SANITY_CSV = "sanity.csv"
#: what `sanity_table` shows per model (pooled over every explained case with a mask)
SANITY_COLUMNS: tuple[str, ...] = (
    "n",
    "pointing_game",
    "pointing_game_strict",
    "chance",
    "chance_strict",
    "iou",
    "p_value",
    "perm_p_value",
    "evidence_median",
)


def _resettable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules with their own parameters and a `reset_parameters`, in forward-definition order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if name
        and callable(getattr(m, "reset_parameters", None))
        and any(True for _ in m.parameters(recurse=False))
    ]


def randomised_models(
    model: nn.Module, mode: str = "full", *, seed: int = 0
) -> list[tuple[str, nn.Module]]:
    """Re-initialised copies of `model` (the model itself is untouched): "full" gives one,
    named "random (full)"; "cascading" gives one per layer, named "random from NAME" (every layer
    from the output back to NAME re-initialised)."""
    mode = look_up_option(mode, SANITY_MODES, what="sanity mode")
    layers = [name for name, _ in _resettable(model)]
    if not layers:
        raise ModelError(f"{type(model).__name__} has no layer with parameters to re-initialise")
    steps = [layers[0]] if mode == "full" else layers[::-1]
    out = []
    for k, stop in enumerate(steps):
        torch.manual_seed(seed)
        twin = copy.deepcopy(model)
        chosen = set(layers) if mode == "full" else set(layers[len(layers) - k - 1 :])
        for name, module in _resettable(twin):
            if name in chosen:
                module.reset_parameters()
        out.append(("random (full)" if mode == "full" else f"random from {stop}", twin.eval()))
    return out


def sanity_table(
    tables: Mapping[str, pd.DataFrame | None], evidence: Mapping[str, Sequence[float]]
) -> pd.DataFrame:
    """One row per model (e.g. "trained", "random (full)"): the pooled ("all") localization of
    its table (`radlens.explain.evidence.localize_cases`) and the median raw evidence maximum of
    its maps; NaN where a model's cases had no mask."""
    rows = []
    for name, table in tables.items():
        row: dict[str, object] = {"model": name}
        pooled = None
        if table is not None:
            key = "label" if "label" in table else "group"
            pooled = table[table[key] == "all"].iloc[0]
            row["tolerance"] = pooled.get("tolerance", "")
        for column in SANITY_COLUMNS[:-1]:
            row[column] = (
                float(pooled[column]) if pooled is not None and column in pooled else np.nan
            )
        row["evidence_median"] = float(np.median(np.asarray(evidence[name], dtype=np.float64)))
        rows.append(row)
    return pd.DataFrame(rows)


def sanity_localization(
    model: nn.Module,
    inputs: torch.Tensor,
    cases: Sequence[tuple[int, int, str]],
    masks: Sequence[np.ndarray | None],
    tolerance: Tolerance,
    *,
    mode: str = "full",
    seed: int = 0,
    method: CamMethod = "gradcam",
    layer: str | None = None,
) -> pd.DataFrame:
    """`sanity_table` of `model` and its `randomised_models` on `cases` (row of `inputs`,
    output column, label) scored against `masks`, at the same layer."""
    rows, outputs, labels = ([c[k] for c in cases] for k in range(3))
    tables: dict[str, pd.DataFrame | None] = {}
    evidence: dict[str, Sequence[float]] = {}
    named = [("trained", model), *randomised_models(model, mode, seed=seed)]
    for name, net in named:
        maps = case_maps(net, inputs, rows, outputs, method=method, layer=layer, progress=False)
        layer = maps.layer  # the randomised models are explained at the trained model's layer
        tables[name] = localize_cases(maps, masks, labels, tolerance)[1]
        evidence[name] = maps.raw_max
    return sanity_table(tables, evidence)
