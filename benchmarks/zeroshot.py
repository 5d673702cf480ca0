"""Zero-shot findings from image–text pretraining vs a supervised model, and local alignment's
pointing game, on a fresh phantom radiograph cohort (issue 16, "Done when").

Usage:
  .venv/bin/python benchmarks/zeroshot.py --seed S --out DIR --json FILE
      [--studies 1000 --size 128 --epochs 40 --sup-epochs 30 --ablation --threads 2]
      [--pt-batch-size 16 --pt-lr 2e-3 --sup-augment shift --reuse-cohort --score auto]

The defaults (1000 studies, 128 px, 40 image-text epochs, 30 supervised epochs; the image-text
recipe of 2026-12-07: positives by meaning, SigLIP pairs, located sentence-level local loss on
stage 3, top-k 32, no augmentation; zero-shot score "auto" = the positive prompts' own SigLIP
pair probability) take ~16 min on 2 idle cores, ~25 min with --ablation. 1000 studies give
~180 test images (400 gave ~50, too few for per-finding CIs: zeroshot_seed4877/5903/3191.json
used `--studies 400`, on a loaded 2-core machine with `--threads 1`, and the margin score). The
recipe before (zeroshot_seed7723/8111/8929.json):
``--no-semantic-positives --no-local-sentences --local-stage 4 --global-loss infonce
--temperature 0.07 --pt-augment --top-k 16 --studies 400``.
`--studies 120 --epochs 8 --sup-epochs 8` is the small setting of zeroshot_small_cpu.json.

Steps (wall time of each in the JSON):
1. synthesize `radlens.phantom` with seed S and radiographs (256 px DRRs, projected masks, CXR
   reports); the first `--studies` studies make DIR/cohort/pairs.csv: image, report, patient,
   a patient-level split (`radlens.data.assign_splits`, seed S, 70/10/20) and one
   ``true:<observation>`` column per CXR observation with >= `--min-positives` positives in both
   train and test (what the radiograph shows, `cxr_true:<observation>`);
2. pretrain image-text (global SigLIP pairwise loss of images against each report sentence, a
   sentence true of every image whose report says the same by the labeler's reading; local
   loss of each sentence over every image's stage-3 regions, locations kept, without the
   feature map's border ring) on the train and val images with their reports (no labels;
   pretrain_pairs.csv), keeping the last epoch's weights;
3. zero-shot (`radlens.pretrain.zero_shot`, the package's prompt templates) on the test split,
   from the global embeddings, the local branch and both added (``by_similarity``; --similarity
   names the one reported as ``zero_shot_mean_auroc``), with --score's rule, and the other rule
   beside it (``other_score``);
4. supervised baseline: `radlens.training.train` on the same radiographs (image-folder source)
   with the labeler's labels of the CXR reports (uncertain = unknown), same split (checked);
5. AUROC of both against the radiograph truth on the same test images (DeLong 95% CI), and
   against the labeler's labels of the test reports (``vs_labeler_labels``);
6. pointing game of `sentence_region_map` on every test image's CXR masks
   (``observation@zone``): the sentence is the located prompt ("right lower zone atelectasis"),
   a hit when the map's peak lies inside the mask (strict, `radlens.explain` scoring), chance =
   the mask's share of the image, IoU of the map thresholded at 0.5 of its maximum; beside it
   ``pointing_game_10mm``: a hit within 10 mm of the mask (the film's pixel size), the tolerance
   of the CT localisation benchmark and of the original pointing game (Zhang et al. 2016: 15 px
   on ~500 px images), with its own chance;
7. with --ablation: the same pretraining with --no-local (global only), zero-shot and pointing
   game (cosine of dense global features).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from radlens.core import PREDICTIONS, read_predictions
from radlens.data import assign_splits
from radlens.errors import ConfigError
from radlens.evaluation import delong
from radlens.explain import DEFAULT_TOLERANCE_MM
from radlens.explain.localization import score_heatmap
from radlens.phantom import CXR_OBSERVATIONS, CXR_TRUTH_PREFIX, synthesize_cohort
from radlens.pretrain import (
    ImageTextConfig,
    PairData,
    PretrainOptions,
    encode_reports,
    label_prompts,
    load_image_text,
    load_prompts,
    pretrain_image_text,
    sentence_region_maps,
    zero_shot,
)
from radlens.reports import label_many, load_vocabulary
from radlens.reports.tables import label_matrix
from radlens.training import make_config, train

IOU_THRESHOLD = 0.5  # fraction of the map's maximum
#: pointing summary figure -> the per-case column it averages
POINTING_FIGURES = {"pointing_game": "hit", "chance": "chance", "iou": "iou",
                    "pointing_game_10mm": "hit_10mm", "chance_10mm": "chance_10mm"}  # fmt: skip
STUDIES_PER_PATIENT = 1.4  # below the phantom's mean (1-3 per patient): enough studies


def reuse_pairs(root: Path) -> tuple:
    """The pairs a previous run of this script (same --out, seed, studies) synthesized."""
    cohort = root / "cohort"
    pairs = pd.read_csv(cohort / "pairs.csv", dtype={"patient_id": str, "study_id": str})
    findings = [c[len("true:") :] for c in pairs.columns if c.startswith("true:")]
    return cohort / "pretrain_pairs.csv", pairs, findings


def build_pairs(root: Path, seed: int, studies: int, min_pos: int, workers: int) -> tuple:
    cohort = root / "cohort"
    n_pat = math.ceil(studies / STUDIES_PER_PATIENT) + 2
    table = synthesize_cohort(cohort, n_patients=n_pat, seed=seed, formats=("npz",),
                              progress=False, radiographs=True, workers=workers)  # fmt: skip
    table = table.iloc[:studies].reset_index(drop=True)
    split_of = assign_splits(table["patient_id"].astype(str), seed=seed)
    pairs = pd.DataFrame({
        "patient_id": table["patient_id"].astype(str), "study_id": table["study_id"].astype(str),
        "site": table["site"], "image": table["radiograph_path"],
        "report": table["cxr_report_text"], "masks": table["radiograph_masks_path"],
        "split": [split_of[str(p)] for p in table["patient_id"]],
    })  # fmt: skip
    findings = []
    for obs in CXR_OBSERVATIONS:
        truth = table[CXR_TRUTH_PREFIX + obs].to_numpy()
        n_train = int(truth[pairs["split"] == "train"].sum())
        n_test = int(truth[pairs["split"] == "test"].sum())
        if obs != "no_finding" and min(n_train, n_test) >= min_pos:
            findings.append(obs)
            pairs[f"true:{obs}"] = truth.astype(float)
    pairs.to_csv(cohort / "pairs.csv", index=False)
    # pretraining uses no labels: it learns from the train and val images + reports (val -> train,
    # so its checkpoint is the last epoch's, not one picked on a handful of validation pairs)
    pretrain_table = pairs.assign(split=pairs["split"].replace({"val": "train"}))
    pretrain_table.to_csv(cohort / "pretrain_pairs.csv", index=False)
    return cohort / "pretrain_pairs.csv", pairs, findings


def pretrain(pairs_csv: Path, out: Path, args, local: bool):
    config = ImageTextConfig(
        model=args.pt_model, small_input=False, text_width=128, text_layers=2, embed_dim=128,
        top_k=args.top_k, local=local, sentence_level=True, augment=args.pt_augment, ring=1,
        hard_negatives=args.hard_negatives, hard_weight=args.hard_weight,
        assertion_marks=args.assertion_marks, semantic_positives=args.semantic_positives,
        local_sentences=args.local_sentences, local_stage=args.local_stage,
        global_loss=args.global_loss, temperature=args.temperature,
    )  # fmt: skip
    opts = PretrainOptions(epochs=args.epochs, batch_size=args.pt_batch_size, lr=args.pt_lr,
                           seed=args.seed, device=args.device, threads=args.threads)  # fmt: skip
    data = PairData(image_column="image", report_column="report", size=args.size, seed=args.seed)
    result = pretrain_image_text(pairs_csv, out, data=data, model=config, options=opts,
                                 vocab_size=1000)  # fmt: skip
    return {"pairs_per_s": round(result.pairs_per_s, 2),
            "final": {k: round(v, 4) for k, v in result.history[-1].items()
                      if isinstance(v, float)}}  # fmt: skip


NEGATION_PAIRS = [(f, f"no {f}") for f in ("pneumothorax", "pleural effusion", "atelectasis",
                                           "cardiomegaly", "consolidation")]  # fmt: skip


def negation_cosines(run_dir: Path) -> dict:
    """Cosine of the run's text embeddings of "X" and "no X" (1: negation not learned)."""
    run = load_image_text(run_dir)
    texts = [t for pair in NEGATION_PAIRS for t in pair]
    batch = encode_reports(run.tokenizer, texts, max_len=run.model.config.max_len,
                           max_sentences=1,
                           assertions=run.model.config.assertion_vocab)  # fmt: skip
    with torch.no_grad():
        emb = run.model.embed_texts(batch)
    return {a: round(float(emb[2 * i] @ emb[2 * i + 1]), 4)
            for i, (a, _) in enumerate(NEGATION_PAIRS)}  # fmt: skip


def aurocs(frame: pd.DataFrame, pairs: pd.DataFrame, findings: list[str], key: str) -> dict:
    """AUROC (DeLong 95% CI) of `frame`'s scores against the pairs' radiograph truth."""
    test = pairs[pairs["split"] == "test"].set_index(key)
    frame = frame[frame["split"] == "test"].set_index("id").loc[test.index.astype(str)]
    y = test[[f"true:{f}" for f in findings]].to_numpy(float)
    s = frame[[f"score:{f}" for f in findings]].to_numpy(float)
    res = delong(y, s)
    per = {}
    for j, f in enumerate(findings):
        auc, se = float(res.auc[j]), float(res.se[j])
        per[f] = {
            "auroc": round(auc, 4), "ci95": [round(auc - 1.96 * se, 4), round(auc + 1.96 * se, 4)],
            "positives": int(res.n_positive[j]), "negatives": int(res.n_negative[j]),
        }  # fmt: skip
    return {"mean_auroc": round(float(np.nanmean(res.auc)), 4), "per_finding": per}


def labeler_aurocs(frame: pd.DataFrame, pairs: pd.DataFrame, findings: list[str], key: str):
    """AUROC of `frame`'s test scores against the labeler's labels of the test reports (what a
    user without the phantom's truth would score against; uncertain labels left out)."""
    test = pairs[pairs["split"] == "test"]
    frame = frame[frame["split"] == "test"].set_index("id").loc[test[key].astype(str)]
    labels = label_matrix(label_many(list(test["report"]), "chest_xr"), findings, "keep")
    per = {}
    for j, f in enumerate(findings):
        y, s = labels[:, j], frame[f"score:{f}"].to_numpy(float)
        ok = np.isin(y, (0.0, 1.0))
        if len(set(y[ok])) == 2:
            per[f] = round(float(roc_auc_score(y[ok], s[ok])), 4)
    return {"mean_auroc": round(float(np.mean(list(per.values()))), 4) if per else None,
            "per_finding": per}  # fmt: skip


def supervised(root: Path, pairs: pd.DataFrame, findings: list[str], args) -> dict:
    labels = label_matrix(label_many(list(pairs["report"]), "chest_xr"), findings, "keep")
    table = pd.DataFrame(labels, columns=findings)
    table.insert(0, "image", pairs["image"])
    table.insert(1, "patient_id", pairs["patient_id"])
    csv = root / "labels.csv"
    table.to_csv(csv, index=False)
    config = make_config({
        "images": str(root / "cohort"), "labels": str(csv), "patient_column": "patient_id",
        "label_columns": findings, "image_size": args.size, "model": "resnet18",
        "epochs": args.sup_epochs, "batch_size": args.batch_size, "lr": args.lr,
        "seed": args.seed, "device": args.device, "threads": args.threads,
        "augment": args.sup_augment, "out": str(root / "supervised"),
    })  # fmt: skip
    result = train(config)
    frame = read_predictions(result.run_dir / PREDICTIONS)
    test_ids = set(frame.loc[frame["split"] == "test", "id"].astype(str))
    expected = set(pairs.loc[pairs["split"] == "test", "image"].astype(str))
    if test_ids != expected:
        raise SystemExit("supervised baseline's test split differs from the pairs' test split")
    out = aurocs(frame, pairs, findings, "image")
    out["vs_labeler_labels"] = labeler_aurocs(frame, pairs, findings, "image")
    out["train_images_per_s"] = round(result.train_images_per_s, 2)
    out["best_epoch"] = result.best_epoch
    return out


def _mask(path: Path, key: str, size: int) -> np.ndarray:
    m = torch.from_numpy(np.load(path)[key].astype(np.float32))[None, None]
    return (F.interpolate(m, size=(size, size), mode="area")[0, 0] >= 0.25).numpy()


def film_pixel_mm(cohort: Path) -> dict[str, float]:
    """study_id -> pixel size (mm) of its written radiograph (the cohort table's column)."""
    table = pd.read_csv(cohort / "cohort.csv", usecols=["study_id", "radiograph_pixel_mm"],
                        dtype={"study_id": str})  # fmt: skip
    return dict(zip(table["study_id"], table["radiograph_pixel_mm"].astype(float), strict=True))


def pointing(run_dir: Path, pairs_csv: Path, pairs: pd.DataFrame, method: str | None) -> dict:
    """Pointing game (strict and within 10 mm) / chance / IoU of the run's sentence maps on
    every test CXR mask."""
    run = load_image_text(run_dir)
    vocab, prompts = load_vocabulary("chest_xr"), load_prompts()
    loaded = run.data.load(pairs_csv)
    pixel_mm = film_pixel_mm(pairs_csv.parent)
    cases = []
    for i in loaded.rows("test"):
        npz = pairs_csv.parent / pairs.loc[i, "masks"]
        with np.load(npz) as stored:
            keys = [k for k in stored.files
                    if k.split("@")[0] in CXR_OBSERVATIONS and "@" in k
                    and k.split("@")[1] in vocab.locations]  # fmt: skip
            film_size = stored[keys[0]].shape[-1] if keys else 0
        masks = {k: _mask(npz, k, run.data.size) for k in keys}
        masks = {k: m for k, m in masks.items() if m.any()}
        if not masks:
            continue
        pixel = pixel_mm[str(pairs.loc[i, "study_id"])] * film_size / run.data.size
        cases += score_maps(run, loaded.images[i], masks, vocab, prompts, method, (pixel, pixel))
    return pointing_summary(cases, "observation")


def score_maps(
    run, image, masks: dict, vocab, prompts, method: str | None, spacing: tuple[float, ...]
) -> list[dict]:
    """Each mask's located-prompt sentence map over `image`, scored: strict hit, chance, IoU,
    and the hit / chance within `DEFAULT_TOLERANCE_MM` (`spacing`: the map's mm per axis)."""
    sentences = [label_prompts(k, vocab, prompts)[0][0] for k in masks]
    maps = sentence_region_maps(run, image, sentences, method=method)
    out = []
    for (key, mask), heat in zip(masks.items(), maps, strict=True):
        s = score_heatmap(heat, mask, threshold=IOU_THRESHOLD, tolerance=DEFAULT_TOLERANCE_MM,
                          spacing=spacing)  # fmt: skip
        out.append({"key": key, "hit": s.strict_hit, "chance": s.strict_chance, "iou": s.iou,
                    "hit_10mm": s.hit, "chance_10mm": s.chance})  # fmt: skip
    return out


def pointing_summary(cases: list[dict], group: str) -> dict:
    """Pointing game, chance and IoU over all cases and per finding (the key before "@")."""
    if not cases:
        return {"cases": 0}
    df = pd.DataFrame(cases)
    df[group] = df["key"].str.split("@").str[0]

    def figures(g: pd.DataFrame) -> dict:
        out = {"cases": len(g)}
        for name, col in POINTING_FIGURES.items():
            if col in g:
                out[name] = round(float(g[col].mean()), 4)
        return out

    per = {o: figures(g) for o, g in df.groupby(group)}
    return {**figures(df), f"per_{group}": per}


def scored(root: Path, name: str, pairs_csv: Path, pairs, findings, sim: str, score: str,
           tag: str = "") -> dict:  # fmt: skip
    """Zero-shot AUROCs of run `name` with one similarity and score rule (`radlens zeroshot
    --similarity --score`), and the rule "auto" resolved to."""
    folder = root / f"{name}_zeroshot{tag}"
    res = zero_shot(root / name, pairs_csv, folder, split="test", findings=findings,
                    similarity=sim, score=score)  # fmt: skip
    out = aurocs(read_predictions(folder / PREDICTIONS), pairs, findings, "study_id")
    return {**out, "score": res.score}


def by_similarity(root: Path, name: str, pairs_csv: Path, pairs, findings,
                  score: str = "auto") -> dict:  # fmt: skip
    """Zero-shot AUROCs of a local run scored from its local branch and from both."""
    return {sim: scored(root, name, pairs_csv, pairs, findings, sim, score, f"_{sim}")
            for sim in ("local", "both")}  # fmt: skip


def other_score(root: Path, name: str, pairs_csv: Path, pairs, findings, used: str,
                local: bool) -> dict:  # fmt: skip
    """The same run's zero-shot AUROCs with the score rule not used (margin <-> positive), for
    comparison; {} where the run cannot take it (an InfoNCE run's global score has no bias)."""
    other = "margin" if used == "positive" else "positive"
    out = {"score": other}
    try:
        for sim in ("global", "both") if local else ("global",):
            out[sim] = scored(root, name, pairs_csv, pairs, findings, sim, other, f"_{sim}_{other}")
    except ConfigError:
        return {}
    return out


def rescore(args) -> None:
    """Add the local / both scores to the JSON of an earlier run of this script (same --out,
    made before they were recorded) and make --similarity its headline."""
    result = json.loads(args.json.read_text())
    _, pairs, findings = reuse_pairs(args.out)
    zs = result["image_text"]["zero_shot"]
    zs["by_similarity"] = by_similarity(args.out, "image_text", args.out / "cohort"
                                        / "pretrain_pairs.csv", pairs, findings)  # fmt: skip
    head = zs if args.similarity == "global" else zs["by_similarity"][args.similarity]
    sup = result["supervised_mean_auroc"]
    result.update(zero_shot_mean_auroc=head["mean_auroc"], zero_shot_similarity=args.similarity,
                  zero_shot_over_supervised=round(head["mean_auroc"] / sup, 4),
                  rescored="by_similarity added later by --rescore (same checkpoint)")  # fmt: skip
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("zero_shot_mean_auroc", "zero_shot_similarity")}))


def repoint(args) -> None:
    """Score the pointing game of an earlier run's saved checkpoints (same --out) again with the
    current map code; the figures it replaces stay in the JSON under "before"."""
    result = json.loads(args.json.read_text())
    pairs_csv, pairs, _ = reuse_pairs(args.out)
    if not result.get("image_text"):
        raise SystemExit(f"{args.json}: no image_text arm to score again")
    for arm in ("image_text", "global_only"):
        if not result.get(arm):
            continue
        old = result[arm]["pointing"]
        new = pointing(args.out / arm, pairs_csv, pairs, None)
        before = {k: old.get(k) for k in ("pointing_game", "chance", "iou")}
        per = old.get("per_observation", {})
        before["per_observation"] = {k: v["pointing_game"] for k, v in per.items()}
        if "cosine_map" in old:
            new["cosine_map"] = pointing(args.out / arm, pairs_csv, pairs, "cosine")
            before["cosine_map"] = old["cosine_map"].get("pointing_game")
        new["before"] = old.get("before", before)  # a second --repoint keeps the first figures
        result[arm]["pointing"] = new
    result.update(**headline_pointing(result["image_text"]["pointing"]), repointed=REPOINTED)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(headline_pointing(result["image_text"]["pointing"])))


def headline_pointing(point: dict) -> dict:
    """The JSON's top-level pointing figures from an arm's `pointing` summary."""
    return {"pointing_game": point.get("pointing_game"), "pointing_chance": point.get("chance"),
            "pointing_iou": point.get("iou"),
            "pointing_game_10mm": point.get("pointing_game_10mm"),
            "pointing_chance_10mm": point.get("chance_10mm")}  # fmt: skip


def image_text_arm(root: Path, name: str, pairs_csv: Path, pairs, findings, args, local: bool):
    t0 = time.perf_counter()
    info = pretrain(pairs_csv, root / name, args, local)
    t1 = time.perf_counter()
    zs = scored(root, name, pairs_csv, pairs, findings, "global", args.score)
    frame = read_predictions(root / f"{name}_zeroshot" / PREDICTIONS)
    zs["vs_labeler_labels"] = labeler_aurocs(frame, pairs, findings, "study_id")
    zs["negation_cosine"] = negation_cosines(root / name)
    if local:  # GLoRIA-style scores from the local branch, and both added
        zs["by_similarity"] = by_similarity(root, name, pairs_csv, pairs, findings, args.score)
    zs["other_score"] = other_score(root, name, pairs_csv, pairs, findings, zs["score"], local)
    t2 = time.perf_counter()
    point = pointing(root / name, pairs_csv, pairs, None)  # the run's default method
    if local:  # the other map of the local branch, for comparison
        point["cosine_map"] = pointing(root / name, pairs_csv, pairs, "cosine")
    t3 = time.perf_counter()
    walls = {"pretrain_s": round(t1 - t0, 1), "zeroshot_s": round(t2 - t1, 1),
             "pointing_s": round(t3 - t2, 1)}  # fmt: skip
    return {"pretrain": info, "zero_shot": zs, "pointing": point, "wall": walls}


def _switch(ap: argparse.ArgumentParser, flag: str, default: bool, help: str) -> None:
    """An on/off option (--flag / --no-flag)."""
    ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help)


#: options that are only ever switched on (no --no- form)
ONLY_ON = ("ablation", "reuse_cohort", "rescore", "repoint")
#: why a JSON's pointing figures were scored again (`--repoint`)
REPOINTED = (
    "pointing scored again by --repoint from the same checkpoints, the maps drawn with"
    " each cell on its receptive field's centre (radlens.models.alignment; before:"
    " bilinear align_corners=False, half a cell down-right); strict hits and hits within"
    " 10 mm (pointing_game_10mm, added later from the same checkpoints)"
)


def command_line(args: argparse.Namespace) -> str:
    """The command that repeats this run (--out and --json left out)."""
    parts = []
    for k, v in vars(args).items():
        flag = "--" + k.replace("_", "-")
        if k in ("out", "json") or (k in ONLY_ON and not v):
            continue
        if isinstance(v, bool):
            parts.append(flag if v else "--no-" + flag[2:])
        else:
            parts.append(f"{flag} {v}")
    return "python benchmarks/zeroshot.py " + " ".join(parts)


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--studies", type=int, default=1000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--sup-epochs", type=int, default=30, help="supervised baseline epochs")
    ap.add_argument("--batch-size", type=int, default=32, help="supervised baseline")
    ap.add_argument("--lr", type=float, default=1e-3, help="supervised baseline")
    ap.add_argument(
        "--sup-augment",
        default="shift",
        help="supervised baseline: radlens train --augment (none, flip, shift, flip+shift)",
    )
    ap.add_argument("--pt-batch-size", type=int, default=16, help="image-text pretraining")
    ap.add_argument("--pt-lr", type=float, default=2e-3, help="image-text pretraining")
    ap.add_argument("--pt-model", default="resnet_mini", help="image-text image encoder")
    _switch(
        ap, "--pt-augment", False, "image-text: crop/shift/rotation/contrast of training images"
    )
    ap.add_argument(
        "--reuse-cohort",
        action="store_true",
        help="use OUT/cohort/pairs.csv from an earlier run (same seed and studies)",
    )
    _switch(
        ap,
        "--hard-negatives",
        False,
        "image-text: negation counterparts of each image's sentences as hard negatives",
    )
    ap.add_argument("--hard-weight", type=float, default=1.0, help="weight of that loss")
    _switch(
        ap,
        "--assertion-marks",
        True,
        "image-text: the text encoder sees the labeler's present/absent/uncertain marks",
    )
    _switch(
        ap,
        "--semantic-positives",
        True,
        "image-text: a sentence is a positive for every image whose report says the same"
        " (the labeler's reading), not only the same words",
    )
    _switch(
        ap,
        "--local-sentences",
        True,
        "image-text: the local loss contrasts each sentence with every image's regions",
    )
    ap.add_argument("--local-stage", type=int, default=3, help="backbone stage of the regions")
    ap.add_argument("--global-loss", choices=("infonce", "sigmoid"), default="sigmoid")
    ap.add_argument("--temperature", type=float, default=0.1, help="initial, learnable")
    ap.add_argument(
        "--similarity",
        choices=("global", "local", "both"),
        default="both",
        help="which zero-shot score is zero_shot_mean_auroc (all three are in the JSON)",
    )
    ap.add_argument(
        "--score",
        choices=("auto", "margin", "positive"),
        default="auto",
        help="zero-shot score rule (radlens zeroshot --score; auto: positive for sigmoid runs);"
        " the other rule's figures are in the JSON too",
    )
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="only add the local / both zero-shot scores to an earlier run's --json (same --out)",
    )
    ap.add_argument(
        "--repoint",
        action="store_true",
        help="only score the pointing game of an earlier run's --json again (same --out)",
    )
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--min-positives", type=int, default=5)
    ap.add_argument("--ablation", action="store_true", help="also the global-only arm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="phantom rendering processes")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    return args


def main() -> None:
    args = parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    if args.rescore and args.repoint:
        raise SystemExit("--rescore and --repoint: one at a time")
    if args.rescore:
        rescore(args)
        return
    if args.repoint:
        repoint(args)
        return
    root = args.out
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.reuse_cohort:
        pairs_csv, pairs, findings = reuse_pairs(root)
        wall = {"synthesize_s": None, "synthesis": "reused OUT/cohort (timed in its own run)"}
    else:
        pairs_csv, pairs, findings = build_pairs(root, args.seed, args.studies,
                                                 args.min_positives, args.workers)  # fmt: skip
        wall = {"synthesize_s": round(time.perf_counter() - t0, 1)}
    local = image_text_arm(root, "image_text", pairs_csv, pairs, findings, args, local=True)
    t1 = time.perf_counter()
    sup = supervised(root, pairs, findings, args)
    wall["supervised_s"] = round(time.perf_counter() - t1, 1)
    ablation = None
    if args.ablation:
        ablation = image_text_arm(root, "global_only", pairs_csv, pairs, findings, args, False)
    wall["total_s"] = round(time.perf_counter() - t0, 1)
    headline = local["zero_shot"]
    if args.similarity != "global":
        headline = local["zero_shot"]["by_similarity"][args.similarity]
    zs, sp = headline["mean_auroc"], sup["mean_auroc"]
    result = {
        "benchmark": "zeroshot", "seed": args.seed,
        "command": command_line(args),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared with other jobs)",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sizes": {"studies": len(pairs), "patients": int(pairs["patient_id"].nunique()),
                  "split": pairs["split"].value_counts().to_dict(), "image_size": args.size,
                  "epochs": args.epochs, "supervised_epochs": args.sup_epochs},
        "findings": findings,
        "zero_shot_mean_auroc": zs, "zero_shot_similarity": args.similarity,
        "zero_shot_score": headline["score"],
        "supervised_mean_auroc": sp,
        "zero_shot_over_supervised": round(zs / sp, 4) if sp else None,
        **headline_pointing(local["pointing"]), "iou_threshold": IOU_THRESHOLD,
        "image_text": local, "supervised": sup, "global_only": ablation, "wall": wall,
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
