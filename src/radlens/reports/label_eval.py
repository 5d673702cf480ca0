"""Compare labeler output with gold labels: per-label precision / recall / F1, micro / macro F1.

Two gold formats:

* **wide**: an id column plus one column per label with 1 (present), 0 (absent / not mentioned),
  -1 (uncertain) or empty (gold: not mentioned; the prediction table of ``radlens label`` writes
  uncertain as NaN / empty). Gold columns map to vocabulary ids through a mapping YAML
  (``vocab/mappings/<name>.yaml``: ``vocabulary: <name>`` and ``labels: {gold column: [abnormality
  ids]}``; a column is predicted positive when any listed id is present) or, without a mapping, by
  equal name. Labels made with another vocabulary than the mapping's are refused by name.
* **findings** (radlens' own hand-labelled sets): columns ``id, text, findings`` where findings is
  ``abnormality[@location]=status`` items separated by ``;`` (status present / absent / uncertain;
  ``=present`` may be left out). Scored per (report, abnormality, status) over all three statuses,
  so a missed negation counts, and per (report, abnormality, location, status) for located items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from radlens.errors import EvaluationError
from radlens.reports.labeler import STATUSES, Finding
from radlens.reports.sections import NON_REPORTING
from radlens.reports.tables import wide_columns
from radlens.reports.vocabulary import VOCAB_DIR, available_vocabularies, load_vocabulary

MAPPING_DIR = VOCAB_DIR / "mappings"


@dataclass(frozen=True)
class LabelScore:
    """Counts and scores of one label."""

    label: str
    tp: int
    fp: int
    fn: int
    support: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class EvalResult:
    """Per-label scores, micro / macro F1 and the disagreements (id, label, gold, predicted)."""

    labels: list[LabelScore]
    micro_f1: float
    macro_f1: float
    micro_precision: float
    micro_recall: float
    disagreements: list[tuple[str, str, str, str]] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Per-label table (one row per label)."""
        return pd.DataFrame([s.__dict__ for s in self.labels])

    def to_dict(self) -> dict:
        return {
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "micro_precision": self.micro_precision,
            "micro_recall": self.micro_recall,
            "labels": [s.__dict__ for s in self.labels],
            "n_disagreements": len(self.disagreements),
        }


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score_sets(
    gold: Mapping[str, set], pred: Mapping[str, set], ids: Sequence[str] | None = None
) -> EvalResult:
    """Score per label: gold[label] / pred[label] are sets of positive item keys (report ids...)."""
    labels = sorted(set(gold) | set(pred))
    scores, dis = [], []
    TP = FP = FN = 0
    for lab in labels:
        g, p = gold.get(lab, set()), pred.get(lab, set())
        tp, fp, fn = len(g & p), len(p - g), len(g - p)
        TP, FP, FN = TP + tp, FP + fp, FN + fn
        pr, rc, f1 = _prf(tp, fp, fn)
        scores.append(LabelScore(lab, tp, fp, fn, len(g), pr, rc, f1))
        dis += [(str(k), lab, "0", "1") for k in sorted(p - g, key=str)]
        dis += [(str(k), lab, "1", "0") for k in sorted(g - p, key=str)]
    mp, mr, mf = _prf(TP, FP, FN)
    supported = [s.f1 for s in scores if s.support > 0]
    macro = float(np.mean(supported)) if supported else mf
    return EvalResult(scores, mf, macro, mp, mr, dis)


def _read_mapping(name_or_path: str | Path) -> tuple[Path, dict]:
    path = Path(name_or_path)
    if not path.suffix:
        path = MAPPING_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in MAPPING_DIR.glob("*.yaml"))
        raise EvaluationError(
            f"label mapping {name_or_path!r} not found [expected a path or {names}]"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return path, data if isinstance(data, dict) else {}


def mapping_vocabulary(name_or_path: str | Path) -> str | None:
    """The vocabulary whose ids a mapping lists (its ``vocabulary:`` key); None when unstated."""
    path, data = _read_mapping(name_or_path)
    need = data.get("vocabulary")
    if need is not None and not isinstance(need, str):
        raise EvaluationError(f"label mapping {path}: field 'vocabulary' must be a name")
    return need


def labels_vocabulary(columns) -> str | None:
    """The packaged vocabulary whose wide columns (`radlens label`) all appear in `columns`."""
    have = set(map(str, columns))
    fits = [(len(c), n) for n in available_vocabularies() if (c := set(_wide(n))) <= have]
    return max(fits)[1] if fits else None


def _wide(name: str) -> list[str]:
    return wide_columns(load_vocabulary(name))


def load_mapping(name_or_path: str | Path) -> dict[str, tuple[str, ...]]:
    """A gold-column -> vocabulary-ids mapping by name (``ct_rate``) or path."""
    path, data = _read_mapping(name_or_path)
    labels = data.get("labels")
    if not isinstance(labels, dict):
        raise EvaluationError(f"label mapping {path}: field 'labels' must be a mapping")
    out = {}
    for k, v in labels.items():
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise EvaluationError(f"label mapping {path}: entry {k!r} must be a list of ids")
        out[str(k)] = tuple(v)
    return out


def report_positive_sets(
    ids: Sequence[str],
    findings: Sequence[Sequence[Finding]],
    mapping: Mapping[str, Sequence[str]],
    uncertain: str = "positive",
) -> dict[str, set]:
    """For each mapped label, the ids whose findings (reporting sections) make it positive."""
    ok = {"present"} | ({"uncertain"} if uncertain == "positive" else set())
    by_abn: dict[str, set] = {}
    for rid, fs in zip(ids, findings, strict=True):
        for f in fs:
            if f.status in ok and f.section not in NON_REPORTING:
                by_abn.setdefault(f.abnormality, set()).add(rid)
    return {
        lab: set().union(*(by_abn.get(a, set()) for a in abns)) for lab, abns in mapping.items()
    }


def parse_findings_cell(cell: str, where: str) -> list[tuple[str, str | None, str]]:
    """``"nodule@right_upper_lobe=present; pleural_effusion=absent"`` -> [(abn, loc, status)]."""
    out = []
    for item in str(cell).split(";"):
        item = item.strip()
        if not item:
            continue
        name, _, status = item.partition("=")
        status = status.strip() or "present"
        if status not in STATUSES:
            raise EvaluationError(f"{where}: status {status!r} in {item!r} [expected {STATUSES}]")
        abn, _, loc = name.strip().partition("@")
        out.append((abn, loc or None, status))
    return out


def findings_items(ids: Sequence[str], findings: Sequence[Sequence[Finding]]) -> tuple[set, set]:
    """(report, abnormality, status) items (strongest status per abnormality) and located items."""
    rank = {"absent": 0, "uncertain": 1, "present": 2}
    report_level, located = set(), set()
    for rid, fs in zip(ids, findings, strict=True):
        best: dict[str, str] = {}
        for f in fs:
            if f.section in NON_REPORTING:
                continue
            if f.abnormality not in best or rank[f.status] > rank[best[f.abnormality]]:
                best[f.abnormality] = f.status
            if f.location:
                located.add((rid, f.abnormality, f.location, f.status))
        report_level |= {(rid, a, s) for a, s in best.items()}
    return report_level, located


def evaluate_findings_gold(
    gold: pd.DataFrame, findings: Sequence[Sequence[Finding]], id_column: str = "id"
) -> tuple[EvalResult, EvalResult]:
    """Score labeler findings against a findings-format gold table: (report-level, located)."""
    ids = gold[id_column].astype(str).tolist()
    g_rep, g_loc = set(), set()
    for rid, cell in zip(ids, gold["findings"].fillna(""), strict=True):
        items = parse_findings_cell(cell, f"gold row {rid}")
        rank = {"absent": 0, "uncertain": 1, "present": 2}
        best: dict[str, str] = {}
        for abn, loc, st in items:
            if abn not in best or rank[st] > rank[best[abn]]:
                best[abn] = st
            if loc:
                g_loc.add((rid, abn, loc, st))
        g_rep |= {(rid, a, s) for a, s in best.items()}
    p_rep, p_loc = findings_items(ids, findings)
    located_ids = {(r, a) for r, a, _, _ in g_loc}
    p_loc = {x for x in p_loc if (x[0], x[1]) in located_ids}

    def by_label(items, n):
        out: dict[str, set] = {}
        for it in items:
            out.setdefault(f"{it[1]}={it[-1]}", set()).add(it[:n])
        return out

    return (
        score_sets(by_label(g_rep, 1), by_label(p_rep, 1)),
        score_sets(by_label(g_loc, 3), by_label(p_loc, 3)),
    )


def _read_table(path: Path, csv_dtype: type | None = None) -> pd.DataFrame:
    """Read a parquet (by suffix) or CSV label table; EvaluationError when it cannot be read."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=csv_dtype)
    except Exception as exc:  # pandas / pyarrow raise many types for a bad file
        raise EvaluationError(f"label table {path}: cannot read ({exc})") from exc


def read_wide(path: str | Path, id_column: str) -> pd.DataFrame:
    """A wide label table (CSV or parquet) indexed by id (as str)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"label table {path} not found")
    df = _read_table(path)
    if id_column not in df.columns:
        raise EvaluationError(
            f"label table {path}: no id column {id_column!r} [columns: {list(df.columns)[:12]}]"
        )
    if df[id_column].duplicated().any():
        raise EvaluationError(f"label table {path}: duplicate ids in column {id_column!r}")
    return df.set_index(df[id_column].astype(str)).drop(columns=[id_column])


def evaluate_files(
    pred: str | Path,
    gold: str | Path,
    *,
    id_column: str = "report_id",
    gold_id_column: str | None = None,
    mapping: str | Path | None = None,
    uncertain: str = "positive",
) -> EvalResult:
    """Score a wide prediction table (from ``radlens label``) against a wide gold table."""
    p = read_wide(pred, id_column)
    g = read_wide(gold, gold_id_column or id_column)
    common = p.index.intersection(g.index)
    if len(common) == 0:
        raise EvaluationError(
            f"no report id in common between {pred} (ids e.g. {list(p.index[:3])}) and {gold} "
            f"(ids e.g. {list(g.index[:3])}) [expected the same report ids; check the id columns]"
        )
    maps = load_mapping(mapping) if mapping else {c: (c,) for c in g.columns if c in p.columns}
    need = mapping_vocabulary(mapping) if mapping else None
    have = labels_vocabulary(p.columns) if need else None
    if need and have and need != have:
        raise EvaluationError(
            f"label mapping {str(mapping)!r} needs labels of vocabulary {need!r}, but {pred} has "
            f"the labels of vocabulary {have!r} [relabel with `radlens label --vocab {need}`]"
        )
    if not maps:
        raise EvaluationError(
            f"no label column of {gold} is in {pred}; pass --mapping (e.g. ct_rate, openi_negbio)"
        )
    pos_value = {1} | ({-1} if uncertain == "positive" else set())
    uncertain_positive = uncertain == "positive"
    gold_sets, pred_sets = {}, {}
    for lab, abns in maps.items():
        if lab not in g.columns:
            raise EvaluationError(f"gold table {gold}: no column {lab!r} named by the mapping")
        missing = [a for a in abns if a not in p.columns]
        if missing:
            raise EvaluationError(
                f"prediction table {pred}: no column {missing[0]!r} named by label mapping "
                f"{str(mapping)!r}" + (f" (vocabulary {need!r})" if need else "")
            )
        gv = pd.to_numeric(g.loc[common, lab], errors="coerce").fillna(0).to_numpy()
        pv = p.loc[common, list(abns)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        gold_sets[lab] = set(common[np.isin(gv, list(pos_value))])
        predicted = (pv == 1) | (uncertain_positive & (np.isnan(pv) | (pv == -1)))
        pred_sets[lab] = set(common[predicted.any(axis=1)])
    return score_sets(gold_sets, pred_sets)


def _long_to_findings(path: Path, ids: Sequence[str]) -> list[list[Finding]]:
    """Rebuild per-report findings from a long table written by ``radlens label``."""
    df = _read_table(path, csv_dtype=str)
    need = {"report_id", "abnormality", "location", "status", "section"}
    if not need <= set(df.columns):
        raise EvaluationError(
            f"label table {path}: expected the long table of `radlens label` with columns "
            f"{sorted(need)}"
        )
    by_id: dict[str, list[Finding]] = {}
    for row in df.itertuples(index=False):
        loc = row.location if isinstance(row.location, str) and row.location else None
        f = Finding(row.abnormality, loc, row.status, row.section, "", (0, 0), ())
        by_id.setdefault(str(row.report_id), []).append(f)
    return [by_id.get(str(i), []) for i in ids]


def evaluate_paths(
    pred: str | Path,
    gold: str | Path,
    *,
    id_column: str = "report_id",
    gold_id_column: str | None = None,
    mapping: str | Path | None = None,
    uncertain: str = "positive",
) -> dict[str, EvalResult]:
    """Score predictions against a gold table of either format (see the module docstring).

    Findings-format gold (columns id, text, findings) is scored against the LONG table of
    ``radlens label``; wide gold against the wide table (``labels.wide.parquet``).
    Returns {"report": ...} and, for findings gold, also {"located": ...}.
    """
    pred, gold = Path(pred), Path(gold)
    if not gold.is_file():
        raise EvaluationError(f"gold table {gold} not found")
    if uncertain not in ("positive", "negative"):
        raise EvaluationError(f"--uncertain {uncertain!r} [expected 'positive' or 'negative']")
    head = pd.read_csv(gold, nrows=0, dtype=str).columns
    if "findings" in head:
        gid = gold_id_column or "id"
        g = pd.read_csv(gold, dtype=str, keep_default_na=False)
        if gid not in g.columns:
            raise EvaluationError(f"gold table {gold}: no id column {gid!r}")
        long_path = pred
        if not pred.is_file():
            raise EvaluationError(f"prediction table {pred} not found")
        if ".wide" in pred.suffixes or pred.stem.endswith(".wide"):
            long_path = pred.with_name(pred.name.replace(".wide", ""))
        findings = _long_to_findings(long_path, g[gid].astype(str).tolist())
        rep, loc = evaluate_findings_gold(g, findings, id_column=gid)
        return {"report": rep, "located": loc}
    return {
        "report": evaluate_files(
            pred,
            gold,
            id_column=id_column,
            gold_id_column=gold_id_column,
            mapping=mapping,
            uncertain=uncertain,
        )
    }
