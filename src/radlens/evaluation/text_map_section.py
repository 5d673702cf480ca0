"""report.html's "Sentence -> region maps" section: what `radlens.deploy.write_text_map_gallery`
wrote into RUN/text_maps/ for a zero-shot output (its text_maps.json: pointing game over every
case with a mask, per finding, and the gallery's overlays: 2D, or 3D montages for volume runs),
read and inlined here."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

from radlens.errors import EvaluationError

__all__ = ["MAX_TEXT_MAP_BYTES", "TEXT_MAPS_DIR", "TEXT_MAPS_JSON", "text_map_section"]

log = logging.getLogger(__name__)
TEXT_MAPS_DIR = "text_maps"
TEXT_MAPS_JSON = "text_maps.json"
MAX_TEXT_MAP_BYTES = 2_000_000


def _figure(folder: Path, item: dict) -> dict | None:
    path = folder / str(item.get("file", ""))
    if not path.is_file() or path.parent != folder:
        return None
    data = path.read_bytes()
    if len(data) > MAX_TEXT_MAP_BYTES or not data.startswith(b"\x89PNG"):
        log.warning("text map %s skipped: not a PNG under %d bytes", path, MAX_TEXT_MAP_BYTES)
        return None
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return {**item, "data_uri": uri}


def text_map_section(run_dir: str | Path) -> dict | None:
    """The section's content from RUN/text_maps/text_maps.json, or None when there is none."""
    folder = Path(run_dir) / TEXT_MAPS_DIR
    path = folder / TEXT_MAPS_JSON
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path} is not valid JSON: {exc}") from exc
    figures = [f for f in (_figure(folder, i) for i in content.get("gallery", [])) if f]
    per = sorted(content.get("per_finding", {}).items())
    montage = content.get("spatial_dims") == 3
    view = (
        "3D montages: axial, coronal and sagittal slices through each map's peak, the mask outlined"
        if montage
        else "2D overlays, the mask outlined"
    )
    return {**content, "figures": figures, "per_finding_rows": per, "montage": montage,
            "view": view}  # fmt: skip
