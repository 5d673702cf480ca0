"""What one image–text training step sees: one sentence per report (sentence-level contrast) and
augmented images.

- `SentenceBank`: every kept sentence of every report (`report_sentences`), tokenised alone, so
  the text side of the global loss is a sentence, as zero-shot prompts are (ConVIRT / CheXzero
  contrast images with a sentence or the impression, not with a whole report). A step
  contrasts the batch's images with all the sentences of their reports; a sentence is a
  positive for every image in the batch whose report holds the same sentence (case and spacing
  ignored), so "No pneumothorax." of one study is not a negative for another study whose
  report says it too.
- `augment_images`: random zoom-in crop, shift and small rotation (one affine warp, border
  padding) and contrast / brightness, per image, from a seeded generator. Never a horizontal
  flip: left and right carry meaning in radiology reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from radlens.pretrain.losses import KeyedPositives
from radlens.pretrain.negation import hard_pairs
from radlens.pretrain.semantic import semantic_holds
from radlens.pretrain.text import TextBatch, encode_reports, report_sentences
from radlens.reports import label_many

__all__ = ["AUGMENT", "HardNegatives", "SentenceBank", "augment_images", "sentence_key"]

#: augmentation ranges: zoom (side of the crop as a fraction of the image), shift (fraction of
#: the image side), rotation (degrees), contrast factor, brightness offset (in [-1, 1] units)
AUGMENT = {"zoom": (0.8, 1.0), "shift": 0.06, "degrees": 5.0, "contrast": (0.8, 1.2),
           "brightness": 0.1}  # fmt: skip


def sentence_key(sentence: str) -> str:
    """A sentence as compared across reports: lower case, single spaces, no final period."""
    return re.sub(r"\s+", " ", sentence.lower()).strip().rstrip(".").strip()


@dataclass  # not frozen: Fabric casts the tensors of a forward call's arguments in place
class HardNegatives:
    """Pairs of a positive and a hard negative text for image ``owner[h]`` of the batch: their
    tokens (one row per pair each)."""

    owner: torch.Tensor
    positive: TextBatch
    negative: TextBatch


@dataclass
class SentenceBank:
    """All sentences (one `TextBatch` row each), where each report's sentences start and how
    many it has, each sentence's key id, and which keys each report holds (N, K); optionally
    hard pairs (P, 3): [sentence, positive row, negative row] (rows of `hard_text`)."""

    text: TextBatch
    start: torch.Tensor
    count: torch.Tensor
    key: torch.Tensor
    holds: torch.Tensor
    hard: torch.Tensor | None = None
    hard_text: TextBatch | None = None
    #: the local loss's positives where they differ (located readings): key ids and holds
    local_key: torch.Tensor | None = None
    local_holds: torch.Tensor | None = None

    @classmethod
    def build(
        cls, tokenizer, reports: Sequence[str], *, max_len: int, max_sentences: int,
        vocab: str | None = None, assertions: str | None = None, semantic: str | None = None,
        located: bool = False,
    ) -> SentenceBank:  # fmt: skip
        """Split every report into sentences (a report without any: the whole text); with
        `vocab` (a labeler vocabulary) each sentence's negation hard pairs too, but none whose
        negative the report itself holds; `assertions`: the vocabulary of the texts' assertion
        marks (`encode_reports`); `semantic`: a labeler vocabulary that decides positives by
        meaning (`radlens.pretrain.semantic`) instead of by the exact words; `located` (with
        `semantic`): the local loss's positives also by location (``local_key``,
        ``local_holds``)."""
        flat, start, count, keys = [], [], [], []
        for text in reports:
            spans = report_sentences(text)[:max_sentences]
            sentences = [text[a:b] for a, b in spans] or [text]
            start.append(len(flat))
            count.append(len(sentences))
            flat.extend(sentences)
        wording = [sentence_key(s) for s in flat]
        found = label_many(flat, semantic) if semantic is not None else None
        if found is not None:
            keys, holds = semantic_holds(found, start, count, wording)
        else:
            ids: dict[str, int] = {}
            keys = [ids.setdefault(w, len(ids)) for w in wording]
            holds = torch.zeros(len(reports), len(ids), dtype=torch.bool)
            for row, (a, n) in enumerate(zip(start, count, strict=True)):
                holds[row, keys[a : a + n]] = True
        bank = cls(
            encode_reports(tokenizer, flat, max_len=max_len, max_sentences=1,
                           assertions=assertions),
            torch.tensor(start), torch.tensor(count), torch.tensor(keys), holds,
        )  # fmt: skip
        if found is not None and located:
            local_key, local_holds = semantic_holds(found, start, count, wording, located=True)
            bank.local_key, bank.local_holds = torch.tensor(local_key), local_holds
        if vocab is not None:
            bank.hard, bank.hard_text = _hard_pairs(tokenizer, flat, start, count, vocab,
                                                    max_len=max_len,
                                                    assertions=assertions)  # fmt: skip
        return bank

    def to(self, device: torch.device) -> SentenceBank:
        bank = SentenceBank(self.text.to(device), self.start.to(device), self.count.to(device),
                            self.key.to(device), self.holds.to(device))  # fmt: skip
        if self.hard is not None:
            bank.hard, bank.hard_text = self.hard.to(device), self.hard_text.to(device)
        if self.local_key is not None:
            bank.local_key = self.local_key.to(device)
            bank.local_holds = self.local_holds.to(device)
        return bank

    def take(self, rows: torch.Tensor) -> SentenceBank:
        """The bank of some reports only (their sentences keep their key ids)."""
        rows = rows.to(self.start.device)
        pairs = zip(self.start[rows].tolist(), self.count[rows].tolist(), strict=True)
        parts = [torch.arange(a, a + n) for a, n in pairs]
        flat = torch.cat(parts).to(self.start.device)
        count = self.count[rows]
        start = torch.cumsum(count, 0) - count
        hard = None
        if self.hard is not None:
            new = torch.full((len(self.key),), -1, dtype=torch.long, device=flat.device)
            new[flat] = torch.arange(len(flat), device=flat.device)
            hard = self.hard[new[self.hard[:, 0]] >= 0].clone()
            hard[:, 0] = new[hard[:, 0]]
        bank = SentenceBank(self.text.take(flat), start, count, self.key[flat], self.holds[rows],
                            hard, self.hard_text)  # fmt: skip
        if self.local_key is not None:
            bank.local_key, bank.local_holds = self.local_key[flat], self.local_holds[rows]
        return bank

    def draw(self, idx: torch.Tensor):
        """Every sentence of reports `idx` (T in all) as a trimmed `TextBatch`, and the positives
        as keys (`KeyedPositives`; its ``dense()`` is the (B, T) matrix): image i with sentence t
        when report i holds sentence t's key."""
        pick = self._sentences_of(idx)
        batch = self.text.take(pick).trim()
        return batch, KeyedPositives(self.holds[idx], self.key[pick])

    def _sentences_of(self, idx: torch.Tensor) -> torch.Tensor:
        """The flat rows of every sentence of reports `idx`, report by report."""
        pairs = zip(self.start[idx].tolist(), self.count[idx].tolist(), strict=True)
        return torch.cat([torch.arange(a, a + n) for a, n in pairs]).to(idx.device)

    def draw_local(self, idx: torch.Tensor) -> KeyedPositives | None:
        """The local loss's positives of the sentences `draw` gives (None: the same as the global
        loss's)."""
        if self.local_key is None:
            return None
        return KeyedPositives(self.local_holds[idx], self.local_key[self._sentences_of(idx)])

    def draw_hard(self, idx: torch.Tensor) -> HardNegatives | None:
        """The `HardNegatives` of reports `idx` (``owner``: positions in `idx`; None without
        hard pairs in the bank, possibly zero pairs)."""
        if self.hard is None:
            return None
        owner_of = torch.full((len(self.key),), -1, dtype=torch.long, device=idx.device)
        for pos, (a, n) in enumerate(zip(self.start[idx].tolist(), self.count[idx].tolist(),
                                         strict=True)):  # fmt: skip
            owner_of[a : a + n] = pos
        owner = owner_of[self.hard[:, 0]]
        rows = self.hard[owner >= 0]
        return HardNegatives(owner[owner >= 0], self.hard_text.take(rows[:, 1]).trim(),
                             self.hard_text.take(rows[:, 2]).trim())  # fmt: skip


def _hard_pairs(tokenizer, flat, start, count, vocab: str, *, max_len: int,
                assertions: str | None = None):  # fmt: skip
    """Each sentence's hard pairs [sentence, positive row, negative row] (P, 3), but none whose
    negative its report holds, and the tokens of the distinct texts."""
    memo: dict[str, list[tuple[str, str]]] = {}
    rows: dict[str, int] = {}
    out = []
    for a, n in zip(start, count, strict=True):
        own = {sentence_key(s) for s in flat[a : a + n]}
        for i in range(a, a + n):
            key = sentence_key(flat[i])
            if key not in memo:
                memo[key] = hard_pairs(flat[i], vocab)
            for pos, neg in memo[key]:
                if sentence_key(neg) not in own:
                    out.append(
                        [i, rows.setdefault(pos, len(rows)), rows.setdefault(neg, len(rows))]
                    )
    texts = list(rows) or ["."]
    table = torch.tensor(out, dtype=torch.long).reshape(-1, 3)
    return table, encode_reports(tokenizer, texts, max_len=max_len, max_sentences=1,
                                 assertions=assertions)  # fmt: skip


def augment_images(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per image of a float (B, C, H, W) batch in [-1, 1]: a random zoom-in crop, shift and
    rotation (bilinear, border padding) and a contrast / brightness change. No flips. Volumes
    (B, C, D, H, W) get the contrast / brightness change only."""
    b = images.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        u = torch.rand(b, generator=gen, device=gen.device).to(images.device)
        return lo + (hi - lo) * u

    out = images
    if images.ndim == 4:
        out = _warp(images, uniform)
    contrast = uniform(*AUGMENT["contrast"]).view(b, *[1] * (images.ndim - 1))
    brightness = uniform(-AUGMENT["brightness"], AUGMENT["brightness"]).view(
        b, *[1] * (images.ndim - 1)
    )
    mean = out.mean(dim=tuple(range(1, images.ndim)), keepdim=True)
    return ((out - mean) * contrast + mean + brightness).clamp(-1.0, 1.0)


def _warp(images: torch.Tensor, uniform) -> torch.Tensor:
    zoom = uniform(*AUGMENT["zoom"])
    angle = uniform(-AUGMENT["degrees"], AUGMENT["degrees"]) * math.pi / 180
    shift = AUGMENT["shift"] * 2  # grid coordinates span [-1, 1]
    tx, ty = uniform(-shift, shift), uniform(-shift, shift)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
