"""Demo content for a fresh install: a small synthetic chest-CT cohort ingested into the store."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

import yaml
from sqlalchemy import func, select

from radlens.data import DEFAULT_FITNESS
from radlens.demos.ct_detection import DETECTOR_DIRS
from radlens.demos.ct_segmentation import SEG_DIR
from radlens.phantom import synthesize_cohort
from radlens.service import Database, FileStore, IngestResult, Seeder, Study, ingest_dicom_files
from radlens.training import is_detector_run

log = logging.getLogger(__name__)
#: `radlens demo` trains on seed 0; the served demo patients come from another seed, so the
#: worklist shows patients the demo model never saw.
DEMO_SEED = 1000
DEMO_RUN = Path("runs") / "demo" / "run"  # where `radlens demo` (default --out) leaves its run


def _trained(run: Path) -> bool:
    """True when `run` holds a trained checkpoint and its config."""
    return (run / "checkpoint.pt").is_file() and (run / "config.yaml").is_file()


def find_demo_run(base: Path | None = None) -> Path | None:
    """`runs/demo/run` under `base` (default: the working directory) when it holds a trained
    checkpoint, else None."""
    run = (base or Path.cwd()) / DEMO_RUN
    if _trained(run):
        log.info("scoring the demo cohort with the trained demo run %s", run)
        return run
    return None


def find_demo_lesion_runs(base: Path | None = None) -> dict[str, Path | tuple[Path, ...]]:
    """The lesion finders `radlens demo` left beside its run (under `base`, default the working
    directory), as `Settings` fields: "seg_run" (runs/demo/segmentation) and "detector_runs"
    (runs/demo/detector, detector-mass, detector-nodes, detector-plaques, from `radlens demo
    --detect-nodules --detect-masses --detect-nodes --detect-plaques`), each only when it is
    there."""
    demo = (base or Path.cwd()) / DEMO_RUN.parent
    found: dict[str, Path | tuple[Path, ...]] = {}
    if _trained(demo / SEG_DIR):
        found["seg_run"] = demo / SEG_DIR
    detectors = tuple(demo / d for d in DETECTOR_DIRS.values() if is_detector_run(demo / d))
    if detectors:
        found["detector_runs"] = detectors
    return found


def seed_demo(
    db: Database, files: FileStore, work_dir: Path, *, n_patients: int = 6, seed: int = DEMO_SEED
) -> IngestResult | None:
    """Synthesize `n_patients` phantom patients (`radlens.phantom`) and ingest their DICOM
    studies, unless the store already holds studies. Returns None when nothing was done."""
    with db.session() as session:
        if session.scalar(select(func.count(Study.id))):
            return None
    cohort_dir = Path(work_dir) / "demo-cohort"
    table = synthesize_cohort(
        cohort_dir, n_patients=n_patients, seed=seed, formats=("dicom",), progress=False
    )
    total = IngestResult()
    for rel in table["dicom_dir"]:
        folder = cohort_dir / rel
        uploads = [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.dcm"))]
        result = ingest_dicom_files(db, files, uploads, source="demo")
        total.study_ids.extend(result.study_ids)
        total.new_instances += result.new_instances
    log.info("demo cohort: %d studies ingested", len(total.study_ids))
    return total


def demo_seeder(work_dir: Path, n_patients: int) -> Seeder:
    """`seed_demo` as the service's start-up seeder (`radlens serve --demo N`)."""
    return functools.partial(seed_demo, work_dir=Path(work_dir), n_patients=n_patients)


#: the phantom's grid (3.5 mm pixels, 4 mm slices) is coarser than a diagnostic chest CT; every
#: other fitness rule stays as it is for real studies
DEMO_FITNESS = replace(DEFAULT_FITNESS, max_pixel_spacing_mm=4.0)


def demo_fitness_rules(work_dir: Path) -> Path:
    """Write the demo's fitness rules (`DEMO_FITNESS`) as YAML under `work_dir`; its path."""
    path = Path(work_dir) / "demo-fitness.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(DEMO_FITNESS.as_dict(), sort_keys=False), encoding="utf-8")
    return path
