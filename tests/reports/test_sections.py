"""The labeler's fast paths agree with the plain ones: the cached and the uncached (whole-report
scan) paths give the same rows; the str.find sentence splitter agrees with the regex scan."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from _support.shared import missing_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radlens.reports.accel import kernel
from radlens.reports.labeler import label_rows
from radlens.reports.matcher import compile_vocabulary, compiled_for
from radlens.reports.sections import BOUND, LEAD
from radlens.reports.vocabulary import load_vocabulary

PHRASES = [
    "no", "pleural effusion", "nodule", "nodules", "right upper lobe", "possible", "bilateral",
    "heart size", "is normal", "not seen", "but", "?", "!", ".", ". ", ";", ",", "  ", "\n",
    "FINDINGS:", "History:", "Dr.", "e.g.", "3.5", "resolved", "GGO", "RLL", "effusion-thickening",
    "lower lobes", "right", "İ", "ß", "\x00", "•", "1.", '."', ".)", "\u00a0", "mm",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(PHRASES), st.text(max_size=4)), max_size=40).map(
    " ".join
)


def regex_sentences(text: str) -> list[tuple[int, int]]:
    """Reference splitter: one regex scan of the whole text (the rules in sections.py)."""
    out = []
    start = LEAD.match(text).end()
    for m in BOUND.finditer(text):
        if m.group(1):
            end = m.end(1)
        else:
            end = m.start()
            while end > start and text[end - 1] in " \t\r":
                end -= 1
        if end > start:
            out.append((start, end))
        start = m.end()
    end = len(text)
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append((start, end))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(texts, st.text(alphabet="ab .!?\n\t•\"')Dr3", max_size=60)))
def test_sentence_fast_path_matches_regex_scan(text: str) -> None:
    assert kernel.split_sentences(text) == regex_sentences(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_cached_and_uncached_rows_agree(text: str) -> None:
    compiled = compiled_for("chest_ct")
    fresh = compile_vocabulary(load_vocabulary("chest_ct"))  # empty sentence cache
    uncached = sorted(label_rows(text, compiled, cache=False), key=repr)
    assert sorted(label_rows(text, fresh), key=repr) == uncached  # cache misses
    assert sorted(label_rows(text, fresh), key=repr) == uncached  # cache hits


def test_paths_agree_on_real_ct_reports(reports_dir: Path) -> None:
    path = reports_dir / "ct_rate_valid_reports" / "validation_reports_decomposed.csv"
    if not path.is_file():
        missing_data(f"{path} not present")
    df = pd.read_csv(path, nrows=300)
    reports = (df["Findings_EN"].fillna("") + " " + df["Impressions_EN"].fillna("")).tolist()
    fresh = compile_vocabulary(load_vocabulary("chest_ct"))
    for text in reports:
        assert kernel.split_sentences(text) == regex_sentences(text)
        cached = sorted(label_rows(text, fresh), key=repr)
        assert cached == sorted(label_rows(text, fresh, cache=False), key=repr)
        for row in cached:  # spans cite the term inside the cited sentence
            _, _, _, _, s0, s1, a, b, _ = row
            assert s0 <= a < b <= s1 and text[a:b].strip() == text[a:b]
