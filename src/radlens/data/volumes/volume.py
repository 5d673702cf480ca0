"""The `Volume` every CT reader returns, and its geometry (LPS affine, reorientation).

Conventions: `array` is float32 (Z, Y, X) in HU; `spacing` is (z, y, x) mm;
`origin` is the LPS position (x, y, z) mm of voxel [0, 0, 0]; `direction` is 3x3 whose columns are
the LPS unit vectors of the array's x (column), y (row) and z (slice) axes. Slices ascend along the
slice normal (the z column equals cross(x column, y column)), so `direction` is right-handed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from nibabel import orientations

from radlens.errors import DataError

_ORTHO_TOL = 1e-3


@dataclass
class Volume:
    """A CT volume in Hounsfield units with its patient-space geometry and key metadata."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array, dtype=np.float32)
        if self.array.ndim != 3:
            raise DataError(f"Volume array must be 3-D (Z, Y, X); got shape {self.array.shape}")
        self.spacing = _triple(self.spacing, "spacing")
        self.origin = _triple(self.origin, "origin")
        if min(self.spacing) <= 0:
            raise DataError(f"Volume spacing must be positive (z, y, x) mm; got {self.spacing}")
        direction = np.asarray(self.direction, dtype=np.float64)
        if direction.shape != (3, 3):
            raise DataError(f"Volume direction must be 3x3; got shape {direction.shape}")
        if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHO_TOL):
            raise DataError(
                "Volume direction columns must be orthonormal unit vectors; got "
                f"{np.round(direction, 4).tolist()}"
            )
        self.direction = direction

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Z, Y, X) voxels."""
        z, y, x = self.array.shape
        return int(z), int(y), int(x)

    @property
    def affine(self) -> np.ndarray:
        """4x4 map from index (x, y, z, 1) -- column, row, slice -- to LPS millimetres."""
        aff = np.eye(4)
        aff[:3, :3] = self.direction * np.array(self.spacing[::-1])[None, :]
        aff[:3, 3] = self.origin
        return aff

    def index_to_lps(self, z: float, y: float, x: float) -> np.ndarray:
        """LPS position (mm) of the voxel at array index [z, y, x]."""
        return (self.affine @ np.array([x, y, z, 1.0]))[:3]

    def slice_positions(self) -> np.ndarray:
        """(Z, 3) LPS positions of the first voxel of each slice (DICOM ImagePositionPatient)."""
        steps = np.arange(self.shape[0])[:, None] * self.spacing[0] * self.direction[:, 2][None, :]
        return np.asarray(self.origin)[None, :] + steps


def _triple(values: Any, name: str) -> tuple[float, float, float]:
    out = tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    if len(out) != 3 or not all(np.isfinite(out)):
        shown = np.asarray(values).tolist()  # plain numbers, not np.float64(...)
        raise DataError(f"Volume {name} must be three finite numbers; got {shown}")
    return out  # type: ignore[return-value]


def volume_from_affine(
    array_xyz: np.ndarray, affine_lps: np.ndarray, metadata: dict[str, Any], source: str
) -> Volume:
    """Build a Volume from an (X, Y, Z)-indexed array and a 4x4 index->LPS affine."""
    linear = np.asarray(affine_lps, dtype=np.float64)[:3, :3]
    spacing_xyz = np.linalg.norm(linear, axis=0)
    if np.any(spacing_xyz <= 0):
        raise DataError(f"{source}: affine has a zero-length axis: {linear.tolist()}")
    direction = linear / spacing_xyz[None, :]
    if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHO_TOL):
        raise DataError(f"{source}: affine axes are not orthogonal (sheared grid); resample first")
    array = np.ascontiguousarray(np.asarray(array_xyz).transpose(2, 1, 0))
    origin = np.asarray(affine_lps, dtype=np.float64)[:3, 3]
    if np.linalg.det(direction) < 0:  # slices descend along the normal: flip the stack
        origin = origin + direction[:, 2] * spacing_xyz[2] * (array.shape[0] - 1)
        direction = direction.copy()
        direction[:, 2] *= -1
        array = np.ascontiguousarray(array[::-1])
    return Volume(
        array=array,
        spacing=(spacing_xyz[2], spacing_xyz[1], spacing_xyz[0]),
        origin=tuple(origin),  # type: ignore[arg-type]
        direction=direction,
        metadata=metadata,
    )


def reorient_standard(volume: Volume) -> Volume:
    """Flip/permute axes (no resampling) so the array is standard axial: z -> S, y -> P, x -> L.

    The patient-space geometry is unchanged; only the indexing changes, so `direction` becomes the
    nearest-to-identity signed permutation of the original (identity for axis-aligned scans).
    """
    affine = volume.affine
    current = orientations.io_orientation(affine)
    target = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
    if np.array_equal(current, target):
        return volume
    transform = orientations.ornt_transform(current, target)
    array_xyz = volume.array.transpose(2, 1, 0)
    new_xyz = orientations.apply_orientation(array_xyz, transform)
    new_affine = affine @ orientations.inv_ornt_aff(transform, array_xyz.shape)
    linear = new_affine[:3, :3]
    spacing_xyz = np.linalg.norm(linear, axis=0)
    return replace(
        volume,
        array=np.ascontiguousarray(new_xyz.transpose(2, 1, 0)),
        spacing=(spacing_xyz[2], spacing_xyz[1], spacing_xyz[0]),
        origin=tuple(new_affine[:3, 3]),
        direction=linear / spacing_xyz[None, :],
    )


def standard_extent(shape_xyz: Sequence[int], affine_lps: np.ndarray) -> tuple[float, float, float]:
    """(S, P, L) mm covered by a grid of `shape_xyz` voxels with index -> LPS `affine_lps`: voxel
    count x spacing of each axis once `reorient_standard` has made it (z, y, x)."""
    linear = np.asarray(affine_lps, dtype=np.float64)[:3, :3]
    spacing_xyz = np.linalg.norm(linear, axis=0)
    world = orientations.io_orientation(np.asarray(affine_lps, dtype=np.float64))[:, 0]
    extent = [0.0, 0.0, 0.0]  # L, P, S
    for axis in range(3):
        extent[int(world[axis])] = float(shape_xyz[axis] * spacing_xyz[axis])
    return extent[2], extent[1], extent[0]


def check_alignment(
    mask: Volume, image: Volume, *, source: str = "mask", atol: float = 1e-3
) -> None:
    """Refuse a mask whose grid differs from its image's: shape, spacing, origin or orientation.

    `source` names the mask in the error (e.g. its file). Spacing and origin compare within
    `atol` mm, the direction cosines within `atol`.
    """
    problems = []
    if mask.shape != image.shape:
        problems.append(f"shape {mask.shape} != image shape {image.shape} (Z, Y, X)")
    if not np.allclose(mask.spacing, image.spacing, atol=atol):
        problems.append(f"spacing {mask.spacing} != image spacing {image.spacing} mm (z, y, x)")
    if not np.allclose(mask.origin, image.origin, atol=atol):
        problems.append(f"origin {mask.origin} != image origin {image.origin} mm (LPS)")
    if not np.allclose(mask.direction, image.direction, atol=atol):
        problems.append(
            f"orientation (direction) {np.round(mask.direction, 4).tolist()} != image "
            f"{np.round(image.direction, 4).tolist()}"
        )
    if problems:
        raise DataError(
            f"{source} is not aligned with its image: "
            + "; ".join(problems)
            + "; expected the mask on the image's voxel grid (resample it onto the image first)"
        )
