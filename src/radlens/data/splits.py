"""Patient-level splits, leakage checks and near-duplicate image hashes.

`assign_splits` is a pure function of (patient id, seed): each patient's split comes from a SHA-256
of "seed:patient id" mapped to [0, 1), so the result does not depend on input order, other patients
or the run, and adding patients never moves existing ones. `check_no_patient_leakage` refuses any
patient whose rows fall in more than one split. `image_hash` is a difference hash (dHash) over an
area-downsampled grid for arrays of any dimensionality (2D images, colour images, 3D volumes), and
`find_near_duplicates` compares hash sets by Hamming distance. Patient ids are never logged.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from radlens.errors import ConfigError, DataError

log = logging.getLogger(__name__)
SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")


def _unit_interval(patient_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(not np.isfinite(f) or f < 0 for f in values):
        raise ConfigError(
            f"split fractions {tuple(fractions)!r}: expected three non-negative numbers "
            "(train, val, test)"
        )
    if abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions {values!r} sum to {sum(values):.6g}, expected 1")
    return values  # type: ignore[return-value]


def assign_splits(
    patient_ids: Iterable[object],
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
) -> dict[str, str]:
    """Map every distinct patient id (as str) to "train", "val" or "test".

    Deterministic and order-independent: a patient's split depends only on its id and `seed`.
    Each patient lands in a split with probability equal to its fraction, so split sizes match
    the fractions approximately (binomially), not exactly.
    """
    train, val, _ = _check_fractions(fractions)
    out: dict[str, str] = {}
    for raw in patient_ids:
        pid = _patient_str(raw)
        if pid in out:
            continue
        u = _unit_interval(pid, seed)
        out[pid] = "train" if u < train else ("val" if u < train + val else "test")
    return out


def _patient_str(raw: object) -> str:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        raise DataError("a patient id is missing (empty/NaN); every row needs a patient id")
    text = str(raw).strip()
    if not text:
        raise DataError("a patient id is empty; every row needs a patient id")
    return text


_DIGITS = re.compile(r"\d+")


def normalise_patient_id(raw: object, *, case: bool = True, zeros: bool = True) -> str:
    """The form under which two patient ids are the same patient.

    Surrounding whitespace is always stripped; `case` folds case ("p0001" == "P0001") and `zeros`
    drops leading zeros of every run of digits ("P1" == "P0001", "007" == "7"). Missing or empty
    ids raise DataError.
    """
    text = _patient_str(raw)
    if case:
        text = text.casefold()
    if zeros:
        text = _DIGITS.sub(lambda m: m.group().lstrip("0") or "0", text)
    return text


def normalise_patient_ids(
    values: Iterable[object], *, case: bool = True, zeros: bool = True
) -> np.ndarray:
    """`normalise_patient_id` of each value (each distinct value normalised once)."""
    raw = list(values)
    if not raw:
        return np.array([], dtype=object)
    codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=False)
    done = np.array([normalise_patient_id(u, case=case, zeros=zeros) for u in uniques], object)
    return done[codes]


def short_hash(value: str) -> str:
    """8-hex-digit SHA-256 prefix: lets messages refer to a patient without naming them."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def check_no_patient_leakage(
    split_of_each_row: Mapping[object, object] | Sequence[object] | np.ndarray,
    patient_ids: Mapping[object, object] | Sequence[object] | np.ndarray,
) -> None:
    """Raise DataError if any patient has rows in more than one split.

    Both arguments are aligned per row: sequences / arrays / pandas Series by position, or two
    Mappings keyed by row id. The error counts leaked patients per split pair and shows at most
    five patients as short SHA-256 hashes, never the ids themselves.
    """
    if isinstance(split_of_each_row, Mapping) and isinstance(patient_ids, Mapping):
        missing = [k for k in split_of_each_row if k not in patient_ids]
        if missing:
            raise DataError(f"{len(missing)} row(s) have a split but no patient id")
        keys = list(split_of_each_row)
        splits = [split_of_each_row[k] for k in keys]
        patients = [patient_ids[k] for k in keys]
    else:
        splits = list(
            split_of_each_row.values()
            if isinstance(split_of_each_row, Mapping)
            else split_of_each_row
        )
        patients = list(patient_ids.values() if isinstance(patient_ids, Mapping) else patient_ids)
    if len(splits) != len(patients):
        raise DataError(
            f"leakage check: {len(splits)} split values but {len(patients)} patient ids"
        )
    seen: dict[str, set[str]] = {}
    for split, patient in zip(splits, patients, strict=True):
        seen.setdefault(_patient_str(patient), set()).add(str(split))
    leaked = {pid: s for pid, s in seen.items() if len(s) > 1}
    if not leaked:
        return
    pairs: dict[str, int] = {}
    for s in leaked.values():
        key = "/".join(sorted(s))
        pairs[key] = pairs.get(key, 0) + 1
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(pairs.items()))
    examples = ", ".join(sorted(short_hash(p) for p in leaked)[:5])
    raise DataError(
        f"patient leakage: {len(leaked)} of {len(seen)} patients have images in more than one "
        f"split ({detail}); first patients by SHA-256 prefix: {examples}"
    )


def check_dataset_leakage(dataset: object) -> None:
    """`check_no_patient_leakage` over an ArrayDataset's patient_ids across all its splits."""
    splits: list[str] = []
    patients: list[object] = []
    for split, ids in dataset.patient_ids.items():  # type: ignore[attr-defined]
        splits.extend([split] * len(ids))
        patients.extend(ids.tolist())
    check_no_patient_leakage(splits, patients)


# ---- near-duplicate hashes ----------------------------------------------------------------


def _resample_axis(arr: np.ndarray, axis: int, n_out: int) -> np.ndarray:
    """Area-average `arr` along `axis` to `n_out` samples (nearest repeat when upsampling)."""
    n_in = arr.shape[axis]
    if n_in == n_out:
        return arr
    if n_in < n_out:
        idx = (np.arange(n_out) * n_in // n_out).astype(np.intp)
        return np.take(arr, idx, axis=axis)
    edges = np.linspace(0, n_in, n_out + 1).round().astype(np.intp)
    sums = np.add.reduceat(arr, edges[:-1], axis=axis)
    counts = np.diff(edges).astype(arr.dtype)
    shape = [1] * arr.ndim
    shape[axis] = n_out
    return sums / counts.reshape(shape)


def _default_size(dims: int) -> int:
    """Hash grid per axis: 16 for 2D (256 bits), 8 for 3D (512 bits), 64 for 1D."""
    return {1: 64, 2: 16}.get(dims, 8)


def _grid(arr: np.ndarray, hash_size: int | None, batch: bool) -> np.ndarray:
    start = 1 if batch else 0
    dims = arr.ndim - start
    hash_size = hash_size or _default_size(dims)
    if hash_size < 2:
        raise DataError(f"image_hash: hash_size must be at least 2, got {hash_size}")
    out = arr.astype(np.float64, copy=False)
    for k, axis in enumerate(range(start, arr.ndim)):
        n_out = hash_size + 1 if k == dims - 1 else hash_size
        out = _resample_axis(out, axis, n_out)
    return out


def _as_gray(arr: np.ndarray, channel_axis: int | None, batch: bool) -> np.ndarray:
    arr = np.asarray(arr)
    if channel_axis is None and arr.ndim - int(batch) == 3 and arr.shape[-1] in (3, 4):
        channel_axis = -1  # (H, W, 3|4) colour image; 3D volumes are (D, H, W)
    if channel_axis is not None:
        arr = arr.astype(np.float64).mean(axis=channel_axis)
    if arr.ndim - int(batch) < 1 or arr.size == 0:
        raise DataError(f"image_hash: cannot hash an array of shape {arr.shape}")
    return arr


def _bits_to_hex(bits: np.ndarray) -> list[str]:
    """bits (N, B) bool -> N hex strings of B/4 digits (padded to whole bytes)."""
    packed = np.packbits(bits, axis=1)
    return [row.tobytes().hex() for row in packed]


def image_hash(
    array: np.ndarray, *, hash_size: int | None = None, channel_axis: int | None = None
) -> str:
    """Difference hash of one image or volume as a hex string (hash_size**ndim bits; by default
    16 per axis for 2D images = 256 bits, 8 per axis for 3D volumes = 512 bits).

    The array is area-averaged to a grid of `hash_size` per axis (+1 on the last axis) and each
    bit says whether a cell is brighter than its right neighbour, so the hash survives rescaling,
    resampling, brightness/contrast changes and mild noise. (H, W, 3|4) arrays (or an explicit
    `channel_axis`) are averaged over channels first.
    """
    gray = _as_gray(array, channel_axis, batch=False)
    grid = _grid(gray, hash_size, batch=False)
    bits = (np.diff(grid, axis=-1) > 0).reshape(1, -1)
    return _bits_to_hex(bits)[0]


def image_hashes(
    images: np.ndarray, *, hash_size: int | None = None, channel_axis: int | None = None
) -> list[str]:
    """`image_hash` of every item of a stacked array (N, ...), vectorised."""
    images = np.asarray(images)
    if channel_axis is not None and channel_axis >= 0:
        channel_axis += 1  # relative to one item
    gray = _as_gray(images, channel_axis, batch=True)
    if len(gray) == 0:
        return []
    grid = _grid(gray, hash_size, batch=True)
    bits = (np.diff(grid, axis=-1) > 0).reshape(len(gray), -1)
    return _bits_to_hex(bits)


def _to_bytes(hashes: Sequence[str], what: str) -> np.ndarray:
    if len(hashes) == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    lengths = {len(h) for h in hashes}
    if len(lengths) != 1:
        raise DataError(f"{what}: hashes have different lengths {sorted(lengths)}")
    try:
        return np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes), dtype=np.uint8).reshape(
            len(hashes), -1
        )
    except ValueError as exc:
        raise DataError(f"{what}: not a hex hash string ({exc})") from exc


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two hashes of the same length."""
    arr = _to_bytes([a, b], "hash_distance")
    return int(np.bitwise_count(arr[0] ^ arr[1]).sum())


def find_near_duplicates(
    hashes_a: Sequence[str],
    hashes_b: Sequence[str] | None = None,
    max_distance: int | None = None,
    *,
    chunk: int = 0,
) -> list[tuple[int, int, int]]:
    """Pairs (i, j, distance) with Hamming distance <= max_distance, sorted.

    Compares every hash of `hashes_a` with every hash of `hashes_b` (e.g. test vs train images);
    with `hashes_b=None`, compares `hashes_a` with itself and returns pairs with i < j.
    `max_distance` None means 10% of the hash bits (26 of 256 for default 2D hashes): on 28 px
    chest X-rays, rescaled / re-exposed / noisy copies stay within that while distinct images
    were at least 43 bits apart. `chunk` rows of `hashes_a` are compared at once (0: sized to
    keep memory near 128 MB).
    """
    a = _to_bytes(list(hashes_a), "find_near_duplicates (hashes_a)")
    same = hashes_b is None
    b = a if same else _to_bytes(list(hashes_b), "find_near_duplicates (hashes_b)")
    if len(a) == 0 or len(b) == 0:
        return []
    if a.shape[1] != b.shape[1]:
        raise DataError(
            f"find_near_duplicates: hashes of {a.shape[1] * 8} and {b.shape[1] * 8} bits "
            "cannot be compared (different hash_size or dimensionality)"
        )
    if max_distance is None:
        max_distance = round(0.1 * a.shape[1] * 8)
    if a.shape[1] % 8 == 0:  # compare 64 bits at a time
        a, b = a.view(np.uint64), b.view(np.uint64)
    step = chunk or max(1, (1 << 24) // (len(b) * a.shape[1]))
    out: list[tuple[int, int, int]] = []
    for start in range(0, len(a), step):
        block = a[start : start + step]
        dist = np.bitwise_count(block[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int64)
        ii, jj = np.nonzero(dist <= max_distance)
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            gi = start + i
            if same and j <= gi:
                continue
            out.append((gi, j, int(dist[i, j])))
    return out
