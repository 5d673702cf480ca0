"""Axial slice PNGs with window presets, heatmap overlay PNGs and lesion contour PNGs (the
segmentation run's candidates, `LesionImages`), for the viewer."""

from __future__ import annotations

import io
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select

from radlens.core import look_up_option
from radlens.errors import ServiceError
from radlens.explain import heat_rgba
from radlens.service.files import FileStore
from radlens.service.store import Database, Heatmap, LesionMask
from radlens.service.worker import default_loader, materialise_series
from radlens.service.worklist import NotFoundError, get_visible_study

#: contour colour of the viewer's lesion overlay (and of the selected candidate)
CONTOUR_RGBA = (0, 230, 118, 255)
SELECTED_RGBA = (255, 214, 0, 255)
WINDOWS: dict[str, tuple[float, float]] = {  # name: (centre, width) in HU
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
}


def window_name(name: str) -> tuple[float, float]:
    """(centre, width) HU of a viewer window preset; ServiceError with a did-you-mean."""
    return WINDOWS[look_up_option(name, WINDOWS, what="window", error=ServiceError)]


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def windowed(slice_hu: np.ndarray, window: str) -> np.ndarray:
    centre, width = window_name(window)
    lo = centre - width / 2
    return (np.clip((slice_hu - lo) / width, 0.0, 1.0) * 255).astype(np.uint8)


def overlay_rgba(plane: np.ndarray, low: float = 0.3, high: float = 0.7) -> np.ndarray:
    """uint8 RGBA of a [0, 1] heatmap plane: inferno colours (`radlens.explain.overlays`),
    transparent below `low`, opaque from `high` (the page's opacity slider scales it), so only
    the hot region covers the anatomy."""
    heat = np.clip(np.nan_to_num(plane.astype(np.float32)), 0.0, 1.0)
    rgba = heat_rgba(heat, alpha=1.0, min_value=0.0)
    rgba[..., 3] = np.clip((heat - low) / (high - low), 0.0, 1.0)
    return (rgba * 255).round().astype(np.uint8)


class ImageService:
    """Loads study volumes (small LRU cache) and renders slices and overlays."""

    def __init__(self, db: Database, files: FileStore, *, cache_size: int = 4, loader=None):
        self.db, self.files = db, files
        self.loader = loader or default_loader
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def volume(self, study_id: int) -> Any:
        """The study's volume, cached until new instances arrive for it."""
        with self.db.session() as session:
            key = (study_id, get_visible_study(session, study_id).last_instance_at)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with tempfile.TemporaryDirectory(prefix="radlens-view-") as tmp:
            vol = self.loader(materialise_series(self.db, self.files, study_id, Path(tmp)))
        with self._lock:
            self._cache[key] = vol
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vol

    def forget(self, study_id: int) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == study_id]:
                del self._cache[key]

    def _slice_index(self, vol: Any, z: int) -> int:
        n = vol.array.shape[0]
        if not 0 <= z < n:
            raise NotFoundError(f"slice {z} out of range; the volume has slices 0..{n - 1}")
        return z

    def geometry(self, study_id: int) -> dict[str, Any]:
        vol = self.volume(study_id)
        return {
            "shape": list(vol.array.shape),
            "spacing": list(vol.spacing),
            "windows": list(WINDOWS),
            "heatmap_peaks": self.heatmap_peaks(study_id, vol.array.shape[0]),
        }

    def heatmap_peaks(self, study_id: int, n_slices: int) -> dict[str, int]:
        """Heatmap key -> the slice (volume index) where that heatmap is strongest."""
        with self.db.session() as session:
            keys = session.scalars(
                select(Heatmap.abnormality).where(Heatmap.study_id == study_id)
            ).all()
        peaks = {}
        for key in keys:
            heat = self.heatmap(study_id, key)
            hz = int(np.argmax(heat.reshape(heat.shape[0], -1).sum(axis=1)))
            peaks[key] = min(n_slices - 1, round((hz + 0.5) * n_slices / heat.shape[0] - 0.5))
        return peaks

    def slice_png(self, study_id: int, z: int, window: str = "lung") -> bytes:
        window_name(window)
        vol = self.volume(study_id)
        return png_bytes(windowed(vol.array[self._slice_index(vol, z)], window))

    def heatmap(self, study_id: int, abnormality: str) -> np.ndarray:
        with self.db.session() as session:
            get_visible_study(session, study_id)
            row = session.scalar(
                select(Heatmap).where(
                    Heatmap.study_id == study_id, Heatmap.abnormality == abnormality
                )
            )
            if row is None:
                raise NotFoundError(f"study {study_id} has no heatmap for {abnormality!r}")
            sha = row.sha256
        return np.load(io.BytesIO(self.files.read_bytes(sha))).astype(np.float32)

    def overlay_png(self, study_id: int, abnormality: str, z: int) -> bytes:
        """RGBA PNG (transparent where heat is low) to draw over slice `z`."""
        vol = self.volume(study_id)
        z = self._slice_index(vol, z)
        heat = self.heatmap(study_id, abnormality)
        hz = min(heat.shape[0] - 1, round(z * heat.shape[0] / vol.array.shape[0]))
        plane = heat[hz]
        rows, cols = vol.array.shape[1:]
        if plane.shape != (rows, cols):
            plane = np.asarray(
                Image.fromarray(plane.astype(np.float32), mode="F").resize(
                    (cols, rows), Image.Resampling.BILINEAR
                )
            )
        return png_bytes(overlay_rgba(plane))


def outline(plane: np.ndarray) -> np.ndarray:
    """Boolean boundary pixels of a label plane: labelled pixels with a 4-neighbour of another
    label (or the plane's edge)."""
    padded = np.pad(plane, 1, mode="constant")
    centre = padded[1:-1, 1:-1]
    edge = np.zeros(plane.shape, dtype=bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        neighbour = padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        edge |= neighbour != centre
    return edge & (plane > 0)


class LesionImages:
    """Contour overlays of a study's lesion label volume (a small LRU cache of loaded blobs)."""

    def __init__(self, db: Database, files: FileStore, *, cache_size: int = 8) -> None:
        self.db, self.files, self.cache_size = db, files, cache_size
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray, tuple]] = OrderedDict()
        self._lock = threading.Lock()

    def _labels(self, study_id: int) -> tuple[np.ndarray, np.ndarray, tuple] | None:
        with self.db.session() as session:
            get_visible_study(session, study_id)
            sha = session.scalar(select(LesionMask.sha256).where(LesionMask.study_id == study_id))
        if sha is None:
            return None
        with self._lock:
            if sha in self._cache:
                self._cache.move_to_end(sha)
                return self._cache[sha]
        with np.load(io.BytesIO(self.files.read_bytes(sha))) as npz:
            entry = (npz["labels"], npz["offset"], tuple(int(n) for n in npz["shape"]))
        with self._lock:
            self._cache[sha] = entry
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return entry

    def contour_png(self, study_id: int, z: int, selected: int | None = None) -> bytes:
        """RGBA PNG of slice `z`: candidate outlines (the `selected` label in its own colour),
        transparent elsewhere; the study's slice size."""
        stored = self._labels(study_id)
        if stored is None:
            raise NotFoundError(f"study {study_id} has no lesion candidates")
        labels, offset, shape = stored
        if not 0 <= z < shape[0]:
            raise NotFoundError(f"slice {z} out of range; the volume has slices 0..{shape[0] - 1}")
        plane = np.zeros(shape[1:], dtype=labels.dtype)
        k = z - int(offset[0])
        if 0 <= k < labels.shape[0]:
            y0, x0 = int(offset[1]), int(offset[2])
            plane[y0 : y0 + labels.shape[1], x0 : x0 + labels.shape[2]] = labels[k]
        rgba = np.zeros((*shape[1:], 4), dtype=np.uint8)
        edge = outline(plane)
        rgba[edge] = CONTOUR_RGBA
        if selected is not None:
            rgba[edge & (plane == selected)] = SELECTED_RGBA
        return png_bytes(rgba)
