"""Synthetic chest CT: volumes in HU with abnormalities, their masks, free-text reports, cohorts.

- `make_phantom` / `render_study`: one study (`PhantomStudy`) on a scanner `Site` (`SITES`).
- `simulate_patient` / `synthesize_cohort`: a patient's studies; a cohort written to disk in the
  cohort-table format of `radlens.data.cohort_table` (volumes as `FORMATS`, masks, reports).
- `write_report` / `ReportContext`: the report of a study's findings.

Only the CLI, the demos and the tests import this package.
"""

from radlens.phantom.cohort import (
    COLUMNS,
    FINDING_COLUMNS,
    FORMATS,
    parse_formats,
    simulate_patient,
    synthesize_cohort,
)
from radlens.phantom.geometry import FOV_MM, Grid
from radlens.phantom.habitus import LOBE_CODES, LOBES, Habitus
from radlens.phantom.lesions import ABNORMALITIES, LOCATIONS, FindingSpec, sample_findings
from radlens.phantom.phrases import LOBE_NAMES
from radlens.phantom.render import (
    DEFAULT_SHAPE,
    SITES,
    PhantomStudy,
    Site,
    get_site,
    make_phantom,
    render_study,
)
from radlens.phantom.reports import ReportContext, write_report

__all__ = [
    "ABNORMALITIES",
    "COLUMNS",
    "DEFAULT_SHAPE",
    "FINDING_COLUMNS",
    "FORMATS",
    "FOV_MM",
    "LOBES",
    "LOBE_CODES",
    "LOBE_NAMES",
    "LOCATIONS",
    "SITES",
    "FindingSpec",
    "Grid",
    "Habitus",
    "PhantomStudy",
    "ReportContext",
    "Site",
    "get_site",
    "make_phantom",
    "parse_formats",
    "render_study",
    "sample_findings",
    "simulate_patient",
    "synthesize_cohort",
    "write_report",
]
