"""The one radlens command-line app.

Each command only parses its options and calls a typed function in a module below; no logic lives
here. Errors of the `RadlensError` family print as one line (no traceback) and exit with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional  # noqa: F401

import typer
from rich.console import Console
from rich.markup import escape

from radlens.errors import RadlensError

app = typer.Typer(
    name="radlens",
    help="Radiology reports and images to explained, honestly evaluated predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    """radlens command-line interface."""
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


# Command groups register below, one block per area (data, train/evaluate, reports, cohort,
# explain, service, bench). Keep each block thin: parse, call, print.


# ---- data: MedMNIST catalogue and downloads (radlens.data.medmnist.load) ----
data_app = typer.Typer(help="MedMNIST datasets: list the catalogue, show one, download files.")
app.add_typer(data_app, name="data")


def _table_console() -> Console:
    """Terminal width on a terminal; wide (no cut cells) when piped or captured."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


@data_app.command("list")
def data_list(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data folder (default: $RADLENS_DATA_DIR or ~/.radlens/data)."
    ),
) -> None:
    """List the 18 MedMNIST v2 datasets (task, labels, channels, split sizes, sizes)."""
    from radlens.data.medmnist import catalogue_table

    _table_console().print(catalogue_table(data_dir))


@data_app.command("info")
def data_info(
    name: str = typer.Argument(..., help="Dataset name, e.g. pneumoniamnist."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder."),
) -> None:
    """Show one dataset's label names and its files (URL, MD5, present locally)."""
    from radlens.data.medmnist import info_table

    _table_console().print(info_table(name, data_dir))


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="Dataset name, e.g. pneumoniamnist."),
    size: int = typer.Option(28, "--size", help="Image size: 28, 64, 128, 224 (3D: 28, 64)."),
    dest: Path | None = typer.Option(
        None, "--dest", help="Destination folder (default: $RADLENS_DATA_DIR or ~/.radlens/data)."
    ),
    url: str | None = typer.Option(
        None, "--url", help="Mirror URL instead of the official one (MD5 still checked)."
    ),
) -> None:
    """Download one official MedMNIST file (progress bar, MD5 verified, atomic write)."""
    from radlens.data.medmnist import fetch_medmnist

    path = fetch_medmnist(name, size, dest, url=url)
    typer.echo(f"{path} (MD5 verified)")


# --- service: radlens serve, radlens user add/list (radlens.service) -------------------------
user_app = typer.Typer(help="Manage service users and their bearer tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@app.command("serve")
def serve_cmd(
    host: str | None = typer.Option(None, help="HTTP host [RADLENS_HTTP_HOST, 127.0.0.1]."),
    port: int | None = typer.Option(None, help="HTTP port [RADLENS_HTTP_PORT, 8000]."),
    dicom_port: int | None = typer.Option(None, help="DICOM port [RADLENS_DICOM_PORT, 11112]."),
    ae_title: str | None = typer.Option(None, help="DICOM AE title [RADLENS_AE_TITLE]."),
    model_run: Path | None = typer.Option(None, help="Run directory to score with."),
    service_dir: Path | None = typer.Option(None, help="Data dir [RADLENS_SERVICE_DIR]."),
    demo: int | None = typer.Option(None, help="Seed N synthetic patients into an empty store."),
) -> None:
    """Start the web API, the DICOM node and the scoring worker (settings from RADLENS_* env)."""
    from radlens.demos import demo_seeder, find_demo_run
    from radlens.service import Settings, serve

    settings = Settings.from_env(
        http_host=host,
        http_port=port,
        dicom_port=dicom_port,
        ae_title=ae_title,
        model_run=model_run,
        service_dir=service_dir,
        demo_patients=demo,
    )
    if not settings.demo_patients:
        serve(settings)
        return
    # the demo: synthetic patients in an empty store, scored by `radlens demo`'s run if present
    seed = demo_seeder(settings.service_dir, settings.demo_patients)
    configured = settings.scorer or settings.model_run is not None
    serve(settings, seed=seed, fallback_run=None if configured else find_demo_run())


@user_app.command("add")
def user_add_cmd(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option("viewer", "--role", help="viewer, radiologist or admin."),
) -> None:
    """Create a user (or another token for one) and print the new token once."""
    from radlens.service import Database, Settings, add_user

    token = add_user(Database(Settings.from_env().resolved_database_url), name, role)
    typer.echo(token)


@user_app.command("list")
def user_list_cmd() -> None:
    """List users, roles and how many active tokens each has."""
    from radlens.service import Database, Settings, list_users

    for row in list_users(Database(Settings.from_env().resolved_database_url)):
        typer.echo(f"{row['id']}\t{row['name']}\t{row['role']}\ttokens={row['tokens']}")


# ---- train / evaluate / demo (radlens.training, radlens.demos) ----
@app.command("train")
def train_cmd(
    dataset: str | None = typer.Option(None, help="MedMNIST dataset, e.g. pneumoniamnist."),
    size: int | None = typer.Option(None, help="MedMNIST image size (28, 64, 128, 224)."),
    data_dir: str | None = typer.Option(None, help="Data folder [$RADLENS_DATA_DIR]."),
    data_file: str | None = typer.Option(None, help="Load this npz instead of the official."),
    verify: bool | None = typer.Option(
        None, "--verify/--no-verify", help="Check the official MD5 (off: unofficial data)."
    ),
    images: str | None = typer.Option(None, help="Folder of radiographs (PNG/JPEG/DICOM)."),
    labels: str | None = typer.Option(None, help="CSV of per-image labels for --images."),
    patient_column: str | None = typer.Option(None, help="Patient-id column of --labels."),
    label_columns: str | None = typer.Option(None, help="Label columns, comma-separated."),
    image_column: str | None = typer.Option(None, help="Image-path column of --labels."),
    site_column: str | None = typer.Option(None, help="Site column of --labels."),
    image_size: int | None = typer.Option(None, help="Resize radiographs to this size."),
    cohort: str | None = typer.Option(None, help="Chest-CT cohort folder (radlens cohort synth)."),
    cohort_shape: str | None = typer.Option(None, help="Chest CT: volume shape D,H,W [32,64,64]."),
    cohort_spacing: str | None = typer.Option(
        None, help="Chest CT: resample to Z,Y,X mm, then centre-crop to --cohort-shape."
    ),
    cohort_windows: str | None = typer.Option(
        None, help="Chest CT: HU windows, one channel each, e.g. -1000:-200,-160:240."
    ),
    cohort_min_location_positives: int | None = typer.Option(
        None, help="Chest CT: keep abnormality@location outputs with this many train positives."
    ),
    cohort_cache: str | None = typer.Option(None, help="Chest CT: preprocessed-volume cache."),
    max_train_images: int | None = typer.Option(None, help="Seeded subset of training images."),
    max_eval_images: int | None = typer.Option(None, help="Seeded subset of val/test images."),
    model: str | None = typer.Option(
        None,
        help="resnet18, resnet50, densenet121, resnet18_25d, resnet18_3d, resnet50_3d, "
        "acs_resnet18, acs_resnet50, ctnet, ctnet_lite.",
    ),
    small_input: bool | None = typer.Option(
        None, "--small-input/--imagenet-stem", help="3x3 stride-1 stem (default: <= 64 px)."
    ),
    ordinal_loss: str | None = typer.Option(None, help="Ordinal tasks: ce or coral."),
    class_weights: str | None = typer.Option(None, help="none or balanced (inverse freq)."),
    epochs: int | None = typer.Option(None, help="Epochs [100]."),
    batch_size: int | None = typer.Option(None, help="Batch size [128]."),
    eval_batch_size: int | None = typer.Option(None, help="Evaluation batch size [512]."),
    lr: float | None = typer.Option(None, help="Adam learning rate [1e-3]."),
    weight_decay: float | None = typer.Option(None, help="Adam weight decay [0]."),
    milestones: str | None = typer.Option(None, help="LR drops at these epoch fractions."),
    gamma: float | None = typer.Option(None, help="LR factor at each milestone [0.1]."),
    augment: str | None = typer.Option(None, help="none, flip, shift or flip+shift."),
    shift_pixels: int | None = typer.Option(None, help="Largest shift in pixels [2]."),
    seed: int | None = typer.Option(None, help="Random seed [0]."),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps."),
    precision: str | None = typer.Option(None, help="auto, 32-true, bf16-mixed, 16-mixed."),
    channels_last: bool | None = typer.Option(None, "--channels-last/--no-channels-last"),
    compile: bool | None = typer.Option(None, "--compile/--no-compile", help="torch.compile."),
    devices: int | None = typer.Option(None, help="Number of devices (DDP through Fabric)."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    out: str | None = typer.Option(None, help="Run directory to write [runs/run]."),
    checkpoint_every: int | None = typer.Option(None, help="Write checkpoints every N epochs."),
    config: Path | None = typer.Option(None, help="YAML config; flags override its keys."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
) -> None:
    """Train a model (MedMNIST v2 recipe by default) and write a run directory."""
    options = {k: v for k, v in locals().items() if k not in ("config", "resume")}
    from radlens.training import metrics_table, resolve_config, train

    result = train(resolve_config(options, config), resume=resume)
    if result.metrics:
        _table_console().print(metrics_table(result.metrics))
    typer.echo(f"run directory: {result.run_dir} (best epoch {result.best_epoch})")


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    split: str = typer.Option("test", help="Split to evaluate: val or test."),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda if present)."),
    by: str | None = typer.Option(None, help="Also give per-group tables, e.g. --by site."),
    operating_point: str = typer.Option(
        "youden", help="youden, fixed:0.5 or sensitivity:0.95 (chosen on val when present)."
    ),
    bootstrap: int = typer.Option(1000, help="Patient-level bootstrap replicates (0: off)."),
    repredict: bool = typer.Option(
        True, help="Re-predict the split from checkpoint.pt first (off: use predictions.parquet)."
    ),
) -> None:
    """Leakage audit, per-label AUROC with DeLong 95% CIs, AUPRC, operating points, calibration;
    writes metrics.json, evaluation.json and a self-contained report.html."""
    from radlens.evaluation import evaluate_run_dir, result_table
    from radlens.training import metrics_table

    result = evaluate_run_dir(
        run_dir, split=split, by=by, operating_point=operating_point, n_bootstrap=bootstrap,
        repredict=repredict, device=device,
    )  # fmt: skip
    if result.figures is not None:  # MedMNIST-evaluator figures (AUC, ACC), where measured
        report = result.figures
        view = {**report, "splits": {split: report}, "official_data": report["official_data"]}
        _table_console().print(metrics_table(view, splits=(split,)))
    _table_console().print(result_table(result))
    typer.echo(f"report: {run_dir / 'report.html'}  (figures: {run_dir / 'evaluation.json'})")


@app.command("demo")
def demo_cmd(
    out: str = typer.Option("runs/demo", help="Output folder (replaced on each demo)."),
    patients: int = typer.Option(450, help="Chest CT: synthetic patients (1-3 studies each)."),
    epochs: int | None = typer.Option(
        None, help="Epochs (chest CT: 56 with native bf16, else 28; MedMNIST: 3)."
    ),
    seed: int = typer.Option(0, help="Chest CT: same seed, same cohort, split and model."),
    shape: str = typer.Option(
        "32,64,64", help="Chest CT: field of view resampled to D,H,W (the body crop is 3/4 of H)."
    ),
    model: str = typer.Option(
        "ctnet_3d", help="Chest CT: ctnet_3d (plain 3D CNN), ctnet_lite, ctnet or resnet18 (3D)."
    ),
    threads: int | None = typer.Option(2, help="Chest CT: torch CPU threads."),
    medmnist: bool = typer.Option(False, "--medmnist", help="Run the MedMNIST demo instead."),
    data_dir: str | None = typer.Option(None, help="MedMNIST: folder with pneumoniamnist*.npz."),
    max_train_images: int | None = typer.Option(1500, help="MedMNIST: training subset (0 = all)."),
    max_eval_images: int | None = typer.Option(None, help="MedMNIST: val/test subset."),
    device: str = typer.Option("auto", help="MedMNIST: auto, cpu or cuda."),
) -> None:
    """Chest CT end to end on a synthetic cohort: reports -> labels -> CT-Net -> AUROC with CIs,
    heatmaps, triage list, report.html (--medmnist: ResNet-18 on PneumoniaMNIST)."""
    if medmnist:
        from radlens.demos import run_demo

        run_demo(
            data_dir=data_dir,
            out=out,
            epochs=epochs or 3,
            device=device,
            max_train_images=max_train_images or None,
            max_eval_images=max_eval_images,
            console=_table_console(),
        )
        return
    from radlens.core import parse_shape
    from radlens.demos import CtDemoOptions, run_ct_demo
    from radlens.phantom import DEFAULT_SHAPE

    options = CtDemoOptions(
        patients=patients,
        seed=seed,
        shape=parse_shape(shape, default=DEFAULT_SHAPE, what="--shape"),
        model=model,
        threads=threads,
        **({"epochs": epochs} if epochs else {}),
    )
    result = run_ct_demo(out, options, console=_table_console())
    typer.echo(f"report: {result.report}")


# ---- volume: DICOM series / NIfTI volumes (radlens.data.volumes.io) ----
volume_app = typer.Typer(help="CT volumes: list DICOM series, summarise, convert to NIfTI.")
app.add_typer(volume_app, name="volume")


@volume_app.command("series")
def volume_series_cmd(
    folder: Path = typer.Argument(..., help="Folder of DICOM files (searched recursively)."),
) -> None:
    """List the series in a folder: UID, modality, description, files, slices."""
    from radlens.data.volumes import list_series

    for s in list_series(folder):
        typer.echo(
            f"{s.series_uid}\t{s.modality}\t{s.description or '-'}\t"
            f"files={s.n_files}\tslices={s.n_slices}"
        )


@volume_app.command("info")
def volume_info_cmd(
    path: Path = typer.Argument(..., help="DICOM series folder, DICOM file or .nii/.nii.gz."),
    series_uid: str | None = typer.Option(None, help="Series to load when several exist."),
    allow_non_ct: bool = typer.Option(False, "--allow-non-ct", help="Accept MR, PT, ..."),
) -> None:
    """Load a volume and print its geometry and HU range as JSON (no patient identifiers)."""
    import json

    from radlens.data.volumes import describe_volume, load_volume

    volume = load_volume(path, series_uid=series_uid, allow_non_ct=allow_non_ct)
    typer.echo(json.dumps(describe_volume(volume), indent=2))


@volume_app.command("convert")
def volume_convert_cmd(
    path: Path = typer.Argument(..., help="DICOM series folder or DICOM file."),
    out: Path = typer.Argument(..., help="Output .nii or .nii.gz."),
    series_uid: str | None = typer.Option(None, help="Series to load when several exist."),
    allow_non_ct: bool = typer.Option(False, "--allow-non-ct", help="Accept MR, PT, ..."),
) -> None:
    """Convert a DICOM series to NIfTI (HU, RAS+ affine)."""
    from radlens.data.volumes import convert_to_nifti

    typer.echo(str(convert_to_nifti(path, out, series_uid=series_uid, allow_non_ct=allow_non_ct)))


# ---- cohort: synthetic chest-CT cohort (radlens.phantom) ----
cohort_app = typer.Typer(
    help="Synthetic chest-CT cohorts: volumes, masks, reports, a table.", no_args_is_help=True
)
app.add_typer(cohort_app, name="cohort")


@cohort_app.command("synth")
def cohort_synth_cmd(
    patients: int = typer.Option(..., "--patients", help="Number of patients (1-3 studies each)."),
    out: Path = typer.Option(..., "--out", help="Output folder (cohort.csv/.parquet inside)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same cohort."),
    shape: str = typer.Option("64,96,96", "--shape", help="Base grid Z,Y,X (sites resample z)."),
    sites: int = typer.Option(3, "--sites", help="Number of scanner sites (1-5)."),
    formats: str = typer.Option("dicom,nifti", "--formats", help="Any of dicom,nifti,npz."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Synthesize chest CTs with abnormalities, ground-truth masks and free-text reports."""
    from radlens.core import parse_shape
    from radlens.phantom import DEFAULT_SHAPE, parse_formats, synthesize_cohort

    table = synthesize_cohort(
        out,
        n_patients=patients,
        seed=seed,
        shape=parse_shape(shape, default=DEFAULT_SHAPE, what="--shape"),
        sites=sites,
        formats=parse_formats(formats),
        progress=not quiet,
    )
    truth = table.filter(like="true:")
    typer.echo(
        f"{table['patient_id'].nunique()} patients, {len(table)} studies, "
        f"{table['site'].nunique()} sites -> {out / 'cohort.parquet'}"
    )
    for col in truth.columns:
        typer.echo(f"  {col[5:]:<30} {int(truth[col].sum()):>4} studies")


# ---- explain: Grad-CAM heatmaps of a run (radlens.explain) ----
@app.command("explain")
def explain_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory written by `radlens train`."),
    cases: int = typer.Option(8, "--cases", help="Most confident positive cases per label."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: RUN/heatmaps)."),
    method: str = typer.Option("gradcam", "--method", help="gradcam or gradcampp."),
    layer: str | None = typer.Option(None, "--layer", help="Target layer (default: auto)."),
    split: str = typer.Option("test", "--split", help="Split of predictions.parquet to explain."),
    cohort: Path | None = typer.Option(None, "--cohort", help="Chest-CT cohort the run used."),
    shape: str | None = typer.Option(None, "--shape", help="Cohort volume D,H,W (default: auto)."),
) -> None:
    """Write Grad-CAM overlays (2D) or axial/coronal/sagittal montages (3D) plus index.csv."""
    from radlens.core import parse_shape
    from radlens.explain import explain_run
    from radlens.phantom import DEFAULT_SHAPE

    paths = explain_run(run_dir, cases=cases, out_dir=out, method=method,  # type: ignore[arg-type]
                        layer=layer, split=split, cohort=cohort,
                        cohort_shape=parse_shape(shape, default=DEFAULT_SHAPE, what="--shape")
                        if shape else None)  # fmt: skip
    folder = paths[0].parent if paths else (out or run_dir / "heatmaps")
    typer.echo(f"wrote {len(paths)} heatmaps and index.csv to {folder}")


# ---- reports: rule-based labeler (radlens.reports.labeler, labels_io, label_eval) ----
@app.command("label")
def label_cmd(
    reports: Path | None = typer.Argument(None, help="CSV of reports (UTF-8, header row)."),
    id_column: str = typer.Option("id", "--id-column", help="Column holding the report id."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
    vocab: str = typer.Option("chest_ct", "--vocab", help="chest_ct, chest_xr or a YAML path."),
    out: Path = typer.Option(
        Path("labels.parquet"), "--out", help="Long table (.parquet/.csv); wide matrix beside it."
    ),
    uncertain: str = typer.Option(
        "keep", "--uncertain", help="Wide matrix: keep (NaN), positive (1) or negative (0)."
    ),
    explain_text: str | None = typer.Option(
        None, "--explain", help="Label this text and print each decision with its cue."
    ),
) -> None:
    """Label free-text reports: findings (abnormality x location x status) with evidence."""
    from radlens.errors import ConfigError

    if explain_text is not None:
        from radlens.reports import explain

        lines = explain(explain_text, vocab=vocab)
        typer.echo("\n".join(lines) if lines else "no findings")
        return
    if reports is None:
        raise ConfigError("radlens label: give a reports CSV or --explain TEXT")
    from radlens.reports import label_table

    summary = label_table(
        reports, id_column=id_column, text_column=text_column, vocab=vocab, out=out,
        uncertain=uncertain,
    )  # fmt: skip
    typer.echo(
        f"{summary.n_reports} reports, {summary.n_findings} findings "
        f"({summary.n_present} present) -> {summary.long_path} + {summary.wide_path}"
    )


@app.command("label-eval")
def label_eval_cmd(
    pred: Path = typer.Argument(..., help="Output of `radlens label` (long or .wide table)."),
    gold: Path = typer.Argument(..., help="Gold CSV: wide 0/1 columns, or id,text,findings."),
    id_column: str = typer.Option("report_id", "--id-column", help="Id column of PRED."),
    gold_id_column: str | None = typer.Option(None, "--gold-id-column", help="Id of GOLD."),
    mapping: str | None = typer.Option(
        None, "--mapping", help="Gold column -> vocabulary ids: ct_rate, openi_negbio or a YAML."
    ),
    uncertain: str = typer.Option("positive", "--uncertain", help="positive or negative."),
    show: int = typer.Option(20, "--show", help="Disagreements to list."),
) -> None:
    """Per-label precision / recall / F1, micro / macro F1 and the disagreements."""
    from radlens.reports import evaluate_paths

    results = evaluate_paths(
        pred, gold, id_column=id_column, gold_id_column=gold_id_column, mapping=mapping,
        uncertain=uncertain,
    )  # fmt: skip
    for name, res in results.items():
        typer.echo(f"== {name}: micro-F1 {res.micro_f1:.3f}  macro-F1 {res.macro_f1:.3f}")
        typer.echo(res.table().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        typer.echo(f"disagreements: {len(res.disagreements)} (id, label, gold, predicted)")
        for row in res.disagreements[:show]:
            typer.echo("  " + "\t".join(row))


# ---- bench: MedMNIST v2 grid beside the paper (radlens.bench) ----
bench_app = typer.Typer(help="Benchmarks: the MedMNIST v2 table, resumable.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 user error, 1 unexpected failure)."""
    try:
        app(args=argv, prog_name="radlens", standalone_mode=True)
    except SystemExit as exc:  # typer's own exit: help, usage errors (2), typer.Exit(code)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except RadlensError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    return 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
