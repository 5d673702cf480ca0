"""`radlens pretrain image-text`: a cohort's image–report pairs -> a pretrained `ImageTextModel`.

RUN/ holds tokenizer.json (trained here on the training split's reports, plus an optional corpus
folder), checkpoint.pt (best weights; its backbone tensors are what `radlens train --init RUN`
loads), last.pt (full state for --resume) and pretrain.json (history, pairs/s). The checkpoint's
``config`` rebuilds the model and says how images were loaded, so zero-shot scoring prepares
new images the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from radlens.core import CHECKPOINT, LAST
from radlens.errors import ConfigError, ModelError
from radlens.pretrain.batches import SentenceBank, augment_images
from radlens.pretrain.image import ENCODER_PREFIX
from radlens.pretrain.loop import PretrainOptions, PretrainResult, fit
from radlens.pretrain.model import ImageTextConfig, ImageTextModel
from radlens.pretrain.pairs import Pairs, load_pairs
from radlens.pretrain.text import (
    TOKENIZER_FILE,
    TextBatch,
    corpus_texts,
    encode_reports,
    load_tokenizer,
    train_tokenizer,
)
from radlens.reports import available_vocabularies, load_vocabulary
from radlens.training import normalise

__all__ = [
    "ImageTextRun",
    "PairData",
    "PairObjective",
    "load_image_text",
    "prepare_out",
    "pretrain_image_text",
    "pretrain_meta",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairData:
    """Which columns hold the pairs and how images are loaded (stored in the checkpoint)."""

    image_column: str
    report_column: str = "report_text"
    size: int = 224
    shape: tuple[int, int, int] = (64, 128, 128)
    window: str | None = "lung"
    seed: int = 0

    def load(self, cohort: str | Path) -> Pairs:
        return load_pairs(cohort, **{f.name: getattr(self, f.name) for f in fields(self)})


class PairObjective:
    """Image–text losses over device-resident images and pre-tokenised reports; with a
    `SentenceBank` per part, the global loss takes the reports' sentences one by one, and with
    `augment` training images are augmented (`radlens.pretrain.batches`)."""

    def __init__(
        self, parts: dict[str, tuple[torch.Tensor, TextBatch]],
        banks: dict[str, SentenceBank] | None = None, augment: bool = False,
    ) -> None:  # fmt: skip
        self.parts = parts
        self.banks = banks or {}
        self.augment = augment

    def to(self, device: torch.device) -> None:
        self.parts = {k: (x.to(device), t.to(device)) for k, (x, t) in self.parts.items()}
        self.banks = {k: b.to(device) for k, b in self.banks.items()}

    def n_rows(self, part: str) -> int:
        return len(self.parts[part][0]) if part in self.parts else 0

    def example(self) -> torch.Tensor:
        """One training image, as the model sees it (for `guard_bf16_convs`)."""
        return normalise(self.parts["train"][0][:1])

    def losses(self, model, idx, gen, part: str = "train") -> dict[str, torch.Tensor]:
        images, text = self.parts[part]
        batch = text.take(idx).trim()
        x = normalise(images[idx])
        if self.augment and gen is not None and part == "train":
            x = augment_images(x, gen)
        if part not in self.banks:
            return model(x, batch)
        bank = self.banks[part]
        sentences, positives = bank.draw(idx)
        return model(x, batch, sentences, positives, bank.draw_hard(idx), bank.draw_local(idx))


def pretrain_meta(kind: str, model_config: dict[str, Any], extra: dict[str, Any]) -> dict:
    """Checkpoint keys beside the weights: what `radlens train --init` needs (task, label names,
    config["model"], the backbone's tensor prefix) and what rebuilds the pretraining model."""
    return {
        "task": "multi-label",
        "label_names": ["pretrained"],
        "ordinal_loss": "ce",
        "encoder_prefix": ENCODER_PREFIX,
        "pretrain": kind,
        "config": {**model_config, **extra},
    }


def prepare_out(out: Path, resume: bool) -> None:
    """A new run folder (refused when it holds a run), or the existing one on resume."""
    if resume:
        return
    if (out / LAST).exists() or (out / CHECKPOINT).exists():
        raise ConfigError(f"--out {out}: already holds a run; use --resume or another folder")
    out.mkdir(parents=True, exist_ok=True)


#: a user's own labeler vocabulary (`--negation-vocab FILE`) is copied into the run under this
#: name, so the run reads texts the same way wherever it is moved
RUN_VOCAB = "negation_vocab.yaml"


def _keep_vocabulary(config: ImageTextConfig, out: Path, resume: bool) -> ImageTextConfig:
    """`config` reading its marks / counterparts with the run's copy of a user vocabulary file
    (a packaged vocabulary, or one the run does not use, is kept as named)."""
    name = config.negation_vocab
    if name in available_vocabularies() or not (config.assertion_marks or config.hard_negatives):
        return config
    copy = out / RUN_VOCAB
    if not (resume and copy.is_file()):
        load_vocabulary(name)  # a missing or malformed file: a clear error before training
        part = copy.with_name(f"{RUN_VOCAB}.{os.getpid()}.part")  # DDP: each rank copies
        shutil.copyfile(name, part)
        os.replace(part, copy)  # atomic: no rank reads a half-written copy
    return replace(config, negation_vocab=str(copy.resolve()))


def pretrain_image_text(
    cohort: str | Path,
    out: str | Path,
    *,
    data: PairData,
    model: ImageTextConfig = ImageTextConfig(),
    options: PretrainOptions = PretrainOptions(),
    corpus: str | Path | None = None,
    vocab_size: int = 2000,
) -> PretrainResult:
    """Pretrain image–text on the cohort's train split (validation loss on its val split)."""
    out = Path(out)
    prepare_out(out, options.resume)
    pairs = data.load(cohort)
    train, val = pairs.rows("train"), pairs.rows("val")
    if len(train) < 2:
        raise ConfigError(f"{cohort}: {len(train)} training pairs; contrastive learning needs 2+")
    if options.resume:
        tokenizer = load_tokenizer(out / TOKENIZER_FILE)
    else:
        texts = [pairs.texts[i] for i in train]
        extra = corpus_texts(corpus) if corpus else []
        tokenizer = train_tokenizer(texts + extra, vocab_size=vocab_size)
        tokenizer.save(str(out / TOKENIZER_FILE))
    config = ImageTextConfig(**{
        **asdict(_keep_vocabulary(model, out, options.resume)),
        "vocab_size": tokenizer.get_vocab_size(),
        "spatial_dims": pairs.spatial_dims, "in_channels": int(pairs.images.shape[1]),
    })  # fmt: skip
    text = encode_reports(tokenizer, pairs.texts, max_len=config.max_len,
                          max_sentences=config.max_sentences,
                          assertions=config.assertion_vocab)  # fmt: skip
    parts = {"train": (pairs.images[train], text.take(torch.from_numpy(train)))}
    if len(val) >= 2:
        parts["val"] = (pairs.images[val], text.take(torch.from_numpy(val)))
    banks = {}
    if config.sentence_level:
        vocab = config.negation_vocab if config.hard_negatives else None
        bank = SentenceBank.build(tokenizer, pairs.texts, max_len=config.max_len,
                                  max_sentences=config.max_sentences, vocab=vocab,
                                  assertions=config.assertion_vocab,
                                  semantic=config.negation_vocab if config.semantic_positives
                                  else None,
                                  located=config.local and config.local_sentences)  # fmt: skip
        banks = {k: bank.take(torch.from_numpy(rows)) for k, rows in
                 (("train", train), ("val", val)) if k in parts}  # fmt: skip
    torch.manual_seed(options.seed)
    net = ImageTextModel(config)
    if config.local and (n := net.kept_regions(tuple(pairs.images.shape[1:]))) < 4:
        logger.warning("the local branch sees %d region(s) per image (%s at %s, border ring %d):"
                       " sentence-region alignment needs a finer feature map (a larger --size, "
                       "no --imagenet-stem, or --model resnet_mini)", n, config.model,
                       tuple(pairs.images.shape[2:]), config.ring)  # fmt: skip
    data_dict = {**asdict(data), "shape": list(data.shape), "cohort": str(cohort)}
    stored = config.to_dict()
    if config.negation_vocab != model.negation_vocab:  # the run's copy, found beside checkpoint.pt
        stored["negation_vocab"] = RUN_VOCAB
    meta = pretrain_meta("image-text", stored, {"data": data_dict})
    logger.info("image-text pretraining: %d train / %d val pairs, %s, local=%s",
                len(train), len(val), config.model, config.local)  # fmt: skip
    return fit(out, net, PairObjective(parts, banks, config.augment), meta, options)


@dataclass
class ImageTextRun:
    """A pretrained image–text run, ready to embed images and texts."""

    run_dir: Path
    model: ImageTextModel
    tokenizer: Any
    data: PairData


def load_image_text(run_dir: str | Path) -> ImageTextRun:
    """The best weights of an image-text run (checkpoint.pt), its tokenizer and data settings."""
    run_dir = Path(run_dir)
    file = run_dir / CHECKPOINT
    if not file.is_file():
        raise ModelError(f"{run_dir}: no {CHECKPOINT} (made by radlens pretrain image-text)")
    ckpt = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("pretrain") != "image-text":
        raise ModelError(f"{file}: not an image-text pretraining checkpoint")
    cfg = dict(ckpt["config"])
    cfg.setdefault("assertion_marks", False)  # runs made before assertion marks had none
    # runs made before these settings existed were trained the old way
    for key, old in (("semantic_positives", False), ("local_sentences", False),
                     ("local_stage", 4), ("global_loss", "infonce")):  # fmt: skip
        cfg.setdefault(key, old)
    if cfg.get("negation_vocab") == RUN_VOCAB:
        cfg["negation_vocab"] = str((run_dir / RUN_VOCAB).resolve())
        if not (run_dir / RUN_VOCAB).is_file():
            raise ModelError(
                f"{run_dir}: no {RUN_VOCAB} (the labeler vocabulary the run read "
                "its reports with, copied there by radlens pretrain image-text)"
            )
    data = cfg.pop("data")
    data.pop("cohort", None)
    data["shape"] = tuple(data["shape"])
    model = ImageTextModel(ImageTextConfig(**cfg))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return ImageTextRun(run_dir, model, load_tokenizer(run_dir / TOKENIZER_FILE), PairData(**data))
