"""Zero-shot findings and sentence -> region pointing game from image–text pretraining on phantom
CT volumes with their CT reports (issue 16, "Same on the CT cohort ... at whatever the CPU budget
allows").

Usage:
  .venv/bin/python benchmarks/zeroshot_ct.py --cohorts C1 [C2 ...] --out DIR --json FILE
      [--shape 80,96,96 --window lung --epochs 10 --batch-size 8 --lr 2e-3 --threads 2]

C1, C2: cohorts made by `radlens cohort synth --formats nifti` (any seeds; one patient split is
drawn over all of them, seed --seed). Steps (wall time of each in the JSON):
1. DIR/pairs.csv: every study's NIfTI volume, CT report, patient, split (70/10/20 by patient),
   ``true:<abnormality>`` (the phantom's truth) for each abnormality with >= --min-positives
   positives in both train and test; pretraining reads train + val (val -> train), no labels;
2. pretrain image-text (3D `resnet_mini`, volumes reoriented and centre-cropped/padded to --shape
   at their own spacing, one HU window; global sentence-level InfoNCE + local sentence-region
   loss; assertion marks read with the chest_ct vocabulary);
3. zero-shot on the test split with the package's prompt templates and the chest_ct vocabulary,
   from the global embeddings, the local branch and both added (``by_similarity``; "both" is
   ``zero_shot_mean_auroc``); AUROC per finding with DeLong 95% CIs against the phantom's truth;
4. pointing game: for every test study and every ``abnormality@location`` mask of a scored
   finding, the located prompt's sentence -> region map (input resolution) against the mask put
   through the same crop/pad as the volume; a hit when the map's peak lies in the mask; chance =
   the mask's share of the volume; ``pointing_game_10mm``: a hit within 10 mm of the mask.

--recipe sigmoid (default) is the radiograph benchmark's recipe; --recipe infonce the one of the
first CT run (zeroshot_ct.json, seventh session, which also had --top-k 16).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from zeroshot import aurocs, headline_pointing, pointing_summary, score_maps

from radlens.core import PREDICTIONS, read_predictions
from radlens.data import LOCATION_SEP, assign_splits, load_masks, read_cohort
from radlens.data.volumes import Volume, load_volume, preprocess_volume
from radlens.pretrain import (
    ImageTextConfig,
    PairData,
    PretrainOptions,
    load_image_text,
    load_prompts,
    pretrain_image_text,
    zero_shot,
)
from radlens.pretrain.zeroshot import SIMILARITIES
from radlens.reports import load_vocabulary

VOCAB = "chest_ct"
#: --recipe: "sigmoid" = the radiograph benchmark's recipe (`zeroshot.py` defaults since the
#: twelfth session: positives by meaning, SigLIP pairs, located sentence-level local loss on
#: stage 3, top-k 32, no augmentation); "infonce" = the recipe of the first CT run (seventh
#: session: report-level local loss on stage 4, InfoNCE, top-k 16, augmentation)
RECIPES = {
    "sigmoid": dict(semantic_positives=True, local_sentences=True, global_loss="sigmoid",
                    temperature=0.1, local_stage=3, top_k=32, augment=False),
    "infonce": dict(semantic_positives=False, local_sentences=False, global_loss="infonce",
                    temperature=0.07, local_stage=4, top_k=16, augment=True),
}  # fmt: skip


def build_pairs(cohorts: list[Path], out: Path, seed: int, min_pos: int) -> tuple:
    frames = []
    for c in cohorts:
        t = read_cohort(c).reset_index(drop=True)
        t["patient_id"] = c.name + ":" + t["patient_id"].astype(str)
        t["study_id"] = c.name + ":" + t["study_id"].astype(str)
        t["image"] = [str((c / p).resolve()) for p in t["nifti_path"]]
        t["masks"] = [str((c / p).resolve()) for p in t["mask_path"]]
        frames.append(t)
    table = pd.concat(frames, ignore_index=True)
    split_of = assign_splits(table["patient_id"], seed=seed)
    table["split"] = [split_of[p] for p in table["patient_id"]]
    truth = [c for c in table.columns if c.startswith("true:")]
    counts = {c: min(table.loc[table["split"] == s, c].sum() for s in ("train", "test"))
              for c in truth}  # fmt: skip
    keep = [c for c in truth if counts[c] >= min_pos]
    cols = ["patient_id", "study_id", "site", "image", "report_text", "masks", "split", *keep]
    pairs = table[cols].rename(columns={"report_text": "report"})
    out.mkdir(parents=True, exist_ok=True)
    pairs.to_csv(out / "pairs.csv", index=False)
    pairs.assign(split=pairs["split"].replace({"val": "train"})).to_csv(
        out / "pretrain_pairs.csv", index=False
    )
    return out / "pretrain_pairs.csv", pairs, [c[len("true:") :] for c in keep]


def prepared_mask(mask: np.ndarray, spacing: tuple, shape: tuple[int, ...]) -> np.ndarray:
    """A study-grid mask through the volume's own crop/pad (`preprocess_volume`, no resampling:
    the pairs keep each volume's spacing)."""
    vol = Volume(mask.astype(np.float32), spacing, (0.0, 0.0, 0.0))
    return preprocess_volume(vol, shape=shape)[0] >= 0.5


def pointing(run_dir: Path, pairs_csv: Path, pairs: pd.DataFrame, findings: list[str]) -> dict:
    run = load_image_text(run_dir)
    vocab, prompts = load_vocabulary(VOCAB), load_prompts()
    loaded = run.data.load(pairs_csv)
    cases = []
    for i in loaded.rows("test"):
        masks = {k: m for k, m in load_masks(pairs.loc[i, "masks"]).items()
                 if LOCATION_SEP in k and k.split(LOCATION_SEP)[0] in findings
                 and k.split(LOCATION_SEP)[1] in vocab.locations and m.any()}  # fmt: skip
        spacing = tuple(float(v) for v in load_volume(pairs.loc[i, "image"]).spacing)
        masks = {k: prepared_mask(m, spacing, run.data.shape) for k, m in masks.items()}
        masks = {k: m for k, m in masks.items() if m.any()}
        if not masks:
            continue
        cases += score_maps(run, loaded.images[i], masks, vocab, prompts, None, spacing)
    return pointing_summary(cases, "finding")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohorts", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0, help="patient split and training seed")
    ap.add_argument("--shape", default="80,96,96", help="z,y,x voxels (crop/pad, no resampling)")
    ap.add_argument("--window", default="lung")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="sigmoid",
                    help="image-text recipe (RECIPES; infonce: the first CT run's)")  # fmt: skip
    ap.add_argument("--top-k", type=int, default=None, help="regions kept (default: the recipe's)")
    ap.add_argument("--min-positives", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reuse-run", action="store_true",
                    help="score OUT/image_text from an earlier call (its --json keeps the"
                    " pretraining figures)")  # fmt: skip
    return ap.parse_args()


def main() -> None:
    args = parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    t0 = time.perf_counter()
    if args.reuse_run:  # the pairs and split the pretraining call wrote, never a new split
        pairs = pd.read_csv(args.out / "pairs.csv", dtype={"patient_id": str, "study_id": str})
        pairs_csv = args.out / "pretrain_pairs.csv"
        findings = [c[len("true:") :] for c in pairs.columns if c.startswith("true:")]
    else:
        pairs_csv, pairs, findings = build_pairs(args.cohorts, args.out, args.seed,
                                                 args.min_positives)  # fmt: skip
    config = ImageTextConfig(
        model="resnet_mini", small_input=False, text_width=128, text_layers=2, embed_dim=128,
        local=True, sentence_level=True, ring=1, negation_vocab=VOCAB,
        **{**RECIPES[args.recipe], **({"top_k": args.top_k} if args.top_k else {})},
    )  # fmt: skip
    opts = PretrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           seed=args.seed, device=args.device, threads=args.threads)  # fmt: skip
    data = PairData(image_column="image", report_column="report", shape=shape,
                    window=args.window, seed=args.seed)  # fmt: skip
    run = args.out / "image_text"
    if args.reuse_run:  # score the run an earlier call pretrained (same --out)
        before = json.loads(args.json.read_text())
        trained, walls = before["pretrain"], {"pretrain_s": before["wall"]["pretrain_s"]}
    else:
        result = pretrain_image_text(pairs_csv, run, data=data, model=config, options=opts,
                                     vocab_size=1500)  # fmt: skip
        trained = {"pairs_per_s": round(result.pairs_per_s, 2),
                   "final": {k: round(v, 4) for k, v in result.history[-1].items()
                             if isinstance(v, float)}}  # fmt: skip
        walls = {"pretrain_s": round(time.perf_counter() - t0, 1)}
    t1 = time.perf_counter()
    by = {}
    for sim in SIMILARITIES:
        zero_shot(run, pairs_csv, args.out / f"zeroshot_{sim}", split="test", findings=findings,
                  vocab=VOCAB, similarity=sim)  # fmt: skip
        frame = read_predictions(args.out / f"zeroshot_{sim}" / PREDICTIONS)
        by[sim] = aurocs(frame, pairs, findings, "study_id")
    zs = by["both"]
    t2 = time.perf_counter()
    point = pointing(run, pairs_csv, pairs, findings)
    t3 = time.perf_counter()
    out = {
        "benchmark": "zeroshot_ct",
        "command": "python benchmarks/zeroshot_ct.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if k not in ("out", "json", "reuse_run")),
        "scored_by": "a --reuse-run call" if args.reuse_run else "the pretraining call",
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sizes": {"studies": len(pairs), "patients": int(pairs["patient_id"].nunique()),
                  "split": pairs["split"].value_counts().to_dict(), "shape": list(shape),
                  "window": args.window, "epochs": args.epochs},
        "findings": findings,
        "zero_shot_mean_auroc": zs["mean_auroc"], "zero_shot_similarity": "both",
        "zero_shot": zs, "by_similarity": by,
        **headline_pointing(point), "pointing": point,
        "pretrain": trained,
        "wall": {**walls, "zeroshot_s": round(t2 - t1, 1), "pointing_s": round(t3 - t2, 1)},
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("zero_shot_mean_auroc", "pointing_game",
                                          "pointing_chance", "wall")}))  # fmt: skip


if __name__ == "__main__":
    main()
