"""One step's view of the pairs: sentences drawn per report with their shared-sentence positives,
and image augmentation that never mirrors left and right."""

from __future__ import annotations

import torch

from radlens.pretrain import train_tokenizer
from radlens.pretrain.batches import SentenceBank, augment_images, sentence_key

REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax.",
    "FINDINGS: No  pneumothorax. Cardiomegaly.",
    "FINDINGS: The lungs are clear.",
]


def _bank() -> SentenceBank:
    tok = train_tokenizer(REPORTS, vocab_size=200)
    return SentenceBank.build(tok, REPORTS, max_len=32, max_sentences=8)


def test_sentence_key_ignores_case_spacing_and_final_period() -> None:
    assert (
        sentence_key("No  Pneumothorax. ") == sentence_key("no pneumothorax") == "no pneumothorax"
    )


def test_sentence_bank_by_hand() -> None:
    bank = _bank()
    assert bank.start.tolist() == [0, 2, 4] and bank.count.tolist() == [2, 2, 1]
    # keys: 0 small left pleural effusion, 1 no pneumothorax, 2 cardiomegaly, 3 lungs clear
    assert bank.key.tolist() == [0, 1, 1, 2, 3]
    assert bank.holds.int().tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    # every sentence of the batch's reports; "No pneumothorax." (key 1) is in reports 0 and 1
    text, pos = bank.draw(torch.tensor([2, 0, 1]))
    assert text.ids.shape[0] == 5 and bool(text.mask[:, -1].any())  # trimmed to the longest
    assert pos.dense().int().tolist() == [[1, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1]]


def test_sentence_bank_take_keeps_keys() -> None:
    bank = _bank().take(torch.tensor([1, 2]))
    assert bank.start.tolist() == [0, 2] and bank.count.tolist() == [2, 1]
    assert bank.key.tolist() == [1, 2, 3] and bank.holds.shape == (2, 4)


def test_augmentation_keeps_left_and_right_and_is_seeded() -> None:
    img = -torch.ones(4, 1, 32, 32)
    img[:, :, 8:24, 2:12] = 1.0  # bright block on the image's left
    gen = torch.Generator().manual_seed(3)
    out = augment_images(img, gen)
    assert out.shape == img.shape and not torch.equal(out, img)
    left, right = out[..., :16].mean((1, 2, 3)), out[..., 16:].mean((1, 2, 3))
    assert (left > right + 0.5).all()  # never mirrored
    again = augment_images(img, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    vol = torch.zeros(2, 1, 4, 8, 8)
    assert augment_images(vol, gen).shape == vol.shape  # volumes: intensity only
