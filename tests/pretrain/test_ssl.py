"""Self-supervised pretraining: 2D and 3D runs, the momentum queue, and --init from its
checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _support.pretrain_cohort import make_pair_cohort

from radlens.core import CHECKPOINT
from radlens.models import Task, build_model
from radlens.pretrain import PairData, PretrainOptions, SSLConfig, SSLModel, pretrain_ssl
from radlens.pretrain.ssl import ssl_augment
from radlens.training.init import init_weights

OPTS = PretrainOptions(epochs=1, batch_size=4, device="cpu", precision="32-true", threads=1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_pair_cohort(tmp_path_factory.mktemp("ssl") / "cohort", n=8, size=16)


def test_ssl_checkpoint_initialises_a_training_model(cohort, tmp_path) -> None:
    run = tmp_path / "ssl"
    config = SSLConfig(model="resnet18", small_input=False)
    res = pretrain_ssl(cohort, run, data=PairData("image", size=16), model=config, options=OPTS)
    assert np.isfinite(res.history[0]["train_loss"])
    saved = torch.load(run / CHECKPOINT, weights_only=True)["model"]
    net = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2, small_input=False)
    report = init_weights(str(run), net, Task("multi-label", ("a", "b")), "resnet18")
    assert report["loaded_tensors"] == len(net.state_dict()) - 2  # all but the new head
    assert report["remapped_labels"] == [] and report["new_labels"] == ["a", "b"]
    assert torch.equal(net.state_dict()["layer1.0.conv1.weight"],
                       saved["image.net.layer1.0.conv1.weight"])  # fmt: skip
    assert torch.equal(net.state_dict()["bn1.running_mean"], saved["image.net.bn1.running_mean"])


def test_momentum_queue_fills_and_stays_bounded() -> None:
    model = SSLModel(SSLConfig(model="resnet_mini", embed_dim=8, momentum=0.9, queue_size=5))
    assert len(model.negatives()) == 0
    model.enqueue(torch.ones(3, 8))
    model.enqueue(2 * torch.ones(3, 8))
    assert len(model.negatives()) == 5
    assert model.negatives()[0, 0] == 2 and model.negatives()[4, 0] == 1
    before = next(model.key_image.parameters()).clone()
    with torch.no_grad():
        next(model.image.parameters()).add_(1.0)
    model.keys(torch.zeros(2, 1, 16, 16))
    after = next(model.key_image.parameters())
    assert torch.allclose(after, before + 0.1, atol=1e-5)  # EMA: 0.9 old + 0.1 new


def test_ssl_3d_with_momentum(tmp_path) -> None:
    x = torch.rand(1, 8, 8, 8)
    view = ssl_augment(3, seed=0)(x)
    assert tuple(view.shape) == (1, 8, 8, 8)
    model = SSLModel(SSLConfig(model="resnet_mini", spatial_dims=3, embed_dim=8, momentum=0.5))
    assert model(torch.zeros(2, 1, 8, 8, 8)).shape == (2, 8)


def test_cpu_bf16_pretraining_guards_the_image_encoder(cohort, tmp_path, monkeypatch) -> None:
    """CPU bf16 runs check the image encoder's convolutions (radlens.training.precision) on one
    normalised training image; float32 runs do not."""
    import radlens.training.precision as precision

    calls = []
    monkeypatch.setattr(precision, "guard_bf16_convs", lambda m, x: calls.append((m, x)) or [])
    config = SSLConfig(model="resnet18", embed_dim=8, small_input=True)
    bf16 = PretrainOptions(epochs=1, batch_size=4, device="cpu", precision="bf16-mixed", threads=1)
    data = PairData("image", size=16)
    pretrain_ssl(cohort, tmp_path / "a", data=data, model=config, options=bf16)
    assert len(calls) == 1
    module, example = calls[0]
    assert type(module).__name__ == "ImageEncoder" and tuple(example.shape) == (1, 1, 16, 16)
    assert float(example.min()) >= -1.0 and float(example.max()) <= 1.0  # as the model sees it
    pretrain_ssl(cohort, tmp_path / "b", data=data, model=config, options=OPTS)
    assert len(calls) == 1
