"""SQLAlchemy 2 models of the triage store and the database session handling.

SQLite by default (a file under the service directory, WAL mode), PostgreSQL by URL. The schema is
created and upgraded by Alembic (`migrate(engine)`), never by `create_all`, so both back ends run
the same migrations. Patient names and ids live only in `patients`; logs use internal ids.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    true,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from radlens.errors import ServiceError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: A study's urgency_rank until it is scored (after every rank of `radlens.reports.triage`).
UNSCORED_RANK = 9
#: The largest row id every back end stores (PostgreSQL INTEGER); an id above it names no row.
MAX_ROW_ID = 2**31 - 1


def valid_row_id(value: int) -> bool:
    """Whether `value` can be a row id (1..MAX_ROW_ID); larger ones overflow the driver."""
    return 1 <= value <= MAX_ROW_ID


def utcnow() -> datetime:
    return datetime.now(UTC)


class StudyStatus(enum.StrEnum):
    """Scoring life cycle: pending -> scoring (claimed) -> scored | failed | not_scorable (the
    study failed the fitness check before scoring; `Study.error` says why)."""

    PENDING = "pending"
    SCORING = "scoring"
    SCORED = "scored"
    FAILED = "failed"
    NOT_SCORABLE = "not_scorable"


class Role(enum.StrEnum):
    VIEWER = "viewer"
    RADIOLOGIST = "radiologist"
    ADMIN = "admin"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every back end (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {datetime: UTCDateTime()}


class Patient(Base):
    """One patient, keyed by (IssuerOfPatientID, PatientID); a study without a PatientID gets a
    placeholder patient of its own (`placeholder=True`, key `NOID-<StudyInstanceUID>`)."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("issuer", "patient_key", name="uq_patients_issuer_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_key: Mapped[str] = mapped_column(String(128))  # DICOM PatientID
    issuer: Mapped[str] = mapped_column(String(64), default="")  # DICOM IssuerOfPatientID
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(256), default="")
    birth_date: Mapped[str] = mapped_column(String(16), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    studies: Mapped[list[Study]] = relationship(back_populates="patient")


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    study_date: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(256), default="")
    accession: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16), default="upload")
    visible: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    status: Mapped[StudyStatus] = mapped_column(
        Enum(StudyStatus, native_enum=False, length=16), default=StudyStatus.PENDING, index=True
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_instance_at: Mapped[datetime] = mapped_column(default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(nullable=True)
    n_scorings: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[str] = mapped_column(String(128), default="")
    # radlens.reports.triage ranks 0 critical .. 3 no finding; UNSCORED_RANK until scored
    urgency_rank: Mapped[int] = mapped_column(Integer, default=UNSCORED_RANK)
    top_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    top_abnormality: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    # the last association that added instances was aborted by its sender: not scored until a
    # later association completes it or someone asks for a rescore
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False)
    patient: Mapped[Patient] = relationship(back_populates="studies")
    series: Mapped[list[Series]] = relationship(back_populates="study", order_by="Series.id")
    predictions: Mapped[list[Prediction]] = relationship(back_populates="study")
    findings: Mapped[list[Finding]] = relationship(back_populates="study")


class Series(Base):
    __tablename__ = "series"
    id: Mapped[int] = mapped_column(primary_key=True)
    series_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="CT")
    description: Mapped[str] = mapped_column(String(256), default="")
    kind: Mapped[str] = mapped_column(String(16), default="dicom")  # dicom | nifti
    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")


class Instance(Base):
    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    instance_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the start-up sweep found no file for this row (`radlens.service.ingest.reconcile_store`)
    file_missing: Mapped[bool] = mapped_column(Boolean, default=False)
    series: Mapped[Series] = relationship(back_populates="instances")


class Prediction(Base):
    __tablename__ = "predictions"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    abnormality: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    study: Mapped[Study] = relationship(back_populates="predictions")


class Heatmap(Base):
    __tablename__ = "heatmaps"
    __table_args__ = (UniqueConstraint("study_id", "abnormality"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    # the scorer's heatmap key: "abnormality" or "abnormality@location" (one map per location)
    abnormality: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))  # .npy blob, float16 (Z, Y, X) in [0, 1]


class Lesion(Base):
    """A lesion candidate of a segmentation or detector run (`radlens.deploy.SegmentationScorer`,
    `DetectorScorer`): its number `label` in the study's label volume (`LesionMask`), sizes
    measured on the image (`measured` False: estimated from the detector's blob scale)."""

    __tablename__ = "lesion_candidates"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    finding: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(64), nullable=True)
    side: Mapped[str] = mapped_column(String(8), default="")
    score: Mapped[float] = mapped_column(Float)
    diameter_mm: Mapped[float] = mapped_column(Float)  # longest axial diameter
    equivalent_diameter_mm: Mapped[float] = mapped_column(Float)
    volume_ml: Mapped[float] = mapped_column(Float)
    axial_slice: Mapped[int] = mapped_column(Integer)  # on the study's grid
    centre: Mapped[list] = mapped_column(JSON, default=list)  # (z, y, x) voxels
    model_version: Mapped[str] = mapped_column(String(128), default="")
    measured: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class LesionMask(Base):
    """A study's lesion label volume: an .npz blob (labels cropped to their box, its offset and
    the study's shape); 0 = no lesion, n = `Lesion.label` n."""

    __tablename__ = "lesion_masks"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))


class Finding(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    abnormality: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # present | uncertain | absent
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    urgency: Mapped[str] = mapped_column(String(16), default="routine")
    source: Mapped[str] = mapped_column(String(16), default="model")
    study: Mapped[Study] = relationship(back_populates="findings")


class Report(Base):
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), unique=True)
    draft_text: Mapped[str] = mapped_column(Text, default="")
    edited_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class IdentityEvent(Base):
    """Patient identity audit: refused conflicts (an instance whose patient is not its study's),
    placeholder patients and name changes; never merged, never overwritten silently."""

    __tablename__ = "identity_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # conflict | name_change | placeholder
    source: Mapped[str] = mapped_column(String(16), default="")
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), nullable=True)
    study_uid: Mapped[str] = mapped_column(String(64), default="")
    sop_uid: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy time-out and its parent folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk (WAL fsynced) when it returns; a C-STORE Success is only
            # sent after its row is committed, so this is what makes Success durable
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except Exception as exc:  # unknown dialect or missing driver
        raise ServiceError(
            f"cannot use database URL {parsed.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc


@contextmanager
def quiet_alembic() -> Iterator[None]:
    """Alembic's INFO log (plugin set-up, "Running upgrade ...") silenced while it runs: the
    migrations are an implementation detail of opening the store, not something to print."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest Alembic revision (idempotent, quiet)."""
    with quiet_alembic():
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


class Database:
    """Engine + session factory; `session()` is a unit of work committed on success."""

    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back on any exception."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
