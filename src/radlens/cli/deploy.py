"""`radlens predict` (score new images / studies with a trained run) and `radlens export`
(TorchScript / ONNX file of a run, verified)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["export_cmd", "predict_cmd"]


def predict_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    inputs: list[str] = typer.Argument(
        ...,
        help="PNG/JPEG/DICOM images (2D runs), DICOM series folders or NIfTI files (3D CT "
        "runs), or a CSV listing them (column path, optional id).",
    ),
    out: Path = typer.Option(..., "--out", help="Scores file: .csv, .parquet or .json."),
    heatmaps: Path | None = typer.Option(
        None, "--heatmaps", help="Write a Grad-CAM of each input's top label to this folder."
    ),
    batch_size: int = typer.Option(16, "--batch-size", help="Inputs per model call."),
    fitness_rules: Path | None = typer.Option(
        None, "--fitness-rules", help="YAML of chest-CT fitness thresholds (default: built in)."
    ),
    no_fitness: bool = typer.Option(
        False, "--no-fitness-checks", help="Score 3D inputs without the fitness checks."
    ),
    workers: int = typer.Option(2, "--workers", help="Threads reading a DICOM series."),
) -> None:
    """Score new inputs with a run, prepared only as RUN/plan.json says; one row per input.

    Inputs that cannot be read, are of the wrong kind or fail the chest-CT fitness checks are
    listed (status, reason) and never scored.

    \b
    Example:
      radlens predict runs/ct series/patient1 scan2.nii.gz --out scores.csv
      radlens predict runs/cxr images.csv --out scores.parquet --heatmaps cams/
    """
    from radlens.data import DEFAULT_FITNESS, load_fitness_rules
    from radlens.deploy import check_output, predict, write_table

    check_output(out)  # before any work
    rules = load_fitness_rules(fitness_rules) if fitness_rules else DEFAULT_FITNESS
    frame = predict(
        run_dir, inputs, batch_size=batch_size, heatmaps_dir=heatmaps, workers=workers,
        fitness=None if no_fitness else rules,
    )  # fmt: skip
    write_table(frame, out)
    scored = int((frame["status"] == "scored").sum())
    typer.echo(f"scored {scored} of {len(frame)} input(s) -> {out}")
    for row in frame[frame["status"] != "scored"].itertuples():
        typer.echo(f"  not scored ({row.status}): {row.id}: {row.reason}")
    if heatmaps is not None and scored:
        typer.echo(f"heatmaps: {heatmaps}")
    if scored == 0:
        raise typer.Exit(1)


def export_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    fmt: str = typer.Option(..., "--format", help="torchscript or onnx."),
    out: Path = typer.Option(..., "--out", help="The exported file (sidecar: FILE.json)."),
    tolerance: float = typer.Option(
        1e-4, "--tolerance", help="Largest allowed |difference| of probabilities (float32)."
    ),
) -> None:
    """Export a run's best model as one file (TorchScript or ONNX) with a sidecar JSON (plan,
    labels, input shape, version, tolerance), verified on a fixed seeded input.

    The file takes prepared pixels (float32 in [0, 255], as `radlens predict` prepares them)
    and returns probabilities per label. ONNX is checked with onnxruntime (pip install
    'radlens[export]').

    \b
    Example:
      radlens export runs/ct --format onnx --out ct.onnx
    """
    from radlens.deploy import export_run

    result = export_run(run_dir, fmt, out, tolerance=tolerance)
    typer.echo(f"wrote {result.path} ({result.format}) and {result.sidecar}")
    typer.echo(
        f"verified: max |difference| {result.max_abs_diff:.3g} on a fixed seeded input "
        f"(tolerance {result.tolerance:g})"
    )
