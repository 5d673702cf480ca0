"""`radlens demo`: the chest-CT pipeline end to end, the MedMNIST demo, the demo's triage
report, and the synthetic studies the service shows in demo mode."""

from radlens.demos.ct import CtDemoOptions, run_ct_demo
from radlens.demos.ct_segmentation import FULL_SEGMENTATION, SegStepOptions
from radlens.demos.medmnist import run_demo
from radlens.demos.service_seed import (
    DEMO_FITNESS,
    demo_fitness_rules,
    demo_seeder,
    find_demo_lesion_runs,
    find_demo_run,
)

__all__ = [
    "DEMO_FITNESS",
    "FULL_SEGMENTATION",
    "CtDemoOptions",
    "SegStepOptions",
    "demo_fitness_rules",
    "demo_seeder",
    "find_demo_lesion_runs",
    "find_demo_run",
    "run_ct_demo",
    "run_demo",
]
