"""Frontal chest radiographs from phantom CT volumes: digitally reconstructed radiographs (DRR).

`render_radiograph(volume_hu, spacing, ...)` turns a (Z, Y, X) volume in HU (the phantom's LPS
axes, `radlens.phantom.geometry`) into a PA chest radiograph:

1. attenuation: mu = MU_WATER * max(0, 1 + HU / 1000) per mm (water at an effective ~60 keV);
2. line integrals along the antero-posterior axis (Y): p = sum(mu) * spacing_y, a (Z, X) map;
3. detector: transmitted fraction t = exp(-p) with quantum noise (Gaussian approximation of
   Poisson counts, N0 photons per pixel at the site's exposure), then the log transform back,
   p' = -ln(t), so display intensity rises with attenuation (bones and mediastinum bright, lungs
   dark, air outside the patient black), a film-like curve 1 - exp(-k (p' - floor)) above a
   display floor (`display_floor`: a fixed fraction of the body's median, as digital CXR
   processing windows the lungs dark), scaled so the 99.5th percentile is white (automatic
   exposure control), and a display gamma;
4. geometry: superior at the top, patient right on the viewer's left (PA convention), resampled to
   a square image with isotropic pixels over the study's field of view, slightly rotated;
5. detector blur (Gaussian, in mm).

Site / scanner differences are `Exposure`s: each site has its own base (contrast, gamma, dose,
sharpness) and every study draws small variations around it (`sample_exposure`, seeded).
Masks are projected the same way: a pixel belongs to a finding when any voxel along its ray does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from radlens.errors import ConfigError, DataError

#: Linear attenuation of water (1/mm) at an effective energy of ~60 keV.
MU_WATER: float = 0.0206
#: Film curve slope per unit `Exposure.contrast`, on the log-exposure above the display floor.
FILM_SLOPE: float = 2.0
#: The display floor (black) as a fraction of the body's median log-exposure.
FLOOR_FRACTION: float = 0.6
#: Image sizes (pixels per side) the cohort writer offers.
RADIOGRAPH_SIZES: tuple[int, ...] = (256, 320)


@dataclass(frozen=True)
class Exposure:
    """How one radiograph is acquired and displayed.

    `contrast`: slope k of the film curve 1 - exp(-k p); `gamma`: display gamma; `photons`:
    unattenuated photons per detector pixel (quantum noise falls with dose); `blur_mm`: detector
    blur sigma; `rotation_deg`: in-plane patient rotation; `fov_scale`: field of view relative to
    the phantom's (> 1 shows more border around the chest).
    """

    contrast: float = 0.25
    gamma: float = 1.3
    photons: float = 4000.0
    blur_mm: float = 0.6
    rotation_deg: float = 0.0
    fov_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("contrast", "gamma", "photons", "fov_scale"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"Exposure.{name} = {getattr(self, name)}; expected > 0")
        if self.blur_mm < 0:
            raise ConfigError(f"Exposure.blur_mm = {self.blur_mm}; expected >= 0")


#: Base exposure of each phantom site (`radlens.phantom.SITES` names); other names use "default".
SITE_EXPOSURES: dict[str, Exposure] = {
    "default": Exposure(),
    "site_a": Exposure(contrast=0.25, gamma=1.3, photons=5000.0, blur_mm=0.6),
    "site_b": Exposure(contrast=0.3, gamma=1.6, photons=2500.0, blur_mm=0.3),
    "site_c": Exposure(contrast=0.2, gamma=1.1, photons=3500.0, blur_mm=1.2),
    "site_d": Exposure(contrast=0.28, gamma=1.45, photons=1500.0, blur_mm=0.5),
    "site_e": Exposure(contrast=0.22, gamma=1.2, photons=4500.0, blur_mm=0.9),
}


def sample_exposure(site: str, rng: np.random.Generator) -> Exposure:
    """A study's exposure: the site's base with per-study variation (dose, contrast, gamma,
    rotation within +-4 degrees, field of view 0.95-1.08)."""
    base = SITE_EXPOSURES.get(site, SITE_EXPOSURES["default"])
    return Exposure(
        contrast=base.contrast * float(np.exp(rng.normal(0.0, 0.06))),
        gamma=base.gamma * float(np.exp(rng.normal(0.0, 0.08))),
        photons=base.photons * float(np.exp(rng.normal(0.0, 0.25))),
        blur_mm=base.blur_mm * float(rng.uniform(0.8, 1.25)),
        rotation_deg=float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0)),
        fov_scale=float(rng.uniform(0.95, 1.08)),
    )


@dataclass
class Radiograph:
    """A rendered radiograph: `image` (H, W) float32 in [0, 1], projected `masks` (H, W) bool by
    key, the square pixel size in mm and the exposure that made it."""

    image: np.ndarray
    masks: dict[str, np.ndarray]
    pixel_mm: float
    exposure: Exposure

    def to_uint8(self) -> np.ndarray:
        """The image as 8-bit grey levels (for PNG)."""
        return np.round(np.clip(self.image, 0.0, 1.0) * 255.0).astype(np.uint8)


def attenuation(volume_hu: np.ndarray) -> np.ndarray:
    """Linear attenuation (1/mm) of each voxel: MU_WATER * max(0, 1 + HU / 1000)."""
    return MU_WATER * np.clip(1.0 + np.asarray(volume_hu, dtype=np.float32) / 1000.0, 0.0, None)


def line_integrals(volume_hu: np.ndarray, spacing_y: float) -> np.ndarray:
    """Attenuation line integrals along Y (antero-posterior): (Z, X), dimensionless."""
    return attenuation(volume_hu).sum(axis=1, dtype=np.float64).astype(np.float32) * spacing_y


def display_floor(p: np.ndarray) -> float:
    """Log-exposure shown black: `FLOOR_FRACTION` of the median over the body (p > 0.3), so the
    lung fields are dark and the mediastinum and bones bright, as on a processed digital CXR
    (the skin edge and the air outside burn out); 0 for an image without a body."""
    body = p[p > 0.3]
    return float(FLOOR_FRACTION * np.median(body)) if body.size else 0.0


def _check(volume_hu: np.ndarray, spacing: tuple[float, ...], size: int) -> None:
    if np.ndim(volume_hu) != 3:
        raise DataError(f"volume_hu has shape {np.shape(volume_hu)}; expected (Z, Y, X)")
    if len(spacing) != 3 or not all(float(s) > 0 for s in spacing):
        raise DataError(f"spacing {tuple(spacing)}; expected three positive mm values (z, y, x)")
    if not 16 <= int(size) <= 2048:
        raise ConfigError(f"radiograph size {size}; expected 16..2048 pixels (e.g. 256 or 320)")


def _geometry(
    shape2d: tuple[int, int], spacing2d: tuple[float, float], size: int, exposure: Exposure
) -> tuple[np.ndarray, np.ndarray, float]:
    """Matrix, offset (output pixel -> input (z, x) index, for ndi.affine_transform) and the
    pixel size in mm of a square `size` image over the rotated, scaled field of view."""
    sz, sx = spacing2d
    fov = max(shape2d[0] * sz, shape2d[1] * sx) * exposure.fov_scale
    pixel = fov / size
    theta = np.deg2rad(exposure.rotation_deg)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    matrix = np.diag([1.0 / sz, 1.0 / sx]) @ rot * pixel
    c_in = (np.array(shape2d, dtype=np.float64) - 1.0) / 2.0
    c_out = np.full(2, (size - 1) / 2.0)
    return matrix, c_in - matrix @ c_out, pixel


def _warp(image2d: np.ndarray, matrix, offset, size: int, order: int) -> np.ndarray:
    return ndi.affine_transform(
        image2d, matrix, offset=offset, output_shape=(size, size), order=order,
        mode="constant", cval=0.0,
    )  # fmt: skip


def project_mask(mask3d: np.ndarray, matrix, offset, size: int) -> np.ndarray:
    """A 3D mask projected along Y (any voxel on the ray), warped like the image: (size, size)."""
    hit = np.asarray(mask3d, dtype=bool).any(axis=1)[::-1].astype(np.float32)
    frac = _warp(hit, matrix, offset, size, order=1)
    out = frac >= 0.5
    if not out.any() and hit.any():  # a finding smaller than a pixel keeps its nearest pixels
        out = frac >= max(float(frac.max()) * 0.5, 1e-3)
    return out


def render_radiograph(
    volume_hu: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    size: int = 256,
    exposure: Exposure | None = None,
    seed: int = 0,
    masks: Mapping[str, np.ndarray] | None = None,
) -> Radiograph:
    """A frontal (PA) chest radiograph of a (Z, Y, X) HU volume with `spacing` (z, y, x) mm.

    `exposure` defaults to `Exposure()` (no rotation, phantom field of view); `seed` drives the
    quantum noise, so the same inputs and seed give the same image. `masks` (key -> (Z, Y, X)
    bool) are projected onto the same pixels.
    """
    _check(volume_hu, spacing, size)
    exposure = exposure or Exposure()
    rng = np.random.default_rng([int(seed), 11])
    proj = line_integrals(volume_hu, float(spacing[1]))[::-1]  # superior at the top
    matrix, offset, pixel = _geometry(proj.shape, (spacing[0], spacing[2]), int(size), exposure)
    p = _warp(proj, matrix, offset, int(size), order=1).astype(np.float32)
    if exposure.blur_mm > 0:
        p = ndi.gaussian_filter(p, sigma=exposure.blur_mm / pixel, mode="nearest")
    counts = exposure.photons * np.exp(-p)
    counts = counts + rng.standard_normal(counts.shape).astype(np.float32) * np.sqrt(counts)
    p_det = -np.log(np.clip(counts, 1.0, None) / exposure.photons)
    floor = display_floor(p_det)
    film = 1.0 - np.exp(-FILM_SLOPE * exposure.contrast * np.clip(p_det - floor, 0.0, None))
    white = max(float(np.percentile(film, 99.5)), 1e-6)  # automatic exposure control
    image = np.clip(film / white, 0.0, 1.0) ** exposure.gamma
    projected = {
        key: project_mask(m, matrix, offset, int(size)) for key, m in (masks or {}).items()
    }
    return Radiograph(image.astype(np.float32), projected, float(pixel), exposure)
