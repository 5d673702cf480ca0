"""`radlens pretrain image-text|ssl` and `radlens zeroshot` (radlens.pretrain)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["EXAMPLES", "EXPLAIN_TEXT_EPILOG", "ZEROSHOT_EPILOG", "explain_text_cmd", "pretrain_app",
           "zeroshot_cmd"]  # fmt: skip

#: example lines of each command's --help (the format of `radlens.cli.examples`)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "pretrain image-text": (
        "radlens pretrain image-text --cohort pairs.csv --image-column image --report-column "
        "report --out runs/clip",
        "radlens pretrain image-text --cohort cxr_cohort --image-column png_path --no-local "
        "--out runs/clip_global",
    ),
    "pretrain ssl": (
        "radlens pretrain ssl --cohort cxr_cohort --image-column png_path --out runs/simclr",
        "radlens train --images DIR --labels labels.csv --init runs/simclr --out runs/ft",
    ),
    "zeroshot": (
        "radlens zeroshot runs/clip --cohort cxr_cohort --split test --out runs/clip_zs",
        "radlens evaluate runs/clip_zs --split test --no-repredict",
    ),
    "explain-text": (
        'radlens explain-text runs/clip --text "right upper zone consolidation" --image x.png',
        'radlens explain-text runs/clip --text "left pleural effusion" --image '
        "cohort/P0001/S1/radiograph.png --cohort cohort --out effusion.png",
    ),
}


def _epilog(path: str) -> str:
    return "\n\n".join(["Examples:", *(f"  $ {line}" for line in EXAMPLES[path])])


ZEROSHOT_EPILOG = _epilog("zeroshot")
EXPLAIN_TEXT_EPILOG = _epilog("explain-text")

pretrain_app = typer.Typer(
    help="Pretrain image encoders from image-report pairs (image-text) or images alone (ssl).",
    no_args_is_help=True,
)

_COHORT = typer.Option(..., "--cohort", help="Cohort folder (cohort.parquet/.csv) or table file.")
_IMAGE = typer.Option(..., "--image-column", help="Column of image paths (PNG/JPEG/DICOM/NIfTI).")
_OUT = typer.Option(..., "--out", help="Run folder to write.")
_MODEL = typer.Option("resnet18", "--model", help="Backbone: resnet18, resnet50, densenet121, …")
_SIZE = typer.Option(224, "--size", help="2D images: resized (padded) to size x size.")
_SHAPE = typer.Option("64,128,128", "--shape", help="3D volumes: cropped/padded to Z,Y,X.")
_WINDOW = typer.Option("lung", "--window", help="3D volumes: HU window (lung, mediastinum, …).")
_EPOCHS = typer.Option(20, "--epochs", help="Epochs (with --resume: the new total).")
_BATCH = typer.Option(32, "--batch-size", help="Pairs (images) per contrastive batch.")
_LR = typer.Option(1e-3, "--lr", help="AdamW learning rate (cosine schedule).")
_SEMANTIC = typer.Option(
    True, "--semantic-positives/--word-positives",
    help="A sentence is a positive for every image whose report says the same by the labeler's "
    "reading (MedCLIP's semantic matching), not only the same words.",
)  # fmt: skip
_LOCAL_SENTENCES = typer.Option(
    True, "--local-sentences/--local-reports",
    help="Local loss: each sentence against every image's regions (with the global loss's "
    "positives), not each report against each image.",
)  # fmt: skip
_LOCAL_STAGE = typer.Option(
    4, "--local-stage", help="Backbone stage of the local regions (3: ResNets)."
)
_GLOBAL_LOSS = typer.Option(
    "sigmoid", "--global-loss", help="infonce (multi-positive) or sigmoid (SigLIP pairs)."
)
_TEMPERATURE = typer.Option(
    0.1, "--temperature", help="Initial contrastive temperature (learnable)."
)
_SEED = typer.Option(0, "--seed", help="Seed (initialisation, batches, splits).")
_DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
_PRECISION = typer.Option("auto", "--precision", help="auto, 32-true or bf16-mixed.")
_THREADS = typer.Option(None, "--threads", help="CPU threads (1 is fastest on a busy CPU).")
_DEVICES = typer.Option(
    1, "--devices", help="Processes (DDP; torchrun --nproc_per_node=N ... --devices N)."
)
_RESUME = typer.Option(False, "--resume", help="Continue the run in --out from last.pt.")
_STEM = typer.Option(
    False, "--imagenet-stem", help="7x7/2 stem + max-pool (large images) instead of 3x3/1."
)


def _options(epochs, batch_size, lr, seed, device, precision, threads, resume, devices):
    from radlens.pretrain import PretrainOptions

    return PretrainOptions(
        epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
        precision=precision, resume=resume, threads=threads, devices=devices,
    )  # fmt: skip


def _data(image_column, report_column, size, shape, window, seed):
    from radlens.core import parse_shape
    from radlens.pretrain import PairData

    return PairData(
        image_column=image_column, report_column=report_column, size=size,
        shape=parse_shape(shape, default=(64, 128, 128), what="--shape"),
        window=None if window == "none" else window, seed=seed,
    )  # fmt: skip


def _done(result) -> None:
    if result.rank:  # data parallel: rank 0 speaks
        return
    last = result.history[-1] if result.history else {}
    losses = {k: round(v, 4) for k, v in last.items() if k.endswith("loss") and v is not None}
    typer.echo(
        f"{result.run_dir}: {result.epochs_done} epochs, {losses}, {result.pairs_per_s:.1f} per s"
    )


@pretrain_app.command("image-text", epilog=_epilog("pretrain image-text"))
def image_text_cmd(
    cohort: Path = _COHORT,
    image_column: str = _IMAGE,
    report_column: str = typer.Option("report_text", "--report-column", help="Report text."),
    out: Path = _OUT,
    model: str = _MODEL,
    local: bool = typer.Option(True, "--local/--no-local", help="Local sentence-region loss."),
    top_k: int = typer.Option(8, "--top-k", help="Salient regions kept per image (local)."),
    local_weight: float = typer.Option(1.0, "--local-weight", help="Weight of the local loss."),
    ring: int = typer.Option(1, "--ring", help="Border feature cells the local branch skips."),
    sentences: bool = typer.Option(
        True, "--sentences/--whole-report", help="Global loss per report sentence (or report)."
    ),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Crop/shift/contrast."),
    hard_negatives: bool = typer.Option(
        False,
        "--hard-negatives/--no-hard-negatives",
        help="Each image prefers its report's sentences to their negations (sentence level).",
    ),
    hard_weight: float = typer.Option(1.0, "--hard-weight", help="Weight of that loss."),
    negation_vocab: str = typer.Option(
        "chest_xr",
        "--negation-vocab",
        help="Labeler vocabulary that reads the sentences (a packaged name, or a YAML file that "
        "is copied into the run).",
    ),
    assertion_marks: bool = typer.Option(
        True,
        "--assertion-marks/--no-assertion-marks",
        help="Text encoder sees which words the labeler reads as present/absent/uncertain.",
    ),
    semantic_positives: bool = _SEMANTIC,
    local_sentences: bool = _LOCAL_SENTENCES,
    local_stage: int = _LOCAL_STAGE,
    global_loss: str = _GLOBAL_LOSS,
    temperature: float = _TEMPERATURE,
    embed_dim: int = typer.Option(128, "--embed-dim", help="Joint embedding width."),
    text_width: int = typer.Option(128, "--text-width", help="Text transformer width."),
    text_layers: int = typer.Option(2, "--text-layers", help="Text transformer layers."),
    max_len: int = typer.Option(128, "--max-len", help="Tokens per report (longer: cut)."),
    vocab_size: int = typer.Option(2000, "--vocab-size", help="Tokenizer vocabulary size."),
    corpus: Path | None = typer.Option(None, "--corpus", help="Extra .txt reports (tokenizer)."),
    size: int = _SIZE,
    shape: str = _SHAPE,
    window: str = _WINDOW,
    imagenet_stem: bool = _STEM,
    epochs: int = _EPOCHS,
    batch_size: int = _BATCH,
    lr: float = _LR,
    seed: int = _SEED,
    device: str = _DEVICE,
    precision: str = _PRECISION,
    threads: int | None = _THREADS,
    resume: bool = _RESUME,
    devices: int = _DEVICES,
) -> None:
    """Image–text contrastive pretraining: global InfoNCE (+ local sentence–region loss)."""
    from radlens.pretrain import ImageTextConfig, pretrain_image_text

    config = ImageTextConfig(
        model=model, small_input=not imagenet_stem, text_width=text_width,
        text_layers=text_layers, max_len=max_len, embed_dim=embed_dim, local=local,
        local_weight=local_weight, top_k=top_k, ring=ring, sentence_level=sentences,
        augment=augment, hard_negatives=hard_negatives, hard_weight=hard_weight,
        negation_vocab=negation_vocab, assertion_marks=assertion_marks,
        semantic_positives=semantic_positives, local_sentences=local_sentences,
        local_stage=local_stage, global_loss=global_loss, temperature=temperature,
    )  # fmt: skip
    result = pretrain_image_text(
        cohort, out, data=_data(image_column, report_column, size, shape, window, seed),
        model=config, corpus=corpus, vocab_size=vocab_size,
        options=_options(
            epochs, batch_size, lr, seed, device, precision, threads, resume, devices
        ),
    )  # fmt: skip
    _done(result)


@pretrain_app.command("ssl", epilog=_epilog("pretrain ssl"))
def ssl_cmd(
    cohort: Path = _COHORT,
    image_column: str = _IMAGE,
    out: Path = _OUT,
    model: str = _MODEL,
    temperature: float = typer.Option(0.1, "--temperature", help="NT-Xent temperature."),
    momentum: float = typer.Option(0.0, "--momentum", help="0: SimCLR; e.g. 0.99: EMA + queue."),
    queue_size: int = typer.Option(256, "--queue-size", help="Queued negatives (momentum)."),
    embed_dim: int = typer.Option(128, "--embed-dim", help="Projection width."),
    size: int = _SIZE,
    shape: str = _SHAPE,
    window: str = _WINDOW,
    imagenet_stem: bool = _STEM,
    epochs: int = _EPOCHS,
    batch_size: int = _BATCH,
    lr: float = _LR,
    seed: int = _SEED,
    device: str = _DEVICE,
    precision: str = _PRECISION,
    threads: int | None = _THREADS,
    resume: bool = _RESUME,
    devices: int = _DEVICES,
) -> None:
    """Self-supervised (SimCLR) pretraining; `radlens train --init OUT` starts from it."""
    from radlens.pretrain import SSLConfig, pretrain_ssl

    config = SSLConfig(
        model=model, small_input=not imagenet_stem, embed_dim=embed_dim,
        temperature=temperature, momentum=momentum, queue_size=queue_size,
    )  # fmt: skip
    result = pretrain_ssl(
        cohort, out, data=_data(image_column, None, size, shape, window, seed), model=config,
        options=_options(
            epochs, batch_size, lr, seed, device, precision, threads, resume, devices
        ),
    )  # fmt: skip
    _done(result)


def zeroshot_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder of `radlens pretrain image-text`."),
    cohort: Path = _COHORT,
    split: str = typer.Option("test", "--split", help="Split to score (the cohort's split)."),
    out: Path = _OUT,
    findings: str | None = typer.Option(
        None, "--findings", help="Comma list (finding or finding@location); default: truth."
    ),
    prompts: Path | None = typer.Option(None, "--prompts", help="Prompt templates YAML."),
    vocab: str = typer.Option("chest_xr", "--vocab", help="Vocabulary naming the findings."),
    similarity: str = typer.Option(
        "auto",
        "--similarity",
        help="global | local | both (GLoRIA: margins added) | auto (both with a local branch).",
    ),
    score: str = typer.Option(
        "auto",
        "--score",
        help="margin (positive vs negative prompts, CLIP) | positive (the positive prompts' own"
        " pair probability, SigLIP) | auto (positive for runs trained with the sigmoid loss).",
    ),
    device: str = _DEVICE,
) -> None:
    """Zero-shot finding scores (prompt ensembles); `radlens evaluate OUT --no-repredict`."""
    from radlens.pretrain import zero_shot

    names = [f.strip() for f in findings.split(",") if f.strip()] if findings else None
    result = zero_shot(
        run_dir, cohort, out, split=split, findings=names, prompts=prompts, vocab=vocab,
        similarity=similarity, score=score, device=device,
    )  # fmt: skip
    typer.echo(
        f"{result.out}/predictions.parquet: {result.n_images} images x {len(result.labels)}"
        f" findings ({', '.join(result.labels)}); similarity: {result.similarity}; score:"
        f" {result.score}"
    )


def _cohort_masks(cohort: Path, image: Path, size: int) -> dict:
    """The projected masks of the cohort row whose radiograph is `image`, on the model input."""
    import numpy as np

    from radlens.data import read_cohort
    from radlens.data.radiographs import resize_image
    from radlens.errors import DataError

    table = read_cohort(cohort)
    if "radiograph_path" not in table or "radiograph_masks_path" not in table:
        raise DataError(f"--cohort {cohort}: no radiograph_path / radiograph_masks_path columns"
                        " (a radiograph cohort: radlens cohort synth --radiographs)")  # fmt: skip
    base = cohort if cohort.is_dir() else cohort.parent  # the table's paths are relative to it
    rows = table[[(base / str(p)).resolve() == image.resolve() for p in table["radiograph_path"]]]
    if not len(rows):
        raise DataError(f"--cohort {cohort}: no row has radiograph {image}")
    with np.load(base / str(rows.iloc[0]["radiograph_masks_path"])) as npz:
        return {k: resize_image(npz[k].astype(np.float32), size) >= 64 for k in npz.files}


def _score_named(text: str, heat, peak, masks: dict) -> None:
    """Print the masks at the peak, and score the masks of what the labeler reads in `text`."""
    from radlens.explain import score_heatmap
    from radlens.reports import label

    inside = [k for k, m in masks.items() if m[peak]]
    typer.echo("peak inside masks: " + (", ".join(inside) if inside else "none"))
    named = {(f.abnormality, f.location) for f in label(text, vocab="chest_xr")
             if f.status == "present"}  # fmt: skip
    for key, mask in masks.items():
        obs, _, loc = key.partition("@")
        if mask.any() and any(obs == a and (not b or loc == b) for a, b in named):
            s = score_heatmap(heat, mask)
            typer.echo(f"  {key}: pointing game hit={s.strict_hit} (chance {s.strict_chance:.3f}),"
                       f" IoU {s.iou:.3f} (map >= 0.5 of its maximum)")  # fmt: skip


def explain_text_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder of `radlens pretrain image-text`."),
    text: str = typer.Option(..., "--text", help='A sentence, e.g. "right upper lobe mass".'),
    image: Path = typer.Option(..., "--image", help="Image (PNG/JPEG/DICOM, or NIfTI / series)."),
    cohort: Path | None = typer.Option(
        None, "--cohort", help="Radiograph cohort holding --image: name the masks at the peak."
    ),
    out: Path | None = typer.Option(None, "--out", help="Overlay PNG (default: IMAGE stem)."),
    method: str | None = typer.Option(
        None, "--method", help="attention (local runs' default) or cosine (global-only runs)."
    ),
) -> None:
    """Where a sentence points on an image: the sentence-region similarity map of an
    image-text run, its peak (model input and image coordinates) and a PNG overlay."""
    import numpy as np

    from radlens.explain import montage_3d, overlay_2d
    from radlens.pretrain import (
        input_to_image,
        load_image_text,
        load_run_image,
        sentence_region_map,
    )

    run = load_image_text(run_dir)
    pixels, shape = load_run_image(run, image)
    heat = sentence_region_map(run, pixels, text, method=method)
    peak = tuple(int(v) for v in np.unravel_index(int(np.argmax(heat)), heat.shape))
    path = out or Path(f"{image.stem if image.is_file() else image.name}_text_map.png")
    if heat.ndim == 2:
        row, col = input_to_image(peak, shape, run.data.size)
        where = f"peak at input (row {peak[0]}, col {peak[1]}) of {heat.shape[0]}x{heat.shape[1]}"
        typer.echo(f"{where}; image (row {row:.0f}, col {col:.0f}) of {shape[0]}x{shape[1]}")
        overlay_2d(pixels[0], heat, path, title=text)
    else:
        typer.echo(f"peak at input voxel (z, y, x) {peak} of {heat.shape}")
        montage_3d(pixels[0], heat, path, title=text)
    if cohort is not None and heat.ndim == 2:
        _score_named(text, heat, peak, _cohort_masks(cohort, image, run.data.size))
    typer.echo(f"overlay: {path}")
