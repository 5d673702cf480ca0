"""Positives by meaning: a sentence is true of every image whose report says the same, by the
labeler's reading, with findings a report does not name taken as absent."""

from __future__ import annotations

import torch

from radlens.pretrain import train_tokenizer
from radlens.pretrain.batches import SentenceBank
from radlens.pretrain.semantic import report_state, semantic_holds
from radlens.reports import label_many

REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax.",
    "FINDINGS: There is a right apical pneumothorax. Bony thorax is intact.",
    "FINDINGS: The lungs are clear. Bony thorax is intact.",
    "FINDINGS: Moderate right pleural effusion. Possible pneumothorax.",
]


def test_report_state_is_closed_world() -> None:
    eff = frozenset({("pleural_effusion", "present")})
    ptx_no = frozenset({("pneumothorax", "absent")})
    ptx_maybe = frozenset({("pneumothorax", "uncertain")})
    assert report_state([eff, ptx_no]) == {
        "pleural_effusion": "present", "pneumothorax": "absent", "no_finding": "absent",
    }  # fmt: skip
    # disagreeing sentences: present before uncertain before absent
    assert report_state([ptx_no, ptx_maybe])["pneumothorax"] == "uncertain"
    # nothing positive named: no finding
    assert report_state([ptx_no]) == {"pneumothorax": "absent", "no_finding": "present"}
    assert report_state([]) == {"no_finding": "present"}


def _holds(reports: list[str]) -> tuple[list[str], list[int], torch.Tensor]:
    tok = train_tokenizer(reports, vocab_size=300)
    bank = SentenceBank.build(tok, reports, max_len=32, max_sentences=8, semantic="chest_xr")
    return bank.key.tolist(), bank.count.tolist(), bank.holds


def test_semantic_positives_by_hand() -> None:
    keys, count, holds = _holds(REPORTS)
    assert count == [2, 2, 2, 2]
    eff0, no_ptx, ptx, bony, clear, eff3, maybe = keys[0], keys[1], keys[2], keys[3], keys[4], \
        keys[6], keys[7]  # fmt: skip
    # "Small left" and "Moderate right" pleural effusion mean the same to the global loss
    assert eff0 == eff3
    # the same words (no finding named) keep one key; the rest are distinct
    assert keys[3] == keys[5] and len({eff0, no_ptx, ptx, bony, clear, maybe}) == 6
    y = holds.int()
    # effusion: reports 0 and 3; "No pneumothorax.": 0 and the clear report 2 (not named there
    # = absent), not 1 (present) nor 3 (uncertain); "pneumothorax" present: report 1 only
    assert y[:, eff0].tolist() == [1, 0, 0, 1]
    assert y[:, no_ptx].tolist() == [1, 0, 1, 0]
    assert y[:, ptx].tolist() == [0, 1, 0, 0]
    assert y[:, maybe].tolist() == [0, 0, 0, 1]
    # a sentence naming no finding: the exact-words rule
    assert y[:, bony].tolist() == [0, 1, 1, 0]
    # "The lungs are clear.": no finding, true of every report naming nothing present
    assert y[:, clear].tolist() == [0, 0, 1, 0]


def test_every_report_holds_its_own_sentences() -> None:
    reports = ["FINDINGS: No pneumothorax. Small pneumothorax at the left apex."]
    keys, _, holds = _holds(reports)
    assert holds[0, keys].all()


def test_semantic_holds_matches_the_bank() -> None:
    sentences = ["No pneumothorax.", "Cardiomegaly.", "No pneumothorax."]
    found = label_many(sentences, "chest_xr")
    keys, holds = semantic_holds(found, [0, 2], [2, 1], ["a", "b", "a"])
    assert keys[0] == keys[2] != keys[1]
    assert holds.int().tolist() == [[1, 1], [1, 0]]


def test_located_positives_keep_the_side() -> None:
    reports = [
        "FINDINGS: Small left pleural effusion.",
        "FINDINGS: Moderate right pleural effusion.",
        "FINDINGS: Pleural effusion.",
        "FINDINGS: No pleural effusion.",
    ]
    tok = train_tokenizer(reports, vocab_size=300)
    bank = SentenceBank.build(tok, reports, max_len=32, max_sentences=8, semantic="chest_xr",
                              located=True)  # fmt: skip
    # the global loss: any effusion is an effusion
    assert bank.holds[:, bank.key[0]].int().tolist() == [1, 1, 1, 0]
    # the local loss: the left effusion is not true of the right one; a report naming no side
    # can hold either; "No pleural effusion." only the last
    loc = bank.local_holds.int()
    assert loc[:, bank.local_key[0]].tolist() == [1, 0, 1, 0]
    assert loc[:, bank.local_key[1]].tolist() == [0, 1, 1, 0]
    assert loc[:, bank.local_key[3]].tolist() == [0, 0, 0, 1]
    picked = bank.draw_local(torch.tensor([1, 0]))
    assert picked.dense().int().tolist() == [[1, 0], [0, 1]]
    assert bank.take(torch.tensor([1])).local_holds.shape == (1, bank.local_holds.shape[1])
