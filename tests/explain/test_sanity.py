"""Model-randomisation sanity check (Adebayo et al. 2018): re-initialised weights, maps re-scored.

On blob images (the blob is the only signal) a trained tiny CNN's Grad-CAM peak falls in the blob
every time; with re-initialised weights it must fall to about chance, and its raw evidence must
collapse, both of which `sanity_localization` reports side by side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _support.explain import blob_images, tiny_cnn, train_blob_model

from radlens.errors import ConfigError, ModelError
from radlens.explain import (
    SANITY_MODES,
    Tolerance,
    randomised_models,
    sanity_localization,
    sanity_table,
)


@pytest.fixture(scope="module")
def blob_case() -> dict[str, object]:
    torch.manual_seed(0)
    model = train_blob_model(2, (24, 24), 3, steps=60, batch=16)
    x, y, masks = blob_images(40, (24, 24), 3, seed=5)
    pos = np.flatnonzero(y == 1)
    return {
        "model": model,
        "x": torch.from_numpy(x),
        "cases": [(int(i), 1, "blob") for i in pos],
        "masks": [masks[i] for i in pos],
    }


def test_random_weights_fall_to_chance_where_the_trained_model_localises(blob_case) -> None:
    table = sanity_localization(
        blob_case["model"],  # type: ignore[arg-type]
        blob_case["x"],  # type: ignore[arg-type]
        blob_case["cases"],  # type: ignore[arg-type]
        blob_case["masks"],  # type: ignore[arg-type]
        Tolerance(1, "voxel"),
    ).set_index("model")
    trained, random = table.loc["trained"], table.loc["random (full)"]
    assert trained["n"] == random["n"] >= 12
    assert trained["pointing_game"] >= 0.9 and trained["p_value"] < 1e-6
    assert trained["perm_p_value"] < 0.01
    # same masks, same tolerance: the same chance for both
    assert random["chance"] == pytest.approx(trained["chance"]) and trained["chance"] < 0.15
    assert random["pointing_game"] <= trained["chance"] + 0.2
    assert random["p_value"] > 0.01 and random["perm_p_value"] > 0.01
    assert random["evidence_median"] < 0.01 * trained["evidence_median"]
    assert table["tolerance"].eq("1 voxel").all()


@pytest.mark.parametrize(
    ("method", "layer"),
    [
        ("guided-hirescam", None),
        ("hirescam", "2+4"),
        ("hirescam", "2*4"),
        ("input-x-gradient", None),
    ],
)
def test_sanity_check_exposes_maps_driven_by_the_image(blob_case, method, layer) -> None:
    """Guided HiResCAM, fused HiResCAM (mean or geometric mean) and gradient x input localise the
    blob with the trained model, but on these images (the lesion is the brightest thing in them)
    a re-initialised model still points at it: gradient x activation follows the image where the
    image alone gives the answer (Adebayo et al. 2018); Grad-CAM's averaged gradient does not
    (above). The sanity table must show that (random far above chance), while the random model's
    raw evidence still collapses. (On the held-out CT demo run the geometric-mean fusion
    features.5*features.9*features.13 falls to chance pooled, the mean fusion 5+13 does not:
    benchmarks/results/explain_localization_heldout.json.)"""
    table = sanity_localization(
        blob_case["model"],  # type: ignore[arg-type]
        blob_case["x"],  # type: ignore[arg-type]
        blob_case["cases"],  # type: ignore[arg-type]
        blob_case["masks"],  # type: ignore[arg-type]
        Tolerance(1, "voxel"),
        method=method,
        layer=layer,
    ).set_index("model")
    trained, random = table.loc["trained"], table.loc["random (full)"]
    assert trained["pointing_game"] >= 0.8 and trained["p_value"] < 1e-4
    assert random["pointing_game"] > trained["chance"] + 0.2 and random["p_value"] < 1e-3
    assert random["evidence_median"] < 0.1 * trained["evidence_median"]


def test_cascading_randomisation_goes_from_the_output_back() -> None:
    torch.manual_seed(0)
    model = tiny_cnn(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = randomised_models(model, "cascading", seed=1)
    assert [name for name, _ in steps] == [f"random from {n}" for n in ("8", "4", "2", "0")]
    for k, v in model.state_dict().items():  # the explained model is untouched
        assert torch.equal(v, before[k])
    first = steps[0][1].state_dict()
    assert not torch.equal(first["8.weight"], before["8.weight"])  # the linear output layer
    assert torch.equal(first["4.weight"], before["4.weight"])  # the convolutions not yet
    last = steps[-1][1].state_dict()
    assert all(not torch.equal(last[k], before[k]) for k in before if k.endswith("weight"))
    (full,) = randomised_models(model, "full", seed=1)
    assert full[0] == "random (full)"
    assert torch.equal(full[1].state_dict()["0.weight"], last["0.weight"])  # same seed, same init


def test_randomisation_errors() -> None:
    assert SANITY_MODES == ("full", "cascading")
    with pytest.raises(ConfigError, match="did you mean 'cascading'"):
        randomised_models(tiny_cnn(2), "cascade")
    with pytest.raises(ModelError, match="no layer with parameters"):
        randomised_models(torch.nn.Sequential(torch.nn.ReLU()))


def test_sanity_table_without_masks_keeps_the_evidence() -> None:
    table = sanity_table({"trained": None, "random (full)": None}, {"trained": [2.0, 4.0],
                         "random (full)": [0.001, 0.003]})  # fmt: skip
    assert list(table["model"]) == ["trained", "random (full)"]
    assert table["pointing_game"].isna().all()
    assert table["evidence_median"].tolist() == [3.0, 0.002]
    assert isinstance(table, pd.DataFrame)
