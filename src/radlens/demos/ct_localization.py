"""Where the demo points, over every test positive: Grad-CAM, or a finding's detector.

Step 4's heatmaps score the 7 most confident positives per finding. When the demo also trained
detectors (`--detect-*`), this step scores every truly positive test study instead: the
classifier's HiResCAM map (same layers as step 4, `radlens.explain.localize_run`) for findings
without a detector, the detector's highest-scoring candidate (`detector_pointing`) for those
with one, both within 10 mm of the finding's mask; pooled over cases ("all"). Chance is each
source's own: a random point in the body for Grad-CAM, a random candidate of the study's own
list for a detector (a stricter baseline: candidates already sit on blobs or dense peaks).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from radlens.data import ArrayDataset
from radlens.explain import localize_run

__all__ = [
    "COLUMNS",
    "cam_settings",
    "localization_with_detectors",
    "merge_localization",
    "print_localization",
]

COLUMNS = ("n", "hits", "pointing_game", "pointing_game_strict", "chance")


def cam_settings(model: str) -> dict[str, str]:
    """The demo's heatmaps: CT-Net 3D, HiResCAM as the geometric mean of 3 layers' maps; other
    models: Grad-CAM at the automatic layer."""
    layers = "features.5*features.9*features.13"
    return {"method": "hirescam", "layer": layers} if model == "ctnet_3d" else {}


def _grad_cam_rows(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    rows = {}
    for r in table.to_dict(orient="records"):
        if r["group"] != "all":
            rows[str(r["group"])] = {
                "source": "grad-cam", "n": int(r["n"]), "hits": int(r["hits"]),
                "pointing_game": float(r["pointing_game"]),
                "pointing_game_strict": float(r["pointing_game_strict"]),
                "chance": float(r["chance"]),
            }  # fmt: skip
    return rows


def _pooled(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    n = sum(r["n"] for r in rows.values())
    if not n:
        return {"source": "both", "n": 0, "hits": 0, "pointing_game": None}
    hits = sum(r["hits"] for r in rows.values())
    strict = sum(r["pointing_game_strict"] * r["n"] for r in rows.values())
    return {"source": "both", "n": n, "hits": hits, "pointing_game": hits / n,
            "pointing_game_strict": strict / n}  # fmt: skip


def localization_with_detectors(
    run_dir: str | Path,
    dataset: ArrayDataset | None,
    detections: Mapping[str, Mapping[str, Any] | None],
    *,
    method: str = "gradcam",
    layer: str | None = None,
) -> dict[str, Any]:
    """Per finding (and "all"): source, n, hits, pointing game (within 10 mm) and strict, and
    chance, over every truly positive test study with a mask; a detector's row also keeps the
    Grad-CAM pointing game of its finding (`grad_cam_pointing_game`) for comparison. `dataset`:
    the run's loaded cohort (None: load the one its config.yaml names)."""
    loc = localize_run(
        run_dir, split="test", method=method, layer=layer,  # type: ignore[arg-type]
        tolerance="10mm", dataset=dataset, progress=False,
    )  # fmt: skip
    return {
        "measured_on": "every truly positive test study with a mask; hits within 10 mm",
        "method": f"{method}@{loc.layer}",
        **merge_localization(loc.table, detections),
    }


def merge_localization(
    table: pd.DataFrame, detections: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """`per_finding`: the Grad-CAM rows of `table` (`localize_run`'s), each finding with a
    detector's pointing figures replaced by those; `all`: the cases of every row pooled."""
    rows = _grad_cam_rows(table)
    for finding, figures in detections.items():
        point = (figures or {}).get("pointing") or {}
        if not point.get("n"):
            continue
        before = rows.get(finding, {}).get("pointing_game")
        rows[finding] = {"source": "detector", **{k: point[k] for k in COLUMNS},
                         "grad_cam_pointing_game": before}  # fmt: skip
    return {"per_finding": rows, "all": _pooled(rows)}


def print_localization(figures: Mapping[str, Any], console: Console) -> None:
    """One line per finding, then the pooled pointing game."""
    for finding, r in figures["per_finding"].items():
        extra = ""
        if r["source"] == "detector" and r.get("grad_cam_pointing_game") is not None:
            extra = f" (Grad-CAM {r['grad_cam_pointing_game']:.2f})"
        console.print(
            f"  {finding:<28} {r['source']:<8} {r['pointing_game']:.2f} of {r['n']}"
            f" (chance {r['chance']:.2f}){extra}"
        )
    pooled = figures["all"]
    if pooled["pointing_game"] is not None:
        console.print(
            f"pointing game over every test positive: {pooled['pointing_game']:.3f} within 10 mm"
            f" ({pooled['hits']} of {pooled['n']}), strict {pooled['pointing_game_strict']:.3f}"
        )
