"""The text side of image–text pretraining: a WordPiece tokenizer trained here on the cohort's
reports (optionally plus a corpus folder of ``.txt`` files), and a small transformer encoder that
gives token, sentence and report embeddings.

Sentences come from the labeler's rules (`radlens.reports`: section headers and
sentence boundaries) through `report_sentences`; sections such as *indication* or *history*
are dropped). A report is
tokenised once; each token is assigned to the sentence its characters fall in, and a sentence's
embedding is the mean of its tokens. Padding is masked everywhere: the transformer's
``src_key_padding_mask``, the report mean and the sentence means.

Assertion marks (`encode_reports(..., assertions=VOCAB)`): each token inside a finding mention
that the labeler reads in that text gets the mention's status (present / absent / uncertain;
`ASSERTION_CODES`), and the encoder adds a learned embedding per status to the token's. Without
them a text encoder trained from scratch on a few hundred reports embeds "No pneumothorax." on top
of "Pneumothorax." (cosine 0.98-0.999 in benchmarks/results/zeroshot_negation.json), so a
zero-shot softmax between the two is chance; with them the negation is in the input, as in the
assertion-tagged inputs of clinical NLP (NegEx scope marking). The marks come from the report
text alone (the labeler's rules), never from image labels.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from torch import nn

from radlens.errors import ConfigError, DataError
from radlens.reports import NON_REPORTING, find_sections, label_many, split_sentences

__all__ = [
    "ASSERTION_CODES",
    "SPECIAL_TOKENS",
    "TOKENIZER_FILE",
    "TextBatch",
    "TextEncoder",
    "assertion_marks",
    "corpus_texts",
    "encode_reports",
    "load_tokenizer",
    "mentions",
    "report_sentences",
    "sentence_means",
    "train_tokenizer",
]

TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: a token's assertion mark: 0 outside every finding mention, else the mention's status
ASSERTION_CODES = {"present": 1, "absent": 2, "uncertain": 3}


def corpus_texts(folder: str | Path) -> list[str]:
    """Every ``.txt`` file under `folder` (recursively), as one text each."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--corpus {root}: no such folder (expected a folder of .txt reports)")
    texts = [p.read_text(errors="replace") for p in sorted(root.rglob("*.txt"))]
    if not texts:
        raise DataError(f"--corpus {root}: no .txt files in it")
    return texts


def report_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the report's sentences outside the non-reporting sections
    (indication, history, technique, comparison), a section header cut off its sentence."""
    starts, names = find_sections(text) if ":" in text else ([0], ["findings"])
    out = []
    for start, end in split_sentences(text):
        k = max(i for i, s in enumerate(starts) if s <= max(start, end - 1))
        if names[k] in NON_REPORTING:
            continue
        start = max(start, starts[k])
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            out.append((start, end))
    return out


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 2000, min_frequency: int = 1):
    """A lower-casing WordPiece tokenizer (BERT-style pre-tokenisation) whose vocabulary is built
    deterministically from `texts`: the special tokens, every character seen (word-initial and
    ``##`` continuation, so any word of those characters is encodable), then whole words by
    descending count (ties alphabetical, count >= `min_frequency`) up to `vocab_size`.

    The same texts always give the same ids, in any process (the `tokenizers` WordPiece trainer
    breaks ties between equally frequent merges differently from run to run, which made
    same-seed pretraining runs differ)."""
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(SPECIAL_TOKENS)},
                                     unk_token="[UNK]"))  # fmt: skip
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    counts: Counter[str] = Counter()
    for text in texts:
        words = tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))
        counts.update(w for w, _ in words)
    chars = sorted({c for w in counts for c in w})
    vocab = [*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars)]
    seen = set(vocab)
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size or n < min_frequency:
            break
        if word not in seen:
            vocab.append(word)
    tok.model = models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]")
    return tok


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer a run saved (``RUN/tokenizer.json``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no tokenizer (written by radlens pretrain image-text)")
    return Tokenizer.from_file(str(path))


@dataclass
class TextBatch:
    """Token ids (B, L), their padding mask (True = real token), each token's sentence index
    (-1: special token, padding or a token outside any kept sentence), `n_sentences` (B,) and
    each token's assertion mark (B, L; `ASSERTION_CODES`, 0 everywhere without marks); `marks`:
    the labeler vocabulary that read the marks (None: the texts were encoded without marks)."""

    ids: torch.Tensor
    mask: torch.Tensor
    sentence: torch.Tensor
    n_sentences: torch.Tensor
    status: torch.Tensor
    marks: str | None = None

    def to(self, device: torch.device | str) -> TextBatch:
        return TextBatch(*(t.to(device) for t in (self.ids, self.mask, self.sentence,
                                                   self.n_sentences, self.status)),
                         marks=self.marks)  # fmt: skip

    def take(self, index: torch.Tensor) -> TextBatch:
        return TextBatch(self.ids[index], self.mask[index], self.sentence[index],
                         self.n_sentences[index], self.status[index], self.marks)  # fmt: skip

    def trim(self) -> TextBatch:
        """The batch without the columns that are padding in every row."""
        width = int(self.mask.sum(1).max()) if len(self.ids) else 1
        return TextBatch(self.ids[:, :width], self.mask[:, :width], self.sentence[:, :width],
                         self.n_sentences, self.status[:, :width], self.marks)  # fmt: skip


def _sentence_of(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    out = []
    for start, end in offsets:
        idx = -1
        if end > start:
            for s, (a, b) in enumerate(spans):
                if a <= start < b:
                    idx = s
                    break
        out.append(idx)
    return out


def mentions(texts: Sequence[str], vocab: str) -> list[list[tuple[int, int, str]]]:
    """Every finding mention of each text as (start, end, status): the labeler reads each
    sentence on its own, so a finding said twice (findings and impression) is marked twice,
    and a sentence is marked as it would be alone (the labeler's per-report decision keeps one
    span per finding and lets one sentence overrule another)."""
    flat, owner = [], []
    for i, text in enumerate(texts):
        for a, b in split_sentences(text):
            flat.append(text[a:b])
            owner.append((i, a))
    out: list[list[tuple[int, int, str]]] = [[] for _ in texts]
    for (i, a), found in zip(owner, label_many(flat, vocab), strict=True):
        out[i].extend((a + f.span[0], a + f.span[1], f.status) for f in found)
    return out


def assertion_marks(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]]
) -> list[int]:
    """Each token's assertion mark (`ASSERTION_CODES`): the status of the mention (`mentions`)
    its characters overlap, 0 outside every mention."""
    marks = [0] * len(offsets)
    for a, b, status in spans:
        code = ASSERTION_CODES[status]
        for i, (start, end) in enumerate(offsets):
            if start < b and end > a and end > start:
                marks[i] = code
    return marks


def encode_reports(
    tokenizer: Tokenizer, texts: Sequence[str], *, max_len: int = 128, max_sentences: int = 16,
    assertions: str | None = None,
) -> TextBatch:  # fmt: skip
    """Tokenise reports ([CLS] text [SEP], truncated to `max_len`, padded to the longest), mark
    each token's sentence (at most `max_sentences` sentences per report) and, with `assertions`
    (a labeler vocabulary), each token's assertion mark (see the module docstring)."""
    if max_len < 4:
        raise ConfigError(f"max_len: {max_len}; expected at least 4 tokens")
    cls_id, sep_id, pad_id = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    rows, sents, counts, marks = [], [], [], []
    found = mentions(texts, assertions) if assertions else [[] for _ in texts]
    for text, spans_of in zip(texts, found, strict=True):
        spans = report_sentences(text)[:max_sentences]
        enc = tokenizer.encode(text, add_special_tokens=False)
        ids = enc.ids[: max_len - 2]
        owner = _sentence_of(enc.offsets[: len(ids)], spans)
        rows.append([cls_id, *ids, sep_id])
        sents.append([-1, *owner, -1])
        marks.append([0, *assertion_marks(enc.offsets[: len(ids)], spans_of), 0])
        counts.append(max(owner, default=-1) + 1)
    width = max(len(r) for r in rows)
    ids_t = torch.full((len(rows), width), pad_id, dtype=torch.long)
    sent_t = torch.full((len(rows), width), -1, dtype=torch.long)
    mark_t = torch.zeros((len(rows), width), dtype=torch.long)
    mask_t = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (r, s, m) in enumerate(zip(rows, sents, marks, strict=True)):
        ids_t[i, : len(r)] = torch.tensor(r)
        sent_t[i, : len(s)] = torch.tensor(s)
        mark_t[i, : len(m)] = torch.tensor(m)
        mask_t[i, : len(r)] = True
    n_sent = torch.tensor(counts, dtype=torch.long)
    return TextBatch(ids_t, mask_t, sent_t, n_sent, mark_t, marks=assertions or None)


class TextEncoder(nn.Module):
    """Token embedding + learned positions + `nn.TransformerEncoder` (pre-norm, GELU).

    `forward` returns token embeddings (B, L, D), the report embedding (B, D: the mean of the real
    tokens) and sentence embeddings (B, S, D) with their mask (B, S): padding never contributes.
    With `assertions` (the labeler vocabulary of its marks) it adds a learned embedding per
    assertion mark and takes only batches marked with that vocabulary; without, only unmarked
    batches.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        width: int = 128,
        layers: int = 2,
        heads: int = 4,
        max_len: int = 128,
        dropout: float = 0.1,
        assertions: str | None = None,
    ) -> None:
        super().__init__()
        self.width = width
        self.marks = assertions or None
        self.max_len = max_len
        self.token = nn.Embedding(vocab_size, width)
        #: learned embedding of each assertion mark (`ASSERTION_CODES`), when the run uses them
        self.assertion = nn.Embedding(len(ASSERTION_CODES) + 1, width) if assertions else None
        self.position = nn.Parameter(torch.randn(max_len, width) / math.sqrt(width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def tokens(
        self, ids: torch.Tensor, mask: torch.Tensor, status: torch.Tensor | None = None
    ) -> torch.Tensor:
        if ids.shape[1] > self.max_len:
            raise ConfigError(f"text of {ids.shape[1]} tokens; the encoder takes {self.max_len}")
        x = self.token(ids) + self.position[: ids.shape[1]]
        if self.assertion is not None and status is not None:
            x = x + self.assertion(status)
        x = self.encoder(x, src_key_padding_mask=~mask)
        return self.norm(x)

    def forward(self, batch: TextBatch, max_sentences: int | None = None):
        if batch.marks != self.marks:
            raise ConfigError(
                f"texts encoded with assertion marks {batch.marks!r}, but this text encoder reads "
                f"{self.marks!r}: encode them with encode_reports(..., assertions="
                f"model.config.assertion_vocab)"
            )
        tokens = self.tokens(batch.ids, batch.mask, batch.status)
        weights = batch.mask.to(tokens.dtype).unsqueeze(-1)
        report = (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        sentences, sent_mask = sentence_means(tokens, batch.sentence, max_sentences)
        return tokens, report, sentences, sent_mask


def sentence_means(
    tokens: torch.Tensor, sentence: torch.Tensor, max_sentences: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token embedding per sentence index (B, S, D) and which sentences exist (B, S);
    tokens with index -1 (special, padding) are left out."""
    n = int(sentence.max().item()) + 1 if max_sentences is None else max_sentences
    n = max(n, 1)
    onehot = (sentence.unsqueeze(-1) == torch.arange(n, device=sentence.device)).to(tokens.dtype)
    counts = onehot.sum(1)  # (B, S)
    sums = torch.einsum("bls,bld->bsd", onehot, tokens)
    return sums / counts.clamp_min(1.0).unsqueeze(-1), counts > 0
