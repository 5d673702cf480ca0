"""Focal lesions drawn with partial volume: nodule types and sizes against slice thickness."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.phantom import Habitus, render_study
from radlens.phantom.lesions import FindingSpec, nodule_type

HABITUS = Habitus.sample(np.random.default_rng(3))


def _seed_of(kind: str) -> int:
    return next(
        s for s in range(1000) if nodule_type(FindingSpec("nodule", "lingula", 5, s)) == kind
    )


def _nodule(kind: str, size: float, site: str) -> tuple[np.ndarray, np.ndarray]:
    """(clean HU in the mask, clean HU) of one nodule of `kind` and `size` at `site`."""
    spec = FindingSpec("nodule", "right_lower_lobe", float(size), _seed_of(kind))
    study = render_study(HABITUS, [spec], site)
    mask = study.masks[spec.key]
    assert mask.any()
    return study.clean[mask], study.clean


@pytest.mark.parametrize("size", [8.0, 20.0])
def test_nodule_types_have_their_attenuation(size: float) -> None:
    solid, _ = _nodule("solid", size, "site_a")
    ggn, _ = _nodule("ground_glass", size, "site_a")
    part, _ = _nodule("part_solid", size, "site_a")
    assert solid.max() > (0 if size > 10 else -150)
    assert -760 < ggn.mean() < -450  # hazy: lung shows through
    assert part.max() > -250 and part.mean() < -300  # a solid core in ground glass


def test_small_nodules_fade_in_thick_slices() -> None:
    """Partial volume: the same 4 mm solid nodule is fainter on 7.5 mm than on 3.1 mm slices,
    and far fainter than a 20 mm one (a nodule too small for the slice is hard to see)."""
    thin, _ = _nodule("solid", 4.0, "site_d")  # 3.125 mm slices
    thick, _ = _nodule("solid", 4.0, "site_e")  # 7.5 mm slices
    large, _ = _nodule("solid", 20.0, "site_e")
    assert thick.max() < thin.max() - 200
    assert thick.max() < -300 < 0 < large.max()
