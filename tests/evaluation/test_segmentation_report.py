"""The segmentation report page and the section another report embeds."""

from __future__ import annotations

import pandas as pd

from radlens.evaluation import SEG_SECTION_END, SEG_SECTION_START, segmentation_section
from radlens.evaluation.segmentation_report import segmentation_html


def _evaluation() -> dict:
    return {
        "model": "unet_lite", "measured_on": "cohort C, test split", "n_studies": 3,
        "n_patients": 2, "patch": [8, 16, 16], "mask_threshold": 0.5, "n_bootstrap": 0,
        "candidate_threshold": 0.1, "froc": {"nodule": {"note": "no nodule lesions"}},
    }  # fmt: skip


def test_section_is_the_body_between_markers_and_empty_without_them():
    summary = pd.DataFrame(
        [{"finding": "mass", "metric": "dice", "estimate": 0.5, "low": 0.4, "high": 0.6,
          "n_cases": 3}]
    )  # fmt: skip
    page = segmentation_html(_evaluation(), summary, [], [])
    section = segmentation_section(page)
    assert section.startswith(SEG_SECTION_START) and section.endswith(SEG_SECTION_END)
    assert "<body>" not in section and "</html>" not in section and "<style>" not in section
    assert "Per-finding masks and lesions" in section and "no nodule lesions" in section
    assert "0.500" in section  # the summary table is inside
    assert segmentation_section("<html><body>no markers</body></html>") == ""
