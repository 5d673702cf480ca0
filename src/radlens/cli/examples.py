"""An example block for every command's ``--help`` (the ``epilog`` of each command).

`EXAMPLES` maps the command's path (``"label"``, ``"volume series"``) to example command lines;
`apply_examples` sets them as the epilog of every registered command and sub-command of the app
(root.py calls it once all commands are registered), so a command added without examples is
caught by tests/cli/test_examples.py.
"""

from __future__ import annotations

import typer

__all__ = ["EXAMPLES", "apply_examples", "epilog_for"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "serve": ("radlens serve --demo 6", "radlens serve --model-run runs/ct --port 8042"),
    "fetch": (
        "radlens fetch --study 1.2.840.113619.2.55.3 --from ORTHANC@localhost:4242 --out studies",
        "radlens fetch --study 1.2.3 --dicomweb http://localhost:8042/dicom-web --out studies",
    ),
    "train": (
        "radlens train --dataset pneumoniamnist --size 28 --model resnet18 --epochs 100 "
        "--out runs/pneu28",
        "radlens train --cohort mycohort --out runs/mine",
        "radlens train --images DIR --labels labels.csv --patient-column PID --out runs/cxr",
        "radlens train --resume --epochs 150 --out runs/pneu28",
    ),
    "evaluate": (
        "radlens evaluate runs/pneu28 --split test",
        "radlens evaluate runs/pneu28 --split val --by site --operating-point sensitivity:0.95",
    ),
    "demo": ("radlens demo", "radlens demo --medmnist"),
    "explain": ("radlens explain runs/pneu28 --cases 8 --out runs/pneu28/heatmaps",),
    "plan": ("radlens plan runs/pneu28",),
    "predict": (
        "radlens predict runs/ct ct_series_folder/ --out scores.csv",
        "radlens predict runs/cxr images/*.png --heatmaps heatmaps --out scores.parquet",
    ),
    "export": (
        "radlens export runs/ct --format onnx --out model.onnx",
        "radlens export runs/ct --format torchscript --out model.pt",
    ),
    "label": (
        "radlens label reports.csv --id-column ID --text-column TEXT --vocab chest_ct "
        "--out labels.parquet",
        "radlens label reports.csv --vocab chest_xr --workers 2 --out labels.parquet",
        "radlens label 'archive/*.csv' --dask --workers 4 --out labels.parquet",
        'radlens label --explain "Atelectasis, less likely pneumonia at the left base."',
    ),
    "label-eval": (
        "radlens label-eval labels.wide.parquet gold.csv --gold-id-column AccessionNo "
        "--mapping ct_rate",
        "radlens label-eval labels.parquet tests/_support/data/chest_ct_gold.csv",
    ),
    "data list": ("radlens data list",),
    "data info": ("radlens data info pathmnist",),
    "data fetch": ("radlens data fetch pathmnist --size 64",),
    "user add": ("radlens user add alice --role radiologist",),
    "user list": ("radlens user list",),
    "user revoke": ("radlens user revoke alice",),
    "user disable": ("radlens user disable alice",),
    "user enable": ("radlens user enable alice",),
    "volume series": ("radlens volume series DICOM_DIR",),
    "volume info": (
        "radlens volume info DICOM_DIR_OR_NIFTI",
        "radlens volume info DICOM_DIR --series-uid 1.2.840.113619.2.55.3.1",
    ),
    "volume convert": (
        "radlens volume convert DICOM_DIR out.nii.gz",
        "radlens volume convert MR_DIR out.nii.gz --allow-non-ct",
    ),
    "cohort synth": ("radlens cohort synth --patients 40 --out cohort",),
    "cohort import": (
        "radlens cohort import studies.csv --dicom-column folder --report-column report "
        "--patient-column patient --out mycohort",
    ),
    "bench medmnist": (
        "radlens bench medmnist --datasets pneumoniamnist,breastmnist --sizes 28 --epochs 100 "
        "--seeds 3",
        "radlens bench medmnist --datasets all --sizes 28,224 --recipe radlens --out bench-best",
    ),
}


def epilog_for(path: str) -> str | None:
    """The help epilog of the command at `path`: "Examples:" and one command per paragraph (the
    rich help joins the lines of a paragraph, so each example is a paragraph of its own)."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "\n\n".join(["Examples:", *(f"  $ {line}" for line in lines)])


def apply_examples(app: typer.Typer, prefix: str = "") -> None:
    """Set the example block as the epilog of every command of `app` and of its sub-apps that
    has none of its own (``radlens`` commands are typer CommandInfo / TyperInfo records)."""
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__ if info.callback else "")
        path = f"{prefix}{name}".strip()
        if info.epilog is None:
            info.epilog = epilog_for(path)
    for group in app.registered_groups:
        if group.typer_instance is not None and group.name:
            apply_examples(group.typer_instance, f"{prefix}{group.name} ")
