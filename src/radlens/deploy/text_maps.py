"""Sentence -> region maps of an image-text run (`radlens pretrain image-text`) where they are
shown: on a service study (`TextMapper.volume_map`) and in a zero-shot run's report.html
(`write_text_map_gallery`).

- A study volume is prepared as the run's pairs were (`radlens.data.volumes.preprocess_volume`
  with the run's HU window and shape: centre crop / pad, no resampling), mapped by
  `radlens.pretrain.sentence_region_map` (min-max scaled to [0, 1]) and put back on the study's
  grid by undoing the crop / pad (MONAI's own `ResizeWithPadOrCrop` applied to the index of each
  axis, so the offsets are the transform's, not re-derived); outside the crop the map is 0.
- The gallery (`radlens evaluate` of a `radlens zeroshot` output): for each image of the
  zero-shot split with masks (``radiograph_masks_path`` for radiograph runs, ``mask_path`` for
  CT volumes, or a ``masks`` column: an .npz of masks keyed ``finding@location``, on the image or
  the study's voxel grid), each mask whose finding and location the vocabulary knows gets its
  sentence (the first positive prompt, `radlens.pretrain.label_prompts`), its map, and the
  pointing game (strict: the map's peak inside the mask, `radlens.explain.score_heatmap`, with the
  chance of a random pointer) and, where the input's pixel size is known, the pointing game within
  `DEFAULT_TOLERANCE_MM` of the mask (Grad-CAM's tolerance in `radlens.explain`): a volume's own
  spacing (the pairs crop / pad, never resample), a radiograph's stored pixel size from a
  `PIXEL_MM_COLUMNS` column times its pad-fit scale. All cases are scored; the first `n_images`
  overlays (truth contour drawn) go to OUT/text_maps/: a 2D overlay, or for volume runs a 3D
  montage (axial, coronal and sagittal slices through the map's peak,
  `radlens.explain.montage_3d`, as Grad-CAM's). Volume
  masks reach the model input as the volumes did (`preprocess_volume`'s centre crop / pad).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.transforms import ResizeWithPadOrCrop

from radlens.core import atomic_write_json
from radlens.data.radiographs import resize_image
from radlens.data.volumes import Volume, load_volume, preprocess_volume
from radlens.deploy.run_loading import load_named_run
from radlens.errors import ConfigError, DataError, ModelError
from radlens.evaluation import TEXT_MAPS_DIR, TEXT_MAPS_JSON
from radlens.explain import DEFAULT_TOLERANCE_MM, montage_3d, overlay_2d, score_heatmap
from radlens.pretrain import (
    label_prompts,
    load_image_text,
    load_prompts,
    sentence_region_map,
    sentence_region_maps,
)
from radlens.reports import load_vocabulary

__all__ = ["MASK_COLUMNS", "TextMapper", "write_text_map_gallery"]

log = logging.getLogger(__name__)
ZEROSHOT_SUMMARY = "zeroshot.json"
#: the masks column of a pairs table, by the run's image column (else "masks")
MASK_COLUMNS = {"radiograph_path": "radiograph_masks_path", "nifti_path": "mask_path",
                "dicom_dir": "mask_path"}  # fmt: skip
#: the vocabulary of the gallery's findings when none is given: by the run's image dimensions
VOCABS = {2: "chest_xr", 3: "chest_ct"}
MAX_SENTENCE = 200
#: columns that give a radiograph's stored pixel size in mm (the phantom's, or a user's)
PIXEL_MM_COLUMNS = ("radiograph_pixel_mm", "pixel_mm")


def _uncrop_index(n_in: int, n_out: int, axis: int) -> np.ndarray:
    """For each index of the cropped/padded axis (length n_out): the source index, or -1."""
    shape = [1, 1, 1]
    shape[axis] = n_in
    index = torch.arange(1, n_in + 1, dtype=torch.float32).reshape(1, *shape)
    size = [1, 1, 1]
    size[axis] = n_out
    out = ResizeWithPadOrCrop(spatial_size=size, mode="constant")(index)
    return torch.as_tensor(out).reshape(-1).numpy().astype(np.int64) - 1


def load_text_run(run_dir: Path, what: str = "--text-run"):
    """`radlens.pretrain.load_image_text`, its errors as ModelErrors naming `what`."""
    return load_named_run(load_image_text, run_dir, what, "radlens pretrain image-text")


class TextMapper:
    """An image-text run that maps sentences on study volumes (3D runs only)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run = load_text_run(self.run_dir)
        if self.run.model.config.spatial_dims != 3:
            raise ModelError(
                f"--text-run {self.run_dir}: pretrained on 2D images (column "
                f"{self.run.data.image_column!r}); the service shows CT volumes and needs a run "
                "pretrained on volumes (e.g. --image-column nifti_path)"
            )

    def volume_map(self, volume: Volume, sentence: str) -> np.ndarray:
        """(Z, Y, X) float32 in [0, 1] on the study's grid: where `sentence` points."""
        text = " ".join(str(sentence).split())
        if not text or len(text) > MAX_SENTENCE:
            raise ConfigError(
                f"sentence {text[:40]!r}: expected 1-{MAX_SENTENCE} characters, e.g. 'right "
                "upper lobe mass'"
            )
        data = self.run.data
        pixels = preprocess_volume(volume, window=data.window, shape=tuple(data.shape))
        heat = sentence_region_map(self.run, pixels, text)
        pairs = enumerate(zip(volume.shape, heat.shape, strict=True))
        src = [_uncrop_index(n, m, axis) for axis, (n, m) in pairs]
        keep = [np.flatnonzero(s >= 0) for s in src]
        out = np.zeros(volume.shape, dtype=np.float32)
        out[np.ix_(*(s[k] for s, k in zip(src, keep, strict=True)))] = heat[np.ix_(*keep)]
        return out


def _on_input(mask: np.ndarray, data) -> np.ndarray:
    """A 2D mask pad-fit to the input size; a (Z, Y, X) mask on its study's voxel grid centre
    cropped / padded to the run's shape, as its volume was (identity direction, no resampling:
    the run's volumes are not resampled)."""
    if mask.ndim == 2:
        return resize_image(mask.astype(np.float32), data.size) >= 128
    volume = Volume(mask.astype(np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return preprocess_volume(volume, shape=tuple(data.shape))[0] >= 0.5


def _masks(path: Path, data, vocab) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """The .npz masks of one image on the model input (as the images), by key, and the shape
    they were stored at."""
    out, stored = {}, ()
    with np.load(path) as npz:
        for key in npz.files:
            finding, _, location = key.partition("@")
            if finding not in vocab.abnormalities or location not in vocab.locations:
                continue
            array = npz[key]  # each access decompresses the member again
            stored = array.shape
            mask = _on_input(array, data)
            if mask.any():
                out[key] = mask
    return out, stored


def _input_spacing(row: pd.Series, source: Path, data, stored: tuple[int, ...]):
    """mm per axis of the model input of one image (module docstring), or None when unknown."""
    if len(stored) == 3:
        return tuple(float(v) for v in load_volume(source).spacing)
    for column in PIXEL_MM_COLUMNS:
        value = pd.to_numeric(row.get(column), errors="coerce")
        if pd.notna(value) and value > 0 and stored:
            pixel = float(value) * max(stored) / data.size
            return (pixel, pixel)
    return None


def _draw(image, heat: np.ndarray, mask: np.ndarray, path: Path, sentence: str, spacing) -> None:
    """A 2D overlay, or a 3D montage through the map's peak (`spacing`: the volume's, for its
    aspect)."""
    image = image.float().numpy()
    image = image / 255.0 if image.max() > 1.0 else image
    if heat.ndim == 2:
        overlay_2d(image, heat, path, title=sentence, mask=mask)
    else:
        montage_3d(image, heat, path, centre="peak", mask=mask, spacing=spacing, title=sentence)


def _scores(heat: np.ndarray, mask: np.ndarray, spacing) -> dict:
    """A case's strict hit and chance, and within `DEFAULT_TOLERANCE_MM` where `spacing` is
    known (else None)."""
    near = spacing is not None
    s = score_heatmap(heat, mask, tolerance=DEFAULT_TOLERANCE_MM if near else 0, spacing=spacing)
    return {"hit": bool(s.strict_hit), "chance": float(s.strict_chance),
            "hit_10mm": bool(s.hit) if near else None,
            "chance_10mm": float(s.chance) if near else None}  # fmt: skip


def _figures(cases: list[dict]) -> dict:
    """Cases, hits, pointing game and chance, strict and (over the cases with a known pixel
    size) within the tolerance; None where there is no case."""
    near = [c for c in cases if c["hit_10mm"] is not None]
    n, m = len(cases), len(near)
    return {
        "cases": n,
        "hits": sum(int(c["hit"]) for c in cases),
        "pointing_game": sum(int(c["hit"]) for c in cases) / n if n else None,
        "chance": sum(c["chance"] for c in cases) / n if n else None,
        "cases_10mm": m,
        "hits_10mm": sum(int(c["hit_10mm"]) for c in near),
        "pointing_game_10mm": sum(int(c["hit_10mm"]) for c in near) / m if m else None,
        "chance_10mm": sum(c["chance_10mm"] for c in near) / m if m else None,
    }


def _summary(cases: list[dict]) -> dict:
    by: dict[str, list[dict]] = {}
    for c in cases:
        by.setdefault(c["finding"], []).append(c)
    per = {}
    for finding, group in by.items():
        figures = _figures(group)
        per[finding] = {"n": figures.pop("cases"), **figures}
    return {**_figures(cases), "per_finding": per}


def _zeroshot_source(out: Path) -> tuple[dict, Path]:
    summary = json.loads((out / ZEROSHOT_SUMMARY).read_text(encoding="utf-8"))
    cohort = Path(summary["cohort"])
    if not cohort.exists():
        raise DataError(
            f"{out / ZEROSHOT_SUMMARY}: cohort {cohort} not found (moved since the zero-shot"
            " run? an older output with a relative path: run from that path's folder)"
        )
    return summary, cohort


def write_text_map_gallery(
    out: str | Path, *, n_images: int = 12, vocab: str | None = None
) -> dict | None:
    """Score and draw the sentence maps of a zero-shot output OUT (module's rules); writes
    OUT/text_maps/*.png and text_maps.json and returns its content; None when OUT is not a
    zero-shot output. `vocab`: the findings' vocabulary (default: chest_xr for 2D runs,
    chest_ct for volume runs)."""
    out = Path(out)
    if not (out / ZEROSHOT_SUMMARY).is_file():
        return None
    summary, cohort = _zeroshot_source(out)
    run = load_text_run(Path(summary["run"]), f"{out / ZEROSHOT_SUMMARY}: run")
    dims = run.model.config.spatial_dims
    vocab = vocab or VOCABS[dims]
    pairs = run.data.load(cohort)
    column = MASK_COLUMNS.get(run.data.image_column, "masks")
    if column not in pairs.table:
        raise DataError(f"{cohort}: no {column!r} column of masks for the text-map gallery")
    base = cohort if cohort.is_dir() else cohort.parent
    vocabulary, prompts = load_vocabulary(vocab), load_prompts()
    folder = out / TEXT_MAPS_DIR
    folder.mkdir(exist_ok=True)
    cases, gallery = [], []
    for i in pairs.rows(summary.get("split", "test")):
        masks, stored = _masks(base / str(pairs.table.loc[i, column]), run.data, vocabulary)
        if not masks:
            continue
        source = base / str(pairs.table.loc[i, run.data.image_column])
        spacing = _input_spacing(pairs.table.loc[i], source, run.data, stored)
        sentences = [label_prompts(k, vocabulary, prompts)[0][0] for k in masks]
        maps = sentence_region_maps(run, pairs.images[i], sentences)
        for (key, mask), sentence, heat in zip(masks.items(), sentences, maps, strict=True):
            case = {"study": str(pairs.ids[i]), "key": key, "finding": key.split("@")[0],
                    "sentence": sentence, **_scores(heat, mask, spacing)}  # fmt: skip
            cases.append(case)
            if len(gallery) < n_images:
                name = f"{len(gallery):03d}_{case['study']}_{key.replace('@', '_at_')}.png"
                _draw(pairs.images[i][0], heat, mask, folder / name, sentence, spacing)
                gallery.append({**case, "file": name})
    result = {"run": str(run.run_dir), "cohort": str(cohort), "split": summary.get("split"),
              "rule": "strict pointing game: the map's peak inside the mask", "vocab": vocab,
              "tolerance_mm": DEFAULT_TOLERANCE_MM, "spatial_dims": dims,
              **_summary(cases), "gallery": gallery}  # fmt: skip
    atomic_write_json(folder / TEXT_MAPS_JSON, result)
    return result
