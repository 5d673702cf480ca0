"""`radlens bench`: the MedMNIST v2 grid beside the paper's values (radlens.bench)."""

from __future__ import annotations

import typer

__all__ = ["bench_app"]

bench_app = typer.Typer(help="Benchmarks: the MedMNIST v2 table, resumable.", no_args_is_help=True)


@bench_app.command("medmnist")
def bench_medmnist_cmd(
    datasets: str = typer.Option("pneumoniamnist", help="all, or names comma-separated."),
    sizes: str = typer.Option("28", help="Image sizes, e.g. 28,64,128,224."),
    models: str = typer.Option("resnet18", help="e.g. resnet18,resnet50,acs_resnet18."),
    epochs: int = typer.Option(100, help="Epochs per run [100]."),
    seeds: int = typer.Option(3, help="Seeds per combination (0..N-1) [3]."),
    out: str = typer.Option("bench", help="Output folder (resumes when it exists)."),
    protocol: str = typer.Option("resize", help="resize (paper: 28 px scaled up) or native."),
    recipe: str = typer.Option("paper", help="paper, or radlens (augment + TTA + ensemble)."),
    data_dir: str | None = typer.Option(None, help="Data folder [$RADLENS_DATA_DIR]."),
    data_file: list[str] | None = typer.Option(
        None, help="NAME=PATH: use this 28 px npz for NAME (repeatable)."
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Official MD5 check."),
    augment: str | None = typer.Option(
        None, help="none, flip, shift, flip+shift (default: from --recipe)."
    ),
    tta: bool | None = typer.Option(
        None, "--tta/--no-tta", help="Mirror TTA (default: from --recipe)."
    ),
    ensemble: bool | None = typer.Option(
        None, "--ensemble/--no-ensemble", help="Seed ensemble (default: from --recipe)."
    ),
    class_weights: str = typer.Option("none", help="none or balanced."),
    batch_size: int = typer.Option(128, help="Batch size [128]."),
    lr: float = typer.Option(1e-3, help="Adam learning rate at batch 128 [1e-3]."),
    lr_scaling: str = typer.Option("sqrt", help="Other batch sizes: none, linear or sqrt."),
    max_train_images: int | None = typer.Option(None, help="Seeded training subset."),
    max_eval_images: int | None = typer.Option(None, help="Seeded val/test subset."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    compile: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    checkpoint_every: int = typer.Option(1, help="Epochs between last.pt writes (resume)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train and test datasets x sizes x models x seeds; write bench.csv/.md/.html beside the
    MedMNIST v2 paper's values. Calling it again resumes."""
    options = {k: v for k, v in locals().items() if k != "quiet"}
    from radlens.bench import bench_medmnist

    result = bench_medmnist(options, quiet=quiet)
    typer.echo(
        f"{result.trained} trained, {result.skipped} already done; tables: "
        + ", ".join(str(p) for p in result.tables.values())
    )
