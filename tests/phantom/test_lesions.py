"""Which focal lesions the phantom draws: nodule sizes and types, node short axes, plaque sites."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.phantom import sample_findings
from radlens.phantom.lesions import (
    NODE_SHORT_AXIS_MM,
    NODULE_MM,
    NODULE_TYPES,
    FindingSpec,
    log_uniform,
    nodule_type,
    parse_findings,
)


def test_nodules_are_4_to_30_mm_and_mostly_small() -> None:
    rng = np.random.default_rng(0)
    sizes = np.array([s.size for s in parse_findings(["nodule"] * 2000, rng)])
    assert NODULE_MM == (4.0, 30.0) and sizes.min() >= 4.0 and sizes.max() <= 30.0
    # log-uniform: median sqrt(4 * 30) = 10.95 mm; P(< 10 mm) = ln(2.5) / ln(7.5) = 0.455
    assert np.median(sizes) == pytest.approx(np.sqrt(120), rel=0.06)
    assert (sizes < 10).mean() == pytest.approx(np.log(2.5) / np.log(7.5), abs=0.03)
    assert (sizes < 6).mean() == pytest.approx(np.log(1.5) / np.log(7.5), abs=0.03)


def test_log_uniform_by_hand() -> None:
    draws = np.array([log_uniform(np.random.default_rng(i), 1.0, 100.0) for i in range(4000)])
    assert (draws < 10).mean() == pytest.approx(0.5, abs=0.03)  # 10 is the geometric middle


def test_lymph_nodes_are_enlarged_by_short_axis() -> None:
    rng = np.random.default_rng(1)
    sizes = np.array([s.size for s in parse_findings(["lymphadenopathy"] * 500, rng)])
    lo, hi = NODE_SHORT_AXIS_MM
    assert lo == 10.0 and sizes.min() >= lo and sizes.max() <= hi
    assert np.median(sizes) < 17  # skewed towards the 10 mm criterion


def test_nodule_type_follows_the_seed_and_the_frequencies() -> None:
    specs = [FindingSpec("nodule", "lingula", 8.0, seed) for seed in range(3000)]
    types = [nodule_type(s) for s in specs]
    assert types == [nodule_type(s) for s in specs]  # a nodule keeps its type
    for kind, p in NODULE_TYPES.items():
        assert types.count(kind) / len(types) == pytest.approx(p, abs=0.03), kind


def test_coronary_plaques_come_with_aortic_ones() -> None:
    rng = np.random.default_rng(2)
    seen = []
    for _ in range(400):
        locs = {
            s.location
            for s in sample_findings(rng, prevalence=0.5)
            if s.abnormality == "arterial_wall_calcification"
        }
        if locs:
            assert "aorta" in locs
            seen.append("coronary_arteries" in locs)
    assert 0.35 < np.mean(seen) < 0.65
