"""Labeler accuracy against the human labels in the shared report data; prints JSON.

    .venv/bin/python benchmarks/labeler_accuracy.py [--data ../shared/data/reports] [--md OUT.md]

Sets: CT-RATE manual labels (18 abnormalities, report level, uncertain counted positive),
Open-I NegBio gold (the labels chest_ct can express; findings + impression sections),
SARLE sentence labels (sentence normal vs abnormal: a negation check) and radlens' own hand-labelled
CT set (tests/_support/data/chest_ct_gold.csv, scored per report x abnormality x status).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from radlens.reports.label_eval import (
    evaluate_findings_gold,
    load_mapping,
    report_positive_sets,
    score_sets,
)
from radlens.reports.labeler import label_many

ROOT = Path(__file__).resolve().parents[1]


def ct_rate(data: Path, uncertain: str = "positive"):
    df = pd.concat([pd.read_csv(data / "ct_rate_manual" / f) for f in ("train.csv", "val.csv")])
    ids = df["AccessionNo"].astype(str).tolist()
    findings = label_many(df["report_text"].fillna("").tolist(), vocab="chest_ct")
    mapping = load_mapping("ct_rate")
    pred = report_positive_sets(ids, findings, mapping, uncertain)
    gold = {lab: set(df.loc[df[lab] == 1, "AccessionNo"].astype(str)) for lab in mapping}
    return score_sets(gold, pred), df, findings


def openi_text(row) -> str:
    parts = []
    for sec in ("findings", "impression"):
        val = row.get(sec)
        if isinstance(val, str) and val.strip():
            parts.append(f"{sec.upper()}: {val.strip()}")
    return "\n".join(parts)


def openi(data: Path, uncertain: str = "negative"):
    rep = pd.read_csv(data / "iu_xray_openi" / "indiana_reports.csv")
    gold = pd.read_csv(data / "iu_xray_openi" / "openi_gld_std14.csv")
    gold["uid"] = gold["filename"].str.replace("CXR", "", regex=False).astype(int)
    df = gold.merge(rep, on="uid", how="inner")
    ids = df["uid"].astype(str).tolist()
    findings = label_many([openi_text(r) for _, r in df.iterrows()], vocab="chest_ct")
    mapping = load_mapping("openi_negbio")
    pred = report_positive_sets(ids, findings, mapping, uncertain)
    gsets = {lab: set(df.loc[df[lab] == 1, "uid"].astype(str)) for lab in mapping}
    return score_sets(gsets, pred), df, findings


def sarle(data: Path):
    df = pd.read_csv(data / "iu_xray_sarle_sentences" / "openi_count_label_sent.csv")
    df = df[df["Sentence"].notna()]
    findings = label_many(df["Sentence"].astype(str).tolist(), vocab="chest_ct")
    gold_abn = df["Label"].isin(["s", "a"]).to_numpy()
    pred_abn = [any(f.status != "absent" for f in fs) for fs in findings]
    neg_ok = tot = 0
    for g, fs in zip(gold_abn, findings, strict=True):
        if fs and not g:  # a normal sentence that names a finding must have it negated
            tot += 1
            neg_ok += all(f.status == "absent" for f in fs)
    ids = [str(i) for i in range(len(df))]
    res = score_sets(
        {"abnormal": {i for i, g in zip(ids, gold_abn, strict=True) if g}},
        {"abnormal": {i for i, p in zip(ids, pred_abn, strict=True) if p}},
    )
    return res, neg_ok, tot


def own_gold():
    gold = pd.read_csv(
        ROOT / "tests" / "_support" / "data" / "chest_ct_gold.csv", dtype=str, keep_default_na=False
    )
    findings = label_many(gold["text"].tolist(), vocab="chest_ct")
    return evaluate_findings_gold(gold, findings), gold, findings


def md_table(res, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        f"micro-F1 {res.micro_f1:.3f} · macro-F1 {res.macro_f1:.3f} · "
        f"micro-P {res.micro_precision:.3f} · micro-R {res.micro_recall:.3f}",
        "",
        "| label | support | TP | FP | FN | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in res.labels:
        lines.append(
            f"| {s.label} | {s.support} | {s.tp} | {s.fp} | {s.fn} | {s.precision:.3f} "
            f"| {s.recall:.3f} | {s.f1:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "reports")
    ap.add_argument("--md", type=Path, default=None, help="also write the per-label tables here")
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    out, md = (
        {},
        [
            "# radlens labeler accuracy",
            "",
            "Reproduce: `.venv/bin/python benchmarks/labeler_accuracy.py "
            "--md benchmarks/results/labeler_accuracy.md "
            "--json benchmarks/results/labeler_accuracy.json`",
            "",
        ],
    )
    (rep, loc), _, _ = own_gold()
    out["own_ct_gold"] = {"report_status": rep.to_dict(), "located": loc.to_dict()}
    md += [
        md_table(rep, "Own hand-labelled chest CT set (report x abnormality x status)"),
        md_table(loc, "Own set, located findings (report x abnormality x location x status)"),
    ]
    if args.data.is_dir():
        res, _, _ = ct_rate(args.data)
        out["ct_rate_manual"] = res.to_dict()
        md.append(md_table(res, "CT-RATE manual labels (train + val, 18 labels)"))
        res, _, _ = openi(args.data)
        out["openi_negbio"] = res.to_dict()
        md.append(md_table(res, "Open-I NegBio gold (labels chest_ct expresses)"))
        res, ok, tot = sarle(args.data)
        out["sarle_sentences"] = {
            **res.to_dict(),
            "normal_sentences_with_terms": tot,
            "all_negated": ok,
        }
        md.append(md_table(res, "SARLE sentences: abnormal vs normal"))
        md.append(
            f"Normal sentences naming a finding: {tot}; all findings negated in {ok} "
            f"({ok / max(tot, 1):.3f}).\n"
        )
    summary = {
        k: (v["micro_f1"] if "micro_f1" in v else v["report_status"]["micro_f1"])
        for k, v in out.items()
    }
    print(
        json.dumps(
            {
                "micro_f1": summary,
                **{k: {kk: vv for kk, vv in v.items() if kk != "labels"} for k, v in out.items()},
            },
            indent=1,
            default=str,
        )
    )
    if args.md:
        args.md.write_text("\n".join(md), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
