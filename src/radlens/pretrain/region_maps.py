"""Sentence -> region similarity maps of an image–text run (issue 16, interpretation).

For a sentence (a report's, or one a user types: "right upper lobe mass") and an image, every cell
of the encoder's feature map gets a similarity with the sentence; the map is upsampled
(bilinear in 2D, trilinear in 3D) to the model's input resolution, like a Grad-CAM map, with each
cell on its receptive field's centre (`radlens.models.alignment`).

- A model with the local branch (`ImageTextConfig.local`): the sentence goes through the text
  encoder's sentence means and ``sentence_proj`` (normalised, as in training); each region through
  ``region_proj`` and the region-selection layer's sigmoid weight (the top-k cut of training is
  not applied, so every region gets a value). Method ``"attention"`` (default): the cross-modal
  interaction layer's attention logit q(sentence)·k(region)/sqrt(d) — where the sentence looks;
  ``"cosine"``: cos(sentence, out(value(region))) — how well the sentence would match if it
  attended to that region alone (the local loss's similarity, per region). Cells of the border
  ring that training leaves out (`ImageTextConfig.ring`) get the lowest inner value.
- A global-only model: the global projection head applied to each cell (dense CLIP features)
  against the global text embedding of the sentence, by cosine (``"cosine"`` is the only method).

Maps are min-max scaled to [0, 1] by default, so `radlens.explain`'s scoring (pointing game,
IoU at a fraction of the maximum) and overlays take them as they take Grad-CAM maps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from radlens.data.radiographs import read_radiograph, resize_image
from radlens.data.volumes import load_volume, preprocess_volume
from radlens.errors import ConfigError, DataError
from radlens.models import upsample_map
from radlens.pretrain.image_text import ImageTextRun
from radlens.pretrain.model import ImageTextModel, inner_cells
from radlens.pretrain.pairs import RADIOGRAPH_SUFFIXES
from radlens.pretrain.text import encode_reports
from radlens.training import normalise

__all__ = [
    "MAP_METHODS",
    "input_to_image",
    "load_run_image",
    "sentence_embeddings",
    "sentence_region_map",
    "sentence_region_maps",
]

MAP_METHODS = ("attention", "cosine")


def _method(model: ImageTextModel, method: str | None) -> str:
    if method is None:
        return "attention" if model.config.local else "cosine"
    if method not in MAP_METHODS:
        raise ConfigError(f"--method {method!r}: expected one of {list(MAP_METHODS)}")
    if method == "attention" and not model.config.local:
        raise ConfigError(
            "--method attention needs the local branch; this run was pretrained with --no-local"
            " (use --method cosine)"
        )
    return method


@torch.no_grad()
def sentence_embeddings(model: ImageTextModel, tokenizer, sentences: Sequence[str]) -> torch.Tensor:
    """One embedding per text (N, D): with the local branch the L2-normalised mean of its
    sentences' ``sentence_proj`` embeddings (the local space); without it the global text
    embedding. A text with no words is an error."""
    texts = [str(s) for s in sentences]
    empty = [t for t in texts if not t.strip()]
    if empty or not texts:
        raise ConfigError("--text: empty sentence; expected words such as 'left pleural effusion'")
    batch = encode_reports(tokenizer, texts, max_len=model.config.max_len,
                           max_sentences=model.config.max_sentences,
                           assertions=model.config.assertion_vocab)  # fmt: skip
    batch = batch.to(model.device)
    if not model.config.local:
        return model.embed_texts(batch)
    _, report, sent, mask = model.text(batch, model.config.max_sentences)
    sent = F.normalize(model.sentence_proj(sent), dim=-1)
    w = mask.to(sent.dtype).unsqueeze(-1)
    mean = (sent * w).sum(1)
    # a text the sentence splitter kept nothing of (e.g. only a section header): its report mean
    none = ~mask.any(1)
    if none.any():
        mean[none] = F.normalize(model.sentence_proj(report[none]), dim=-1)
    return F.normalize(mean, dim=-1)


def _region_scores(model: ImageTextModel, fmap: torch.Tensor, emb: torch.Tensor, method: str):
    """Feature map (1, F, *s) and text embeddings (N, D) -> scores (N, *s)."""
    spatial = fmap.shape[2:]
    cells = fmap.flatten(2).transpose(1, 2)[0]  # (R, F)
    if method == "cosine" and not model.config.local:
        regions = model.image_proj(cells)  # normalised (R, D)
        return (emb @ regions.t()).reshape(len(emb), *spatial)
    local = model.local
    regions = model.region_proj(cells)
    regions = regions * torch.sigmoid(local.select(regions))  # the selection layer's weighting
    if method == "attention":
        q, k = local.query(emb), local.key(regions)
        scores = q @ k.t() / math.sqrt(q.shape[-1])
    else:
        ctx = F.normalize(local.out(local.value(regions)), dim=-1)
        scores = emb @ ctx.t()
    inner = inner_cells(spatial, model.config.ring)  # the border cells training never selects
    if not inner.all():
        low = scores.masked_fill(~inner, float("inf")).amin(1, keepdim=True)
        scores = torch.where(inner, scores, low)
    return scores.reshape(len(emb), *spatial)


def _as_batch(image: torch.Tensor | np.ndarray, spatial_dims: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if x.ndim == spatial_dims:
        x = x.unsqueeze(0)
    if x.ndim != spatial_dims + 1:
        raise ConfigError(
            f"image of shape {tuple(x.shape)}; expected (C, *spatial) or (*spatial) with"
            f" {spatial_dims} spatial dimensions, as the run's pairs were loaded"
        )
    return x.unsqueeze(0)


@torch.no_grad()
def sentence_region_maps(
    model: ImageTextModel | ImageTextRun,
    image: torch.Tensor | np.ndarray,
    sentences: Sequence[str],
    *,
    tokenizer=None,
    method: str | None = None,
    scale: bool = True,
) -> np.ndarray:
    """Maps (N, *input spatial) float32 of each sentence over one image. `image`: (C, *spatial)
    or (*spatial), stored pixels as the run's pairs hold them (uint8 or float in [0, 1]); `model`:
    an `ImageTextRun` (its tokenizer is used) or an `ImageTextModel` with `tokenizer`. `scale`:
    min-max each map to [0, 1] (a constant map becomes zeros)."""
    if isinstance(model, ImageTextRun):
        tokenizer = tokenizer or model.tokenizer
        model = model.model
    if tokenizer is None:
        raise ConfigError("sentence_region_maps: an ImageTextModel needs its run's tokenizer")
    method = _method(model, method)
    model.eval()
    x = _as_batch(image, model.config.spatial_dims)
    emb = sentence_embeddings(model, tokenizer, sentences)
    inputs = normalise(x)
    scores = _region_scores(model, model.image.feature_map(inputs), emb, method)
    # each cell drawn on its receptive field's centre, not half a cell down-right of it
    grid = model.image.cell_grid(inputs)
    up = upsample_map(scores.unsqueeze(1), tuple(x.shape[2:]), grid)[:, 0]
    if scale:
        flat = up.flatten(1)
        lo = flat.min(1).values.view(-1, *[1] * (up.ndim - 1))
        span = flat.max(1).values.view_as(lo) - lo
        up = torch.where(span > 0, (up - lo) / span.clamp_min(1e-12), torch.zeros_like(up))
    return up.numpy().astype(np.float32)


def sentence_region_map(
    model: ImageTextModel | ImageTextRun,
    image: torch.Tensor | np.ndarray,
    sentence: str,
    *,
    tokenizer=None,
    method: str | None = None,
    scale: bool = True,
) -> np.ndarray:
    """The similarity map of one sentence over one image at input resolution (*spatial): see
    `sentence_region_maps`."""
    maps = sentence_region_maps(
        model, image, [sentence], tokenizer=tokenizer, method=method, scale=scale
    )
    return maps[0]


def load_run_image(run: ImageTextRun, path: str | Path) -> tuple[np.ndarray, tuple[int, ...]]:
    """One image prepared as the run's pairs were (`PairData`): a 2D radiograph padded to
    size x size (uint8, (1, H, W)) or a volume windowed and cropped/padded to the run's shape
    ((1, D, H, W) float); and the image's own shape before that (2D: rows, columns)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"--image {path}: no such file or folder")
    dims = run.model.config.spatial_dims
    is_2d = path.is_file() and path.suffix.lower() in RADIOGRAPH_SUFFIXES
    if is_2d != (dims == 2):
        kind = "2D radiographs (PNG/JPEG/DICOM)" if dims == 2 else "3D volumes (NIfTI, DICOM)"
        raise DataError(f"--image {path}: the run {run.run_dir} was pretrained on {kind}")
    if dims == 2:
        raw = read_radiograph(path)
        return resize_image(raw, run.data.size)[None], tuple(raw.shape[:2])
    vol = load_volume(path)
    arr = preprocess_volume(vol, window=run.data.window, shape=tuple(run.data.shape))
    return arr.astype(np.float32), tuple(np.asarray(vol.array).shape)


def input_to_image(peak: Sequence[int], shape: Sequence[int], size: int) -> tuple[float, float]:
    """A (row, column) on the size x size model input of a 2D image padded to fit (the pairs'
    ``fit="pad"``) -> (row, column) on the original image of `shape` (rows, columns)."""
    h, w = int(shape[0]), int(shape[1])
    scale = size / max(h, w)
    top = (size - max(1, round(h * scale))) // 2
    left = (size - max(1, round(w * scale))) // 2
    return ((peak[0] + 0.5 - top) / scale - 0.5, (peak[1] + 0.5 - left) / scale - 0.5)
