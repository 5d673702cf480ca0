"""``--init``: start a run from another run's best weights (weights only, no optimiser state).

The source is a run directory (its ``checkpoint.pt``) or a radlens ``.pt`` file. Backbone tensors
load where name and shape match (a `radlens pretrain` checkpoint names the prefix of its image
backbone's tensors, ``encoder_prefix``: only those load, the prefix stripped, and its head has no
labels to re-map); the rows of the final layer are re-mapped by label name (a label
the source knew gets its row, a new label keeps its fresh initialisation, a dropped label is
ignored). `init_weights` returns what it did, for the log and for metrics.json.
`freeze_backbone` turns such a start into linear probing (``--freeze-encoder``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radlens.core import CHECKPOINT
from radlens.errors import ConfigError
from radlens.models import Task

__all__ = [
    "freeze_backbone",
    "head_layer",
    "init_table",
    "init_weights",
    "output_names",
    "read_init_checkpoint",
]

logger = logging.getLogger(__name__)


def output_names(task: Task) -> tuple[str, ...]:
    """The label each output row stands for (CORAL: the class above each threshold)."""
    return task.label_names[1:] if task.coral else task.label_names


def head_layer(model: nn.Module, num_outputs: int) -> str | None:
    """Name of the final layer (the last Linear with `num_outputs` outputs), None if none."""
    names = [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) and m.out_features == num_outputs
    ]
    return names[-1] if names else None


def read_init_checkpoint(
    source: str, needed: frozenset[str] = frozenset({"model", "label_names", "task", "config"})
) -> tuple[Path, dict[str, Any]]:
    """The checkpoint behind ``--init SOURCE`` (a run directory or a file) with the keys `needed`;
    a `ConfigError` naming the file and what was expected otherwise."""
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"--init {source}: no such run directory or checkpoint file")
    file = path / CHECKPOINT if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"--init {source}: not a run directory (no {CHECKPOINT})")
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ConfigError(f"--init {file}: not a radlens checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or not needed <= ckpt.keys():
        raise ConfigError(
            f"--init {file}: not a radlens checkpoint (expected the keys {sorted(needed)})"
        )
    return file, ckpt


def _source_rows(ckpt: dict[str, Any]) -> tuple[str, ...]:
    task = Task(
        ckpt["task"], tuple(ckpt["label_names"]), ordinal_loss=ckpt.get("ordinal_loss", "ce")
    )
    return output_names(task)


def init_weights(source: str, model: nn.Module, task: Task, model_name: str) -> dict[str, Any]:
    """Load `source`'s weights into `model` (trained as `model_name` for `task`); return the
    report: source file, tensors loaded, labels re-mapped and new, tensors skipped."""
    file, ckpt = read_init_checkpoint(source)
    source_model = ckpt["config"].get("model")
    if source_model != model_name:
        raise ConfigError(
            f"--init {source}: the source model is {source_model!r} but this run trains"
            f" {model_name!r} (weights load only into the same model)"
        )
    weights: dict[str, torch.Tensor] = ckpt["model"]
    prefix = ckpt.get("encoder_prefix")  # a pretraining run: only its image backbone loads
    if prefix:
        weights = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    target = model.state_dict()
    head = head_layer(model, task.num_outputs)
    head_keys = {f"{head}.weight", f"{head}.bias"} if head else set()
    src_rows = {} if prefix else {name: i for i, name in enumerate(_source_rows(ckpt))}
    new_rows = output_names(task)
    remapped = [n for n in new_rows if n in src_rows]
    loaded, fresh, skipped, update = [], [], [], {}
    for key, tensor in target.items():
        old = weights.get(key)
        if old is None:
            fresh.append(key)
            continue
        if key in head_keys and old.shape[1:] == tensor.shape[1:]:
            rows = tensor.clone()
            for j, name in enumerate(new_rows):
                if name in src_rows:
                    rows[j] = old[src_rows[name]]
            update[key] = rows
        elif key not in head_keys and old.shape == tensor.shape:
            update[key] = old
            loaded.append(key)
        else:
            skipped.append(f"{key} {tuple(old.shape)} -> {tuple(tensor.shape)}")
    model.load_state_dict({**target, **update})
    report = {
        "source": str(file),
        "loaded_tensors": len(loaded),
        "new_tensors": fresh,
        "remapped_labels": remapped,
        "new_labels": [n for n in new_rows if n not in src_rows],
        "dropped_labels": [n for n in src_rows if n not in new_rows],
        "skipped": skipped,
    }
    logger.info("%s", init_table(report))
    return report


def init_table(report: dict[str, Any]) -> str:
    """What `init_weights` did, as a small text table (one row per kind)."""
    rows = [
        ("loaded", f"{report['loaded_tensors']} tensors (name and shape match)"),
        ("re-mapped", ", ".join(report["remapped_labels"]) or "-"),
        ("new", ", ".join(report["new_labels"]) or "-"),
        ("new tensors", ", ".join(report["new_tensors"]) or "-"),
        ("dropped", ", ".join(report["dropped_labels"]) or "-"),
        ("skipped", "; ".join(report["skipped"]) or "- (no shape mismatch)"),
    ]
    return f"--init {report['source']}\n" + "\n".join(f"  {k:<12} {v}" for k, v in rows)


def _keep_eval(module: nn.Module, _inputs: Any) -> None:
    module.training = False  # the loop's model.train() must not restart the statistics


def freeze_backbone(model: nn.Module, task: Task) -> list[str]:
    """Linear probing: only the final layer (`head_layer`) learns; every other parameter is
    frozen and every batch-norm layer keeps the running statistics it was given (it normalises
    with them in training too). Returns the names of the parameters that still learn."""
    head = head_layer(model, task.num_outputs)
    if head is None:
        raise ConfigError(
            "--freeze-encoder: the model has no final Linear layer with "
            f"{task.num_outputs} outputs to train alone"
        )
    learning = []
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(f"{head}."))
        if param.requires_grad:
            learning.append(name)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.register_forward_pre_hook(_keep_eval)
    return learning
