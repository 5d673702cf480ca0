"""Helpers for the service tests and the load benchmark: synthetic CT series and a test scorer.

`TinyNetScorer` is test-only: a real (untrained, seeded) torch 3D network that turns a volume into
one probability per chest-CT abnormality, so the worker runs real tensor code without a trained run.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from radlens.service.scoring import Prediction

ABNORMALITIES = {
    "pneumothorax": "right_pleura",
    "pleural_effusion": "left_pleura",
    "mass": "right_upper_lobe",
    "nodule": "left_lower_lobe",
    "consolidation": "right_lower_lobe",
    "emphysema": "left_upper_lobe",
}


def make_volume(seed: int = 0, shape: tuple[int, int, int] = (8, 24, 24)):
    """A small chest-like volume in HU: air outside, soft tissue body, two dark lungs."""
    from radlens.data.volumes.io import Volume

    rng = np.random.default_rng(seed)
    _z, y, x = shape
    arr = np.full(shape, -1000.0, np.float32)
    arr[:, 2 : y - 2, 2 : x - 2] = 40.0
    arr[:, 5 : y - 5, 4 : x // 2 - 1] = -850.0
    arr[:, 5 : y - 5, x // 2 + 1 : x - 4] = -850.0
    arr += rng.normal(0, 10, shape).astype(np.float32)
    return Volume(array=arr, spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))


def write_series(
    out_dir: Path,
    *,
    seed: int = 0,
    patient_id: str = "P0001",
    patient_name: str = "Test^Patient",
    study_uid: str | None = None,
    shape: tuple[int, int, int] = (8, 24, 24),
    study_description: str = "CT CHEST",
) -> tuple[str, list[Path]]:
    """Write a synthetic CT series; return (study uid, files)."""
    from radlens.data.volumes.io import write_dicom_series

    study_uid = study_uid or generate_uid()
    paths = write_dicom_series(
        make_volume(seed, shape),
        out_dir,
        patient_id=patient_id,
        patient_name=patient_name,
        study_uid=study_uid,
        study_description=study_description,
    )
    return study_uid, [Path(p) for p in paths]


def zip_bytes(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def as_modality(path: Path, modality: str) -> bytes:
    """The bytes of a written instance re-labelled with another modality/SOP class."""
    ds = pydicom.dcmread(path)
    ds.Modality = modality
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


class TinyNetScorer:
    """Test-only scorer: a seeded torch 3D network, sigmoid outputs, one per abnormality."""

    model_version = "tinynet-test-0"

    def __init__(self, seed: int = 0) -> None:
        import torch

        torch.manual_seed(seed)
        self.names = list(ABNORMALITIES)
        self.net = torch.nn.Sequential(
            torch.nn.Conv3d(1, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool3d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(4, len(self.names)),
        ).eval()
        self.calls = 0

    def score(self, volume) -> list[Prediction]:
        import torch

        self.calls += 1
        arr = np.clip((volume.array + 1000.0) / 1400.0, 0, 1).astype(np.float32)
        with torch.no_grad():
            logits = self.net(torch.from_numpy(arr)[None, None])[0]
        # spread by the volume mean so different studies rank differently
        probs = torch.sigmoid(logits * 4 + float(arr.mean()) * 8 - 3).numpy()
        return [
            Prediction(name, ABNORMALITIES[name], float(p))
            for name, p in zip(self.names, probs, strict=True)
        ]

    def heatmaps(self, volume) -> dict[str, np.ndarray]:
        arr = np.clip((volume.array + 1000.0) / 1400.0, 0, 1)
        return {self.names[0]: (1.0 - arr).astype(np.float32)}


def tiny_scorer() -> TinyNetScorer:
    """Factory for RADLENS_SCORER=service_support:tiny_scorer (benchmarks and subprocess tests)."""
    return TinyNetScorer()


def train_chest_ct_run(out: Path, *, n_patients: int = 10, seed: int = 0) -> Path:
    """A real chest-CT run: a small synthetic cohort (`radlens.phantom`), labels from
    its reports (`radlens.data.ct_cohort`), CT-Net-lite trained one epoch; ~5 s on one core."""
    from radlens.data.ct_cohort import load_ct_cohort
    from radlens.phantom import synthesize_cohort
    from radlens.training.config import make_config
    from radlens.training.loop import train

    shape = (16, 32, 32)
    synthesize_cohort(
        out / "cohort", n_patients=n_patients, seed=seed, shape=shape, formats=("nifti",),
        progress=False,
    )  # fmt: skip
    cohort = load_ct_cohort(
        out / "cohort", shape=shape, cache_dir=out / "cache", progress=False,
        min_location_positives=1,
    )  # fmt: skip
    config = make_config(
        {
            "dataset": cohort.dataset.name,
            "model": "ctnet_lite",
            "epochs": 1,
            "batch_size": 4,
            "eval_batch_size": 4,
            "device": "cpu",
            "precision": "32-true",
            "channels_last": False,
            "seed": seed,
            "out": str(out / "run"),
        }
    )
    return train(config, dataset=cohort.dataset, progress=False).run_dir


def associate(port: int, calling_ae: str = "STORESCU"):
    """An established CT-storage association with the node at 127.0.0.1:`port` (AE RADLENS)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="RADLENS")
    assert assoc.is_established
    return assoc
