"""The phantom's reports name each nodule's type and size and the plaques' sites, and the
chest-CT labeler reads them back (radlens.phantom.reports / phrases)."""

from __future__ import annotations

import numpy as np

from radlens.phantom import ABNORMALITIES, ReportContext, sample_findings, write_report
from radlens.phantom.lesions import FindingSpec, nodule_type
from radlens.reports import label


def _report(specs: list[FindingSpec], seed: int = 0) -> str:
    ctx = ReportContext(specs, 64, "male", 5.0, "B31f")
    return write_report(ctx, np.random.default_rng(seed))


def _present(text: str) -> set[str]:
    return {f.abnormality for f in label(text) if f.status == "present"} & set(ABNORMALITIES)


def test_nodule_type_and_size_are_written_and_read_as_a_nodule() -> None:
    words = {"ground_glass": "ground-glass nodule", "part_solid": ("part-solid", "subsolid")}
    seen = set()
    for seed in range(60):
        spec = FindingSpec("nodule", "right_upper_lobe", 7.4, seed)
        kind = nodule_type(spec)
        text = _report([spec], seed)
        findings = text.split("FINDINGS:")[1].split("IMPRESSION:")[0].lower()
        assert "7 mm" in findings
        if kind == "ground_glass":
            assert words["ground_glass"] in findings
        elif kind == "part_solid":
            assert any(w in findings for w in words["part_solid"])
        else:
            assert "ground-glass nodule" not in findings and "part-solid" not in findings
        present = _present(text)
        assert "nodule" in present and "ground_glass_opacity" not in present, text
        seen.add(kind)
    assert seen == {"solid", "part_solid", "ground_glass"}


def test_coronary_plaques_are_reported_with_the_aortic_ones() -> None:
    specs = [
        FindingSpec("arterial_wall_calcification", "aorta", 6.0, 1),
        FindingSpec("arterial_wall_calcification", "coronary_arteries", 4.0, 2),
    ]
    text = _report(specs)
    assert "coronary" in text.lower() and "aort" in text.lower()
    assert _present(text) == {"arterial_wall_calcification"}


def test_labeler_reads_the_sampled_reports_back() -> None:
    rng = np.random.default_rng(7)
    wrong = []
    for _ in range(200):
        specs = sample_findings(rng)
        text = write_report(ReportContext(specs, 60, "female", 5.0, "B31f"), rng)
        if _present(text) != {s.abnormality for s in specs}:
            wrong.append(text)
    assert wrong == []
