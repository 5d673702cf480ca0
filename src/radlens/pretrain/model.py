"""The image–text model: `ImageEncoder` + `TextEncoder`, global projection heads with a learnable
temperature (symmetric InfoNCE), and optionally the local branch (region and sentence projections
into one space + `LocalAlignment`). ``local=False`` builds no local layers at all (the ablation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from radlens.pretrain.batches import HardNegatives
from radlens.pretrain.image import ImageEncoder, ProjectionHead
from radlens.pretrain.losses import KeyedPositives, LocalAlignment, LogitScale, contrast
from radlens.pretrain.negation import hard_negative_loss
from radlens.pretrain.text import TextBatch, TextEncoder

__all__ = ["ImageTextConfig", "ImageTextModel", "inner_cells"]


def inner_cells(spatial: Sequence[int], ring: int) -> torch.Tensor:
    """Which cells of a feature map of shape `spatial` lie `ring` or more cells inside its border
    (flattened, bool (R,)); all of them when a side is too short (<= 2 * ring) or ring is 0."""
    keep = torch.ones(*spatial, dtype=torch.bool)
    if ring > 0 and min(spatial) > 2 * ring:
        keep = torch.zeros(*spatial, dtype=torch.bool)
        keep[tuple(slice(ring, n - ring) for n in spatial)] = True
    return keep.flatten()


@dataclass(frozen=True)
class ImageTextConfig:
    """What rebuilds an `ImageTextModel` (stored in its checkpoints)."""

    model: str = "resnet18"
    spatial_dims: int = 2
    in_channels: int = 1
    small_input: bool = True
    vocab_size: int = 2000
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4
    max_len: int = 128
    max_sentences: int = 16
    embed_dim: int = 128
    local: bool = True
    local_weight: float = 1.0
    top_k: int = 8
    temperature: float = 0.07
    #: feature-map cells at the border left out of the local branch (when every side > 2 ring),
    #: so sentence maps cannot lock on to the image frame
    ring: int = 1
    #: global loss against each sentence of the reports on its own (False: the whole report)
    sentence_level: bool = True
    #: random crop / shift / rotation / contrast of training images (never a flip)
    augment: bool = True
    #: each image also prefers its report's sentences to their negation counterparts
    #: (`radlens.pretrain.negation`; sentence-level only), weighted by `hard_weight`; off by
    #: default: it did not raise zero-shot AUROC (benchmarks/results/README.md, issue 16)
    hard_negatives: bool = False
    hard_weight: float = 1.0
    #: the labeler vocabulary that reads sentences for their counterparts and assertion marks
    negation_vocab: str = "chest_xr"
    #: the text encoder sees each token's assertion mark (present / absent / uncertain finding
    #: mention, read by the labeler with `negation_vocab`; `radlens.pretrain.text`)
    assertion_marks: bool = True

    @property
    def assertion_vocab(self) -> str | None:
        """The vocabulary that marks the texts this model encodes (None: no marks)."""
        return self.negation_vocab if self.assertion_marks else None

    def to_dict(self) -> dict:
        return asdict(self)


class ImageTextModel(nn.Module):
    def __init__(self, config: ImageTextConfig) -> None:
        super().__init__()
        self.config = config
        self.image = ImageEncoder(
            config.model, spatial_dims=config.spatial_dims, in_channels=config.in_channels,
            small_input=config.small_input,
        )  # fmt: skip
        self.text = TextEncoder(
            config.vocab_size, width=config.text_width, layers=config.text_layers,
            heads=config.text_heads, max_len=config.max_len, assertions=config.assertion_vocab,
        )  # fmt: skip
        self.image_proj = ProjectionHead(self.image.features, config.embed_dim)
        self.text_proj = ProjectionHead(config.text_width, config.embed_dim)
        self.scale = LogitScale(config.temperature)
        if config.local:
            self.region_proj = nn.Linear(self.image.features, config.embed_dim)
            self.sentence_proj = nn.Linear(config.text_width, config.embed_dim)
            self.local = LocalAlignment(config.embed_dim, top_k=config.top_k)

    def _hard(self, img: torch.Tensor, txt: torch.Tensor, hard: HardNegatives) -> torch.Tensor:
        """`hard_negative_loss` of the pairs (called on every rank, even one with no pair)."""
        if len(hard.owner):
            pos, neg = self.embed_texts(hard.positive), self.embed_texts(hard.negative)
        else:
            pos = neg = txt.new_zeros(0, txt.shape[1])
        return hard_negative_loss(img, pos, neg, hard.owner, self.scale())

    def regions(self, fmap: torch.Tensor) -> torch.Tensor:
        """Feature map (B, F, *spatial) -> projected regions (B, R, D), R = prod(spatial)."""
        return self.region_proj(fmap.flatten(2).transpose(1, 2))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised global image embeddings (B, D)."""
        return self.image_proj(self.image(images)[1])

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (texts and images must be moved there)."""
        return next(self.parameters()).device

    @torch.no_grad()
    def kept_regions(self, image_shape: tuple[int, ...]) -> int:
        """How many feature-map cells the local branch chooses from for images of
        `image_shape` (C, *spatial): the map's cells less the border ring."""
        x = torch.zeros((1, *image_shape), device=self.device)
        was = self.image.training
        fmap = self.image.eval().feature_map(x)
        self.image.train(was)
        return int(inner_cells(fmap.shape[2:], self.config.ring).sum())

    def embed_texts(self, text: TextBatch) -> torch.Tensor:
        """L2-normalised global text embeddings (B, D)."""
        return self.text_proj(self.text(text)[1])

    def forward(
        self, images: torch.Tensor, text: TextBatch, sentences: TextBatch | None = None,
        positives: KeyedPositives | None = None, hard: HardNegatives | None = None,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """Losses of a batch of pairs: "global", "local" (when built), "hard" (with `hard` and
        ``config.hard_negatives``) and their weighted sum "loss".
        With `sentences` (those of the batch's reports) the global loss contrasts the images
        with them (`positives`: which image goes with which sentence, see `contrast`), else
        with the whole reports; the local loss always uses every sentence of the reports;
        `hard`: pairs of an image and one of its sentences, and that sentence's counterpart."""
        fmap, pooled = self.image(images)
        img = self.image_proj(pooled)
        if sentences is not None:
            txt = self.embed_texts(sentences)
            out = {"global": contrast(img, txt, self.scale(), positives)}
            if hard is not None and self.config.hard_negatives:
                out["hard"] = self._hard(img, txt, hard)
        if sentences is None or self.config.local:
            _, report, sents, sent_mask = self.text(text, self.config.max_sentences)
        if sentences is None:
            out = {"global": contrast(img, self.text_proj(report), self.scale())}
        loss = out["global"]
        if "hard" in out:
            loss = loss + self.config.hard_weight * out["hard"]
        if self.config.local:
            sent = F.normalize(self.sentence_proj(sents), dim=-1)
            inner = inner_cells(fmap.shape[2:], self.config.ring).to(fmap.device)
            out["local"] = self.local(sent, sent_mask, self.regions(fmap), inner)
            loss = loss + self.config.local_weight * out["local"]
        out["loss"] = loss
        return out
