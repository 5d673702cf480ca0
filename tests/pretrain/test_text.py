"""The text side: sentences from the reports rules, the run-time tokenizer, padding masks."""

from __future__ import annotations

import pytest
import torch

from radlens.errors import DataError
from radlens.pretrain import (
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
