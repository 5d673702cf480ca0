"""Benchmark tables: bench.csv, bench.md and a self-contained bench.html beside the paper.

One summary row per (dataset, size, protocol, model, setting): radlens test AUC / ACC as mean ± sd
over the seeds (and the seed ensemble, when run), the paper's published values for the same
dataset, the best value of the row marked, the difference to the paper's comparable model, macro
recall / F1, ECE, wall time and training images/s, and whether the data was the official file.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radlens.bench.paper import CITATION, METHODS_2D, METHODS_3D, paper_values
from radlens.data.medmnist import get_info

__all__ = ["summarize", "write_tables"]


def _mean_sd(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(arr) == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarize(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (dataset, size, protocol, model, setting) with seed statistics and the paper."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], int(row["size"]), row["protocol"], row["model"],
                row["setting_id"])].append(row)  # fmt: skip
    out = []
    for (dataset, size, protocol, model, setting_id), members in groups.items():
        seeds = [r for r in members if r["seed"] != "ensemble"]
        ens = next((r for r in members if r["seed"] == "ensemble"), None)
        first = seeds[0] if seeds else members[0]
        auc, auc_sd = _mean_sd([r["test_auc"] for r in seeds])
        acc, acc_sd = _mean_sd([r["test_acc"] for r in seeds])
        rec = {
            "dataset": dataset,
            "is_3d": get_info(dataset).is_3d,
            "size": size,
            "protocol": protocol,
            "model": model,
            "recipe": first.get("recipe"),
            "augment": first.get("augment"),
            "tta": first.get("tta"),
            "epochs": first.get("epochs"),
            "max_train_images": first.get("max_train_images"),
            "max_eval_images": first.get("max_eval_images"),
            "setting_id": setting_id,
            "data": "official" if all(r["official_data"] for r in members) else "UNOFFICIAL",
            "data_file": first.get("data_file"),
            "seeds": len(seeds),
            "auc_mean": auc,
            "auc_sd": auc_sd,
            "acc_mean": acc,
            "acc_sd": acc_sd,
            "ens_auc": ens["test_auc"] if ens else float("nan"),
            "ens_acc": ens["test_acc"] if ens else float("nan"),
            "macro_recall": _mean_sd([r.get("test_macro_recall") for r in seeds])[0],
            "macro_f1": _mean_sd([r.get("test_macro_f1") for r in seeds])[0],
            "ece": _mean_sd([r.get("test_ece") for r in seeds])[0],
            "recall_per_class": _mean_dict([r.get("test_recall_per_class") for r in seeds]),
            "f1_per_class": _mean_dict([r.get("test_f1_per_class") for r in seeds]),
            "wall_time_s": _mean_sd([r.get("wall_time_s") for r in seeds])[0],
            "train_images_per_s": _mean_sd([r.get("train_images_per_s") for r in seeds])[0],
            "device": first.get("device", ""),
            "paper_method": first.get("paper_method"),
        }
        paper = paper_values(dataset)
        for method in METHODS_3D if rec["is_3d"] else METHODS_2D:
            pa = paper.get(method, (float("nan"), float("nan")))
            rec[f"paper_auc:{method}"], rec[f"paper_acc:{method}"] = pa
        comp = paper.get(rec["paper_method"] or "")
        best_auc, best_acc = _ours(rec)
        rec["delta_auc_vs_paper"] = best_auc - comp[0] if comp else float("nan")
        rec["delta_acc_vs_paper"] = best_acc - comp[1] if comp else float("nan")
        paper_aucs = [v for m, (v, _) in paper.items()]
        paper_accs = [v for m, (_, v) in paper.items()]
        rec["beats_paper_best_auc"] = bool(paper_aucs) and best_auc >= max(paper_aucs)
        rec["beats_paper_best_acc"] = bool(paper_accs) and best_acc >= max(paper_accs)
        out.append(rec)
    df = pd.DataFrame(out)
    if len(df):
        df = df.sort_values(["is_3d", "dataset", "size", "protocol", "model"], kind="stable")
    return df.reset_index(drop=True)


def _ours(rec: dict[str, Any]) -> tuple[float, float]:
    """radlens's headline: the ensemble when run, else the seed mean."""
    auc = rec["ens_auc"] if not math.isnan(rec["ens_auc"]) else rec["auc_mean"]
    acc = rec["ens_acc"] if not math.isnan(rec["ens_acc"]) else rec["acc_mean"]
    return auc, acc


def _mean_dict(items: list[dict[str, float] | None]) -> dict[str, float]:
    items = [i for i in items if i]
    if not items:
        return {}
    return {k: float(np.mean([i[k] for i in items])) for k in items[0]}


def _f(v: float, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _cells(rec: pd.Series, methods: tuple[str, ...], bold) -> list[str]:
    """radlens mean±sd, ensemble, then one "AUC / ACC" cell per paper method, best marked."""
    ours_auc, ours_acc = _ours(rec.to_dict())
    auc_values = [ours_auc] + [rec[f"paper_auc:{m}"] for m in methods]
    acc_values = [ours_acc] + [rec[f"paper_acc:{m}"] for m in methods]
    best_auc = np.nanmax(auc_values)
    best_acc = np.nanmax(acc_values)

    def mark(value: float, best: float, text: str) -> str:
        return bold(text) if not math.isnan(value) and value >= best - 1e-12 else text

    sd = rec["seeds"] > 1
    mean_cell = (
        f"{_f(rec['auc_mean'])}{' ± ' + _f(rec['auc_sd']) if sd else ''} / "
        f"{_f(rec['acc_mean'])}{' ± ' + _f(rec['acc_sd']) if sd else ''}"
    )
    if math.isnan(rec["ens_auc"]):
        mean_cell = (
            mark(ours_auc, best_auc, f"{_f(rec['auc_mean'])}")
            + (f" ± {_f(rec['auc_sd'])}" if sd else "")
            + " / "
            + mark(ours_acc, best_acc, f"{_f(rec['acc_mean'])}")
            + (f" ± {_f(rec['acc_sd'])}" if sd else "")
        )
        ens_cell = "–"
    else:
        ens_cell = (
            mark(ours_auc, best_auc, _f(rec["ens_auc"]))
            + " / "
            + mark(ours_acc, best_acc, _f(rec["ens_acc"]))
        )
    cells = [mean_cell, ens_cell]
    for m in methods:
        a, c = rec[f"paper_auc:{m}"], rec[f"paper_acc:{m}"]
        cells.append(mark(a, best_auc, _f(a)) + " / " + mark(c, best_acc, _f(c)))
    return cells


def _row_head(rec: pd.Series) -> list[str]:
    data = rec["data"] if rec["data"] == "official" else f"UNOFFICIAL ({rec['data_file']})"
    return [rec["dataset"], rec["protocol"], data, rec["model"], str(rec["seeds"])]


def run_note(rec: pd.Series | dict[str, Any]) -> str:
    """Epochs and subsets of a row, printed beside its Δ vs paper: a short run on a subset is not
    the paper's protocol ("1 ep, train ≤ 200, eval ≤ 100"; "full" = the whole split)."""

    def given(key: str) -> Any:
        value = rec.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    epochs, train, test = given("epochs"), given("max_train_images"), given("max_eval_images")
    return ", ".join([
        f"{int(epochs)} ep" if epochs is not None else "epochs ?",
        f"train ≤ {int(train)}" if train is not None else "full train",
        f"eval ≤ {int(test)}" if test is not None else "full test",
    ])  # fmt: skip


def _row_tail(rec: pd.Series) -> list[str]:
    return [
        f"{_f(rec['delta_auc_vs_paper'], 3)} / {_f(rec['delta_acc_vs_paper'], 3)}"
        f" ({run_note(rec)})",
        _f(rec["macro_recall"]),
        _f(rec["macro_f1"]),
        _f(rec["ece"]),
        _f(rec["wall_time_s"], 1),
        _f(rec["train_images_per_s"], 1),
    ]


HEAD = ["dataset", "protocol", "data", "model", "seeds", "radlens AUC / ACC (mean ± sd)",
        "radlens ensemble"]  # fmt: skip
TAIL = [
    "Δ vs paper (same model; epochs, subsets)",
    "macro recall",
    "macro F1",
    "ECE",
    "wall s / run",
    "train img/s",
]


def _sections(df: pd.DataFrame):
    for is_3d, methods in ((False, METHODS_2D), (True, METHODS_3D)):
        part = df[df["is_3d"] == is_3d] if len(df) else df
        if len(part):
            yield ("3D datasets" if is_3d else "2D datasets"), methods, part


def to_markdown(df: pd.DataFrame) -> str:
    lines = [
        "# radlens on MedMNIST v2 beside the paper",
        "",
        "Test AUC / ACC (MedMNIST evaluator). radlens: mean ± sd over seeds; ensemble: mean"
        " probability of the seeds. Paper values: " + CITATION + " Best value of each row in"
        " **bold** (AUC and ACC separately). Rows on UNOFFICIAL data are not comparable with the"
        " paper's official test sets in a strict sense; see the data column.",
        "",
    ]
    for title, methods, part in _sections(df):
        cols = HEAD + [f"paper {m}" for m in methods] + TAIL
        lines += [f"## {title}", "", "| " + " | ".join(cols) + " |",
                  "|" + "---|" * len(cols)]  # fmt: skip
        for _, rec in part.iterrows():
            cells = _row_head(rec) + _cells(rec, methods, lambda t: f"**{t}**") + _row_tail(rec)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Per-class recall / F1 (mean over seeds, test split)", ""]
    for _, rec in df.iterrows():
        f1 = rec["f1_per_class"]
        per = ", ".join(
            f"{k}: {r:.3f} / {f1.get(k, float('nan')):.3f}"
            for k, r in rec["recall_per_class"].items()
        )
        lines.append(f"- {rec['dataset']} {rec['protocol']} {rec['model']}: {per}")
    return "\n".join(lines) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px;margin-bottom:2em}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:right;white-space:nowrap}
th{background:#f2f2f2} td.l{text-align:left} b{color:#0a5d00}
tr.unofficial td{background:#fff8e1} .note{max-width:70em;font-size:13px}
"""


def to_html(df: pd.DataFrame) -> str:
    def bold(t: str) -> str:
        return f"<b>{t}</b>"

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>radlens MedMNIST bench</title>",
        f"<style>{CSS}</style></head><body><h1>radlens on MedMNIST v2 beside the paper</h1>",
        "<p class='note'>Test AUC / ACC computed as the official MedMNIST evaluator does. radlens:"
        " mean ± sd over seeds; ensemble: mean probability over the seeds. Best value per row in"
        " bold green (AUC and ACC separately). Rows on <b>UNOFFICIAL</b> data (highlighted) were"
        " not trained/tested on the official files. Paper values: "
        f"{html.escape(CITATION)}</p>",
    ]
    for title, methods, part in _sections(df):
        cols = HEAD + [f"paper {m}" for m in methods] + TAIL
        parts.append(f"<h2>{title}</h2><table><tr>")
        parts += [f"<th>{html.escape(c)}</th>" for c in cols]
        parts.append("</tr>")
        for _, rec in part.iterrows():
            cls = "" if rec["data"] == "official" else " class='unofficial'"
            head = [f"<td class='l'>{html.escape(c)}</td>" for c in _row_head(rec)]
            body = [f"<td>{c}</td>" for c in _cells(rec, methods, bold)]
            tail = [f"<td>{html.escape(c)}</td>" for c in _row_tail(rec)]
            parts.append(f"<tr{cls}>" + "".join(head + body + tail) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Per-class recall / F1 (test, mean over seeds)</h2><table>")
    parts.append("<tr><th>dataset</th><th>protocol</th><th>model</th><th>class</th>"
                 "<th>recall</th><th>F1</th></tr>")  # fmt: skip
    for _, rec in df.iterrows():
        for k, r in rec["recall_per_class"].items():
            parts.append(
                f"<tr><td class='l'>{html.escape(rec['dataset'])}</td>"
                f"<td class='l'>{html.escape(rec['protocol'])}</td>"
                f"<td class='l'>{html.escape(rec['model'])}</td><td class='l'>{html.escape(k)}</td>"
                f"<td>{r:.3f}</td><td>{rec['f1_per_class'].get(k, float('nan')):.3f}</td></tr>"
            )
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_tables(out: str | Path, rows: list[dict[str, Any]]) -> dict[str, Path]:
    """Write bench.csv (summary), runs.csv (every row), bench.md and bench.html into `out`."""
    out = Path(out)
    df = summarize(rows)
    paths = {name: out / name for name in ("bench.csv", "runs.csv", "bench.md", "bench.html")}
    flat = df.copy()
    for col in ("recall_per_class", "f1_per_class"):
        if col in flat:
            flat[col] = flat[col].map(json.dumps)
    flat.to_csv(paths["bench.csv"], index=False)
    raw = pd.DataFrame(
        [{k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()} for r in rows]
    )
    raw.to_csv(paths["runs.csv"], index=False)
    paths["bench.md"].write_text(to_markdown(df))
    paths["bench.html"].write_text(to_html(df))
    return paths
