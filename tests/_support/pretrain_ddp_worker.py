"""Run by tests/pretrain/test_ddp.py: one step of every pretraining objective on a fixed global
batch of 7 (ranks hold 4 and 3 rows), under torchrun with 2 gloo processes or in-process with 1.
Rank 0 saves each objective's losses and (DDP-averaged) gradients to OUT/steps-WORLD.pt; with 2
processes a tiny 2-rank SSL run (momentum queue) follows in OUT/ssl.

    torchrun --standalone --nproc_per_node=2 tests/_support/pretrain_ddp_worker.py OUT 2
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from radlens.pretrain import (
    ImageTextConfig,
    ImageTextModel,
    PairData,
    PretrainOptions,
    SSLConfig,
    SSLModel,
    encode_reports,
    pretrain_ssl,
    train_tokenizer,
)
from radlens.pretrain.batches import SentenceBank
from radlens.pretrain.image_text import PairObjective
from radlens.pretrain.loop import make_fabric, rank_batches
from radlens.pretrain.ssl import SSLObjective
from radlens.training import end_process_group

REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax.",
    "FINDINGS: No pneumothorax. Cardiomegaly.",
    "FINDINGS: The lungs are clear.",
    "FINDINGS: Right lower lobe consolidation. No pneumothorax.",
    "FINDINGS: Cardiomegaly. Small left pleural effusion.",
    "FINDINGS: The lungs are clear. No pneumothorax.",
    "FINDINGS: Left upper lobe mass.",
]


class FixedViews(SSLObjective):
    """Deterministic per-image views (the first call: the image, the second: it mirrored and
    dimmed), so one and two processes see the same views."""

    calls = 0

    def view(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x if self.calls % 2 else -0.8 * x.flip(-1)


def _images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (len(REPORTS), 1, 16, 16), generator=gen, dtype=torch.uint8)


def _step(fabric, net, objective) -> dict:
    """Losses and gradients of the one global batch (eval mode: batch norm uses its running
    statistics, so the ranks' shares see the same normalisation as the whole batch)."""
    model = fabric.setup_module(net)
    model.eval()
    ((_, idx),) = rank_batches(fabric, torch.arange(len(REPORTS)), len(REPORTS))
    out = objective.losses(model, idx, None)
    fabric.backward(out["loss"])
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    return {"losses": {k: float(v.detach()) for k, v in out.items()}, "grads": grads,
            "buffers": {n: b.clone() for n, b in net.named_buffers() if "queue" in n}}  # fmt: skip


def image_text(fabric, *, local: bool, sentences: bool, semantic: bool = False) -> dict:
    """`semantic`: positives by meaning (located for the local loss), SigLIP's global loss and
    the sentence-level local loss on stage 3, instead of negation hard negatives."""
    tok = train_tokenizer(REPORTS, vocab_size=150)
    config = ImageTextConfig(model="resnet_mini", vocab_size=tok.get_vocab_size(), text_width=16,
                             text_layers=1, embed_dim=16, max_len=32, max_sentences=4, top_k=3,
                             local=local, sentence_level=sentences, augment=False,
                             hard_negatives=sentences and not semantic,
                             semantic_positives=semantic, local_sentences=semantic,
                             global_loss="sigmoid" if semantic else "infonce",
                             local_stage=3 if semantic else 4)  # fmt: skip
    marks = config.assertion_vocab
    text = encode_reports(tok, REPORTS, max_len=32, max_sentences=4, assertions=marks)
    banks = {}
    if sentences:
        banks["train"] = SentenceBank.build(tok, REPORTS, max_len=32, max_sentences=4,
                                            vocab="chest_xr", assertions=marks,
                                            semantic="chest_xr" if semantic else None,
                                            located=semantic)  # fmt: skip
    torch.manual_seed(0)
    net = ImageTextModel(config)
    return _step(fabric, net, PairObjective({"train": (_images(), text)}, banks))


def ssl(fabric, *, momentum: float) -> dict:
    torch.manual_seed(0)
    net = SSLModel(SSLConfig(model="resnet_mini", embed_dim=8, momentum=momentum, queue_size=12))
    if momentum:
        net.enqueue(torch.randn(5, 8, generator=torch.Generator().manual_seed(2)))
    return _step(fabric, net, FixedViews({"train": _images()}, spatial_dims=2, seed=0))


def run(out: str, devices: int) -> None:
    torch.set_num_threads(1)
    fabric = make_fabric("cpu", "32-true", devices)
    fabric.launch()
    steps = {
        "local": image_text(fabric, local=True, sentences=True),
        "global": image_text(fabric, local=False, sentences=False),
        "semantic": image_text(fabric, local=True, sentences=True, semantic=True),
        "simclr": ssl(fabric, momentum=0.0),
        "moco": ssl(fabric, momentum=0.9),
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    if fabric.global_rank == 0:
        torch.save(steps, Path(out) / f"steps-{devices}.pt")
    if devices > 1:
        from _support.pretrain_cohort import make_pair_cohort

        cohort = Path(out) / "cohort"
        if fabric.global_rank == 0:
            make_pair_cohort(cohort, n=12, size=16)
        fabric.barrier()
        opts = PretrainOptions(epochs=2, batch_size=6, device="cpu", precision="32-true",
                               devices=devices, threads=1)  # fmt: skip
        pretrain_ssl(cohort, Path(out) / "ssl", data=PairData("image", size=16),
                     model=SSLConfig(model="resnet_mini", embed_dim=8, momentum=0.9, queue_size=8),
                     options=opts)  # fmt: skip


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
    Path(sys.argv[1], f"done-{torch.distributed.get_rank()}").touch()
    end_process_group()
