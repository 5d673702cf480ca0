"""The image–text model's border ring: which feature-map cells the local branch may use."""

from __future__ import annotations

import torch

from radlens.pretrain import LocalAlignment
from radlens.pretrain.model import inner_cells


def test_inner_cells_by_hand() -> None:
    assert inner_cells((4, 4), 1).view(4, 4).int().tolist() == [
        [0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0],
    ]  # fmt: skip
    assert inner_cells((2, 5), 1).all()  # a side too short: nothing left out
    assert inner_cells((4, 4), 0).all()
    assert int(inner_cells((3, 5, 5), 1).sum()) == 1 * 3 * 3


def test_region_selection_never_keeps_a_cell_outside_valid() -> None:
    torch.manual_seed(0)
    local = LocalAlignment(4, top_k=8)
    regions = torch.randn(3, 16, 4)
    valid = inner_cells((4, 4), 1)
    kept, idx = local.select_regions(regions, valid)
    assert kept.shape == (3, 4, 4)  # top_k 8 capped at the 4 inner cells
    assert sorted(idx[0].tolist()) == [5, 6, 9, 10]
