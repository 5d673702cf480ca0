"""FROC against hand-computed curves: hit rule, one count per lesion, LUNA16 interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.errors import EvaluationError
from radlens.evaluation import (
    FrocScan,
    froc,
    froc_figure,
    froc_scan,
    interpolate_sensitivity,
    lesion_candidates,
)


def _scan(name: str, patient: str, scores, hits, n_lesions: int) -> FrocScan:
    return FrocScan(name, patient, np.array(scores, float), np.array(hits), n_lesions)


def _two_scans() -> list[FrocScan]:
    # scan 1, lesions L0 L1: .9 hits L0, .8 hits nothing, .7 hits L0 again (ignored), .3 hits L1
    # scan 2, lesion L0: .95 FP, .6 hits L0, .2 FP
    return [
        _scan("S1", "P1", [0.9, 0.8, 0.7, 0.3], [0, -1, 0, 1], 2),
        _scan("S2", "P2", [0.95, 0.6, 0.2], [-1, 0, -1], 1),
    ]


def test_two_scans_by_hand() -> None:
    # effective, by score: .95 FP, .9 TP, .8 FP, .6 TP, .3 TP, .2 FP; 3 lesions, 2 scans
    # curve (FPs/scan, sens): (0,0) (.5,0) (.5,1/3) (1,1/3) (1,2/3) (1,1) (1.5,1)
    # 1/8, 1/4: on (0,0)-(.5,0) -> 0; 1/2: top of the vertical at .5 -> 1/3; 1: top -> 1;
    # 2, 4, 8: beyond the last point -> 1. Score = (0 + 0 + 1/3 + 4) / 7 = 13/21
    r = froc(_two_scans(), n_bootstrap=0)
    assert r.fps_per_scan == pytest.approx([0, 0.5, 0.5, 1, 1, 1, 1.5])
    assert r.sensitivity == pytest.approx([0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    assert r.thresholds[1:] == pytest.approx([0.95, 0.9, 0.8, 0.6, 0.3, 0.2])
    assert r.sensitivities == pytest.approx([0, 0, 1 / 3, 1, 1, 1, 1])
    assert r.score == pytest.approx(13 / 21)
    assert (r.n_scans, r.n_lesions, r.bootstrap) == (2, 3, None)


def test_a_scan_without_lesions_adds_false_positives_and_scans() -> None:
    # + scan 3 (no lesion) with an FP at .92; 3 scans: (0,0) (1/3,0) (2/3,0) (2/3,1/3)
    # (1,1/3) (1,2/3) (1,1) (4/3,1): 1/8, 1/4, 1/2 on the flat start -> 0; 1 and above -> 1
    scans = [*_two_scans(), _scan("S3", "P3", [0.92], [-1], 0)]
    r = froc(scans, n_bootstrap=0)
    assert r.sensitivities == pytest.approx([0, 0, 0, 1, 1, 1, 1])
    assert r.score == pytest.approx(4 / 7)


def test_tied_scores_make_a_diagonal_segment() -> None:
    # one scan, one lesion; a TP and an FP tied at .9 -> one point (1, 1) straight from (0, 0):
    # sensitivity = FP rate up to 1. Score = (1/8 + 1/4 + 1/2 + 4) / 7
    r = froc([_scan("S1", "P1", [0.9, 0.9], [0, -1], 1)], n_bootstrap=0)
    assert r.fps_per_scan == pytest.approx([0, 1])
    assert r.sensitivities == pytest.approx([0.125, 0.25, 0.5, 1, 1, 1, 1])
    assert r.score == pytest.approx(4.875 / 7)


def test_interpolation_between_points() -> None:
    fps = np.array([0.0, 0.5, 2.0])
    sens = np.array([0.0, 0.4, 0.7])
    got = interpolate_sensitivity(fps, sens, (0.25, 1.0, 3.0))
    assert got == pytest.approx([0.2, 0.4 + 0.3 * (0.5 / 1.5), 0.7])


def test_hit_rule_mask_or_radius_and_one_count_per_lesion() -> None:
    truth = np.zeros((12, 9, 9), dtype=bool)
    truth[2:11, 4, 4] = True  # a 9-voxel line along z, centre (6, 4, 4); radius 1.29 mm
    prob = np.zeros(truth.shape)
    prob[2, 4, 4] = 0.9  # inside the mask, 4 mm from the centre -> hit (mask rule)
    prob[6, 5, 4] = 0.7  # outside the mask, 1 mm from the centre -> hit (radius), ignored
    prob[6, 4, 7] = 0.8  # 3 mm from the centre, outside -> false positive
    cands = lesion_candidates(prob, (1.0, 1.0, 1.0))
    scan = froc_scan("S1", "P1", cands, truth, (1.0, 1.0, 1.0))
    assert scan.n_lesions == 1
    assert dict(zip(scan.scores, scan.hits, strict=True)) == {0.9: 0, 0.8: -1, 0.7: 0}
    r = froc([scan], n_bootstrap=0)
    # effective: .9 TP, .8 FP -> (0,0) (0,1) (1,1): sensitivity 1 at every rate
    assert r.sensitivity == pytest.approx([0, 1, 1]) and r.score == pytest.approx(1.0)


def test_lesions_below_the_minimum_diameter_are_irrelevant_findings() -> None:
    truth = np.zeros((20, 20, 20), dtype=bool)
    truth[2:6, 2:6, 2:6] = True  # 64 mm^3: equivalent diameter 4.96 mm
    truth[10:18, 10:18, 10:18] = True  # 512 mm^3: 9.93 mm
    prob = np.zeros(truth.shape)
    prob[3, 3, 3] = 0.9  # hits the small lesion: dropped, neither TP nor FP
    prob[14, 14, 14] = 0.5  # hits the large lesion
    prob[8, 18, 2] = 0.7  # hits nothing: FP
    cands = lesion_candidates(prob, (1.0, 1.0, 1.0))
    every = froc_scan("S", "P", cands, truth, (1.0, 1.0, 1.0))
    assert every.n_lesions == 2 and sorted(every.hits.tolist()) == [-1, 0, 1]
    large = froc_scan("S", "P", cands, truth, (1.0, 1.0, 1.0), min_diameter_mm=6.0)
    assert large.n_lesions == 1
    assert dict(zip(large.scores, large.hits, strict=True)) == {0.7: -1, 0.5: 0}
    r = froc([large], n_bootstrap=0)  # FP at 0.7 before the TP at 0.5
    assert r.fps_per_scan == pytest.approx([0, 1, 1]) and r.sensitivity == pytest.approx([0, 0, 1])


def test_patient_bootstrap_ci() -> None:
    r = froc(_two_scans(), n_bootstrap=300, seed=3)
    assert r.bootstrap is not None and r.bootstrap.samples.shape == (300, 8)
    assert r.bootstrap.low[-1] <= r.score <= r.bootstrap.high[-1]
    assert r.bootstrap.low[-1] < r.bootstrap.high[-1]
    # both scans from one patient: every replicate is that patient -> the CI is the estimate
    same = [FrocScan(s.scan_id, "P1", s.scores, s.hits, s.n_lesions) for s in _two_scans()]
    one = froc(same, n_bootstrap=50)
    assert one.bootstrap.low[-1] == pytest.approx(one.score)
    assert one.bootstrap.high[-1] == pytest.approx(one.score)


def test_bad_scans_are_refused() -> None:
    with pytest.raises(EvaluationError, match="at least one scan"):
        froc([])
    with pytest.raises(EvaluationError, match="hits lesion 1 of only 1"):
        froc([_scan("S1", "P1", [0.5], [1], 1)], n_bootstrap=0)


def test_figure_png(tmp_path) -> None:
    r = froc(_two_scans(), n_bootstrap=20)
    png = froc_figure(r, tmp_path / "froc.png", title="nodule")
    assert png.startswith(b"\x89PNG")
    assert (tmp_path / "froc.png").read_bytes() == png
