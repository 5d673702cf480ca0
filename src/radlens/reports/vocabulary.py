"""Finding vocabularies (abnormalities, locations, cue rules): YAML -> frozen dataclasses.

A vocabulary is data: `vocab/<name>.yaml` holds abnormalities and locations, `vocab/context.yaml`
the cue rules shared by every vocabulary (or the file's own `context:` block). The loader rejects
unknown keys and names the file, the entry and the field of every problem."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from radlens.core import suggest
from radlens.errors import ReportError

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
SYSTEMS = (
    "lung", "airway", "pleura", "heart", "vessels", "mediastinum", "chest_wall", "bones",
    "abdomen", "devices",
)  # fmt: skip
URGENCIES = ("critical", "urgent", "routine")
SIDES = ("right", "left")
CUE_CATEGORIES = ("negation", "uncertainty", "pseudo", "terminate", "normal", "abnormal")
DIRECTIONS = ("forward", "backward", "bidirectional", "none")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
#: Label names: an abnormality id, or "abnormality@location" for a finding at a location.
LOCATION_SEP = "@"
_FLAGS = ("strict_location", "requires_location")  # true / false fields of an abnormality


@dataclass(frozen=True)
class Location:
    """An anatomical location: id, display name, side and the phrases that name it."""

    id: str
    name: str
    side: str | None
    synonyms: tuple[str, ...]
    abbreviations: tuple[str, ...] = ()


@dataclass(frozen=True)
class SidedTerm:
    """Phrases without a side ("lower lobe") and the location each side word resolves them to;
    `both` lists phrases that name the two sides at once ("bibasilar")."""

    terms: tuple[str, ...]
    right: str
    left: str
    both: tuple[str, ...] = ()


@dataclass(frozen=True)
class Abnormality:
    """A finding type: id, organ system, urgency, phrases, allowed locations."""

    id: str
    name: str
    system: str
    urgency: str
    synonyms: tuple[str, ...]
    abbreviations: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    sides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    anchors: tuple[str, ...] = ()
    refine: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    strict_location: bool = False
    requires_location: bool = False
    default_location: str | None = None
    exclusive: tuple[str, ...] | None = None  # None or ids that may co-occur (labeler docstring)


@dataclass(frozen=True)
class CueRule:
    """A group of cue phrases with one category and one direction."""

    category: str
    direction: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class ContextRules:
    """Negation / uncertainty cue rules, side words and the scope limit (in words)."""

    cues: tuple[CueRule, ...]
    sides: Mapping[str, tuple[str, ...]]
    max_scope_words: int = 14


@dataclass(frozen=True)
class Vocabulary:
    """A complete vocabulary: abnormalities and locations by id, sided phrases and cue rules."""

    name: str
    description: str
    abnormalities: Mapping[str, Abnormality]
    locations: Mapping[str, Location]
    sided_terms: tuple[SidedTerm, ...]
    context: ContextRules
    source: str


def available_vocabularies() -> list[str]:
    """Names of the vocabularies shipped in the package."""
    return sorted(p.stem for p in VOCAB_DIR.glob("*.yaml") if p.stem != "context")


def load_vocabulary(name_or_path: str | Path = "chest_ct") -> Vocabulary:
    """Load a packaged vocabulary by name ("chest_ct", "chest_xr") or a user YAML file by path."""
    path = _resolve(name_or_path)
    return _load_cached(str(path))


@lru_cache(maxsize=16)
def _load_cached(path_str: str) -> Vocabulary:
    path = Path(path_str)
    data = _read_yaml(path)
    where = str(path)
    _check_keys(
        data, where, "top level",
        required={"name", "abnormalities"},
        optional={"description", "locations", "sided_terms", "context", "definitions"},
    )  # fmt: skip
    locations = _parse_locations(data.get("locations") or {}, where)
    abnormalities = _parse_abnormalities(data["abnormalities"], where, locations)
    sided = _parse_sided(data.get("sided_terms") or [], where, locations)
    if "context" in data:
        context = _parse_context(data["context"], f"{where}: context")
    else:
        ctx_path = VOCAB_DIR / "context.yaml"
        context = _parse_context(_read_yaml(ctx_path), str(ctx_path))
    return Vocabulary(
        name=_str(data["name"], where, "top level", "name"),
        description=str(data.get("description") or ""),
        abnormalities=MappingProxyType(abnormalities),
        locations=MappingProxyType(locations),
        sided_terms=tuple(sided),
        context=context,
        source=where,
    )


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise ReportError(f"vocabulary file {path} not found [expected a YAML file]")
        return path.resolve()
    names = available_vocabularies()
    if text not in names:
        hint = suggest(text, names)
        raise ReportError(f"unknown vocabulary {text!r} [expected one of {names} or a path]{hint}")
    return VOCAB_DIR / f"{text}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"vocabulary file {path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ReportError(f"vocabulary file {path}: invalid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ReportError(f"vocabulary file {path}: top level must be a mapping")
    return data


def _check_keys(
    entry: Any, where: str, name: str, *, required: set[str], optional: set[str]
) -> None:
    if not isinstance(entry, dict):
        raise ReportError(f"{where}: entry {name!r} must be a mapping, got {type(entry).__name__}")
    allowed = required | optional
    for key in entry:
        if key not in allowed:
            hint = suggest(key, sorted(allowed))
            raise ReportError(
                f"{where}: entry {name!r}: unknown field {key!r} [expected {sorted(allowed)}]{hint}"
            )
    missing = sorted(required - set(entry))
    if missing:
        raise ReportError(f"{where}: entry {name!r}: missing field {missing[0]!r}")


def _str(value: Any, where: str, name: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReportError(f"{where}: entry {name!r}: field {field!r} must be a non-empty string")
    return value.strip()


def _phrases(value: Any, where: str, name: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ReportError(f"{where}: entry {name!r}: field {field!r} must be a list of strings")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise ReportError(
                f"{where}: entry {name!r}: field {field!r} item {v!r} is not a string "
                "(quote words that YAML reads as booleans: 'no', 'yes', 'on', 'off')"
            )
    out = tuple(str(v).strip() for v in value)
    if any(not v for v in out):
        raise ReportError(f"{where}: entry {name!r}: field {field!r} has an empty phrase")
    return out


def _choice(value: Any, options: tuple[str, ...], where: str, name: str, field: str) -> str:
    if value not in options:
        hint = suggest(value, options)
        raise ReportError(
            f"{where}: entry {name!r}: field {field!r} is {value!r} [expected one of "
            f"{list(options)}]{hint}"
        )
    return str(value)


def _known_location(loc: Any, known: Mapping[str, Location], where: str, name: str, field: str):
    if loc not in known:
        hint = suggest(loc, known)
        raise ReportError(
            f"{where}: entry {name!r}: field {field!r} names unknown location {loc!r}{hint}"
        )
    return str(loc)


def _check_id(key: Any, where: str) -> str:
    if not isinstance(key, str) or not _ID.match(key):
        raise ReportError(f"{where}: entry id {key!r} must be snake_case (e.g. 'pleural_effusion')")
    return key


def _parse_locations(raw: Any, where: str) -> dict[str, Location]:
    if not isinstance(raw, dict):
        raise ReportError(f"{where}: field 'locations' must be a mapping of id -> entry")
    out: dict[str, Location] = {}
    for key, entry in raw.items():
        lid = _check_id(key, f"{where}: locations")
        _check_keys(
            entry, where, lid, required={"synonyms"}, optional={"name", "side", "abbreviations"}
        )
        side = entry.get("side")
        if side is not None:
            side = _choice(side, SIDES, where, lid, "side")
        out[lid] = Location(
            id=lid,
            name=str(entry.get("name") or lid.replace("_", " ")),
            side=side,
            synonyms=_phrases(entry["synonyms"], where, lid, "synonyms"),
            abbreviations=_phrases(entry.get("abbreviations"), where, lid, "abbreviations"),
        )
    return out


def _parse_abnormalities(
    raw: Any, where: str, locations: Mapping[str, Location]
) -> dict[str, Abnormality]:
    if not isinstance(raw, dict) or not raw:
        raise ReportError(f"{where}: field 'abnormalities' must be a non-empty mapping")
    out: dict[str, Abnormality] = {}
    for key, entry in raw.items():
        aid = _check_id(key, f"{where}: abnormalities")
        _check_keys(
            entry, where, aid,
            required={"system", "urgency", "synonyms"},
            optional={
                "name", "abbreviations", "locations", "sides", "anchors", "description", "refine",
                "strict_location", "requires_location", "default_location", "exclusive",
            },
        )  # fmt: skip
        locs = tuple(
            _known_location(loc, locations, where, aid, "locations")
            for loc in _phrases(entry.get("locations"), where, aid, "locations")
        )
        sides_raw = entry.get("sides") or {}
        if not isinstance(sides_raw, dict):
            raise ReportError(f"{where}: entry {aid!r}: field 'sides' must be a mapping")
        sides = {
            _choice(s, SIDES, where, aid, "sides"): _known_location(
                loc, locations, where, aid, "sides"
            )
            for s, loc in sides_raw.items()
        }
        out[aid] = Abnormality(
            id=aid,
            name=str(entry.get("name") or aid.replace("_", " ")),
            system=_choice(entry["system"], SYSTEMS, where, aid, "system"),
            urgency=_choice(entry["urgency"], URGENCIES, where, aid, "urgency"),
            synonyms=_phrases(entry["synonyms"], where, aid, "synonyms"),
            abbreviations=_phrases(entry.get("abbreviations"), where, aid, "abbreviations"),
            locations=locs,
            sides=MappingProxyType(sides),
            anchors=_phrases(entry.get("anchors"), where, aid, "anchors"),
            refine=MappingProxyType(_refine(entry.get("refine"), where, aid, locs)),
            default_location=_known_location(
                entry["default_location"], locations, where, aid, "default_location"
            )
            if entry.get("default_location") is not None
            else None,
            **{f: _bool(entry.get(f, False), where, aid, f) for f in _FLAGS},
            exclusive=_exclusive(entry.get("exclusive"), where, aid),
        )
    for aid, abn in out.items():
        named = [("refine", t) for t in abn.refine.values()]
        for fname, target in named + [("exclusive", t) for t in abn.exclusive or ()]:
            if target not in out:
                hint = suggest(target, out)
                raise ReportError(
                    f"{where}: entry {aid!r}: field {fname!r} names unknown abnormality "
                    f"{target!r}{hint}"
                )
    return out


def _exclusive(raw: Any, where: str, aid: str) -> tuple[str, ...] | None:
    """exclusive: true | {except: [ids]} -- kept only when no other abnormality is reported."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return ()
    _check_keys(raw, where, f"{aid}.exclusive", required={"except"}, optional=set())
    return _phrases(raw["except"], where, aid, "exclusive.except")


def _refine(raw: Any, where: str, aid: str, locs: tuple[str, ...]) -> dict[str, str]:
    """refine: {location id: abnormality id} -- this finding at that location is the other one."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ReportError(f"{where}: entry {aid!r}: field 'refine' must be a mapping")
    for loc in raw:
        if loc not in locs:
            raise ReportError(
                f"{where}: entry {aid!r}: field 'refine' names location {loc!r} that is not in "
                "its 'locations'"
            )
    return {str(k): str(v) for k, v in raw.items()}


def _bool(value: Any, where: str, aid: str, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise ReportError(f"{where}: entry {aid!r}: field {field_name!r} must be true or false")
    return value


def _parse_sided(raw: Any, where: str, locations: Mapping[str, Location]) -> list[SidedTerm]:
    if not isinstance(raw, list):
        raise ReportError(f"{where}: field 'sided_terms' must be a list")
    out = []
    for i, entry in enumerate(raw):
        name = f"sided_terms[{i}]"
        _check_keys(entry, where, name, required={"terms", "right", "left"}, optional={"both"})
        out.append(
            SidedTerm(
                terms=_phrases(entry["terms"], where, name, "terms"),
                right=_known_location(entry["right"], locations, where, name, "right"),
                left=_known_location(entry["left"], locations, where, name, "left"),
                both=_phrases(entry.get("both"), where, name, "both"),
            )
        )
    return out


def _parse_context(raw: Any, where: str) -> ContextRules:
    _check_keys(raw, where, "context", required={"cues"}, optional={"sides", "max_scope_words"})
    cues = []
    if not isinstance(raw["cues"], list):
        raise ReportError(f"{where}: field 'cues' must be a list")
    for i, entry in enumerate(raw["cues"]):
        name = f"cues[{i}]"
        _check_keys(
            entry, where, name, required={"category", "direction", "phrases"}, optional=set()
        )
        cues.append(
            CueRule(
                category=_choice(entry["category"], CUE_CATEGORIES, where, name, "category"),
                direction=_choice(entry["direction"], DIRECTIONS, where, name, "direction"),
                phrases=_phrases(entry["phrases"], where, name, "phrases"),
            )
        )
    sides_raw = raw.get("sides") or {}
    if not isinstance(sides_raw, dict):
        raise ReportError(f"{where}: field 'sides' must be a mapping")
    sides = {
        _choice(k, (*SIDES, "both"), where, "sides", k): _phrases(v, where, "sides", k)
        for k, v in sides_raw.items()
    }
    scope = raw.get("max_scope_words", 14)
    if not isinstance(scope, int) or isinstance(scope, bool) or scope < 1:
        raise ReportError(f"{where}: field 'max_scope_words' must be a positive integer")
    return ContextRules(cues=tuple(cues), sides=MappingProxyType(sides), max_scope_words=scope)
