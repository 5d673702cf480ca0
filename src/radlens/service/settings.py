"""Service settings: typed fields read from `RADLENS_*` environment variables.

Every field maps to one variable (`RADLENS_` + upper-case field name, e.g. `RADLENS_DICOM_PORT`).
Secrets (a PostgreSQL password inside `RADLENS_DATABASE_URL`, `RADLENS_SESSION_SECRET`) come only
from the environment and are never logged: `Settings.safe_summary()` masks them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from radlens.data import DEFAULT_FITNESS, FitnessRules, load_fitness_rules
from radlens.errors import ConfigError
from radlens.service.dicom_address import parse_dicom_address

ENV_PREFIX = "RADLENS_"


def default_service_dir() -> Path:
    """`$RADLENS_SERVICE_DIR`, else `~/.radlens/service`."""
    env = os.environ.get("RADLENS_SERVICE_DIR")
    return Path(env) if env else Path.home() / ".radlens" / "service"


class Settings(BaseModel):
    """Everything `radlens serve` needs; defaults give a working local install."""

    model_config = {"frozen": True, "extra": "forbid"}

    service_dir: Path = Field(default_factory=default_service_dir)
    database_url: str = ""  # empty: sqlite file inside service_dir
    storage_dir: Path | None = None  # empty: service_dir / "files"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    dicom_host: str = "127.0.0.1"  # "0.0.0.0" opens the DICOM port to the network
    dicom_port: int = Field(11112, ge=0, le=65535)
    ae_title: str = "RADLENS"
    allowed_calling_aes: tuple[str, ...] = ()  # empty: any calling AE title is accepted
    max_upload_bytes: int = Field(1024**3, gt=0)  # uploads are held in memory while validated
    max_zip_uncompressed_bytes: int = Field(2 * 1024**3, gt=0)
    max_zip_ratio: float = Field(200.0, gt=1.0)
    max_zip_entries: int = Field(20_000, gt=0)
    completion_timeout_s: float = Field(10.0, ge=0.0)
    worker_poll_s: float = Field(1.0, gt=0.0)
    claim_lease_s: float = Field(900.0, gt=0.0)
    model_run: Path | None = None  # run directory for ModelScorer
    # a `radlens train --task segmentation` run: lesion candidates + contours (empty: none)
    seg_run: Path | None = None
    seg_threshold: float = Field(0.5, gt=0.0, lt=1.0)  # candidate voxels: probability >= this
    # `radlens train --task detection` runs (e.g. nodule, mass): each one's candidates (listed at
    # score >= the threshold) and study score, which replaces the classifier's (empty: none);
    # RADLENS_DETECTOR_RUNS: comma-separated folders
    detector_runs: tuple[Path, ...] = ()
    detector_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    # a 3D `radlens pretrain image-text` run: the viewer's "show where: <sentence>" maps
    text_run: Path | None = None
    scorer: str = ""  # "package.module:factory" building a Scorer; overrides model_run
    finding_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    # >0: `radlens serve` seeds this many synthetic patients into an empty store (the demo)
    demo_patients: int = Field(0, ge=0, le=200)
    # page logins: signed session cookie lifetime; signing key (empty: <service_dir>/session.key)
    session_max_age_s: int = Field(8 * 3600, gt=0)
    session_secret: str = ""
    enable_worker: bool = True
    enable_dicom: bool = True
    # the chest-CT fitness check before scoring (`radlens.data.FitnessRules`): thresholds from
    # this YAML/JSON file, else the defaults; `check_fitness=false` scores everything
    check_fitness: bool = True
    fitness_rules: Path | None = None
    # "AE@HOST:PORT": after scoring, C-STORE the DICOM SR + heatmap maps there (empty: off)
    send_results: str = ""

    @field_validator("send_results")
    @classmethod
    def _check_send_results(cls, value: str) -> str:
        if value.strip():
            try:
                parse_dicom_address(value, option="send_results")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("ae_title")
    @classmethod
    def _check_aet(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 16 or not value.isascii() or "\\" in value:
            raise ValueError(f"AE title {value!r} must be 1-16 ASCII characters without '\\'")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL; sqlite under `service_dir` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.service_dir / 'radlens.sqlite3').as_posix()}"

    def fitness_in_force(self) -> FitnessRules | None:
        """The worker's fitness rules: `fitness_rules` loaded, the defaults, or None (off)."""
        if not self.check_fitness:
            return None
        if self.fitness_rules is None:
            return DEFAULT_FITNESS
        return load_fitness_rules(self.fitness_rules)

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir if self.storage_dir is not None else self.service_dir / "files"

    def safe_summary(self) -> dict[str, object]:
        """Settings as a dict with the database password masked (for logs and /health)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.resolved_database_url)
        shown = url.render_as_string(hide_password=True)
        data = self.model_dump(mode="json")
        data["database_url"] = shown
        if self.session_secret:
            data["session_secret"] = "***"
        return data

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read every field from `RADLENS_<FIELD>`; keyword overrides win over the environment."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            if name in ("allowed_calling_aes", "detector_runs"):
                values[name] = tuple(a.strip() for a in raw.split(",") if a.strip())
            else:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"invalid service settings: {problems}") from None
