"""Image–text pretraining throughput (pairs/s) on this machine's CPU.

One training step = image encoder + text encoder forward, global InfoNCE (+ local sentence–region
loss), backward, AdamW step, through `radlens.pretrain.PairObjective` on random images and
synthetic three-sentence reports. Prints JSON with the median pairs/s over `--repeats` steps
(after one warm-up step) per configuration: backbone, image size, batch, local loss on/off,
float32 vs bf16 autocast, torch threads.

    .venv/bin/python benchmarks/pretrain_throughput.py [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from radlens.pretrain import ImageTextConfig, ImageTextModel, encode_reports, train_tokenizer
from radlens.pretrain.image_text import PairObjective

SENTENCES = (
    "Consolidation in the left lower lobe.",
    "No pleural effusion.",
    "Cardiomegaly.",
    "Heart size is normal.",
    "The lungs are clear.",
    "Small right pneumothorax.",
)


def bench(model: str, size: int, batch: int, local: bool, bf16: bool, threads: int,
          stem: bool, repeats: int) -> dict:  # fmt: skip
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    texts = [" ".join(SENTENCES[(i + k) % 6] for k in range(3)) for i in range(batch)]
    tok = train_tokenizer(texts, vocab_size=500)
    cfg = ImageTextConfig(model=model, small_input=not stem, local=local,
                          vocab_size=tok.get_vocab_size())  # fmt: skip
    net = ImageTextModel(cfg).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    images = torch.randint(0, 256, (batch, 1, size, size), dtype=torch.uint8)
    text = encode_reports(tok, texts, assertions=cfg.assertion_vocab)
    objective = PairObjective({"train": (images, text)})
    idx = torch.arange(batch)

    def step() -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = objective.losses(net, idx, None)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    step()
    times = [step() for _ in range(repeats)]
    med = statistics.median(times)
    return {"model": model, "image_size": size, "imagenet_stem": stem, "batch": batch,
            "local": local, "precision": "bf16-mixed" if bf16 else "32-true",
            "threads": threads, "median_step_s": round(med, 4),
            "pairs_per_s": round(batch / med, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/pretrain_throughput.json")
    )
    args = parser.parse_args()
    configs = [
        ("resnet18", 224, 32, True, False, 1, True),
        ("resnet18", 224, 32, False, False, 1, True),
        ("resnet18", 224, 32, True, True, 1, True),
        ("resnet18", 224, 32, True, False, 2, True),
        ("resnet_mini", 64, 32, True, False, 1, False),
    ]
    rows = [bench(*c, repeats=args.repeats) for c in configs]
    result = {
        "benchmark": "pretrain_throughput",
        "command": "python benchmarks/pretrain_throughput.py --repeats " + str(args.repeats),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared with other jobs)",
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__,
        "results": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
