"""The pretraining losses against hand-computed values, and the local branch's masking."""

from __future__ import annotations

import math

import pytest
import torch

from radlens.errors import ConfigError
from radlens.pretrain import LocalAlignment, info_nce, nt_xent
from radlens.pretrain.losses import KeyedPositives


def _lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


def test_info_nce_2x2_by_hand() -> None:
    s = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    rows = ((_lse(2, 0) - 2) + (_lse(1, 3) - 3)) / 2
    cols = ((_lse(2, 1) - 2) + (_lse(0, 3) - 3)) / 2
    assert info_nce(s).item() == pytest.approx((rows + cols) / 2, abs=1e-6)


def test_info_nce_3x3_by_hand() -> None:
    s = torch.tensor([[1.0, 0.5, -1.0], [0.0, 2.0, 0.3], [0.2, -0.4, 1.5]])
    rows = [_lse(1, 0.5, -1) - 1, _lse(0, 2, 0.3) - 2, _lse(0.2, -0.4, 1.5) - 1.5]
    cols = [_lse(1, 0, 0.2) - 1, _lse(0.5, 2, -0.4) - 2, _lse(-1, 0.3, 1.5) - 1.5]
    assert info_nce(s).item() == pytest.approx((sum(rows) / 3 + sum(cols) / 3) / 2, abs=1e-6)
    # a perfectly separated matrix gives (almost) zero loss, a constant one log(3)
    assert info_nce(100 * torch.eye(3)).item() == pytest.approx(0.0, abs=1e-6)
    assert info_nce(torch.ones(3, 3)).item() == pytest.approx(math.log(3), abs=1e-6)


def test_info_nce_needs_a_square_matrix() -> None:
    with pytest.raises(ConfigError, match="square"):
        info_nce(torch.zeros(2, 3))


def test_info_nce_multi_positive_by_hand() -> None:
    s = torch.tensor([[1.0, 0.5, -1.0], [0.0, 2.0, 0.3], [0.2, -0.4, 1.5]])
    pos = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 1, 1]], dtype=torch.bool)  # rows 1, 2 share
    rows = [_lse(1, 0.5, -1) - 1, _lse(0, 2, 0.3) - _lse(2, 0.3), _lse(0.2, -0.4, 1.5)
            - _lse(-0.4, 1.5)]  # fmt: skip
    cols = [_lse(1, 0, 0.2) - 1, _lse(0.5, 2, -0.4) - _lse(2, -0.4), _lse(-1, 0.3, 1.5)
            - _lse(0.3, 1.5)]  # fmt: skip
    got = info_nce(s, positives=pos).item()
    assert got == pytest.approx((sum(rows) / 3 + sum(cols) / 3) / 2, abs=1e-6)
    # the identity as positives is the plain loss
    assert info_nce(s, torch.eye(3, dtype=torch.bool)).item() == pytest.approx(info_nce(s).item())
    with pytest.raises(ConfigError, match="every row"):
        info_nce(s, torch.zeros(3, 3, dtype=torch.bool))


def test_nt_xent_by_hand() -> None:
    # views: a1=(1,0), b1=(0,1); a2=(1,0), b2=(0,1) -> cosines 1 for partners, 0 otherwise
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # scale does not matter (normalised)
    t = 0.5
    # each of the 4 anchors: positive cos 1, two negatives cos 0 (self excluded)
    expected = _lse(1 / t, 0, 0) - 1 / t
    assert nt_xent(z1, z2, t).item() == pytest.approx(expected, abs=1e-6)
    # one queued negative equal to e1: anchors along e1 get a negative of cos 1, along e2 cos 0
    q = torch.tensor([[1.0, 0.0]])
    with_queue = ((_lse(1 / t, 0, 0, 1 / t) - 1 / t) + (_lse(1 / t, 0, 0, 0) - 1 / t)) / 2
    assert nt_xent(z1, z2, t, queue=q).item() == pytest.approx(with_queue, abs=1e-6)


def test_local_loss_ignores_padded_sentences() -> None:
    torch.manual_seed(0)
    local = LocalAlignment(16, top_k=3)
    sentences = torch.randn(4, 5, 16)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]])
    mask = mask.bool()
    regions = torch.randn(4, 9, 16)
    loss = local(sentences, mask, regions)
    noisy = sentences.clone()
    noisy[~mask] = 1e3 * torch.randn(int((~mask).sum()), 16)
    assert local(noisy, mask, regions).item() == pytest.approx(loss.item(), abs=1e-6)
    # a real sentence does change it
    noisy[0, 0] += 1.0
    assert local(noisy, mask, regions).item() != pytest.approx(loss.item(), abs=1e-6)


def test_region_selection_keeps_the_top_k_salient_regions() -> None:
    local = LocalAlignment(4, top_k=2)
    with torch.no_grad():
        local.select.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
        local.select.bias.zero_()
    regions = torch.zeros(1, 5, 4)
    regions[0, :, 0] = torch.tensor([0.1, 3.0, -1.0, 2.0, 0.0])
    kept, idx = local.select_regions(regions)
    assert idx.tolist() == [[1, 3]]
    assert kept.shape == (1, 2, 4)
    assert kept[0, 0, 0].item() == pytest.approx(3.0 * torch.sigmoid(torch.tensor(3.0)).item())
    with pytest.raises(ConfigError, match="top-k"):
        LocalAlignment(4, top_k=0)


def test_sentence_level_local_loss_by_hand() -> None:
    """One region per image: attention is 1, so each sentence's context in image j is
    out(value(region j)) and the loss is the multi-positive InfoNCE of the cosines."""
    torch.manual_seed(0)
    local = LocalAlignment(4, top_k=1)
    sentences = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    regions = torch.randn(2, 1, 4)
    # image 0 holds keys 0 and 1, image 1 key 2; sentences carry keys 0, 2, 1
    holds = torch.tensor([[True, True, False], [False, False, True]])
    positives = KeyedPositives(holds, torch.tensor([0, 2, 1]))
    got = local.sentence_loss(sentences, regions, positives)
    kept = regions[:, 0] * torch.sigmoid(local.select(regions[:, 0]))
    ctx = local.out(local.value(kept))  # (2, 4)
    cos = torch.nn.functional.cosine_similarity(
        sentences.unsqueeze(1), ctx.unsqueeze(0), dim=-1
    )  # (T=3, B=2)
    logits = cos.t() * local.scale()
    pos = torch.tensor([[True, False, True], [False, True, False]])
    rows = (logits.logsumexp(1) - logits.masked_fill(~pos, -math.inf).logsumexp(1)).mean()
    cols = (logits.logsumexp(0) - logits.masked_fill(~pos, -math.inf).logsumexp(0)).mean()
    assert torch.allclose(got, (rows + cols) / 2, atol=1e-5)
