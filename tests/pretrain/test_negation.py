"""Negation hard negatives: counterparts of hand-written sentences, the loss on a hand-computed
case, the sentence bank's pairs and the model's "hard" loss term."""

from __future__ import annotations

import math

import pytest
import torch

from radlens.errors import ReportError
from radlens.pretrain import ImageTextConfig, ImageTextModel, encode_reports, train_tokenizer
from radlens.pretrain.batches import SentenceBank
from radlens.pretrain.image_text import PairObjective
from radlens.pretrain.negation import counterpart, hard_negative_loss, hard_pairs

CASES = {
    # denied -> affirmed: the leading cue dropped
    "No evidence of pneumothorax.": "Pneumothorax.",
    "No pleural fluid.": "Pleural fluid.",
    "There is no effusion or pneumothorax.": "There is effusion or pneumothorax.",
    # denied by a cue after the finding -> the finding's name
    "Heart size is normal.": "Cardiomegaly.",
    "Pneumothorax is not seen.": "Pneumothorax.",
    # affirmed -> denied
    "Large left pneumothorax.": "No pneumothorax.",
    "The cardiac silhouette is enlarged.": "No cardiomegaly.",
    "There is a small left pleural effusion.": "There is no small left pleural effusion.",
    # nothing to negate: no finding, uncertain, the vocabulary's "no finding", mixed
    "Bony thorax is intact.": None,
    "PA chest.": None,
    "Possible small effusion.": None,
    "No radiographic evidence of acute cardiopulmonary disease.": None,
    "Small left pleural effusion. No pneumothorax.": None,
}


@pytest.mark.parametrize(("sentence", "expected"), list(CASES.items()))
def test_counterpart_of_hand_written_sentences(sentence: str, expected: str | None) -> None:
    assert counterpart(sentence) == expected


def test_hard_pairs_add_the_canonical_pair_the_right_way_round() -> None:
    assert hard_pairs("No evidence of pneumothorax.") == [
        ("No evidence of pneumothorax.", "Pneumothorax."), ("No pneumothorax.", "Pneumothorax.")
    ]  # fmt: skip
    assert hard_pairs("The heart is enlarged.") == [
        ("The heart is enlarged.", "No cardiomegaly."), ("Cardiomegaly.", "No cardiomegaly.")
    ]  # fmt: skip
    assert hard_pairs("No pneumothorax.") == [("No pneumothorax.", "Pneumothorax.")]
    assert hard_pairs("Bony thorax is intact.") == []


def test_hard_negative_loss_by_hand() -> None:
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    negatives = torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    owner = torch.tensor([0, 1])
    # pair 0: l_pos = 2 * 1, l_neg = 2 * 0; pair 1: l_pos = 2 * 1, l_neg = 2 * 0.8
    want = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-0.4))) / 2
    got = hard_negative_loss(images, positives, negatives, owner, torch.tensor(2.0))
    assert got.item() == pytest.approx(want, abs=1e-6)
    # a negative scoring like its positive costs log 2; no pair at all costs nothing
    same = hard_negative_loss(images, positives, positives, owner, torch.tensor(2.0))
    assert same.item() == pytest.approx(math.log(2), abs=1e-6)
    empty = torch.zeros(0, dtype=torch.long)
    none = hard_negative_loss(images, positives[:0], positives[:0], empty, torch.tensor(2.0))
    assert none.item() == 0.0


REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax. Bony thorax is intact.",
    "FINDINGS: The lungs are clear.",
    "FINDINGS: Cardiomegaly. No cardiomegaly.",  # holds its own counterpart: no pair
]


def _bank(vocab: str | None = "chest_xr"):
    tok = train_tokenizer([*REPORTS, "No pleural effusion. Pneumothorax."], vocab_size=200)
    return tok, SentenceBank.build(tok, REPORTS, max_len=32, max_sentences=8, vocab=vocab)


def _tokens(tok, texts: list[str], width: int) -> torch.Tensor:
    return encode_reports(tok, texts, max_len=32, max_sentences=1).ids[:, :width]


def test_bank_draws_each_image_its_hard_pairs() -> None:
    tok, bank = _bank()
    # report 0: effusion (2 pairs), pneumothorax (1 pair: it is canonical); reports 1-2: none
    assert bank.hard[:, 0].tolist() == [0, 0, 1]
    hard = bank.draw_hard(torch.tensor([2, 0]))  # report 0 is the batch's second image
    assert hard.owner.tolist() == [1, 1, 1]
    pos = ["Small left pleural effusion.", "Pleural effusion.", "No pneumothorax."]
    neg = ["No pleural effusion.", "No pleural effusion.", "Pneumothorax."]
    assert torch.equal(hard.positive.ids, _tokens(tok, pos, hard.positive.ids.shape[1]))
    assert torch.equal(hard.negative.ids, _tokens(tok, neg, hard.negative.ids.shape[1]))
    assert len(bank.draw_hard(torch.tensor([1])).owner) == 0
    assert _bank(None)[1].draw_hard(torch.tensor([0])) is None
    taken = bank.take(torch.tensor([2, 0]))  # sentence indices follow the taken reports
    assert taken.hard[:, 0].tolist() == [2, 2, 3]
    assert taken.draw_hard(torch.tensor([1])).owner.tolist() == [0, 0, 0]


def test_model_adds_the_weighted_hard_loss_only_when_asked() -> None:
    tok, bank = _bank()
    text = encode_reports(tok, REPORTS, max_len=32, max_sentences=8)
    images = torch.randint(0, 256, (3, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    objective = PairObjective({"train": (images.to(torch.uint8), text)}, {"train": bank})
    losses = {}
    for hard in (True, False):
        config = ImageTextConfig(model="resnet_mini", vocab_size=tok.get_vocab_size(),
                                 text_width=16, text_layers=1, embed_dim=16, max_len=32, top_k=3,
                                 local=False, hard_negatives=hard, hard_weight=0.5,
                                 augment=False, assertion_marks=False)  # fmt: skip
        torch.manual_seed(0)
        net = ImageTextModel(config).eval()
        losses[hard] = objective.losses(net, torch.arange(3), None)
    on, off = losses[True], losses[False]
    assert "hard" not in off and on["hard"].item() > 0
    assert on["global"].item() == pytest.approx(off["global"].item(), abs=1e-6)
    assert on["loss"].item() == pytest.approx((on["global"] + 0.5 * on["hard"]).item(), abs=1e-6)
    on["loss"].backward()  # the hard term reaches the text encoder through the counterparts


def test_unknown_negation_vocabulary_is_a_clear_error() -> None:
    with pytest.raises(ReportError, match="did you mean 'chest_xr'"):
        counterpart("No pneumothorax.", "chest_xrr")
