"""Two-stage lesion detection: candidates (blobs in the lung region, or the mediastinum's dense
peaks for calcified plaques), a 3-D CNN that scores them.

Why two stages, beside the segmentation network's components: on this CPU's grid a nodule is a
few voxels and the vessels crossing a slice look the same; a segmentation network sees every
voxel of every volume and learns from few nodule voxels, and ranked vessel mimics above nodules
(benchmarks/results/README.md: nodule FROC 0.04-0.13). LUNA16's systems generate sensitive
candidates, then train a classifier on them, where nearly every negative is such a mimic.

Rules:

- grid: each study is reoriented and resampled to `DETECT_SPACING` (3.5 mm isotropic) and
  windowed to the config's `window` (`CLIP_HU`; for calcification `FINDING_DEFAULTS` widens it
  to 1500 HU, where plaques are not clipped to bone's level) as one channel in [0, 1]
  (`radlens.training.seg_data.load_case`); the finding's mask (union over locations) is
  resampled with it;
- candidates (`candidates` setting): "lung_blobs", `radlens.data.blob_candidates` inside
  `radlens.data.lung_region` on that grid (nodules, masses); "mediastinal_peaks",
  `radlens.data.dense_candidates` inside `radlens.data.mediastinal_region` (calcified plaques
  of the aorta and coronary arteries);
- truth per candidate (the FROC hit rule of `radlens.evaluation.froc`): a candidate belongs to
  a lesion (26-connected component of the mask) when its voxel lies in it or within the
  lesion's radius (half its equivalent diameter) of its centroid; nearest centroid first;
- training: cubes of `cube` voxels around each candidate of the train split; every epoch sees
  every candidate that hits a lesion twice, each lesion's centroid cube at three jitters
  (+-1 voxel), and `negatives` random others, flipped along each axis and transposed in-plane
  at random; AdamW, one-cycle LR; weights of the last epoch;
- inference: the score of a candidate is the mean sigmoid of the network over the cube and its
  three axis flips.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torch import nn

from radlens.core import atomic_save, atomic_write_json
from radlens.data import (
    CLIP_HU,
    PEAK_HU,
    SCALES_MM,
    BlobCandidates,
    blob_candidates,
    cubes,
    dense_candidates,
    lung_region,
    mediastinal_region,
)
from radlens.data.volumes import Volume, preprocess_volume
from radlens.errors import ConfigError, DataError
from radlens.models import CandidateNet
from radlens.training.device import inference_device
from radlens.training.seg_data import SegTable, load_case, read_seg_table

__all__ = [
    "CANDIDATE_KINDS",
    "DETECT_SPACING",
    "FINDING_DEFAULTS",
    "DetectorConfig",
    "NoduleDetector",
    "StudyCandidates",
    "collect_candidates",
    "detector_config",
    "is_detector_run",
    "load_detector",
    "mask_lesions",
    "train_detector",
]

logger = logging.getLogger(__name__)
DETECT_SPACING: tuple[float, float, float] = (3.5, 3.5, 3.5)
CUBE_MM = 56.0  # the cube's side: a 30 mm nodule with its surroundings
_FILES = ("detector.pt", "detector.json")
Detection = tuple[BlobCandidates, np.ndarray, np.ndarray, np.ndarray]  # of `detect_volume`
CANDIDATE_KINDS = ("lung_blobs", "mediastinal_peaks")
# Settings that differ by finding (the rest are `DetectorConfig`'s defaults).
FINDING_DEFAULTS: dict[str, dict] = {
    "arterial_wall_calcification": {"candidates": "mediastinal_peaks", "window": (-1000.0, 1500.0)},
}


@dataclass(frozen=True)
class DetectorConfig:
    """A detector's settings (kept in detector.json)."""

    finding: str = "nodule"
    spacing: tuple[float, float, float] = DETECT_SPACING
    cube: int = 16
    scales_mm: tuple[float, ...] = SCALES_MM
    per_scale: int = 80
    epochs: int = 12
    negatives: int = 8000
    batch_size: int = 128
    lr: float = 2e-3
    width: int = 16
    seed: int = 0
    candidates: str = "lung_blobs"
    window: tuple[float, float] = CLIP_HU
    min_hu: float = PEAK_HU  # "mediastinal_peaks": the lowest peak
    max_candidates: int = 800  # "mediastinal_peaks": the densest kept per study

    @classmethod
    def for_finding(cls, finding: str, **values) -> DetectorConfig:
        """The settings for `finding`: `FINDING_DEFAULTS`, then `values`; a `spacing` given
        without a `cube` keeps the cube's ~`CUBE_MM` side on that grid."""
        if "spacing" in values and "cube" not in values:
            values["cube"] = max(8, 4 * round(CUBE_MM / min(values["spacing"]) / 4))
        return cls(**{"finding": finding, **FINDING_DEFAULTS.get(finding, {}), **values})


@dataclass
class StudyCandidates:
    """One study's candidates on the detection grid, their cubes (uint8) and truth."""

    study_id: str
    patient_id: str
    split: str
    spacing: tuple[float, float, float]
    candidates: BlobCandidates
    cubes: np.ndarray  # (N, S, S, S) uint8
    lesion_of: np.ndarray  # (N,) lesion index each candidate hits, -1 none
    lesion_cubes: np.ndarray  # (3 * lesions, S, S, S) uint8, centroid cubes at three jitters
    mask: np.ndarray = field(repr=False)  # (D, H, W) bool, the finding on the detection grid


def _to_hu(image01: np.ndarray, window: Sequence[float]) -> np.ndarray:
    lo, hi = window
    return lo + image01 * (hi - lo)


def _as_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def mask_lesions(
    mask: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(26-connected label map, centroids (K, 3) voxels, radii (K,) mm) of a boolean mask."""
    labels, k = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if k == 0:
        return labels, np.zeros((0, 3)), np.zeros(0)
    index = np.arange(1, k + 1)
    centroids = np.asarray(ndimage.center_of_mass(mask, labels, index), dtype=float).reshape(k, 3)
    volume = ndimage.sum(mask, labels, index) * float(np.prod(spacing))
    return labels, centroids, (6.0 * np.asarray(volume) / np.pi) ** (1.0 / 3.0) / 2.0


def candidate_truth(
    centres: np.ndarray, mask: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(lesion index per candidate or -1, lesion centroids) under the module's hit rule."""
    labels, centroids, radii = mask_lesions(mask, spacing)
    out = np.full(len(centres), -1, dtype=np.int64)
    sp = np.asarray(spacing, dtype=float)
    for i, c in enumerate(np.asarray(centres).reshape(-1, 3)):
        if not len(radii):
            break
        dist = np.linalg.norm((centroids - c) * sp, axis=1)
        hit = (dist <= radii) | (np.arange(len(radii)) + 1 == labels[tuple(c)])
        if hit.any():
            out[i] = int(np.flatnonzero(hit)[np.argmin(dist[hit])])
    return out, centroids


def candidate_region(image01: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """Where candidates are looked for on a windowed detection-grid image: mediastinum or lungs."""
    hu = _to_hu(image01, config.window)
    return mediastinal_region(hu) if config.candidates == "mediastinal_peaks" else lung_region(hu)


def find_candidates(image01: np.ndarray, spacing, config: DetectorConfig, region=None):
    """Candidates of a windowed (D, H, W) image in [0, 1] on the detection grid, within `region`
    (default `candidate_region`)."""
    hu = _to_hu(image01, config.window)
    region = candidate_region(image01, config) if region is None else region
    if config.candidates == "mediastinal_peaks":
        return dense_candidates(
            hu, spacing, region, min_hu=config.min_hu, limit=config.max_candidates
        )
    return blob_candidates(
        hu, spacing, region, scales_mm=config.scales_mm, per_scale=config.per_scale
    )


def _study(row: pd.Series, seg: SegTable, config: DetectorConfig) -> StudyCandidates:
    case = load_case(row, seg, config.spacing, [config.window])
    image, mask = case.image[0], case.label[0] > 0
    found = find_candidates(image, case.spacing, config)
    hits, centroids = candidate_truth(found.centres, mask, case.spacing)
    rng = np.random.default_rng([config.seed, len(centroids)])
    jitter = [np.rint(centroids + rng.integers(-1, 2, size=centroids.shape)) for _ in range(3)]
    jittered = np.concatenate(jitter).astype(np.int64) if len(centroids) else np.zeros((0, 3))
    lim = np.array(image.shape) - 1
    jittered = np.clip(jittered, 0, lim).astype(np.int64)
    return StudyCandidates(
        case.study_id, case.patient_id, case.split, case.spacing, found,
        _as_uint8(cubes(image, found.centres, config.cube)), hits,
        _as_uint8(cubes(image, jittered, config.cube)), mask,
    )  # fmt: skip


def _study_job(args: tuple) -> StudyCandidates:
    row, seg, config = args
    return _study(row, seg, config)


def collect_candidates(
    seg: SegTable, splits: Sequence[str], config: DetectorConfig, *, workers: int = 1
) -> list[StudyCandidates]:
    """Candidates, cubes and truth of every study of `splits`, in table order."""
    rows = [row for _, row in seg.table.iterrows() if row["split"] in splits]
    jobs = [(row, seg, config) for row in rows]
    if workers <= 1 or len(jobs) < 2:
        return [_study_job(j) for j in jobs]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_study_job, jobs, chunksize=4))


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    for axis in (1, 2, 3):
        flip = rng.random(len(x)) < 0.5
        x[flip] = np.flip(x[flip], axis=axis)
    turn = rng.random(len(x)) < 0.5
    x[turn] = np.swapaxes(x[turn], 2, 3)
    return x


def _pools(studies: Sequence[StudyCandidates]) -> tuple[np.ndarray, np.ndarray]:
    """(positive cubes: each hit twice and the lesions' centroid cubes; negative cubes)."""
    hits = [s.cubes[s.lesion_of >= 0] for s in studies]
    pos = np.concatenate([*hits, *hits, *[s.lesion_cubes for s in studies]])
    return pos, np.concatenate([s.cubes[s.lesion_of < 0] for s in studies])


def _epoch_set(pos: np.ndarray, neg: np.ndarray, config: DetectorConfig, rng) -> tuple:
    take = rng.choice(len(neg), size=min(config.negatives, len(neg)), replace=False)
    x = np.concatenate([pos, neg[take]])
    y = np.r_[np.ones(len(pos)), np.zeros(len(take))].astype(np.float32)
    order = rng.permutation(len(x))
    return _augment(x[order], rng), y[order]


class NoduleDetector:
    """A trained detector: `detect` a windowed image, or `detect_volume` a CT volume."""

    def __init__(
        self, net: CandidateNet, config: DetectorConfig, device: torch.device | None = None
    ) -> None:
        self.device = device or torch.device("cpu")
        self.net = net.to(self.device).eval()
        self.config = config

    @torch.no_grad()
    def score(self, cube_batch: np.ndarray) -> np.ndarray:
        """Mean sigmoid over each uint8 cube and its three axis flips."""
        out = np.zeros(len(cube_batch), dtype=np.float64)
        for i in range(0, len(cube_batch), 256):
            x = torch.from_numpy(cube_batch[i : i + 256]).to(self.device).float()[:, None] / 255.0
            views = [x, *(torch.flip(x, dims=(d,)) for d in (2, 3, 4))]
            probs = torch.stack([torch.sigmoid(self.net(v)) for v in views]).mean(0)
            out[i : i + 256] = probs.cpu().numpy()
        return out

    def detect(
        self, image01: np.ndarray, spacing: Sequence[float], region: np.ndarray | None = None
    ) -> tuple[BlobCandidates, np.ndarray]:
        """Candidates of a windowed (D, H, W) image on the detection grid (within `region`,
        default `candidate_region`) and their scores."""
        found = find_candidates(image01, spacing, self.config, region)
        return found, self.score(_as_uint8(cubes(image01, found.centres, self.config.cube)))

    def detect_volume(self, volume: Volume) -> Detection:
        """(candidates, scores, the windowed grid image, its `candidate_region`) of a scan."""
        image = preprocess_volume(
            volume, target_spacing=self.config.spacing, window=self.config.window
        )[0]
        region = candidate_region(image, self.config)
        found, scores = self.detect(image, self.config.spacing, region)
        return found, scores, image, region


def _check(config: DetectorConfig) -> None:
    if config.cube < 8 or config.cube % 4:
        raise ConfigError(f"cube must be a multiple of 4 and >= 8 voxels; got {config.cube}")
    for name in ("epochs", "negatives", "batch_size", "per_scale", "width", "max_candidates"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be >= 1; got {getattr(config, name)}")
    if config.candidates not in CANDIDATE_KINDS:
        raise ConfigError(
            f"candidates {config.candidates!r}: expected one of {list(CANDIDATE_KINDS)}"
        )
    lo, hi = config.window
    if not lo < hi:
        raise ConfigError(f"window must be (low, high) HU with low < high; got {config.window}")


def train_detector(
    cohort: str | Path, out: str | Path, config: DetectorConfig = DetectorConfig(), *,
    workers: int = 1, studies: Sequence[StudyCandidates] | None = None, device: str = "cpu",
) -> dict:  # fmt: skip
    """Train on the cohort's train split; writes detector.pt / detector.json (settings, cohort,
    counts, losses) under `out`."""
    _check(config)
    out = Path(out)
    t0 = time.perf_counter()
    if studies is None:
        seg = read_seg_table(cohort, [config.finding], seed=config.seed)
        studies = collect_candidates(seg, ["train"], config, workers=workers)
    train = [s for s in studies if s.split == "train"]
    if not any((s.lesion_of >= 0).any() or len(s.lesion_cubes) for s in train):
        raise DataError(f"{cohort}: no {config.finding} lesion in the train split to learn from")
    t1 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dev = inference_device(device)
    net = CandidateNet(config.width).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    pos, neg = _pools(train)
    steps = -(-(len(pos) + min(config.negatives, len(neg))) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps)
    losses = []
    for epoch in range(config.epochs):
        x, y = _epoch_set(pos, neg, config, rng)
        net.train()
        total = 0.0
        for i in range(steps):
            xb = torch.from_numpy(x[i * config.batch_size : (i + 1) * config.batch_size]).to(dev)
            yb = torch.from_numpy(y[i * config.batch_size : (i + 1) * config.batch_size]).to(dev)
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(xb.float()[:, None] / 255.0), yb
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(yb)
        losses.append(round(total / len(y), 5))
        logger.info("detector epoch %d/%d loss %.4f", epoch + 1, config.epochs, losses[-1])
    out.mkdir(parents=True, exist_ok=True)
    atomic_save(out / _FILES[0], {k: v.cpu() for k, v in net.state_dict().items()})
    info = {
        "config": asdict(config),
        "cohort": str(Path(cohort).absolute()),
        "train_studies": len(train),
        "train_candidates": int(sum(len(s.lesion_of) for s in train)),
        "train_candidate_hits": int(sum((s.lesion_of >= 0).sum() for s in train)),
        "train_lesions": int(sum(len(s.lesion_cubes) // 3 for s in train)),
        "losses": losses,
        "wall_s": {"candidates": round(t1 - t0, 1), "training": round(time.perf_counter() - t1, 1)},
    }
    atomic_write_json(out / _FILES[1], info)
    return info


def detector_config(config) -> DetectorConfig:
    """A `DetectorConfig` from `radlens train --task detection` options (`TrainConfig`): --findings
    (one), --seed; --epochs, --batch-size, --lr, --spacing where given (else the detector's)."""
    given = config.model_fields_set
    findings = config.findings or [DetectorConfig.finding]
    if len(findings) != 1:
        raise ConfigError(f"--task detection detects one finding; got --findings {findings}")
    values = {"seed": config.seed}
    for name in ("epochs", "batch_size", "lr", "spacing"):
        if name in given:
            value = getattr(config, name)
            values[name] = tuple(value) if name == "spacing" else value
    return DetectorConfig.for_finding(findings[0], **values)


def is_detector_run(run_dir: str | Path) -> bool:
    """True when `run_dir` holds a detector written by `train_detector`."""
    return all((Path(run_dir) / name).is_file() for name in _FILES)


def load_detector(run_dir: str | Path, device: str = "cpu") -> NoduleDetector:
    """A detector trained by `train_detector` (refused with the missing file named)."""
    run_dir = Path(run_dir)
    for name in _FILES:
        if not (run_dir / name).is_file():
            raise DataError(f"{run_dir}: no {name}; not a nodule detector run (train_detector)")
    info = json.loads((run_dir / _FILES[1]).read_text())
    raw = info["config"]
    tuples = {k: tuple(raw[k]) for k in ("spacing", "scales_mm", "window") if k in raw}
    config = DetectorConfig(**{**raw, **tuples})
    net = CandidateNet(config.width)
    net.load_state_dict(torch.load(run_dir / _FILES[0], map_location="cpu", weights_only=True))
    return NoduleDetector(net, config, inference_device(device))
