"""Data resident on the training device, and augmentation as tensor ops on that device.

Images are converted once into one channel-first tensor, (N, C, H, W) or (N, C, D, H, W), kept
uint8 when the source is uint8 (a quarter of float32's memory); each batch is scaled to [-1, 1] on
the device as MedMNIST's Normalize(mean=0.5, std=0.5) does. No DataLoader, no per-image PIL.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from radlens.errors import ConfigError
from radlens.models import Task

__all__ = [
    "augment_batch",
    "fabric_accelerator",
    "images_to_tensor",
    "inference_device",
    "intensity_mapping",
    "memory_format",
    "normalise",
    "predict_scores",
    "subset_indices",
]


def fabric_accelerator(device: str, devices: int) -> tuple[str, int | list[int], bool]:
    """Fabric's accelerator and devices for `--device` (auto, cpu, cuda, cuda:N, mps) and
    `--devices`, and whether they are CUDA GPUs."""
    name = device.lower()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible; use cpu or auto")
    if name.startswith("cuda:"):
        return "cuda", [int(name.split(":", 1)[1])], True
    if name not in ("auto", "cpu", "cuda", "mps"):
        raise ConfigError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")
    cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
    return name, devices, cuda


def inference_device(device: str = "auto") -> torch.device:
    """The one device a model scores on for `--device` (auto: the first CUDA GPU, else the CPU;
    cpu; cuda; cuda:N), with the same errors as training's."""
    accelerator, devices, cuda = fabric_accelerator(device, 1)
    if accelerator == "mps":
        return torch.device("mps")
    if not cuda:
        return torch.device("cpu")
    return torch.device("cuda", devices[0] if isinstance(devices, list) else 0)


def subset_indices(n: int, limit: int | None, seed: int) -> np.ndarray:
    """All indices, or a seeded random subset of `limit` of them in stored order (files such as
    the PneumoniaMNIST copy are sorted by label, so a head slice would hold one class only)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def images_to_tensor(images: np.ndarray, *, n_channels: int, spatial_dims: int) -> torch.Tensor:
    """Stored images -> channel-first tensor (N, C, H, W) / (N, C, D, H, W), dtype kept."""
    arr = np.asarray(images)
    want = spatial_dims + 2
    if arr.ndim == want - 1:
        arr = arr[:, None]
    elif arr.ndim == want and arr.shape[1] != n_channels and arr.shape[-1] == n_channels:
        arr = np.moveaxis(arr, -1, 1)
    if arr.ndim != want or arr.shape[1] != n_channels:
        raise ConfigError(
            f"images of shape {images.shape} do not fit {spatial_dims}D data with"
            f" {n_channels} channel(s)"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(arr))
    if tensor.dtype not in (torch.uint8, torch.float32):
        tensor = tensor.float() / float(np.iinfo(arr.dtype).max if arr.dtype.kind in "ui" else 1)
    return tensor


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] -> float32 in [-1, 1] (MedMNIST's Normalize(.5, .5))."""
    if batch.dtype == torch.uint8:
        return batch.float().mul_(2.0 / 255.0).sub_(1.0)
    return batch.float().mul(2.0).sub_(1.0)


def intensity_mapping(dtype: np.dtype | type) -> str:
    """How stored pixels of `dtype` reach the model (`images_to_tensor`, then `normalise`), e.g.
    "uint8 [0, 255] -> [-1, 1]" or "float [0, 1] -> [-1, 1]" (the run plan's ``intensity``)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        return f"{dtype.name} [0, {np.iinfo(dtype).max}] -> [-1, 1]"
    return "float [0, 1] -> [-1, 1]"


def augment_batch(
    x: torch.Tensor, mode: str, shift: int, generator: torch.Generator
) -> torch.Tensor:
    """Random horizontal flips (p=0.5) and/or shifts of up to `shift` pixels (edge-replicated),
    applied per image on the device; the last two axes are the image plane."""
    if mode == "none":
        return x
    n = x.shape[0]
    if "flip" in mode:
        flip = torch.rand(n, generator=generator, device=x.device) < 0.5
        x = torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)
    if "shift" in mode and shift > 0:
        shape = x.shape
        flat = x.reshape(n, -1, shape[-2], shape[-1])
        padded = torch.nn.functional.pad(flat, (shift, shift, shift, shift), mode="replicate")
        off = torch.randint(0, 2 * shift + 1, (2, n), generator=generator, device=x.device)
        rows = torch.arange(shape[-2], device=x.device)[None, :] + off[0][:, None]
        cols = torch.arange(shape[-1], device=x.device)[None, :] + off[1][:, None]
        idx = torch.arange(n, device=x.device)[:, None, None]
        moved = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]]
        x = moved.permute(0, 3, 1, 2).reshape(shape)
    return x


@torch.inference_mode()
def predict_scores(
    model: nn.Module,
    images: torch.Tensor,
    task: Task,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Activated scores (N, K) for channel-first images, in batches, model in eval mode."""
    model.eval()
    device = torch.device(device) if device is not None else images.device
    out = []
    for start in range(0, len(images), batch_size):
        x = normalise(images[start : start + batch_size].to(device, non_blocking=True))
        if channels_last:
            x = x.contiguous(memory_format=memory_format(x))
        out.append(task.activate(model(x)).float().cpu())
    if not out:
        return np.zeros((0, task.n_classes))
    return torch.cat(out).numpy().astype(np.float64)


def memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.ndim == 4 else torch.channels_last_3d
