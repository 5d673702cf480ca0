"""The image side: a radlens backbone (MONAI ResNet / DenseNet, 2D or 3D, from
`radlens.models.build_model`) cut before its pooling, so it keeps the spatial feature map, plus the
projection heads of image–text and self-supervised pretraining.

The backbone is held as `ImageEncoder.net`, the very module `build_model` returns, so its weights
carry the tensor names of a `radlens train` model of the same name: `radlens train --init` loads
them (the classification layer, unused here, stays freshly initialised there).
"""

from __future__ import annotations

import torch
from monai.networks.nets import DenseNet, ResNet
from torch import nn

from radlens.errors import ModelError
from radlens.models import CellGrid, build_model, resolve_model_name, traced_grid

__all__ = ["ENCODERS", "ENCODER_PREFIX", "ImageEncoder", "ProjectionHead"]

#: models whose feature map the encoder can take (MONAI ResNet / DenseNet families; "resnet_mini"
#: is the small CPU ResNet of `radlens.models`, which `radlens train --init` also builds)
ENCODERS = ("resnet18", "resnet50", "densenet121", "resnet18_3d", "resnet50_3d", "resnet_mini")
#: prefix of the backbone's tensors in a pretraining model's state dict (`--init` strips it)
ENCODER_PREFIX = "image.net."


class ImageEncoder(nn.Module):
    """Backbone up to its last convolutional stage: (B, C, *spatial) -> the feature map of stage
    `local_stage` (B, F', *spatial'; what the local branch and the sentence maps use) and the
    global average of the last stage (B, F). `local_stage` 3 (ResNets only) takes the map one
    stage earlier, at twice the resolution and half the channels (GLoRIA's local features come
    from an intermediate stage too), so a backbone with the ImageNet stem still has regions."""

    def __init__(
        self, model: str, *, spatial_dims: int, in_channels: int = 1, small_input: bool = True,
        local_stage: int = 4,
    ) -> None:  # fmt: skip
        super().__init__()
        name = resolve_model_name(model)
        if name not in ENCODERS:
            raise ModelError(
                f"--model {model}: pretraining needs a feature-map backbone; expected one of"
                f" {list(ENCODERS)}"
            )
        self.model_name = name
        self.spatial_dims = spatial_dims
        self.net = build_model(
            name, spatial_dims=spatial_dims, in_channels=in_channels,
            num_outputs=1, small_input=small_input,
        )  # fmt: skip
        if isinstance(self.net, ResNet):
            self.features = self.net.fc.in_features
        elif isinstance(self.net, DenseNet):
            self.features = self.net.class_layers.out.in_features
        else:  # pragma: no cover - ENCODERS lists ResNet / DenseNet only
            raise ModelError(f"--model {model}: not a ResNet or DenseNet")
        if local_stage not in (3, 4) or (local_stage == 3 and not isinstance(self.net, ResNet)):
            raise ModelError(
                f"--local-stage {local_stage}: expected 4, or 3 with a ResNet (--model {model})"
            )
        self.local_stage = local_stage
        #: channels of the local map (a ResNet's stage 3 has half those of stage 4)
        self.local_features = self.features if local_stage == 4 else self.features // 2

    def _stages(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The local stage's map and the last stage's map."""
        net = self.net
        if isinstance(net, DenseNet):
            last = torch.relu(net.features(x))
            return last, last
        x = net.act(net.bn1(net.conv1(x)))
        if not net.no_max_pool:
            x = net.maxpool(x)
        third = net.layer3(net.layer2(net.layer1(x)))
        last = net.layer4(third)
        return (third if self.local_stage == 3 else last), last

    def cell_grid(self, x: torch.Tensor) -> CellGrid | None:
        """Where the local map's cells sit on inputs shaped like `x` (`radlens.models.traced_grid`;
        traced once per shape)."""
        layer = "features" if isinstance(self.net, DenseNet) else f"layer{self.local_stage}"
        return traced_grid(self.net, x, layer)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The local stage's feature map (B, F', *spatial')."""
        return self._stages(x)[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap, last = self._stages(x)
        return fmap, last.flatten(2).mean(-1)


class ProjectionHead(nn.Module):
    """Linear -> GELU -> Linear (the SimCLR / ConVIRT projection), then L2-normalised."""

    def __init__(self, in_features: int, out_features: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or in_features
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, out_features)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.mlp(x), dim=-1)
