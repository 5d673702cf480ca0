"""Which Conv3d input shapes this CPU's bf16 autocast computes wrongly (radlens.training.precision).

Usage: .venv/bin/python benchmarks/bf16_conv_probe.py [--repeats 20]

For a 3x3x3 Conv3d (16 -> 32 channels, padding 1) on inputs of several depths and in-plane sizes,
runs forward + backward in float32 and `--repeats` times under CPU bf16 autocast and prints the
worst relative error (max |bf16 - fp32| / max |fp32|) of the output, input gradient and weight
gradient, and how many bf16 repeats disagreed with each other (a read of uninitialised memory
changes from run to run). A correct bf16 kernel stays near 0.4%. Then the tiny and default demo
shapes through `bf16_conv_faults` with the time that probe costs. Prints JSON and writes
benchmarks/results/bf16_conv_probe.json. Measures this machine's torch/oneDNN build only.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from radlens.models import build_model
from radlens.training.precision import bf16_conv_faults, bf16_native

SHAPES = [(1, 8, 8), (2, 8, 8), (2, 1, 2), (3, 8, 8), (4, 8, 8), (8, 2, 8), (8, 8, 2), (16, 12, 16)]


def conv_errors(shape: tuple[int, int, int], repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((5, 16, *shape), generator=gen)
    w = torch.randn((32, 16, 3, 3, 3), generator=gen) * 0.05

    def run(dtype: torch.dtype) -> list[torch.Tensor]:
        xi = x.to(dtype).clone().requires_grad_()
        wi = w.to(dtype).clone().requires_grad_()
        y = F.conv3d(xi, wi, padding=1)
        y.backward(torch.ones_like(y))
        assert xi.grad is not None and wi.grad is not None
        return [y.detach().float(), xi.grad.float(), wi.grad.float()]

    ref = run(torch.float32)
    worst, outs = [0.0, 0.0, 0.0], []
    for _ in range(repeats):
        got = run(torch.bfloat16)
        outs.append(got[2])
        for k, (a, b) in enumerate(zip(got, ref, strict=True)):
            err = (a - b).abs().max() / b.abs().max()
            worst[k] = max(worst[k], float(err) if torch.isfinite(err) else float("inf"))
    shown = [w if w != float("inf") else "non-finite" for w in worst]  # JSON has no inf
    differing = sum(not torch.equal(o, outs[0]) for o in outs[1:])
    return {
        "input": "x".join(map(str, shape)),
        "rel_err_output": shown[0],
        "rel_err_input_grad": shown[1],
        "rel_err_weight_grad": shown[2],
        "weight_grad_repeats_differing": f"{differing}/{repeats - 1}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [conv_errors(s, args.repeats) for s in SHAPES]
    model = build_model("ctnet_3d", spatial_dims=3, in_channels=4, num_outputs=12)
    probes = {}
    for name, shape in (("tiny demo 16x32x32", (16, 24, 32)), ("default demo", (32, 64, 64))):
        t0 = time.perf_counter()
        faults = bf16_conv_faults(model, torch.zeros(1, 4, *shape))
        probes[name] = {"faults": faults, "probe_s": round(time.perf_counter() - t0, 3)}
    result = {
        "torch": torch.__version__,
        "onednn": re.search(r"MKL-DNN (v[\d.]+)", torch.__config__.show()).group(1),
        "cpu_native_bf16": bf16_native(False),
        "machine": platform.processor() or platform.machine(),
        "conv3d_16_to_32_k3_pad1_batch5": rows,
        "small_cnn_3d_probe": probes,
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "bf16_conv_probe.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
