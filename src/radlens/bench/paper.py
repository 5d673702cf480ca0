"""The MedMNIST v2 paper's baselines, and which of them a radlens row compares with.

Values come from `radlens.data.medmnist.load.paper_results` (package data transcribed from Yang
et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
classification", Scientific Data 10:41, 2023, Tables 3 and 4).
"""

from __future__ import annotations

from radlens.data.medmnist import get_info, paper_results

CITATION = (
    'Yang J, Shi R, Wei D, et al. "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D'
    ' biomedical image classification". Scientific Data 10:41 (2023).'
    " https://doi.org/10.1038/s41597-022-01721-8"
)

#: Column order of the paper's Table 3 (2D) and Table 4 (3D).
METHODS_2D: tuple[str, ...] = (
    "ResNet-18 (28)",
    "ResNet-18 (224)",
    "ResNet-50 (28)",
    "ResNet-50 (224)",
    "auto-sklearn",
    "AutoKeras",
    "Google AutoML Vision",
)
METHODS_3D: tuple[str, ...] = (
    "ResNet-18 + 2.5D",
    "ResNet-18 + 3D",
    "ResNet-18 + ACS",
    "ResNet-50 + 2.5D",
    "ResNet-50 + 3D",
    "ResNet-50 + ACS",
    "auto-sklearn",
    "AutoKeras",
)

_3D_KIND = {"25d": "2.5D", "3d": "3D", "acs": "ACS"}


def paper_methods(dataset: str) -> tuple[str, ...]:
    """The paper's method columns for this dataset (2D or 3D table)."""
    return METHODS_3D if get_info(dataset).is_3d else METHODS_2D


def paper_values(dataset: str) -> dict[str, tuple[float, float]]:
    """{method: (test AUC, test ACC)} as published, for one dataset."""
    return {r.method: (r.auc, r.acc) for r in paper_results(dataset)}


def comparable_method(dataset: str, model: str, size: int) -> str | None:
    """The paper's row trained like this radlens row (same network and input size), or None.

    2D: resnet18 / resnet50 at 28 px -> "ResNet-18 (28)"; at 224 px -> "ResNet-18 (224)" (the
    paper's 224 rows are 28 px images resized to 224). 3D: resnet18 / resnet18_3d -> "+ 3D",
    acs_resnet18 -> "+ ACS", resnet18_25d -> "+ 2.5D" (and the ResNet-50 ones); the paper's 3D rows
    are at 28 px.
    """
    key = model.lower().replace("-", "")
    depth = "18" if "18" in key else "50" if "50" in key else None
    if depth is None:
        return None
    if get_info(dataset).is_3d:
        if size != 28:
            return None
        if key.startswith("acs_"):
            kind = "acs"
        elif key.endswith("_25d"):
            kind = "25d"
        else:
            kind = "3d"
        return f"ResNet-{depth} + {_3D_KIND[kind]}"
    if key not in ("resnet18", "resnet50") or size not in (28, 224):
        return None
    return f"ResNet-{depth} ({size})"
