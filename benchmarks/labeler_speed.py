"""Report-labeler speed: radlens vs medspaCy on chest CT reports, one core, one run; prints JSON.

    .venv/bin/python benchmarks/labeler_speed.py [--reports 20000] [--medspacy-reports 150]

Reports: the CT-RATE texts in ../shared/data/reports (ct_rate_manual train+val, and findings +
impression of ct_rate_valid_reports; about 1,700 characters each). radlens figures (each the
median of ``--repeats`` runs, a fresh compiled vocabulary = empty sentence cache for every run):

* ``distinct_nocache``: every distinct real report once, ``label_rows(..., cache=False)``: one
  scan of the whole report, no memoisation at all -- the honest worst case;
* ``distinct_cache``: the same reports with the sentence cache on, empty at start (real reports
  repeat template sentences even within this set);
* ``corpus_cache``: ``--reports`` new reports made by recombining the sentences of the real
  reports at random (real-looking: template sentences recur as in a hospital archive), cache on
  and empty at start (so the first sight of every distinct sentence is paid for);
* ``corpus_cache_warm``: the same corpus again with the cache already holding its sentences --
  the steady state of a large archive whose sentences have been seen before (an upper bound);
* ``label_many``: `label_many` (Finding objects) on the corpus;
* ``match_only``: the scan alone (character classes + word-hash phrase matching when compiled,
  normalise + Aho-Corasick otherwise) over the real reports, each report's hits dropped before
  the next is scanned;
* ``distinct_nocache_pure_python``: ``distinct_nocache`` with the pure-Python kernel (the fallback
  when the Cython extension is not built), for comparison.

``kernel`` says which kernel ran (`radlens.reports.accel`: the Cython-compiled
``radlens.reports.kernel_c`` built by ``pip install -e .``, or the same source as plain Python).

Each figure is given as wall-clock reports/s and as reports per CPU-second of this process
(``time.process_time``), which is less sensitive to other processes on a shared machine; the
load average at the start and end is printed with them.

medspaCy runs the same vocabulary as an equivalent pipeline (PyRuSH sentences + TargetMatcher rules
for every synonym + ConText with its default rules) on ``--medspacy-reports`` real reports. It must
NOT be installed in the project environment; the script runs it in a separate virtualenv:

    python3.11 -m venv /tmp/radlens-bench-venv && /tmp/radlens-bench-venv/bin/pip install medspacy

(or point ``--medspacy-python`` / $RADLENS_MEDSPACY_PYTHON at another interpreter). The process
pins itself to one CPU core (``--core``, ``os.sched_setaffinity``) and passes the pin on to the
medspaCy subprocess. When medspaCy is unavailable the JSON says so and gives radlens alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV_PY = Path(
    os.environ.get("RADLENS_MEDSPACY_PYTHON", "/tmp/radlens-bench-venv/bin/python")
)

MEDSPACY_SCRIPT = r"""
import json, sys, time
import medspacy
from medspacy.ner import TargetRule
rules, texts = json.load(open(sys.argv[1]))
nlp = medspacy.load()  # PyRuSH sentencizer, target matcher, ConText (default rules)
matcher = nlp.get_pipe("medspacy_target_matcher")
matcher.add([TargetRule(literal=p, category=c) for p, c in rules])
list(nlp.pipe(texts[:5]))  # warm-up
t0, c0 = time.perf_counter(), time.process_time()
n_ents = 0
for doc in nlp.pipe(texts):
    n_ents += len(doc.ents)
dt, dc = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"reports": len(texts), "seconds": dt, "reports_per_s": len(texts) / dt,
                  "reports_per_cpu_s": len(texts) / dc,
                  "entities": n_ents, "medspacy": medspacy.__version__,
                  "pipeline": nlp.pipe_names}))
"""


def load_reports(data: Path) -> list[str]:
    """Distinct CT-RATE report texts."""
    import pandas as pd

    texts: list[str] = []
    for f in ("train.csv", "val.csv"):
        p = data / "ct_rate_manual" / f
        if p.is_file():
            texts += pd.read_csv(p)["report_text"].fillna("").tolist()
    p = data / "ct_rate_valid_reports" / "validation_reports_decomposed.csv"
    if p.is_file():
        df = pd.read_csv(p)
        texts += (df["Findings_EN"].fillna("") + " " + df["Impressions_EN"].fillna("")).tolist()
    texts = list(dict.fromkeys(t for t in texts if t.strip()))
    if not texts:
        sys.exit(f"no CT reports found under {data}")
    return texts


def recombine(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """`n` new reports, each the length of a random real one, built from random real sentences."""
    from radlens.reports.accel import kernel

    rng = random.Random(seed)
    sents = [t[a:b] for t in texts for a, b in kernel.split_sentences(t)]
    lengths = [len(list(kernel.split_sentences(t))) for t in texts]
    return [" ".join(rng.choice(sents) for _ in range(rng.choice(lengths))) for _ in range(n)]


def scan_all(kernel, tables, texts: list[str]) -> None:
    """Scan every text; each scan's hits are dropped before the next (no labeling)."""
    for text in texts:
        kernel.scan_hits(text, tables)


def rate(fn, items) -> tuple[float, float]:
    """(reports per wall second, reports per CPU second of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn(items)
    return len(items) / (time.perf_counter() - t0), len(items) / (time.process_time() - c0)


def median_rate(runs: list[tuple[float, float]]) -> dict:
    wall = sorted(r[0] for r in runs)[len(runs) // 2]
    cpu = sorted(r[1] for r in runs)[len(runs) // 2]
    return {"reports_per_s": round(wall), "reports_per_cpu_s": round(cpu)}


def run_medspacy(python: Path, texts: list[str], core: int | None) -> dict:
    if not python.is_file():
        return {"available": False, "reason": f"{python} not found (see the docstring)"}
    from radlens.reports.vocabulary import load_vocabulary

    vocab = load_vocabulary("chest_ct")
    rules = sorted(
        {(p.lower(), a.id) for a in vocab.abnormalities.values()
         for p in (*a.synonyms, *a.abbreviations)}
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload.json"
        payload.write_text(json.dumps([rules, texts]), encoding="utf-8")
        script = Path(tmp) / "run_medspacy.py"
        script.write_text(MEDSPACY_SCRIPT, encoding="utf-8")
        cmd = [str(python), str(script), str(payload)]
        if core is not None and Path("/usr/bin/taskset").exists():
            cmd = ["taskset", "-c", str(core), *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"available": False, "reason": proc.stderr.strip().splitlines()[-1:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(available=True, target_rules=len(rules))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "reports")
    ap.add_argument("--reports", type=int, default=20000, help="recombined corpus size")
    ap.add_argument("--medspacy-reports", type=int, default=200)
    ap.add_argument("--medspacy-python", type=Path, default=DEFAULT_VENV_PY)
    ap.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: no pinning)")
    ap.add_argument("--repeats", type=int, default=3, help="radlens timings: median of N")
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    core = None if args.core < 0 else args.core
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})

    from radlens.reports import kernel as pure_kernel
    from radlens.reports.labeler import KERNEL, kernel, label_many, label_rows, tables
    from radlens.reports.matcher import compile_vocabulary
    from radlens.reports.vocabulary import load_vocabulary

    load_start = os.getloadavg()
    texts = load_reports(args.data)
    corpus = recombine(texts, args.reports)
    vocab = load_vocabulary("chest_ct")

    def fresh():
        return compile_vocabulary(vocab)  # new automaton, empty sentence cache

    def runs(fn, items):
        return median_rate([rate(fn, items) for _ in range(args.repeats)])

    c = fresh()
    t = tables(c)
    match_only = runs(lambda xs: scan_all(kernel, t, xs), texts)
    nocache = runs(lambda xs: [label_rows(x, c, cache=False) for x in xs], texts)
    pt = pure_kernel.Tables(c)
    pure = median_rate([rate(lambda xs: [pure_kernel.report_rows(x, pt) for x in xs], texts)])
    distinct = median_rate(
        [rate(lambda xs, c=fresh(): [label_rows(t, c) for t in xs], texts) for _ in range(3)]
    )
    cold_start, warm = [], []
    for _ in range(3):
        cc = fresh()
        cold_start.append(rate(lambda xs, c=cc: [label_rows(t, c) for t in xs], corpus))
        warm.append(rate(lambda xs, c=cc: [label_rows(t, c) for t in xs], corpus))
    corpus_rate, warm_rate = median_rate(cold_start), median_rate(warm)
    objs = median_rate([rate(lambda xs: label_many(xs), corpus)])  # Finding objects
    result = {
        "reports_real": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "vocabulary_terms": sum(
            len(a.synonyms) + len(a.abbreviations) + len(a.anchors)
            for a in vocab.abnormalities.values()
        ),
        "automaton_keys": len(c.automaton),
        "core": core,
        "kernel": KERNEL,
        "radlens": {
            "distinct_nocache": nocache,
            "distinct_nocache_pure_python": pure,
            "distinct_cache": distinct,
            "corpus_cache": {**corpus_rate, "reports": len(corpus)},
            "corpus_cache_warm": warm_rate,
            "label_many_corpus": objs,
            "match_only": match_only,
        },
    }
    ms = run_medspacy(args.medspacy_python, texts[: args.medspacy_reports], core)
    result["medspacy"] = ms
    result["load_average"] = {"start": load_start, "end": os.getloadavg()}
    result["target_20000_per_core_distinct_nocache"] = (
        result["radlens"]["distinct_nocache"]["reports_per_cpu_s"] >= 20000
    )
    if ms.get("available"):
        rl = result["radlens"]
        for name in ("distinct_nocache", "distinct_cache", "corpus_cache", "corpus_cache_warm"):
            result[f"ratio_{name}_vs_medspacy"] = {
                "wall": round(rl[name]["reports_per_s"] / ms["reports_per_s"], 1),
                "cpu": round(rl[name]["reports_per_cpu_s"] / ms["reports_per_cpu_s"], 1),
            }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
