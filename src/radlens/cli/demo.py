"""`radlens demo`: chest CT end to end on a synthetic cohort, or MedMNIST (radlens.demos)."""

from __future__ import annotations

import typer

from radlens.cli.console import table_console

__all__ = ["demo_cmd"]
DETECTORS = ("nodules", "masses", "nodes", "plaques")  # the demo's --detect-* flags


def demo_cmd(
    out: str = typer.Option("runs/demo", help="Output folder (replaced on each demo)."),
    patients: int = typer.Option(450, help="Chest CT: synthetic patients (1-3 studies each)."),
    epochs: int | None = typer.Option(
        None, help="Epochs (chest CT: 36 with native bf16, else 18; MedMNIST: 3)."
    ),
    patience: int = typer.Option(
        6,
        help="Chest CT: stop training once the LR has dropped and the validation AUC has not"
        " improved for N epochs (0: train all epochs).",
    ),
    seed: int = typer.Option(0, help="Chest CT: same seed, same cohort, split and model."),
    shape: str = typer.Option(
        "32,64,64", help="Chest CT: field of view resampled to D,H,W (the body crop is 3/4 of H)."
    ),
    model: str = typer.Option(
        "ctnet_3d", help="Chest CT: ctnet_3d (plain 3D CNN), ctnet_lite, ctnet or resnet18 (3D)."
    ),
    threads: int | None = typer.Option(2, help="Chest CT: torch CPU threads."),
    seg_epochs: int = typer.Option(
        6, help="Chest CT: epochs of the focal-lesion segmentation step (0: no such step)."
    ),
    seg_studies: int = typer.Option(
        120, help="Chest CT: training studies of the segmentation step (its CPU budget)."
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Chest CT: segment at the benchmark setting (UNet, 5 mm, 120 epochs, "
        "every training study; hours on a CPU) instead of the small CPU budget, and run the "
        "four focal-finding detectors (--detect-all).",
    ),
    detect_nodules: bool = typer.Option(
        False, "--detect-nodules", help="Chest CT: also a two-stage nodule detector (~10 min)."
    ),
    detect_masses: bool = typer.Option(
        False, "--detect-masses", help="Chest CT: the same detector on lung masses."
    ),
    detect_nodes: bool = typer.Option(
        False, "--detect-nodes", help="Chest CT: the same detector on enlarged lymph nodes."
    ),
    detect_plaques: bool = typer.Option(
        False, "--detect-plaques", help="Chest CT: a detector of calcified arterial plaques."
    ),
    detect_all: bool = typer.Option(
        False,
        "--detect-all",
        help="Chest CT: all four detectors (nodules, masses, nodes, plaques; ~40-60 min on 2 "
        "cores): the setting of the focal-finding figures in benchmarks/results.",
    ),
    medmnist: bool = typer.Option(False, "--medmnist", help="Run the MedMNIST demo instead."),
    data_dir: str | None = typer.Option(None, help="MedMNIST: folder with pneumoniamnist*.npz."),
    max_train_images: int | None = typer.Option(1500, help="MedMNIST: training subset (0 = all)."),
    max_eval_images: int | None = typer.Option(None, help="MedMNIST: val/test subset."),
    device: str = typer.Option("auto", help="MedMNIST: auto, cpu or cuda."),
) -> None:
    """Chest CT end to end on a synthetic cohort: reports -> labels -> CT-Net -> AUROC with CIs,
    heatmaps, triage list, report.html (--medmnist: ResNet-18 on PneumoniaMNIST)."""
    if medmnist:
        _medmnist_demo(out, data_dir, epochs or 3, device, max_train_images, max_eval_images)
        return
    from radlens.demos import run_ct_demo

    flags = (detect_nodules, detect_masses, detect_nodes, detect_plaques)
    options = _ct_options(
        patients=patients, seed=seed, shape=shape, model=model, threads=threads,
        patience=patience, epochs=epochs, segmentation=_segmentation(seg_epochs, seg_studies, full),
        **{f"detect_{k}": f or detect_all or full for k, f in zip(DETECTORS, flags, strict=True)},
    )  # fmt: skip
    result = run_ct_demo(out, options, console=table_console())
    typer.echo(f"report: {result.report}")


def _ct_options(*, shape: str, patience: int, epochs: int | None, **values):
    """The chest-CT demo's `CtDemoOptions` from its flags (--shape parsed, --patience checked)."""
    from radlens.core import parse_shape
    from radlens.demos import CtDemoOptions
    from radlens.errors import ConfigError
    from radlens.phantom import DEFAULT_SHAPE

    if patience < 0:
        raise ConfigError(f"--patience must be >= 0 (0: train all epochs); got {patience}")
    return CtDemoOptions(
        shape=parse_shape(shape, default=DEFAULT_SHAPE, what="--shape"),
        patience=patience or None,
        **values,
        **({"epochs": epochs} if epochs else {}),
    )


def _medmnist_demo(out, data_dir, epochs, device, max_train_images, max_eval_images) -> None:
    from radlens.demos import run_demo

    run_demo(
        data_dir=data_dir,
        out=out,
        epochs=epochs,
        device=device,
        max_train_images=max_train_images or None,
        max_eval_images=max_eval_images,
        console=table_console(),
    )


def _segmentation(seg_epochs: int, seg_studies: int, full: bool):
    """The demo's segmentation step options from its flags (None: no such step)."""
    from radlens.demos import FULL_SEGMENTATION, SegStepOptions
    from radlens.errors import ConfigError

    if seg_epochs < 0 or seg_studies < 1:
        raise ConfigError(
            f"--seg-epochs must be >= 0 and --seg-studies >= 1; got {seg_epochs}, {seg_studies}"
        )
    if full:
        return FULL_SEGMENTATION
    return SegStepOptions(epochs=seg_epochs, studies=seg_studies) if seg_epochs else None
