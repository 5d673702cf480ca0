"""`radlens zeroshot`: score findings without labels, from an image–text run.

Prompts per label come from the YAML file's ``phrases`` for the finding (report-style wording,
e.g. "enlarged cardiac silhouette"), else the vocabulary (the finding's name and first synonym),
with a location's name for "finding@location" labels, put into the templates of the YAML file
(`prompts.yaml` in this package by default; keys ``positive``, ``negative`` and optionally
``located`` and ``phrases``). Each side's prompt embeddings are averaged (CLIP's prompt
ensembling). The score (`SCORES`) is either the softmax of the image's similarity to the positive
side against the negative side ("margin", CLIP's rule: InfoNCE learns only relative
similarities), or the positive side's own pair probability ("positive", SigLIP's rule: the
sigmoid loss trains every image–sentence pair as its own yes/no question, so a positive prompt's
logit needs no counterpart; and reports often never negate a finding, e.g. atelectasis, so its
negative prompts are text the model never saw). "auto": positive for runs pretrained with the
sigmoid loss, margin otherwise. Targets are the cohort's ``true:<id>``
columns where it has them, else the labeler's labels of its reports (uncertain = unknown). The
predictions table has the format of a training run's, so `radlens evaluate OUT` reports AUROC
with DeLong CIs on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from radlens.core import PREDICTIONS, atomic_write_json, look_up_option, suggest, write_predictions
from radlens.data import LOCATION_SEP, TRUTH_PREFIX
from radlens.errors import ConfigError
from radlens.models import Task, predictions_to_frame
from radlens.pretrain.image_text import ImageTextRun, load_image_text
from radlens.pretrain.model import inner_cells
from radlens.pretrain.region_maps import sentence_embeddings
from radlens.pretrain.text import encode_reports, mentions
from radlens.reports import available_vocabularies, cohort_labels, label_many, load_vocabulary
from radlens.training import inference_device, normalise

__all__ = ["DEFAULT_PROMPTS", "SCORES", "SIMILARITIES", "Prompts", "ZeroShotResult",
           "label_prompts", "load_prompts", "local_margins", "margin_scores", "side_margins",
           "unread_prompts", "zero_shot"]  # fmt: skip

logger = logging.getLogger(__name__)
DEFAULT_PROMPTS = Path(__file__).with_name("prompts.yaml")
SUMMARY = "zeroshot.json"
#: what a zero-shot score compares: global embeddings, the local branch, or both added (on the
#: benchmark's unseen seed 8111: 0.640 / 0.653 / 0.684 mean AUROC; benchmarks/results/README.md)
SIMILARITIES = ("global", "local", "both")
#: how a label's two prompt sides make a score (module docstring); "auto" picks by the run's loss
SCORES = ("margin", "positive")
KEYS = ("positive", "negative", "located", "phrases")


@dataclass(frozen=True)
class Prompts:
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    located: tuple[str, ...]
    phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _templates(raw: dict, key: str, path: Path, needs: Sequence[str], required: bool):
    value = raw.get(key)
    if value is None and not required:
        return ()
    expected = f"a list of strings, each containing {' and '.join('{' + n + '}' for n in needs)}"
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: key {key!r}: expected {expected}, got {value!r}")
    for item in value:
        if not isinstance(item, str) or any("{" + n + "}" not in item for n in needs):
            raise ConfigError(f"{path}: key {key!r}: item {item!r}: expected {expected}")
        try:
            item.format(finding="x", location="y")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"{path}: key {key!r}: item {item!r}: bad placeholder ({exc}); expected {expected}"
            ) from None
    return tuple(value)


def load_prompts(path: str | Path | None = None) -> Prompts:
    """The prompt templates of a YAML file (default: the package's prompts.yaml), checked."""
    path = Path(path) if path is not None else DEFAULT_PROMPTS
    if not path.is_file():
        raise ConfigError(f"--prompts {path}: no such file (expected a YAML file of templates)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with keys positive, negative, located")
    unknown = set(raw) - set(KEYS)
    if unknown:
        look_up_option(sorted(unknown)[0], KEYS, what=f"{path}: key")
    return Prompts(
        positive=_templates(raw, "positive", path, ("finding",), True),
        negative=_templates(raw, "negative", path, ("finding",), True),
        located=_templates(raw, "located", path, ("finding", "location"), False),
        phrases=_phrases(raw.get("phrases"), path),
    )


def _phrases(value: object, path: Path) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    expected = "a mapping of finding id -> a non-empty list of phrases"
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: key 'phrases': expected {expected}, got {value!r}")
    for finding, items in value.items():
        if (not isinstance(items, list) or not items
                or not all(isinstance(x, str) and x.strip() for x in items)):  # fmt: skip
            raise ConfigError(f"{path}: key 'phrases': {finding!r}: {items!r}; expected {expected}")
    return {str(k): tuple(v) for k, v in value.items()}


def unknown_finding(finding: str, label: str, vocab) -> str:
    """Why `finding` has no prompts: not in `vocab`; names a shipped vocabulary that has it
    (a CT cohort's truth columns under the default chest_xr one) and the --findings way out."""
    others = [
        name
        for name in available_vocabularies()
        if name != vocab.name and finding in load_vocabulary(name).abnormalities
    ]
    there = f"; the {others[0]} vocabulary has it (--vocab {others[0]})" if others else ""
    return (
        f"finding {finding!r} of label {label!r} is not in the {vocab.name} vocabulary"
        f"{suggest(finding, list(vocab.abnormalities))}{there} (choose the findings to score"
        " with --findings)"
    )


def label_prompts(label: str, vocab, prompts: Prompts) -> tuple[list[str], list[str]]:
    """Positive and negative prompts of one label ("finding" or "finding@location")."""
    finding, _, location = label.partition(LOCATION_SEP)
    abn = vocab.abnormalities.get(finding)
    if abn is None:
        raise ConfigError(unknown_finding(finding, label, vocab))
    phrases = list(prompts.phrases.get(finding)
                   or dict.fromkeys([abn.name.lower(), *abn.synonyms[:1]]))  # fmt: skip
    negative = [t.format(finding=p) for t in prompts.negative for p in phrases]
    if location:
        loc = vocab.locations.get(location)
        if loc is None:
            look_up_option(location, vocab.locations, what=f"location of label {label!r}")
        located = prompts.located or tuple(f"{{location}} {t}" for t in prompts.positive)
        positive = [t.format(finding=p, location=loc.name) for t in located for p in phrases]
    else:
        positive = [t.format(finding=p) for t in prompts.positive for p in phrases]
    return positive, negative


def unread_prompts(labels: Sequence[str], pos_neg, vocab: str | None) -> list[str]:
    """The prompts a marked run's labeler vocabulary does not read as meant: a positive prompt
    with no finding mention read as present, a negative one with none read as absent (the text
    encoder then sees them as text without a finding). Empty for a run without marks."""
    if vocab is None:
        return []
    out = []
    for label, sides in zip(labels, pos_neg, strict=True):
        for texts, want in zip(sides, ("present", "absent"), strict=True):
            for text, found in zip(texts, mentions(texts, vocab), strict=True):
                if not any(status == want for _, _, status in found):
                    out.append(f"{label}: {text!r} (no mention read as {want})")
    return out


@torch.no_grad()
def _side(run: ImageTextRun, texts: list[str]) -> torch.Tensor:
    config = run.model.config
    batch = encode_reports(run.tokenizer, texts, max_len=config.max_len,
                           assertions=config.assertion_vocab)  # fmt: skip
    emb = run.model.embed_texts(batch.to(run.model.device)).mean(0)
    return emb / emb.norm().clamp_min(1e-8)


@torch.no_grad()
def side_margins(
    images: torch.Tensor, sides: torch.Tensor, scale: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:  # fmt: skip
    """Global margins (N, L) float64: ``scale * image . (positive side - negative side)`` of each
    label's side embeddings (`sides` (L, 2, D)); with `bias` (score "positive") the positive
    side's own logit ``scale * image . positive side + bias`` instead."""
    logits = torch.einsum("nd,lsd->nls", images, sides).double().cpu() * float(scale)
    if bias is not None:
        return logits[..., 0] + float(bias)
    return logits[..., 0] - logits[..., 1]


def margin_scores(margins: torch.Tensor) -> np.ndarray:
    """P(positive side) per image and label from float64 margins (`side_margins`,
    `local_margins` or their sum): the sigmoid, i.e. the softmax between the two sides, kept in
    float64: a float32 softmax rounds every margin above ~17 logits to 1.0 (float64: above ~37),
    and tied scores lose the ranking that AUROC measures."""
    return torch.sigmoid(margins.double()).numpy()


@torch.no_grad()
def local_margins(
    run: ImageTextRun, kept: torch.Tensor, pos_neg, positive_only: bool = False
) -> torch.Tensor:
    """Local margins (N, L) float64 (GLoRIA's local zero-shot similarity): each prompt, as a
    sentence in the local space, attends over every image's kept regions (`kept` (N, k, D),
    `LocalAlignment.select_regions`); the cosine of the sentence and its attended context,
    averaged over a side's prompts, positive side minus negative (`positive_only`: the positive
    side alone), times the local scale."""
    model = run.model
    cols = []
    for sides in pos_neg:
        sims = []
        for texts in sides[:1] if positive_only else sides:
            emb = sentence_embeddings(model, run.tokenizer, texts)[:, None, :]  # (P, 1, D)
            mask = torch.ones(emb.shape[:2], dtype=torch.bool, device=emb.device)
            sims.append(model.local.kept_similarity(emb, mask, kept).mean(0))  # (N,)
        sim = sims[0] if positive_only else sims[0] - sims[1]
        cols.append(sim.double().cpu() * float(model.local.scale()))
    return torch.stack(cols, 1)


@torch.no_grad()
def _image_embeddings(run: ImageTextRun, images: torch.Tensor, local: bool, batch_size: int = 64):
    """Global embeddings (N, D) and, with `local`, each image's kept regions (N, k, D)."""
    model, glob, kept = run.model, [], []
    for i in range(0, len(images), batch_size):
        fmap, pooled = model.image(normalise(images[i : i + batch_size].to(model.device)))
        glob.append(model.image_proj(pooled))
        if local:
            inner = inner_cells(fmap.shape[2:], model.config.ring).to(fmap.device)
            kept.append(model.local.select_regions(model.regions(fmap), inner)[0])
    return torch.cat(glob), (torch.cat(kept) if local else None)


def _targets(pairs, rows: np.ndarray, labels: Sequence[str], vocab_source: str) -> np.ndarray:
    table = pairs.table
    if all(f"{TRUTH_PREFIX}{n}" in table for n in labels):
        return table.loc[rows, [f"{TRUTH_PREFIX}{n}" for n in labels]].to_numpy(np.float64)
    findings = label_many([pairs.texts[i] for i in rows], vocab=vocab_source)
    wanted = list(dict.fromkeys(n.split(LOCATION_SEP)[0] for n in labels))
    names, matrix = cohort_labels(findings, abnormalities=wanted, min_location_positives=1)
    col = {n: i for i, n in enumerate(names)}
    return np.stack([matrix[:, col[n]] if n in col else np.full(len(rows), np.nan)
                     for n in labels], axis=1).astype(np.float64)  # fmt: skip


@dataclass
class ZeroShotResult:
    out: Path
    labels: tuple[str, ...]
    n_images: int
    similarity: str = "global"
    score: str = "margin"


def _rules(run: ImageTextRun, run_dir, similarity: str, score: str) -> tuple[str, str]:
    """The similarity and score rules `zero_shot` uses for this run ("auto" resolved)."""
    look_up_option(similarity, (*SIMILARITIES, "auto"), what="--similarity")
    look_up_option(score, (*SCORES, "auto"), what="--score")
    config = run.model.config
    if similarity == "auto":
        similarity = "both" if config.local else "global"
    if similarity != "global" and not config.local:
        raise ConfigError(f"--similarity {similarity} needs the local branch; {run_dir} was"
                          " pretrained with --no-local (use --similarity global)")  # fmt: skip
    if score == "auto":
        score = "positive" if config.global_loss == "sigmoid" else "margin"
    if score == "positive" and similarity != "local" and config.global_loss != "sigmoid":
        raise ConfigError(f"--score positive needs a run pretrained with --global-loss sigmoid "
                          f"(its pair bias); {run_dir} used {config.global_loss} (use --score "
                          "margin, or --similarity local)")  # fmt: skip
    return similarity, score


def zero_shot(
    run_dir: str | Path, cohort: str | Path, out: str | Path, *, split: str = "test",
    findings: Sequence[str] | None = None, prompts: str | Path | None = None,
    vocab: str = "chest_xr", similarity: str = "auto", score: str = "auto", device: str = "auto",
) -> ZeroShotResult:  # fmt: skip
    """Score `split` of `cohort` with the run's prompts; write OUT/predictions.parquet.
    `similarity`: "global" (CLIP: image and prompt embeddings), "local" (`local_margins`),
    "both" (their margins added, as GLoRIA scores zero-shot) or "auto" (both where the run has
    the local branch, else global); `score` (`SCORES`, module docstring): the sigmoid of the
    margin (the softmax between the positive and the negative side) or of the positive side's
    own logit; "auto" by the run's global loss. `device`: where the model embeds (auto: a CUDA
    GPU when one is visible)."""
    dev = inference_device(device)
    run = load_image_text(run_dir)
    run.model.to(dev)
    similarity, score = _rules(run, run_dir, similarity, score)
    positive = score == "positive"
    templates = load_prompts(prompts)
    vocabulary = load_vocabulary(vocab)
    pairs = run.data.load(cohort)
    rows = pairs.rows(split)
    if not len(rows):
        raise ConfigError(
            f"{cohort}: no rows in split {split!r} (splits: {sorted(set(pairs.splits))})"
        )
    if not findings:
        findings = [c[len(TRUTH_PREFIX):] for c in pairs.table.columns
                    if c.startswith(TRUTH_PREFIX)] or [a for a in vocabulary.abnormalities
                                                        if a != "no_finding"]  # fmt: skip
    labels = tuple(findings)
    pos_neg = [label_prompts(n, vocabulary, templates) for n in labels]
    unread = unread_prompts(labels, pos_neg, run.model.config.assertion_vocab)
    if unread:
        logger.warning("%d prompts are not read as meant by the run's labeler vocabulary %s "
                       "(reword them in --prompts phrases): %s", len(unread),
                       run.model.config.assertion_vocab, "; ".join(unread))  # fmt: skip
    sides = torch.stack([torch.stack([_side(run, p), _side(run, q)]) for p, q in pos_neg])
    img, kept = _image_embeddings(run, pairs.images[rows], local=similarity != "global")
    margins = torch.zeros(len(rows), len(labels), dtype=torch.float64)
    if similarity != "local":
        bias = run.model.bias if positive else None
        margins += side_margins(img, sides, run.model.scale(), bias)
    if similarity != "global":
        margins += local_margins(run, kept, pos_neg, positive_only=positive)
    scores = margin_scores(margins)
    task = Task("multi-label", labels)
    frame = predictions_to_frame(
        task=task, split=split, ids=pairs.ids[rows], patient_ids=pairs.patient_ids[rows],
        y_true=_targets(pairs, rows, labels, vocabulary.source), y_score=scores,
        sites=pairs.sites[rows], dataset=str(cohort), official=False,
    )  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_predictions(frame, out / PREDICTIONS)
    used = {n: {"positive": p, "negative": q} for n, (p, q) in zip(labels, pos_neg, strict=True)}
    # absolute paths, so `radlens evaluate OUT` finds the run and cohort from any folder
    summary = {"run": str(Path(run_dir).resolve()), "cohort": str(Path(cohort).resolve()),
               "split": split, "labels": list(labels),
               "similarity": similarity, "score": score, "unread_prompts": unread}  # fmt: skip
    atomic_write_json(out / SUMMARY, {**summary, "prompts": used})
    return ZeroShotResult(out, labels, len(rows), similarity, score)
