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


#: Open-I vocabularies and their gold mappings (independent keyword mappings of the NegBio columns)
OPENI_MAPPINGS = {"chest_ct": "openi_negbio", "chest_xr": "openi_negbio_xr"}


def openi(
    data: Path,
    uncertain: str = "negative",
    vocab: str = "chest_ct",
    labels: list[str] | None = None,
    half: str | None = None,
):
    """Open-I NegBio gold vs `vocab` (mapping OPENI_MAPPINGS[vocab], restricted to `labels`);
    `half`: "dev" (even uid, the half looked at while editing vocabularies), "held_out" (odd)."""
    rep = pd.read_csv(data / "iu_xray_openi" / "indiana_reports.csv")
    gold = pd.read_csv(data / "iu_xray_openi" / "openi_gld_std14.csv")
    gold["uid"] = gold["filename"].str.replace("CXR", "", regex=False).astype(int)
    df = gold.merge(rep, on="uid", how="inner")
    if half is not None:
        df = df[(df["uid"] % 2 == 0) == (half == "dev")].reset_index(drop=True)
    ids = df["uid"].astype(str).tolist()
    findings = label_many([openi_text(r) for _, r in df.iterrows()], vocab=vocab)
    mapping = load_mapping(OPENI_MAPPINGS[vocab])
    if labels is not None:
        mapping = {k: v for k, v in mapping.items() if k in labels}
    pred = report_positive_sets(ids, findings, mapping, uncertain)
    gsets = {lab: set(df.loc[df[lab] == 1, "uid"].astype(str)) for lab in mapping}
    return score_sets(gsets, pred), df, findings


def openi_vocabularies(data: Path) -> dict:
    """chest_ct and chest_xr on the Open-I labels both express, per half and on all reports."""
    common = sorted(load_mapping(OPENI_MAPPINGS["chest_xr"]))
    out: dict = {"labels": common}
    for half in ("dev", "held_out", None):
        out[half or "all"] = {
            v: openi(data, vocab=v, labels=common, half=half)[0].to_dict() for v in OPENI_MAPPINGS
        }
    return out


def compare_md(now: dict, before: dict | None, title: str) -> str:
    """Per-label F1 of both vocabularies (and before -> after when a baseline JSON is given)."""
    lines = [f"### {title}", "", "| label | " + " | ".join(
        f"{v} F1" + (" before → after" if before else "") for v in OPENI_MAPPINGS
    ) + " |", "| --- |" + " ---: |" * len(OPENI_MAPPINGS)]  # fmt: skip

    def cell(v: str, label: str | None) -> str:
        def f1(res: dict) -> float:
            if label is None:
                return res[v]["micro_f1"]
            return next(s["f1"] for s in res[v]["labels"] if s["label"] == label)

        after = f"{f1(now):.3f}"
        return f"{f1(before):.3f} → {after}" if before and v in before else after

    for label in [*(s["label"] for s in now["chest_xr"]["labels"]), None]:
        name = label or "**micro-F1**"
        lines.append(f"| {name} | " + " | ".join(cell(v, label) for v in OPENI_MAPPINGS) + " |")
    return "\n".join(lines) + "\n"


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
    ap.add_argument(
        "--baseline", type=Path, default=None, help="an earlier --json: before/after per label"
    )
    args = ap.parse_args(argv)
    base = json.loads(args.baseline.read_text(encoding="utf-8")) if args.baseline else {}
    out, md = (
        {},
        [
            "# radlens labeler accuracy",
            "",
            "Reproduce: `.venv/bin/python benchmarks/labeler_accuracy.py "
            "--md benchmarks/results/labeler_accuracy.md "
            "--json benchmarks/results/labeler_accuracy.json "
            "--baseline benchmarks/results/labeler_accuracy_before_issue19.json` (the baseline: "
            "this script run on the code of commit 963a8ce, before the issue-19 labeler changes)",
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
        res, _, _ = openi(args.data, vocab="chest_xr")
        out["openi_negbio_chest_xr"] = res.to_dict()
        md.append(md_table(res, "Open-I NegBio gold, chest_xr vocabulary (labels it expresses)"))
        cmp = out["openi_vocabularies"] = openi_vocabularies(args.data)
        old = base.get("openi_vocabularies", {})
        md.append(
            "Both vocabularies on the Open-I labels both express "
            f"({', '.join(cmp['labels'])}); uncertain counted negative. The dev half (even uid) "
            "was looked at while editing the vocabularies, the held-out half (odd uid) was not.\n"
        )
        for half, title in (("held_out", "held-out half"), ("dev", "dev half"), ("all", "all")):
            title = f"Open-I, chest_ct vs chest_xr: {title}"
            md.append(compare_md(cmp[half], old.get(half), title))
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
        if k != "openi_vocabularies"
    }
    if "openi_vocabularies" in out:
        for half in ("held_out", "dev"):
            for v in OPENI_MAPPINGS:
                summary[f"openi_common_{half}_{v}"] = out["openi_vocabularies"][half][v]["micro_f1"]
    print(
        json.dumps(
            {
                "micro_f1": summary,
                **{
                    k: {kk: vv for kk, vv in v.items() if kk != "labels"}
                    for k, v in out.items()
                    if k != "openi_vocabularies"
                },
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
