"""`radlens train`, `evaluate`, `explain` and `plan`: runs and what is read back from them
(radlens.training, radlens.evaluation, radlens.explain)."""

from __future__ import annotations

from pathlib import Path

import typer

from radlens.cli.console import table_console
from radlens.cli.train_options import given_options

__all__ = ["evaluate_cmd", "explain_cmd", "plan_cmd", "train_cmd"]


def train_cmd(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, help="YAML config; flags override its keys."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out (with a larger --epochs: extend a finished run).",
    ),
) -> None:
    """Train a model (MedMNIST v2 recipe by default) and write a run directory."""
    from radlens.training import metrics_table, resolve_config, train, train_segmentation

    resolved = resolve_config(given_options(ctx), config)
    if resolved.task == "survival":  # time to event: radlens.training.survival
        _train_survival(resolved, resume)
        return
    if resolved.task == "detection":  # nodules: radlens.training.nodule_detection
        _train_detection(resolved, resume)
        return
    if resolved.task == "segmentation":  # per-finding masks: radlens.training.segmentation
        seg = train_segmentation(resolved, resume=resume)
        last = seg.metrics["history"][-1]["val_dice"]
        typer.echo("val Dice (last epoch): " + ", ".join(f"{k} {v:.3f}" for k, v in last.items()))
        cuts = ", ".join(f"{k} {v:g}" for k, v in seg.metrics["mask_thresholds"].items())
        typer.echo(f"mask thresholds (chosen on val; 0.5 where val has no lesion of it): {cuts}")
        typer.echo(f"run directory: {seg.run_dir} (best epoch {seg.best_epoch})")
        return
    result = train(resolved, resume=resume)
    if result.metrics:
        table_console().print(metrics_table(result.metrics))
    stop = (result.metrics or {}).get("stopped_early") and (
        f"; stopped early after epoch {result.metrics['epochs_trained']} of"
        f" {result.metrics['epochs']} (--patience {resolved.patience})"
    )
    typer.echo(f"run directory: {result.run_dir} (best epoch {result.best_epoch}{stop or ''})")


def _train_detection(resolved, resume: bool) -> None:
    import torch

    from radlens.errors import ConfigError
    from radlens.evaluation import evaluate_detector_run
    from radlens.training import detector_config, train_detector

    if resume:
        raise ConfigError("--resume does not apply to --task detection; train it again")
    resolved.check_source()
    config = detector_config(resolved)
    if resolved.threads:
        torch.set_num_threads(resolved.threads)
    info = train_detector(resolved.cohort, resolved.out, config, device=resolved.device)
    typer.echo(f"trained on {info['train_studies']} studies, {info['train_lesions']} lesions,"
               f" {info['train_candidates']} candidates ({info['train_candidate_hits']} on a"
               f" lesion); loss {info['losses'][0]:.3f} -> {info['losses'][-1]:.3f}")  # fmt: skip
    val = evaluate_detector_run(resolved.out, split="val", n_bootstrap=0, device=resolved.device)
    _echo_detection(val, "val")
    typer.echo(f"run directory: {resolved.out} (`radlens evaluate RUN` scores the test split)")


def _echo_detection(result: dict, split: str) -> None:
    size = result["min_diameter_mm"]
    sized = ((f"froc_ge_{size:g}mm", f">= {size:g} mm"),) if size > 0 else ()
    for key, name in (("froc_all", "all"), *sized):
        entry = result[key]
        ci = entry.get("score_ci")
        ci = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        reach = "-" if entry["ceiling"] is None else f"{entry['ceiling']:.3f}"
        typer.echo(f"{split} FROC {result['finding']} {name}: {entry['score']:.3f}{ci}"
                   f" ({entry['n_lesions']} lesions, {entry['n_scans']} scans; candidates reach"
                   f" {reach})")  # fmt: skip
    auc = result["study_auroc"]
    if auc["auroc"] is not None:
        ci = auc.get("ci") or [float("nan")] * 2
        typer.echo(f"{split} study AUROC (highest candidate score): {auc['auroc']:.3f}"
                   f" [{ci[0]:.3f}, {ci[1]:.3f}] ({auc['n_positive']} with a lesion"
                   f"{f' >= {size:g} mm' if size > 0 else ''}, {auc['n_negative']} without"
                   " any)")  # fmt: skip
    point = result.get("pointing") or {}
    if point.get("n"):
        typer.echo(f"{split} pointing game: the top candidate within {point['tolerance']} of a"
                   f" lesion in {point['hits']} of {point['n']} studies with one"
                   f" ({point['pointing_game']:.3f}; a random candidate"
                   f" {point['chance']:.3f})")  # fmt: skip


def _train_survival(resolved, resume: bool) -> None:
    from radlens.core import read_predictions
    from radlens.evaluation import concordance_index
    from radlens.training import train_survival

    result = train_survival(resolved, resume=resume)
    frame = read_predictions(result.run_dir)
    for split in ("val", "test"):
        rows = frame[frame["split"] == split]
        if len(rows) and rows["event"].any():
            c = concordance_index(rows["time"], rows["event"], rows["risk"])
            typer.echo(f"{split} C-index {c:.3f} ({len(rows)} studies, {int(rows['event'].sum())}"
                       " events; `radlens evaluate RUN` for CIs)")  # fmt: skip
    typer.echo(f"run directory: {result.run_dir} (best epoch {result.best_epoch})")


def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    split: str = typer.Option("test", help="Split to evaluate: val or test."),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda if present)."),
    by: str | None = typer.Option(None, help="Also give per-group tables, e.g. --by site."),
    operating_point: str = typer.Option(
        "youden",
        help="youden, fixed:0.5, sensitivity:0.95, ppv:0.5 or budget:0.1 (at most 10% of cases "
        "flagged); chosen on val when present.",
    ),
    bootstrap: int = typer.Option(1000, help="Patient-level bootstrap replicates (0: off)."),
    repredict: bool = typer.Option(
        True, help="Re-predict the split from checkpoint.pt first (off: use predictions.parquet)."
    ),
    min_val_positives: int = typer.Option(
        10, help="Thresholds chosen on fewer validation positives are flagged (or refused)."
    ),
    small_val: str = typer.Option(
        "flag", help="What to do with such thresholds: flag (caveat) or refuse (fall back)."
    ),
    audit_volumes: bool = typer.Option(
        False,
        help="Also compare a 3D run's volumes for near-duplicates across splits (~1 min for"
        " 700 volumes on 2 cores; descriptors cached in the run).",
    ),
) -> None:
    """Leakage audit, per-label AUROC with DeLong 95% CIs, AUPRC, operating points, calibration;
    writes metrics.json, evaluation.json and a self-contained report.html."""
    from radlens.core import EVALUATION, REPORT
    from radlens.evaluation import (
        evaluate_run_dir,
        is_segmentation_run,
        is_survival_run,
        result_table,
    )
    from radlens.training import is_detector_run, metrics_table

    if is_survival_run(run_dir):  # C-index, time-dependent AUC, Kaplan-Meier by risk group
        _evaluate_survival(run_dir, split, bootstrap)
        return
    if is_segmentation_run(run_dir):  # Dice/HD95/surface Dice, lesions, FROC, overlays
        _evaluate_segmentation(run_dir, split, bootstrap, device)
        return
    if is_detector_run(run_dir):  # FROC (all, >= 6 mm but plaques), study AUROC, FROC plot
        from radlens.evaluation import DETECTION_EVALUATION, evaluate_detector_run

        result = evaluate_detector_run(
            run_dir, split=split, n_bootstrap=bootstrap, device=device or "auto"
        )
        _echo_detection(result, split)
        typer.echo(f"figures: {run_dir / DETECTION_EVALUATION}, {run_dir / 'froc.png'}")
        return
    _text_map_gallery(run_dir)  # a `radlens zeroshot` output: sentence maps in report.html
    result = evaluate_run_dir(
        run_dir, split=split, by=by, operating_point=operating_point, n_bootstrap=bootstrap,
        repredict=repredict, device=device, min_val_positives=min_val_positives,
        small_val_policy=small_val, audit_volumes=audit_volumes,
    )  # fmt: skip
    if result.figures is not None:  # MedMNIST-evaluator figures (AUC, ACC), where measured
        report = result.figures
        view = {**report, "splits": {split: report}, "official_data": report["official_data"]}
        table_console().print(metrics_table(view, splits=(split,)))
    table_console().print(result_table(result))
    typer.echo(f"report: {run_dir / REPORT}  (figures: {run_dir / EVALUATION})")


def _text_map_gallery(run_dir: Path) -> None:
    """Sentence -> region maps of a zero-shot output's image-text run vs the cohort's masks
    (pointing game, overlays) for report.html; a problem skips the gallery, not the evaluation."""
    from radlens.deploy import write_text_map_gallery
    from radlens.errors import RadlensError

    try:
        maps = write_text_map_gallery(run_dir)
    except RadlensError as exc:
        typer.echo(f"sentence-map gallery skipped: {exc}")
        return
    if maps is not None and maps["cases"]:
        typer.echo(f"sentence maps: pointing game {maps['pointing_game']:.3f} over "
                   f"{maps['cases']} masks (chance {maps['chance']:.3f})")  # fmt: skip
    if maps is not None and maps.get("cases_10mm"):
        near, tol = maps["pointing_game_10mm"], maps["tolerance_mm"]
        typer.echo(f"sentence maps: within {tol:g} mm {near:.3f} over {maps['cases_10mm']} masks"
                   f" (chance {maps['chance_10mm']:.3f})")  # fmt: skip


def _evaluate_segmentation(run_dir: Path, split: str, bootstrap: int, device: str | None) -> None:
    from radlens.core import EVALUATION, REPORT
    from radlens.evaluation import evaluate_segmentation_run

    result = evaluate_segmentation_run(run_dir, split=split, n_bootstrap=bootstrap, device=device)
    for row in result["summary"]:
        if row["metric"] in ("dice", "lesion_sensitivity", "false_positives_per_scan"):
            est, lo, hi = (f"{v:.3f}" if v is not None else "-" for v in
                           (row["estimate"], row["low"], row["high"]))  # fmt: skip
            typer.echo(f"{row['finding']:<28} {row['metric']:<26} {est} ({lo} - {hi})")
    for finding, entry in result["froc"].items():
        typer.echo(f"FROC {finding}: " + (entry.get("note") or f"score {entry['score']:.3f}"))
    typer.echo(f"report: {run_dir / REPORT}  (figures: {run_dir / EVALUATION})")


def _evaluate_survival(run_dir: Path, split: str, bootstrap: int) -> None:
    from radlens.core import EVALUATION, REPORT
    from radlens.evaluation import evaluate_survival_run

    result = evaluate_survival_run(run_dir, split=split, n_bootstrap=bootstrap)

    def line(name: str, entry: dict) -> str:
        est, lo, hi = (f"{v:.3f}" if v is not None else "-" for v in
                       (entry["estimate"], entry.get("low"), entry.get("high")))  # fmt: skip
        return f"{name:<44} {est} ({lo} - {hi})"

    typer.echo(f"{split}: {result['n_studies']} studies, {result['n_events']} events")
    typer.echo(line("C-index (model)", result["c_index"]))
    for a in result["time_auc"]:
        typer.echo(line(f"AUC at t = {a['horizon']:g} (model)", a))
    for name, figures in result.get("baselines", {}).items():
        typer.echo(line(f"C-index ({name})", figures["c_index"]))
    if "difference_vs_covariates" in result:
        typer.echo(line("C-index, model minus covariates only", result["difference_vs_covariates"]))
    typer.echo(f"report: {run_dir / REPORT}  (figures: {run_dir / EVALUATION})")


def explain_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    cases: int = typer.Option(8, "--cases", help="Most confident positive cases per label."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: RUN/heatmaps)."),
    method: str = typer.Option(
        "gradcam",
        "--method",
        help="gradcam, gradcampp, hirescam, guided-gradcam, guided-hirescam or input-x-gradient;"
        " --layer a+b fuses layers (mean), a*b (geometric mean).",
    ),
    layer: str | None = typer.Option(None, "--layer", help="Target layer (default: auto)."),
    split: str = typer.Option("test", "--split", help="Split of predictions.parquet to explain."),
    cohort: Path | None = typer.Option(None, "--cohort", help="Chest-CT cohort the run used."),
    shape: str | None = typer.Option(None, "--shape", help="Cohort volume D,H,W (default: auto)."),
    tolerance: str | None = typer.Option(
        None,
        "--tolerance",
        help="Tolerant pointing game: peak within this distance of the mask, '10mm' or '1vox' "
        "(default: 10mm with a voxel spacing, else 1vox).",
    ),
    sanity: bool = typer.Option(
        False,
        "--sanity",
        help="Also explain with re-initialised weights and print trained vs random localization.",
    ),
    sanity_mode: str = typer.Option(
        "full", "--sanity-mode", help="full (all layers at once) or cascading (output to input)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the re-initialised weights."),
) -> None:
    """Write Grad-CAM overlays (2D) or axial/coronal/sagittal montages (3D) plus index.csv, on
    one evidence scale, titled with the checkpoint's own scores."""
    from radlens.core import parse_shape
    from radlens.explain import explain_run
    from radlens.phantom import DEFAULT_SHAPE

    cohort_shape = parse_shape(shape, default=DEFAULT_SHAPE, what="--shape") if shape else None
    paths = explain_run(
        run_dir, cases=cases, out_dir=out, method=method,  # type: ignore[arg-type]
        layer=layer, split=split, cohort=cohort, cohort_shape=cohort_shape, tolerance=tolerance,
        sanity=sanity_mode if sanity else None, seed=seed,
    )  # fmt: skip
    folder = paths[0].parent if paths else (out or run_dir / "heatmaps")
    typer.echo(f"wrote {len(paths)} heatmaps and index.csv to {folder}")
    if sanity:
        _print_sanity(folder)
    from radlens.cli.explain_report import refresh_report

    report = refresh_report(run_dir, folder)  # the report's gallery shows them now
    if report is not None:
        typer.echo(f"updated {report} with these heatmaps")
    else:
        typer.echo("no evaluation yet: `radlens evaluate RUN` writes report.html with them")


def _print_sanity(folder: Path) -> None:
    """The trained vs re-initialised localization table `explain_run` wrote (sanity.csv)."""
    import pandas as pd
    from rich.table import Table

    from radlens.explain import SANITY_CSV

    frame = pd.read_csv(folder / SANITY_CSV)
    if frame["n"].isna().all():
        typer.echo("sanity check: no explained case has a ground-truth mask; evidence only")
    tolerance = frame["tolerance"].dropna().iloc[0] if "tolerance" in frame else ""
    table = Table(title=f"Sanity check: trained vs re-initialised weights (tolerance {tolerance})")
    columns = ["model", "n", "pointing_game", "pointing_game_strict", "chance", "chance_strict"]
    columns += ["iou", "p_value", "perm_p_value", "evidence_median"]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column == "model" else "right")
    for _, row in frame.iterrows():
        cells = [str(row["model"])]
        for column in columns[1:]:
            value = row[column]
            cells.append("-" if pd.isna(value) else f"{value:.3g}")
        table.add_row(*cells)
    table_console().print(table)
    typer.echo(f"sanity table: {folder / SANITY_CSV}; random-weight maps: {folder}_sanity")


def plan_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    force: bool = typer.Option(False, "--force", help="Replace an existing plan.json."),
) -> None:
    """Write RUN/plan.json for a run made before plans existed, from its config.yaml and data."""
    from radlens.core import CONFIG, PLAN, write_plan
    from radlens.errors import ConfigError
    from radlens.training import load_dataset, resolve_config, run_plan

    if not (run_dir / CONFIG).is_file():
        raise ConfigError(f"{run_dir} is not a run directory: no {CONFIG}")
    if (run_dir / PLAN).exists() and not force:
        raise ConfigError(f"{run_dir / PLAN} exists; give --force to replace it")
    config = resolve_config({}, run_dir / CONFIG)
    path = write_plan(run_dir, run_plan(config, load_dataset(config), given=False))
    typer.echo(path.read_text(encoding="utf-8").rstrip())
    typer.echo(f"wrote {path}")
    typer.echo(
        f"derived from {run_dir / CONFIG} and its data with the current defaults "
        f"for anything {CONFIG} does not set"
    )
