"""Maps of several layers fused into one (`radlens.explain.cam.CamExplainer`, `layer="a+b"`).

A layer spec names one module, or several joined by one separator that says how their maps
(each upsampled to the input and divided by its own maximum) are combined:

* "a+b": the mean: evidence where *any* layer has it (a fine map's detail plus a coarse map's
  extent);
* "a*b": the geometric mean: evidence only where *every* layer has it (a fine map's peak must
  agree with the coarser layers' view of where the class evidence is, so a fine layer's hot spot
  on a structure the deeper layers ignore is voted down).

Either way the fused map is multiplied by the mean of the layers' raw maxima, so evidence stays
in logit units (`radlens.explain.evidence`).
"""

from __future__ import annotations

import torch
from torch import nn

from radlens.errors import ConfigError
from radlens.explain.layers import check_layer

__all__ = ["FUSIONS", "fuse_maps", "per_case_max", "split_layers"]

#: layer-spec separator -> how the layers' maps are combined
FUSIONS: dict[str, str] = {"+": "mean", "*": "geometric mean"}


def split_layers(model: nn.Module, layer: str | None) -> tuple[list[str], str]:
    """'a+b' -> (['a', 'b'], '+'), 'a*b' -> (['a', 'b'], '*'), each name checked against the
    model's modules; None -> ([], '+') (automatic choice of one layer)."""
    if layer is None:
        return [], "+"
    spec = str(layer)
    used = [sep for sep in FUSIONS if sep in spec]
    if len(used) > 1:
        raise ConfigError(
            f"layer {layer!r}: join the layers with one separator, '+' (mean) or '*'"
            " (geometric mean), not both"
        )
    sep = used[0] if used else "+"
    names = [part.strip() for part in spec.split(sep)]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"layer {layer!r}: expected a module name or distinct names joined by '+' (mean)"
            " or '*' (geometric mean)"
        )
    return [check_layer(model, n) for n in names], sep


def per_case_max(maps: torch.Tensor, empty: float) -> torch.Tensor:
    """`maps` (N, ...) divided by each case's maximum (`empty` where the maximum is 0)."""
    peak = maps.reshape(len(maps), -1).amax(1).reshape(-1, *([1] * (maps.ndim - 1)))
    return torch.where(peak > 0, maps / peak.clamp(min=1e-30), torch.full_like(maps, empty))


def fuse_maps(maps: list[torch.Tensor], sep: str = "+") -> torch.Tensor:
    """One layer's map as it is; several: the mean ('+') or geometric mean ('*') of the per-case
    normalised maps, times the layers' mean maximum."""
    if sep not in FUSIONS:
        raise ConfigError(f"fusion {sep!r} unknown; expected one of {sorted(FUSIONS)}")
    if len(maps) == 1:
        return maps[0]
    peak = torch.stack([m.reshape(len(m), -1).amax(1) for m in maps]).mean(0)
    shapes = torch.stack([per_case_max(m, 0.0) for m in maps])
    shape = shapes.mean(0) if sep == "+" else shapes.prod(0) ** (1.0 / len(maps))
    return shape * peak.reshape(-1, *([1] * (shape.ndim - 1)))
