"""`radlens pretrain ssl`: image-only contrastive pretraining (SimCLR's NT-Xent), 2D or 3D.

Two views of every image come from MONAI random transforms (affine: rotation, scale,
translation; flip; contrast gamma; Gaussian noise), drawn per image. With ``momentum`` > 0 the
second view goes through a momentum (EMA) copy of encoder + head, and a queue of its past keys
adds negatives (MoCo-style). The checkpoint's backbone loads with ``radlens train --init RUN``
into the model of the same name (`ENCODER_PREFIX`). MONAI's augmentation state is seeded at the
start of each call, so a resumed run matches an uninterrupted one statistically, not bit for bit.
Both views of a batch go through the encoder in one forward pass (SimCLR's batching: one
DDP forward per step). With several processes (``--devices N``) each rank augments its share of
the global batch (MONAI seeded with seed + rank) and the embeddings are gathered over ranks
(`gather_batch`) before NT-Xent, so the negatives (and the queued keys) span the global batch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from monai.transforms import (
    Compose,
    RandAdjustContrast,
    RandAffine,
    RandFlip,
    RandGaussianNoise,
)
from torch import nn

from radlens.errors import ConfigError
from radlens.pretrain.image import ImageEncoder, ProjectionHead
from radlens.pretrain.image_text import PairData, prepare_out, pretrain_meta
from radlens.pretrain.loop import PretrainOptions, PretrainResult, fit
from radlens.pretrain.losses import gather_batch, nt_xent
from radlens.training import normalise

__all__ = ["SSLConfig", "SSLModel", "SSLObjective", "pretrain_ssl", "ssl_augment"]


@dataclass(frozen=True)
class SSLConfig:
    model: str = "resnet18"
    spatial_dims: int = 2
    in_channels: int = 1
    small_input: bool = True
    embed_dim: int = 128
    temperature: float = 0.1
    momentum: float = 0.0  # 0: plain SimCLR; e.g. 0.99: momentum encoder + queue
    queue_size: int = 256


class SSLModel(nn.Module):
    """Encoder + projection head; with momentum, an EMA copy of both and a key queue."""

    def __init__(self, config: SSLConfig) -> None:
        super().__init__()
        if not 0.0 <= config.momentum < 1.0:
            raise ConfigError(f"--momentum {config.momentum}: expected 0 <= m < 1")
        self.config = config
        self.image = ImageEncoder(config.model, spatial_dims=config.spatial_dims,
                                  in_channels=config.in_channels,
                                  small_input=config.small_input)  # fmt: skip
        self.head = ProjectionHead(self.image.features, config.embed_dim)
        if config.momentum > 0:
            self.key_image = copy.deepcopy(self.image).requires_grad_(False)
            self.key_head = copy.deepcopy(self.head).requires_grad_(False)
            self.register_buffer("queue", torch.zeros(config.queue_size, config.embed_dim))
            self.register_buffer("queue_fill", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.image(x)[1])

    @torch.no_grad()
    def keys(self, x: torch.Tensor, update: bool = True) -> torch.Tensor:
        """Momentum-encoder embeddings, after an EMA step towards the online weights (`update`)."""
        m = self.config.momentum if update else 1.0
        for online, key in ((self.image, self.key_image), (self.head, self.key_head)):
            for p, k in zip(online.parameters(), key.parameters(), strict=True):
                k.mul_(m).add_(p.detach(), alpha=1 - m)
        return self.key_head(self.key_image(x)[1])

    def negatives(self) -> torch.Tensor:
        return self.queue[: int(self.queue_fill)]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Newest keys first; the oldest fall off the end of the fixed-size queue."""
        keys = keys.detach().to(self.queue.dtype)[: len(self.queue)]
        self.queue.copy_(torch.cat([keys, self.queue])[: len(self.queue)])
        self.queue_fill.fill_(min(len(self.queue), int(self.queue_fill) + len(keys)))


def ssl_augment(spatial_dims: int, seed: int) -> Compose:
    """The per-image random view of SimCLR for radiology (no colour jitter: grey images)."""
    rot = (math.pi / 12,) if spatial_dims == 2 else (math.pi / 12,) * 3
    aug = Compose([
        RandAffine(prob=1.0, rotate_range=rot, scale_range=0.15, translate_range=0.08,
                   padding_mode="border"),
        RandFlip(prob=0.5, spatial_axis=spatial_dims - 1),
        RandAdjustContrast(prob=0.5, gamma=(0.7, 1.5)),
        RandGaussianNoise(prob=0.5, std=0.05),
    ])  # fmt: skip
    aug.set_random_state(seed)
    return aug


class SSLObjective:
    def __init__(self, parts: dict[str, torch.Tensor], spatial_dims: int, seed: int) -> None:
        self.parts = parts
        self.augment = ssl_augment(spatial_dims, seed)

    def to(self, device: torch.device) -> None:
        self.parts = {k: v.to(device) for k, v in self.parts.items()}

    def reseed(self, seed: int) -> None:
        """Restart MONAI's augmentation stream (one per rank under data parallel)."""
        self.augment.set_random_state(seed)

    def n_rows(self, part: str) -> int:
        return len(self.parts[part]) if part in self.parts else 0

    def example(self) -> torch.Tensor:
        """One training image, as the model sees it (for `guard_bf16_convs`)."""
        return normalise(self.parts["train"][:1])

    def view(self, x: torch.Tensor) -> torch.Tensor:
        # MONAI works in [0, 1]-ish float per image; back to [-1, 1] afterwards
        x01 = (x.float() + 1) / 2
        out = torch.stack([torch.as_tensor(self.augment(img)) for img in x01.cpu()])
        return (out.clamp(0, 1) * 2 - 1).to(x.device)

    def losses(self, model, idx, gen, part: str = "train") -> dict[str, torch.Tensor]:
        x = normalise(self.parts[part][idx])
        v1, v2 = self.view(x), self.view(x)
        net = getattr(model, "module", model)
        if net.config.momentum > 0:
            z1 = gather_batch(model(v1))
            k2 = gather_batch(net.keys(v2, update=part == "train"))
            loss = nt_xent(z1, k2, net.config.temperature, queue=net.negatives())
            if part == "train":
                net.enqueue(k2)  # every rank enqueues the same global keys
        else:
            z1, z2 = model(torch.cat([v1, v2])).chunk(2)
            loss = nt_xent(gather_batch(z1), gather_batch(z2), net.config.temperature)
        return {"loss": loss}


def pretrain_ssl(
    cohort: str | Path,
    out: str | Path,
    *,
    data: PairData,
    model: SSLConfig = SSLConfig(),
    options: PretrainOptions = PretrainOptions(),
) -> PretrainResult:
    """SimCLR on the images of the cohort's train split (val split: validation loss)."""
    out = Path(out)
    prepare_out(out, options.resume)
    pairs = PairData(**{**asdict(data), "report_column": None}).load(cohort)
    train, val = pairs.rows("train"), pairs.rows("val")
    if len(train) < 2:
        raise ConfigError(f"{cohort}: {len(train)} training images; contrastive learning needs 2+")
    config = SSLConfig(**{**asdict(model), "spatial_dims": pairs.spatial_dims,
                          "in_channels": int(pairs.images.shape[1])})  # fmt: skip
    parts = {"train": pairs.images[train]}
    if len(val) >= 2:
        parts["val"] = pairs.images[val]
    torch.manual_seed(options.seed)
    net = SSLModel(config)
    data_dict = {**asdict(data), "shape": list(data.shape), "cohort": str(cohort)}
    meta = pretrain_meta("ssl", asdict(config), {"data": data_dict})
    return fit(out, net, SSLObjective(parts, config.spatial_dims, options.seed), meta, options)
