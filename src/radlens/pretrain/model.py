"""The image–text model: `ImageEncoder` + `TextEncoder`, global projection heads with a learnable
temperature (SigLIP pairs by default, or symmetric InfoNCE: ``global_loss``), and optionally the
local branch (region and sentence projections into one space + `LocalAlignment`).
``local=False`` builds no local layers at all (the ablation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import ConfigError
from radlens.pretrain.batches import HardNegatives
from radlens.pretrain.image import ImageEncoder, ProjectionHead
from radlens.pretrain.losses import (
    KeyedPositives,
    LocalAlignment,
    LogitScale,
    contrast,
    sigmoid_contrast,
)
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
    temperature: float = 0.1
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
    #: a sentence is a positive for every image whose report says the same by the labeler's
    #: reading (`radlens.pretrain.semantic`, MedCLIP's semantic matching), not only the same words
    semantic_positives: bool = True
    #: the local loss contrasts each drawn sentence (with the global loss's positives) against
    #: every image's regions (`LocalAlignment.sentence_loss`), not each report against each image
    local_sentences: bool = True
    #: the backbone stage whose feature map the local branch uses (`ImageEncoder`; 3: ResNets)
    local_stage: int = 4
    #: the global loss with `sentence_level`: "infonce" (multi-positive, symmetric) or "sigmoid"
    #: (SigLIP's pairwise loss, `sigmoid_contrast`; scale starts at 1 / temperature, bias at 0)
    global_loss: str = "sigmoid"

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
            local_stage=config.local_stage if config.local else 4,  # global-only: last stage
        )  # fmt: skip
        self.text = TextEncoder(
            config.vocab_size, width=config.text_width, layers=config.text_layers,
            heads=config.text_heads, max_len=config.max_len, assertions=config.assertion_vocab,
        )  # fmt: skip
        self.image_proj = ProjectionHead(self.image.features, config.embed_dim)
        self.text_proj = ProjectionHead(config.text_width, config.embed_dim)
        self.scale = LogitScale(config.temperature)
        if config.global_loss not in ("infonce", "sigmoid"):
            raise ConfigError(f"--global-loss {config.global_loss!r}: expected infonce or sigmoid")
        if config.global_loss == "sigmoid":
            self.bias = nn.Parameter(torch.zeros(()))
        if config.local:
            self.region_proj = nn.Linear(self.image.local_features, config.embed_dim)
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
        local_positives: KeyedPositives | None = None,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """Losses of a batch of pairs: "global", "local" (when built), "hard" (with `hard` and
        ``config.hard_negatives``) and their weighted sum "loss".
        With `sentences` (those of the batch's reports) the global loss contrasts the images
        with them (`positives`: which image goes with which sentence, see `contrast`), else
        with the whole reports; the local loss uses every sentence of the reports, one report
        against one image, or with ``config.local_sentences`` each drawn sentence on its own
        against every image (`LocalAlignment.sentence_loss`, with `local_positives` where
        given, which also weigh locations, else `positives`);
        `hard`: pairs of an image and one of its sentences, and that sentence's counterpart."""
        fmap, pooled = self.image(images)
        img = self.image_proj(pooled)
        if sentences is None:
            _, report, sents, sent_mask = self.text(text, self.config.max_sentences)
            out = {"global": contrast(img, self.text_proj(report), self.scale())}
        else:
            _, whole, one, one_mask = self.text(sentences, 1)
            txt = self.text_proj(whole)
            if self.config.global_loss == "sigmoid":
                out = {"global": sigmoid_contrast(img, txt, self.scale(), self.bias, positives)}
            else:
                out = {"global": contrast(img, txt, self.scale(), positives)}
            if hard is not None and self.config.hard_negatives:
                out["hard"] = self._hard(img, txt, hard)
        loss = out["global"]
        if "hard" in out:
            loss = loss + self.config.hard_weight * out["hard"]
        if self.config.local:
            inner = inner_cells(fmap.shape[2:], self.config.ring).to(fmap.device)
            if self.config.local_sentences and sentences is not None:
                # a sentence's mean (its whole text where the splitter kept none), as
                # `radlens.pretrain.sentence_embeddings` embeds a typed sentence
                sent = torch.where(one_mask[:, :1], one[:, 0], whole)
                sent = F.normalize(self.sentence_proj(sent), dim=-1)
                which = local_positives if local_positives is not None else positives
                out["local"] = self.local.sentence_loss(sent, self.regions(fmap), which, inner)
            else:
                if sentences is not None:
                    _, _, sents, sent_mask = self.text(text, self.config.max_sentences)
                sent = F.normalize(self.sentence_proj(sents), dim=-1)
                out["local"] = self.local(sent, sent_mask, self.regions(fmap), inner)
            loss = loss + self.config.local_weight * out["local"]
        out["loss"] = loss
        return out
