"""The viewer's "show where: <sentence>" maps (issue 16): `radlens.deploy.TextMapper` (an
image-text run, `radlens serve --text-run DIR`) on the study's volume, cached per study and
sentence, served as the slice's overlay PNG (the heatmaps' colours) and its peak slice."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from radlens.deploy import TextMapper
from radlens.service.imaging import ImageService, overlay_rgba, png_bytes
from radlens.service.lesions import NotConfiguredError
from radlens.service.worklist import NotFoundError

__all__ = ["StudyTextMaps"]


class StudyTextMaps:
    """Sentence maps of study volumes (a small LRU cache of computed maps)."""

    def __init__(
        self, images: ImageService, mapper: TextMapper | None, *, cache_size: int = 4
    ) -> None:
        self.images, self.mapper, self.cache_size = images, mapper, cache_size
        self._cache: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return self.mapper is not None

    def volume_map(self, study_id: int, text: str) -> np.ndarray:
        """(Z, Y, X) map of `text` on the study's volume, computed once per (study, text)."""
        if self.mapper is None:
            raise NotConfiguredError(
                "no image-text run configured: start the service with --text-run DIR "
                "(RADLENS_TEXT_RUN) to map sentences on studies"
            )
        key = (study_id, " ".join(text.split()).lower())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        heat = self.mapper.volume_map(self.images.volume(study_id), text)
        with self._lock:
            self._cache[key] = heat
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return heat

    def peak(self, study_id: int, text: str) -> dict[str, Any]:
        """Where the map of `text` is highest: voxel (z, y, x) and the slice to show."""
        heat = self.volume_map(study_id, text)
        peak = [int(v) for v in np.unravel_index(int(np.argmax(heat)), heat.shape)]
        run = str(self.mapper.run_dir.name) if self.mapper is not None else ""
        return {"text": " ".join(text.split()), "peak": peak, "peak_slice": peak[0], "run": run}

    def overlay_png(self, study_id: int, text: str, z: int) -> bytes:
        """RGBA PNG of slice `z` of the map (transparent where it is low)."""
        heat = self.volume_map(study_id, text)
        if not 0 <= z < heat.shape[0]:
            raise NotFoundError(
                f"slice {z} out of range; the volume has slices 0..{heat.shape[0] - 1}"
            )
        return png_bytes(overlay_rgba(heat[z]))
