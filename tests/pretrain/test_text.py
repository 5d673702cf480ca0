"""The text side: sentences from the reports rules, the run-time tokenizer, padding masks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from radlens.errors import ConfigError, DataError, ReportError
from radlens.pretrain import (
    ASSERTION_CODES,
    TextEncoder,
    encode_reports,
    load_tokenizer,
    report_sentences,
    train_tokenizer,
)
from radlens.pretrain.text import corpus_texts

REPORT = (
    "INDICATION: cough. FINDINGS: Small left pleural effusion. No pneumothorax."
    " IMPRESSION: Effusion."
)


def test_report_sentences_drop_non_reporting_sections_and_headers() -> None:
    spans = report_sentences(REPORT)
    assert [REPORT[a:b] for a, b in spans] == [
        "Small left pleural effusion.",
        "No pneumothorax.",
        "Effusion.",
    ]
    assert report_sentences("") == []


def test_tokenizer_round_trip_and_sentence_index(tmp_path) -> None:
    tok = train_tokenizer([REPORT, "Normal chest. Heart size normal."] * 3, vocab_size=300)
    tok.save(str(tmp_path / "tokenizer.json"))
    again = load_tokenizer(tmp_path / "tokenizer.json")
    batch = encode_reports(again, [REPORT, "Normal chest."], max_len=64)
    assert batch.ids.shape == batch.mask.shape == batch.sentence.shape
    assert batch.n_sentences.tolist() == [3, 1]
    # [CLS] and padding belong to no sentence; "effusion" tokens belong to sentence 0
    assert batch.sentence[0, 0] == -1 and (batch.sentence[1][~batch.mask[1]] == -1).all()
    words = [again.id_to_token(int(i)) for i in batch.ids[0][batch.sentence[0] == 0]]
    assert "left" in words and "pneumothorax" not in words
    with pytest.raises(DataError, match="no tokenizer"):
        load_tokenizer(tmp_path / "none.json")


def test_corpus_folder(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "r1.txt").write_text("Clear lungs.")
    assert corpus_texts(tmp_path) == ["Clear lungs."]
    with pytest.raises(DataError, match="no such folder"):
        corpus_texts(tmp_path / "a" / "r1.txt")
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=r"no \.txt files"):
        corpus_texts(tmp_path / "b")


def test_encoder_ignores_padding() -> None:
    torch.manual_seed(0)
    tok = train_tokenizer([REPORT, "Normal chest."], vocab_size=200)
    batch = encode_reports(tok, [REPORT, "Normal chest."])
    enc = TextEncoder(tok.get_vocab_size(), width=32, layers=2, heads=4, dropout=0.0).eval()
    _, report, sentences, sent_mask = enc(batch)
    assert sentences.shape[:2] == sent_mask.shape == (2, 3)
    assert sent_mask.tolist() == [[True, True, True], [True, False, False]]
    changed = batch.ids.clone()
    changed[~batch.mask] = 7  # other tokens where the padding is
    batch.ids = changed
    _, report2, sentences2, _ = enc(batch)
    assert torch.allclose(report[1], report2[1], atol=1e-5)
    assert torch.allclose(sentences[1, 0], sentences2[1, 0], atol=1e-5)


def _marked(tok, batch, row: int) -> dict[str, int]:
    """Each real token of one row -> its assertion mark."""
    ids, marks = batch.ids[row][batch.mask[row]], batch.status[row][batch.mask[row]]
    return {tok.id_to_token(int(i)): int(m) for i, m in zip(ids, marks, strict=True)}


def test_assertion_marks_follow_the_labelers_reading() -> None:
    texts = [
        "FINDINGS: Small left pleural effusion. No pneumothorax. Possible atelectasis.",
        "No pneumothorax.",
        "Pneumothorax.",
    ]
    tok = train_tokenizer(texts * 2, vocab_size=300)
    plain = encode_reports(tok, texts)
    assert not plain.status.any()  # no vocabulary, no marks
    batch = encode_reports(tok, texts, assertions="chest_xr")
    assert torch.equal(batch.ids, plain.ids) and torch.equal(batch.mask, plain.mask)
    first = _marked(tok, batch, 0)
    assert first["effusion"] == ASSERTION_CODES["present"]
    assert first["pneumothorax"] == ASSERTION_CODES["absent"]
    assert first["atelectasis"] == ASSERTION_CODES["uncertain"]
    # the cue, other words, [CLS] / [SEP] and padding carry no mark
    assert first["no"] == first["small"] == first["possible"] == 0
    assert first["[CLS]"] == first["[SEP]"] == 0 and not batch.status[1][~batch.mask[1]].any()
    assert _marked(tok, batch, 1)["pneumothorax"] == ASSERTION_CODES["absent"]
    assert _marked(tok, batch, 2)["pneumothorax"] == ASSERTION_CODES["present"]
    one = batch.take(torch.tensor([1])).trim()  # [CLS] no pneumothorax . [SEP]
    assert one.status[0].tolist() == [0, 0, ASSERTION_CODES["absent"], 0, 0]
    with pytest.raises(ReportError, match=r"unknown vocabulary .no_such_vocabulary."):
        encode_reports(tok, texts, assertions="no_such_vocabulary")


def test_encoder_reads_marks_only_when_built_with_them() -> None:
    torch.manual_seed(0)
    tok = train_tokenizer(["Pneumothorax."], vocab_size=100)
    batch = encode_reports(tok, ["Pneumothorax.", "Pneumothorax."], assertions="chest_xr")
    assert batch.marks == "chest_xr" and batch.take(torch.tensor([0])).trim().marks == "chest_xr"
    batch.status[1, 1:-1] = ASSERTION_CODES["absent"]  # same words, read as denied
    marked = TextEncoder(tok.get_vocab_size(), width=16, layers=1, heads=2, dropout=0.0,
                         assertions="chest_xr").eval()  # fmt: skip
    _, report, _, _ = marked(batch)
    assert not torch.allclose(report[0], report[1], atol=1e-3)
    torch.manual_seed(0)
    plain = TextEncoder(tok.get_vocab_size(), width=16, layers=1, heads=2, dropout=0.0).eval()
    _, report, _, _ = plain(dataclasses.replace(batch, marks=None))
    assert torch.allclose(report[0], report[1], atol=1e-6)


def test_encoder_refuses_texts_marked_otherwise() -> None:
    """A marked model given unmarked texts (or marks of another vocabulary), or an unmarked model
    given marked texts, is a clear error: it would read every mention as 'no finding here'."""
    tok = train_tokenizer(["Pneumothorax."], vocab_size=100)
    plain_text = encode_reports(tok, ["Pneumothorax."])
    ct_text = encode_reports(tok, ["Pneumothorax."], assertions="chest_ct")
    assert plain_text.marks is None and ct_text.marks == "chest_ct"
    marked = TextEncoder(tok.get_vocab_size(), width=16, layers=1, heads=2, assertions="chest_xr")
    plain = TextEncoder(tok.get_vocab_size(), width=16, layers=1, heads=2)
    for encoder, batch in ((marked, plain_text), (marked, ct_text), (plain, ct_text)):
        with pytest.raises(ConfigError, match=r"assertion marks .* this text encoder reads"):
            encoder(batch)


def test_every_mention_is_marked_as_its_sentence_alone() -> None:
    """The labeler decides once per finding per report; marks must not: a finding said in the
    findings and again in the impression is marked both times, and each sentence is marked
    inside its report as it is alone (the local loss reads whole reports, the global loss
    single sentences)."""
    report = ("FINDINGS: Left pleural effusion. No pneumothorax.\n"
              "IMPRESSION: Left pleural effusion. No pneumothorax.")  # fmt: skip
    tok = train_tokenizer([report], vocab_size=200)
    batch = encode_reports(tok, [report, "No pneumothorax."], assertions="chest_xr")
    words = [tok.id_to_token(int(i)) for i in batch.ids[0]]
    marks = batch.status[0].tolist()
    assert [m for w, m in zip(words, marks, strict=True) if w == "pneumothorax"] == [
        ASSERTION_CODES["absent"]
    ] * 2
    assert [m for w, m in zip(words, marks, strict=True) if w == "effusion"] == [
        ASSERTION_CODES["present"]
    ] * 2
    alone = batch.status[1][batch.mask[1]].tolist()[1:-1]  # no pneumothorax .
    at = words.index("no", words.index("impression"))
    assert marks[at : at + len(alone)] == alone
