"""Synthetic cohort: determinism by seed, per-patient independence, table, files, reports, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from radlens.cli import main
from radlens.data.cohort_table import TRUTH_PREFIX, load_masks, read_cohort
from radlens.data.volumes.io import load_volume
from radlens.errors import ConfigError
from radlens.phantom import (
    ABNORMALITIES,
    LOBE_NAMES,
    FindingSpec,
    ReportContext,
    parse_formats,
    sample_findings,
    simulate_patient,
    synthesize_cohort,
    write_report,
)

TINY = (32, 48, 48)


def _arrays(folder: Path, table: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for row in table.itertuples():
        with np.load(folder / row.npz_path) as data:
            out[f"{row.study_id}:hu"] = data["hu"]
        for key, arr in load_masks(folder / row.mask_path).items():
            out[f"{row.study_id}:{key}"] = arr
    return out


@pytest.mark.slow
def test_same_seed_same_cohort_and_patients_independent_of_n(tmp_path: Path) -> None:
    a = synthesize_cohort(
        tmp_path / "a", n_patients=3, seed=4, shape=TINY, formats=["npz"], progress=False
    )
    b = synthesize_cohort(  # two worker processes write exactly what one process writes
        tmp_path / "b", n_patients=3, seed=4, shape=TINY, formats=["npz"], progress=False, workers=2
    )
    pd.testing.assert_frame_equal(a, b)
    arr_a, arr_b = _arrays(tmp_path / "a", a), _arrays(tmp_path / "b", b)
    assert arr_a.keys() == arr_b.keys()
    assert all(np.array_equal(arr_a[k], arr_b[k]) for k in arr_a)
    # patient k does not change when the cohort grows
    c = synthesize_cohort(
        tmp_path / "c", n_patients=4, seed=4, shape=TINY, formats=["npz"], progress=False
    )
    pd.testing.assert_frame_equal(c[c.patient_id.isin(a.patient_id)].reset_index(drop=True), a)
    arr_c = _arrays(tmp_path / "c", c)
    assert all(np.array_equal(arr_a[k], arr_c[k]) for k in arr_a)
    # another seed gives another cohort
    d = synthesize_cohort(
        tmp_path / "d", n_patients=1, seed=5, shape=TINY, formats=["npz"], progress=False
    )
    assert d.report_text[0] != a.report_text[0]


@pytest.mark.slow
def test_cli_end_to_end_dicom_nifti_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cohort"
    rc = main(
        [
            "cohort",
            "synth",
            "--patients",
            "3",
            "--out",
            str(out),
            "--shape",
            "32,48,48",
            "--seed",
            "1",
            "--sites",
            "3",
            "--formats",
            "dicom,nifti",
            "--quiet",
        ]
    )
    assert rc == 0
    assert "3 patients" in capsys.readouterr().out
    csv = pd.read_csv(out / "cohort.csv", keep_default_na=False)
    table = read_cohort(out)
    assert list(csv.columns) == list(pd.read_parquet(out / "cohort.parquet").columns)
    for col in (
        "patient_id",
        "study_id",
        "site",
        "study_date",
        "dicom_dir",
        "nifti_path",
        "mask_path",
        "report_text",
        "true_findings",
    ):
        assert col in table.columns
    assert [TRUTH_PREFIX + a in table.columns for a in ABNORMALITIES] == [True] * 12
    findings = pd.read_csv(out / "findings.csv")
    for _, row in table.iterrows():
        truth = json.loads(row.true_findings)
        present = {f["abnormality"] for f in truth}
        assert {a for a in ABNORMALITIES if row[TRUTH_PREFIX + a] == 1} == present
        dicom = load_volume(row.dicom_dir)
        nifti = load_volume(row.nifti_path)
        np.testing.assert_array_equal(dicom.array, nifti.array)
        assert dicom.spacing == pytest.approx(nifti.spacing)
        assert dicom.shape[1:] == (48, 48) and dicom.array.min() >= -1024
        first = pydicom.dcmread(sorted(Path(row.dicom_dir).glob("*.dcm"))[0])
        assert first.Modality == "CT" and first.PatientID == row.patient_id
        assert first.StudyInstanceUID == row.study_uid and first.ConvolutionKernel == row.kernel
        assert float(first.SliceThickness) == pytest.approx(row.slice_thickness)
        masks = load_masks(row.mask_path)
        assert masks["lobes"].shape == dicom.shape
        for f in truth:
            key = f"{f['abnormality']}@{f['location']}"
            assert masks[key].shape == dicom.shape and masks[key].any()
        mine = findings[findings.study_id == row.study_id]
        assert len(mine) == len(truth)
        assert Path(row.report_path).read_text() == row.report_text
    assert (out / table.nifti_path[0]).exists() and Path(table.mask_path[0]).exists()


def test_follow_up_studies_share_anatomy_and_evolve() -> None:
    for index in range(40):
        studies = simulate_patient(0, index, shape=TINY)
        if len(studies) > 1:
            break
    else:  # pragma: no cover - ~40% of patients have follow-ups
        pytest.fail("no patient with follow-up studies in 40 draws")
    (first, info1), (second, info2) = studies[:2]
    assert first.habitus == second.habitus and first.site == second.site
    assert info2["date"] > info1["date"]
    assert (
        "COMPARISON: None" not in info2["report"] and info1["date"].isoformat() in info2["report"]
    )
    kept = {s.seed for s in first.findings} & {s.seed for s in second.findings}
    for s in second.findings:
        if s.seed in kept and "center" in s.params:
            prior = next(p for p in first.findings if p.seed == s.seed)
            assert prior.params["center"] == s.params["center"]  # lesion stays in place


KEYWORDS = {
    "nodule": ("nodule",), "mass": ("mass",), "consolidation": ("consolidation",),
    "ground_glass_opacity": ("ground-glass", "ground glass", "GGO"),
    "atelectasis": ("atelectasis", "collapse"), "pleural_effusion": ("effusion",),
    "pneumothorax": ("pneumothorax",), "emphysema": ("emphysema",),
    "cardiomegaly": ("cardiomegaly", "enlarged heart", "cardiac enlargement"),
    "pericardial_effusion": ("pericardial effusion",),
    "lymphadenopathy": ("lymphadenopathy", "lymph node"),
    "arterial_wall_calcification": ("calcif",),
}  # fmt: skip


def _findings_section(report: str) -> str:
    return report.split("FINDINGS:")[1].split("IMPRESSION:")[0]


def test_reports_mention_every_true_finding_with_its_location() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        specs = sample_findings(rng)
        report = write_report(ReportContext(specs, 60, "female", 5.0, "B31f"), rng)
        for head in (
            "CLINICAL HISTORY:",
            "INDICATION:",
            "TECHNIQUE:",
            "COMPARISON:",
            "FINDINGS:",
            "IMPRESSION:",
        ):
            assert head in report
        text = _findings_section(report)
        for s in specs:
            assert any(k.lower() in text.lower() for k in KEYWORDS[s.abnormality]), (s, text)
            if s.abnormality in ("nodule", "mass", "consolidation", "ground_glass_opacity"):
                names = LOBE_NAMES[s.location] + ("lingular",)
                assert any(n.lower() in text.lower() for n in names), (s, text)
            if s.location.endswith("pleura"):
                assert s.location.split("_")[0] in text.lower() or "bilateral" in text.lower()


def test_reports_negate_absent_findings_and_carry_history_and_hedges() -> None:
    rng = np.random.default_rng(1)
    reports = [
        (
            specs := sample_findings(rng),
            write_report(ReportContext(specs, 70, "male", 5.0, "B31f", history=h), rng),
        )
        for h in ("pneumothorax", "pleural_effusion", "") * 60
    ]
    normal = write_report(ReportContext([], 50, "male", 5.0, "B31f"), rng)
    assert "No " in _findings_section(normal)
    history_only = [
        r
        for specs, r in reports
        if "History of" in r.split("INDICATION:")[0]
        and "pneumothorax" in r.split("INDICATION:")[0]
        and not any(s.abnormality == "pneumothorax" for s in specs)
    ]
    assert history_only  # a history term that is not a current finding
    hedged = [
        r
        for _, r in reports
        if any(w in r for w in ("Possible", "Cannot exclude", "may represent", "Questionable"))
    ]
    assert hedged
    phrasings = {r.split("FINDINGS:")[1].splitlines()[1][:40] for _, r in reports}
    assert len(phrasings) > 50  # varied phrasing


def test_follow_up_report_states_comparison() -> None:
    rng = np.random.default_rng(2)
    prior = [
        FindingSpec("consolidation", "right_lower_lobe", 0.6, 1),
        FindingSpec("nodule", "left_upper_lobe", 12.0, 2),
    ]
    now = [
        FindingSpec("nodule", "left_upper_lobe", 12.0, 2),
        FindingSpec("pleural_effusion", "left_pleura", 30.0, 3),
    ]
    report = write_report(ReportContext(now, 60, "male", 5.0, "B31f", prior, "2024-01-02"), rng)
    assert "2024-01-02" in report
    text = _findings_section(report).lower()
    assert "resolved" in text or "resolution" in text or "no longer present" in text
    assert "new" in text


def test_bad_options_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shape '64,96': expected three integers"):
        synthesize_cohort(tmp_path, n_patients=1, shape="64,96")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="subset of"):
        parse_formats("dicom,png")
    with pytest.raises(ConfigError, match="n_patients must be >= 1"):
        synthesize_cohort(tmp_path, n_patients=0)
    with pytest.raises(ConfigError, match=r"sites must be in 1\.\.5"):
        synthesize_cohort(tmp_path, n_patients=1, sites=9)
    assert (
        main(["cohort", "synth", "--patients", "1", "--out", str(tmp_path), "--formats", "png"])
        == 2
    )
