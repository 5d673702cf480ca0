"""Synthetic chest CT: volumes in HU with abnormalities, their masks, free-text reports, cohorts.

- `make_phantom` / `render_study`: one study (`PhantomStudy`) on a scanner `Site` (`SITES`).
- `simulate_patient` / `synthesize_cohort`: a patient's studies; a cohort written to disk in the
  cohort-table format of `radlens.data.cohort_table` (volumes as `FORMATS`, masks, reports).
- `write_report` / `ReportContext`: the report of a study's findings.
- `render_radiograph` / `Exposure` / `sample_exposure`: a frontal chest radiograph (DRR) of a
  volume with projected masks; `write_cxr_report` / `cxr_findings` / `cxr_labels`: what it shows
  (`CXR_OBSERVATIONS` of the chest_xr vocabulary) and its chest X-ray report.
- `synthesize_outcomes` / `OutcomeRules`: SYNTHETIC follow-up (time to event or censoring) per
  study from documented rules (tumour volume, lymphadenopathy, age, noise).

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
from radlens.phantom.cxr_cohort import CXR_TRUTH_PREFIX, RADIOGRAPH_COLUMNS
from radlens.phantom.cxr_reports import (
    CXR_OBSERVATIONS,
    VISIBLE_NODULE_MM,
    cxr_findings,
    cxr_labels,
    write_cxr_report,
)
from radlens.phantom.geometry import FOV_MM, Grid
from radlens.phantom.habitus import LOBE_CODES, LOBES, Habitus
from radlens.phantom.lesions import ABNORMALITIES, LOCATIONS, FindingSpec, sample_findings
from radlens.phantom.outcomes import (
    OUTCOME_COLUMNS,
    OutcomeRules,
    log_hazard,
    outcome_covariates,
    synthesize_outcomes,
)
from radlens.phantom.phrases import LOBE_NAMES
from radlens.phantom.radiograph import (
    RADIOGRAPH_SIZES,
    SITE_EXPOSURES,
    Exposure,
    Radiograph,
    render_radiograph,
    sample_exposure,
)
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
from radlens.phantom.sizes import lesion_size_summary, size_summary_lines

__all__ = [
    "ABNORMALITIES",
    "COLUMNS",
    "CXR_OBSERVATIONS",
    "CXR_TRUTH_PREFIX",
    "DEFAULT_SHAPE",
    "FINDING_COLUMNS",
    "FORMATS",
    "FOV_MM",
    "LOBES",
    "LOBE_CODES",
    "LOBE_NAMES",
    "LOCATIONS",
    "OUTCOME_COLUMNS",
    "RADIOGRAPH_COLUMNS",
    "RADIOGRAPH_SIZES",
    "SITES",
    "SITE_EXPOSURES",
    "VISIBLE_NODULE_MM",
    "Exposure",
    "FindingSpec",
    "Grid",
    "Habitus",
    "OutcomeRules",
    "PhantomStudy",
    "Radiograph",
    "ReportContext",
    "Site",
    "cxr_findings",
    "cxr_labels",
    "get_site",
    "lesion_size_summary",
    "log_hazard",
    "make_phantom",
    "outcome_covariates",
    "parse_formats",
    "render_radiograph",
    "render_study",
    "sample_exposure",
    "sample_findings",
    "simulate_patient",
    "size_summary_lines",
    "synthesize_cohort",
    "synthesize_outcomes",
    "write_cxr_report",
    "write_report",
]
