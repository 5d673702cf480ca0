"""CXR reports: what a radiograph shows of the CT findings, and the labeler reading them back."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.phantom import (
    CXR_OBSERVATIONS,
    VISIBLE_NODULE_MM,
    FindingSpec,
    cxr_findings,
    cxr_labels,
    sample_findings,
    write_cxr_report,
)
from radlens.phantom.cxr_reports import VISIBLE_NODE_MM, cxr_view
from radlens.phantom.lesions import nodule_type
from radlens.reports import label_many, load_vocabulary
from radlens.reports.tables import label_matrix


def _spec(abn: str, loc: str, size: float) -> FindingSpec:
    return FindingSpec(abn, loc, size, 0)


def test_observations_are_the_chest_xr_vocabulary() -> None:
    assert set(CXR_OBSERVATIONS) == set(load_vocabulary("chest_xr").abnormalities)


def test_ct_findings_map_to_what_a_radiograph_shows() -> None:
    assert cxr_view(_spec("nodule", "right_upper_lobe", VISIBLE_NODULE_MM - 4)) is None
    assert cxr_view(_spec("nodule", "right_upper_lobe", 14)) == ("lung_lesion", "right_upper_zone")
    assert cxr_view(_spec("mass", "lingula", 40)) == ("lung_lesion", "left_middle_zone")
    assert cxr_view(_spec("ground_glass_opacity", "left_lower_lobe", 40)) == (
        "lung_opacity",
        "left_lower_zone",
    )
    assert cxr_view(_spec("pleural_effusion", "left_pleura", 20)) == (
        "pleural_effusion",
        "left_pleura",
    )
    assert cxr_view(_spec("lymphadenopathy", "right_hilum", 20))[0] == "enlarged_cardiomediastinum"
    assert cxr_view(_spec("pericardial_effusion", "pericardium", 7)) is None
    assert cxr_view(_spec("pericardial_effusion", "pericardium", 14)) == ("cardiomegaly", "heart")
    assert cxr_view(_spec("emphysema", "right_upper_lobe", 0.4)) is None
    assert cxr_findings([]) == [{"observation": "no_finding", "location": ""}]
    labels = cxr_labels([_spec("nodule", "left_lower_lobe", 5)])
    assert labels["no_finding"] == 1 and labels["lung_lesion"] == 0


def _label(texts: list[str], columns: list[str]) -> np.ndarray:
    return label_matrix(label_many(texts, "chest_xr"), columns, "keep")


def test_nodule_too_small_to_see_is_not_reported() -> None:
    small = [_spec("nodule", "right_lower_lobe", 6.0)]
    texts = [write_cxr_report(small, np.random.default_rng(i)) for i in range(20)]
    pred = _label(texts, ["lung_lesion", "no_finding"])
    assert (pred[:, 0] != 1).all() and (pred[:, 1] == 1).all()
    big = [_spec("nodule", "right_lower_lobe", 18.0)]
    texts = [write_cxr_report(big, np.random.default_rng(i)) for i in range(20)]
    assert (_label(texts, ["lung_lesion@right_lower_zone"])[:, 0] == 1).all()


def _cohort_reports(seed: int, n: int) -> tuple[list[str], list[list[dict]]]:
    texts, truth = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        specs = [] if rng.random() < 0.15 else sample_findings(rng)
        texts.append(write_cxr_report(specs, np.random.default_rng([seed, i, 1])))
        truth.append(cxr_findings(specs))
    return texts, truth


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum((pred == 1) & (truth == 1)))
    return 2 * tp / (2 * tp + np.sum((pred == 1) & (truth == 0)) + np.sum((pred != 1) & truth))


@pytest.mark.parametrize("seed", [3])
def test_labeler_recovers_the_intended_labels(seed: int) -> None:
    texts, truth = _cohort_reports(seed, 150)
    obs = list(CXR_OBSERVATIONS)
    # heart / mediastinum are implied by their observation: the labeler leaves them unlocated
    places = sorted({f"{f['observation']}@{f['location']}" for t in truth for f in t
                     if f["location"] not in ("", "heart", "mediastinum")})  # fmt: skip
    cols = obs + places
    want = np.array(
        [[c in {f["observation"] for f in t} | {f"{f['observation']}@{f['location']}" for f in t}
          for c in cols] for t in truth]
    )  # fmt: skip
    pred = _label(texts, cols)
    n = len(obs)
    assert _f1(pred[:, :n], want[:, :n]) >= 0.95  # observation level
    assert _f1(pred[:, n:], want[:, n:]) >= 0.9  # observation @ location
    assert want[:, obs.index("no_finding")].sum() >= 10


def test_reports_have_sections_variety_and_follow_the_seed() -> None:
    specs = [
        _spec("pneumothorax", "left_pleura", 30),
        _spec("consolidation", "right_lower_lobe", 1),
    ]
    a = write_cxr_report(specs, np.random.default_rng(1), comparison="2023-04-02")
    assert a == write_cxr_report(specs, np.random.default_rng(1), comparison="2023-04-02")
    assert "FINDINGS:" in a and "IMPRESSION:" in a and "COMPARISON: 2023-04-02." in a
    texts, _ = _cohort_reports(11, 60)
    sentences = {s.strip() for t in texts for s in t.split("FINDINGS:")[1].split(". ")}
    assert len(sentences) > 80  # phrase variety
    assert any("No pneumothorax" in t or "no pneumothorax" in t for t in texts)


def test_pure_ground_glass_nodules_and_small_nodes_are_not_seen_on_a_radiograph() -> None:
    ggn = FindingSpec("nodule", "right_upper_lobe", 25.0, 6)
    assert nodule_type(ggn) == "ground_glass" and cxr_view(ggn) is None
    solid = FindingSpec("nodule", "right_upper_lobe", 25.0, 0)
    assert nodule_type(solid) == "solid" and cxr_view(solid) is not None
    assert cxr_view(_spec("lymphadenopathy", "mediastinum", VISIBLE_NODE_MM - 5)) is None
    assert cxr_view(_spec("lymphadenopathy", "mediastinum", VISIBLE_NODE_MM + 2)) == (
        "enlarged_cardiomediastinum",
        "mediastinum",
    )
