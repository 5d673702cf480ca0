"""The labeler kernel: the Cython-compiled extension and the same source run as plain Python give
identical rows, sentences and matches; the loader falls back to pure Python when the extension is
missing, stale or switched off."""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from _support.shared import missing_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radlens.reports import accel as _accel
from radlens.reports import kernel as pure
from radlens.reports.matcher import compiled_for, normalize, scan

PHRASES = [
    "no", "pleural effusion", "nodule", "nodules", "right upper lobe", "possible", "bilateral",
    "heart size", "is normal", "not seen", "but", "?", "!", ".", ". ", ";", ",", "  ", "\n",
    "FINDINGS:", "History:", "Dr.", "e.g.", "3.5", "resolved", "GGO", "RLL", "effusion-thickening",
    "lower lobes", "right", "İ", "ß", "\x00", "•", "1.", '."', ".)", "\u00a0", "mm", "ΣΑΣ",
    "\u212a", "é", "consolidation and atelectasis in the left lower lobe", "Pneumothorax?",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(PHRASES), st.text(max_size=4)), max_size=40).map(
    " ".join
)


def _compiled_module() -> types.ModuleType:
    try:
        return importlib.import_module("radlens.reports.kernel_c")
    except ImportError:
        missing_data(
            "the compiled kernel is not built (pip install -e . with Cython and a compiler)"
        )


def _real_reports(reports_dir: Path, n: int = 400) -> list[str]:
    ct = reports_dir / "ct_rate_valid_reports" / "validation_reports_decomposed.csv"
    xr = reports_dir / "iu_xray_openi" / "indiana_reports.csv"
    if not ct.is_file() or not xr.is_file():
        missing_data("real report files not present")
    df = pd.read_csv(ct, nrows=n)
    out = (
        df["Findings_EN"].fillna("") + "\nIMPRESSION: " + df["Impressions_EN"].fillna("")
    ).tolist()
    ind = pd.read_csv(xr, nrows=n)
    out += (ind["findings"].fillna("") + " Impression: " + ind["impression"].fillna("")).tolist()
    return out


@functools.cache
def _tables(module: types.ModuleType, vocab: str):
    return module.Tables(compiled_for(vocab))


def _agree(fast: types.ModuleType, text: str, vocab: str = "chest_ct") -> None:
    ft, pt = _tables(fast, vocab), _tables(pure, vocab)
    assert fast.split_sentences(text) == pure.split_sentences(text)
    assert fast.report_rows(text, ft) == pure.report_rows(text, pt)
    assert fast.sentence_rows(text, ft) == pure.sentence_rows(text, pt)


def test_compiled_and_pure_kernels_agree_on_real_reports(reports_dir: Path) -> None:
    fast = _compiled_module()
    for text in _real_reports(reports_dir):
        _agree(fast, text)
        _agree(fast, text, "chest_xr")


@pytest.mark.parametrize(
    "text",
    [
        "Atelectasis, less likely pneumonia.",
        "Likely atelectasis, less likely pneumonia at the left base.",
        "Atelectasis versus pneumonia at the left base.",
        "Atelectasis vs. pneumonia in the left lower lobe; no effusion, likely small pneumothorax.",
        "Pneumonia is less likely. Effusion, more likely atelectasis, at the right base.",
    ],
)
def test_compiled_and_pure_kernels_agree_on_differentials(text: str) -> None:
    fast = _compiled_module()
    _agree(fast, text)
    _agree(fast, text, "chest_xr")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_compiled_and_pure_kernels_agree_on_any_text(text: str) -> None:
    _agree(_compiled_module(), text)


def test_compiled_scan_finds_the_aho_corasick_matches(reports_dir: Path) -> None:
    fast = _compiled_module()
    compiled = compiled_for("chest_ct")
    t = _tables(fast, "chest_ct")
    for text in [*_real_reports(reports_dir, 100), "Ä pleural  effusion, \u212aerley İ lines"]:
        assert fast.match_list(text, t) == scan(compiled, f" {normalize(text)} ")


def test_pure_kernel_scan_is_the_aho_corasick_scan() -> None:
    compiled = compiled_for("chest_ct")
    text = "No pleural effusion; bilateral lower lobe atelectasis. Heart size is normal."
    assert pure.match_list(text, pure.Tables(compiled)) == scan(compiled, f" {normalize(text)} ")


def test_loader_uses_pure_python_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADLENS_PURE_PYTHON", "1")
    module, why = _accel._load()
    assert module is pure and "RADLENS_PURE_PYTHON" in why


def test_loader_rejects_a_stale_extension(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stale = types.ModuleType("radlens.reports.kernel_c")
    stale.SOURCE_SHA256 = "0" * 64  # built from another kernel.py
    stale.__file__ = "stale.so"
    monkeypatch.delenv("RADLENS_PURE_PYTHON", raising=False)
    monkeypatch.setitem(sys.modules, "radlens.reports.kernel_c", stale)
    with caplog.at_level(logging.WARNING, logger="radlens.reports.accel"):
        module, why = _accel._load()
    assert module is pure and "stale" in why
    assert "rebuild" in caplog.text


def test_loader_without_extension_is_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RADLENS_PURE_PYTHON", raising=False)
    monkeypatch.setitem(sys.modules, "radlens.reports.kernel_c", None)  # import fails
    module, why = _accel._load()
    assert module is pure and "not built" in why


def test_built_extension_is_current_and_used(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _compiled_module()
    monkeypatch.delenv("RADLENS_PURE_PYTHON", raising=False)
    module, why = _accel._load()
    assert module is fast, f"{why}: rebuild the extension with `pip install -e .`"
    assert fast.cython_compiled() and not pure.cython_compiled()


def test_long_sentence_grows_the_scratch_buffers() -> None:
    """One sentence with far more hits, terms, cues and rows than the reused buffers start with
    (32 hits, 64 rows, 256 cues) labels as its single clause does, in both kernels."""
    clause = (
        "no pleural effusion in the right lung, possible consolidation and atelectasis in the "
        "left lower lobe and the lingula, nodules in both lower lobes"
    )
    fast = _compiled_module() if _accel.COMPILED else pure
    for module in {fast, pure}:
        t = _tables(module, "chest_ct")
        one = module.report_rows(clause + ".", t)
        many = module.report_rows("; ".join([clause] * 120) + ".", t)
        assert len(many) == len(one) >= 6
        assert [r[:4] for r in many] == [r[:4] for r in one]
        rows = module.sentence_rows(clause, t)
        long_rows = module.sentence_rows("; ".join([clause] * 120), t)
        assert [(r[0], r[2], r[5]) for r in long_rows] == [(r[0], r[2], r[5]) for r in rows] * 120


def test_kernel_is_thread_safe(reports_dir: Path) -> None:
    """Threads sharing one vocabulary each take their own scratch buffers from its pool."""
    reports = _real_reports(reports_dir, 150)
    t = _accel.kernel.Tables(compiled_for("chest_ct"))
    expected = [_accel.kernel.report_rows(x, t) for x in reports]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(lambda x: _accel.kernel.report_rows(x, t), reports)) == expected


def test_compiled_scope_walk_is_linear_in_a_giant_sentence() -> None:
    """A term's walk to its cues stops at the first hit out of scope: a 1 MB sentence of terms
    without cues takes well under a second (walking to every earlier hit took about 40 s)."""
    fast = _compiled_module()
    text = "nodule, " * 125_000
    start = time.process_time()
    rows = fast.report_rows(text, _tables(fast, "chest_ct"))
    assert time.process_time() - start < 5.0
    assert [r[:3] for r in rows] == [("nodule", None, "present")]
