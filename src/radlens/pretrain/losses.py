"""Contrastive losses of radlens pretraining.

- `info_nce`: symmetric InfoNCE (CLIP / ConVIRT): cross-entropy of each row of a similarity
  matrix towards its diagonal, averaged with the same over the columns.
- `sigmoid_contrast`: SigLIP's pairwise loss, each (image, text) pair a yes/no question (for
  sentence-level contrast with many positives per image, `radlens.pretrain.semantic`).
- `nt_xent`: SimCLR's normalised-temperature cross-entropy over 2N views (each view's positive is
  its partner; the other 2N-2 views, plus an optional queue of past keys, are negatives).
- `LocalAlignment`: the local loss in the LRCLR / GLoRIA spirit. Image regions (the cells of the
  encoder's feature map) are scored by a learned region-selection layer and the top-k salient ones
  are kept (weighted by their sigmoid score, so the selection learns); each report sentence then
  attends over the kept regions of every image in the batch (the cross-modal interaction layer:
  single-head cross-attention with learned query/key/value maps); the cosine between a sentence and
  its attended region context, averaged over the report's real sentences, is the report–image
  local similarity, and `info_nce` over that matrix is the sentence–region contrastive loss.
  Padded sentences (mask False) take no part. `LocalAlignment.sentence_loss` is the same one
  sentence at a time: each sentence against every image, with many positives per sentence.

Data parallel (``--devices N``, torchrun): `contrast`, `LocalAlignment` and the SSL objective
gather the embeddings of every rank with `gather_batch` before the loss, so the negatives span the
GLOBAL batch and every rank computes the same global loss. `gather_batch` passes gradient back to
each rank's own rows summed over the N ranks (N times the global loss's gradient), and DDP then
averages the ranks' gradients: the update equals that of one process on the whole global batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from radlens.errors import ConfigError

__all__ = [
    "KeyedPositives",
    "LocalAlignment",
    "LogitScale",
    "contrast",
    "gather_batch",
    "info_nce",
    "nt_xent",
    "world_size",
]


def world_size() -> int:
    """Processes in the default process group (1 outside torch.distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of `x` (n_r, ...) in one tensor, interleaved as
    `radlens.training.rank_share` deals a global batch out (row j of rank r before row j of rank
    r + 1 and after row j - 1 of every rank), so a gathered batch of images is in the global
    batch's order. Ranks may hold different row counts; the other dimensions must agree.
    Floating tensors keep their gradient: each rank's rows get the sum of every rank's gradient
    for them (the backward of `torch.distributed.nn.functional.all_gather`, deprecated in torch
    2.13, done here with one all-reduce); `x` itself outside a process group of more than one
    process."""
    world = world_size()
    if world == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    counts = [int(c) for c in sizes]
    flag = x.dtype == torch.bool  # gloo gathers no bool tensors
    body = x.to(torch.uint8) if flag else x
    pad = body.new_zeros((max(counts) - x.shape[0], *x.shape[1:]))
    padded = torch.cat([body, pad]).contiguous()
    if padded.is_floating_point():
        parts = _AllGather.apply(padded).unbind(0)
    else:
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
    out = torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)])
    place = torch.cat([torch.arange(c) * world + r for r, c in enumerate(counts)])
    out = out[place.argsort().to(out.device)]
    return out.bool() if flag else out


class _AllGather(torch.autograd.Function):
    """(n, ...) on every rank -> (world, n, ...); backward: the all-reduced (summed) gradient of
    this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[dist.get_rank()]


@dataclass  # not frozen: Fabric casts the tensors of a forward call's arguments in place
class KeyedPositives:
    """Which images and texts are positive pairs, as keys: image i holds the text keys
    ``holds[i]`` (B, K bool), text t has key ``keys[t]`` (T,); pair (i, t) is positive when image
    i holds text t's key. Unlike the dense (B, T) matrix, this gathers across ranks."""

    holds: torch.Tensor
    keys: torch.Tensor

    def dense(self) -> torch.Tensor:
        return self.holds[:, self.keys]

    def gathered(self) -> KeyedPositives:
        return KeyedPositives(gather_batch(self.holds), gather_batch(self.keys))


def info_nce(logits: torch.Tensor, positives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of an (N, M) logit matrix: (CE(rows) + CE(columns)) / 2.

    Without `positives` the matrix is square and its diagonal holds the positive pairs. With
    `positives` (N, M bool, a True on the diagonal of a square matrix or at least one in every
    row and column) each row's target is all of its positives at once:
    -log(sum_pos exp(l) / sum_all exp(l)), and the same down the columns (the multi-positive
    form, for texts shared by several images such as "No pneumothorax.")."""
    if logits.ndim != 2 or (positives is None and logits.shape[0] != logits.shape[1]):
        raise ConfigError(f"info_nce: expected a square matrix, got {tuple(logits.shape)}")
    if positives is None:
        target = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    if positives.shape != logits.shape or not (positives.any(0).all() and positives.any(1).all()):
        raise ConfigError("info_nce: positives must match the logits and mark one in every row"
                          " and column")  # fmt: skip
    masked = logits.masked_fill(~positives, float("-inf"))
    rows = (logits.logsumexp(1) - masked.logsumexp(1)).mean()
    cols = (logits.logsumexp(0) - masked.logsumexp(0)).mean()
    return (rows + cols) / 2


def contrast(
    images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor,
    positives: KeyedPositives | None = None,
) -> torch.Tensor:  # fmt: skip
    """Symmetric InfoNCE of L2-normalised image (B, D) and text (T, D) embeddings of the GLOBAL
    batch (gathered over ranks with `gather_batch`):
    logits ``scale * image @ text.T``; without `positives` image i goes with text i (T == B)."""
    img, txt = gather_batch(images), gather_batch(texts)
    dense = positives.gathered().dense() if positives is not None else None
    return info_nce(img @ txt.t() * scale, dense)


def sigmoid_contrast(
    images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
    positives: KeyedPositives,
) -> torch.Tensor:  # fmt: skip
    """SigLIP's pairwise loss with many positives: every (image, text) pair of the GLOBAL batch
    is its own yes/no question, -log sigmoid(+-(scale * cos + bias)), averaged over the pairs;
    so a rare finding's sentence gets its own gradient instead of sharing a softmax with the
    many easy positives of a row (`positives` says which pairs are yes)."""
    img, txt = gather_batch(images), gather_batch(texts)
    sign = positives.gathered().dense().to(img.dtype) * 2 - 1
    return F.softplus(-sign * (img @ txt.t() * scale + bias)).mean()


def nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1, queue: torch.Tensor | None = None
) -> torch.Tensor:
    """SimCLR NT-Xent over two views (N, D) each (cosine similarity / temperature); `queue`
    (Q, D): extra negatives (a momentum encoder's past keys). Pure: a data-parallel caller passes
    views gathered with `gather_batch`."""
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    n = z1.shape[0]
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    if queue is not None and len(queue):
        sim = torch.cat([sim, z @ F.normalize(queue, dim=-1).t() / temperature], dim=1)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class LogitScale(nn.Module):
    """CLIP's learnable inverse temperature, stored as a log and clamped at `max_scale`."""

    def __init__(self, temperature: float = 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.max_log = math.log(max_scale)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log).exp()


class LocalAlignment(nn.Module):
    """Region selection (top-k of a learned saliency score), sentence→region cross-attention and
    the sentence–region contrastive loss (see the module docstring). Widths: `dim` for both
    sentence and region embeddings (already projected)."""

    def __init__(self, dim: int, *, top_k: int = 8, temperature: float = 0.1) -> None:
        super().__init__()
        if top_k < 1:
            raise ConfigError(f"--top-k {top_k}: expected at least 1 region")
        self.top_k = top_k
        self.select = nn.Linear(dim, 1)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.scale = LogitScale(temperature)

    def select_regions(
        self, regions: torch.Tensor, valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, R, D) regions -> the top-k (B, k, D), weighted by their sigmoid saliency, and the
        indices kept (B, k); `valid` (R,) bool: the only regions that may be kept."""
        score = self.select(regions).squeeze(-1)  # (B, R)
        k = min(self.top_k, regions.shape[1])
        if valid is not None:
            score = score.masked_fill(~valid, float("-inf"))
            k = min(k, int(valid.sum()))
        top, idx = score.topk(k, dim=1)
        kept = regions.gather(1, idx.unsqueeze(-1).expand(-1, -1, regions.shape[-1]))
        return kept * torch.sigmoid(top).unsqueeze(-1), idx

    def attend(self, sentences: torch.Tensor, regions: torch.Tensor):
        """Every report's sentences (B, S, D) over every image's kept regions (B', k, D): the
        attended contexts (B, B', S, D) and the attention weights (B, B', S, k)."""
        q = self.query(sentences)
        k = self.key(regions)
        v = self.value(regions)
        att = torch.einsum("isd,jkd->ijsk", q, k) / math.sqrt(q.shape[-1])
        att = att.softmax(-1)
        ctx = self.out(torch.einsum("ijsk,jkd->ijsd", att, v))
        return ctx, att

    def similarity(
        self, sentences: torch.Tensor, sent_mask: torch.Tensor, regions: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Report i – image j local similarity (B, B'): mean over report i's real sentences of
        cos(sentence, its context in image j)."""
        kept, _ = self.select_regions(regions, valid)
        return self.kept_similarity(sentences, sent_mask, kept)

    def kept_similarity(
        self, sentences: torch.Tensor, sent_mask: torch.Tensor, kept: torch.Tensor
    ) -> torch.Tensor:
        """`similarity` over regions already selected (B', k, D)."""
        ctx, _ = self.attend(sentences, kept)
        cos = F.cosine_similarity(sentences.unsqueeze(1), ctx, dim=-1)  # (B, B', S)
        w = sent_mask.to(cos.dtype).unsqueeze(1)
        return (cos * w).sum(-1) / w.sum(-1).clamp_min(1.0)

    def forward(
        self, sentences: torch.Tensor, sent_mask: torch.Tensor, regions: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """The sentence–region contrastive loss of a batch of pairs (report i with image i).
        Padded sentences are replaced by zeros first, so nothing of theirs flows anywhere;
        `valid` (R,): the regions that may be selected (the others never are). Each image's
        regions are selected on its own rank; sentences, their mask and the kept regions are then
        gathered (`gather_batch`), so the contrast spans the global batch."""
        sentences = sentences * sent_mask.unsqueeze(-1).to(sentences.dtype)
        kept, _ = self.select_regions(regions, valid)
        sim = self.kept_similarity(
            gather_batch(sentences), gather_batch(sent_mask), gather_batch(kept)
        )
        return info_nce(sim.t() * self.scale())  # rows: images, columns: reports

    def sentence_loss(
        self, sentences: torch.Tensor, regions: torch.Tensor, positives: KeyedPositives,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """The sentence–region loss one sentence at a time: each of the T sentences (T, D)
        attends over every image's kept regions, and the multi-positive InfoNCE of the (B, T)
        similarities takes `positives` (which images each sentence is true of) as targets, so a
        sentence's attention must find what sets its images apart from the others. Gathered
        over ranks like `forward`."""
        kept, _ = self.select_regions(regions, valid)
        sents = gather_batch(sentences).unsqueeze(1)
        ones = torch.ones(sents.shape[:2], dtype=torch.bool, device=sents.device)
        sim = self.kept_similarity(sents, ones, gather_batch(kept))  # (T, B)
        return info_nce(sim.t() * self.scale(), positives.gathered().dense())
