"""Optional compiled labeler kernel (everything else is in pyproject.toml).

`src/radlens/reports/kernel.py` is Cython "pure Python mode": this build compiles a copy of it,
stamped with the SHA-256 of the source, into the extension ``radlens.reports.kernel_c``. The
extension is optional: without Cython or a C compiler, or with ``RADLENS_NO_EXTENSIONS=1``, the
install still succeeds and the labeler runs the same file as plain Python
(`radlens.reports._accel` picks the kernel at import time).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
KERNEL = ROOT / "src" / "radlens" / "reports" / "kernel.py"


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the extension cannot be compiled."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self.warn(f"radlens: compiled labeler kernel not built ({exc}); using pure Python")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"radlens: {ext.name} not built ({exc}); using pure Python")


def extensions() -> list[Extension]:
    if os.environ.get("RADLENS_NO_EXTENSIONS", "").strip() not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("radlens: Cython not available; the labeler kernel stays pure Python")
        return []
    source = KERNEL.read_bytes()
    stamped = ROOT / "build" / "cython" / "radlens" / "reports" / "kernel_c.py"
    stamped.parent.mkdir(parents=True, exist_ok=True)
    text = source.decode("utf-8") + f'\nSOURCE_SHA256 = "{hashlib.sha256(source).hexdigest()}"\n'
    if not stamped.is_file() or stamped.read_text(encoding="utf-8") != text:
        stamped.write_text(text, encoding="utf-8")
    ext = Extension(
        "radlens.reports.kernel_c",
        [str(stamped.relative_to(ROOT))],
        extra_compile_args=["-O2"],
        optional=True,
    )
    try:
        return cythonize(
            [ext],
            # every memoryview of the kernel is set in its class's __init__ (no check per access)
            compiler_directives={"language_level": 3, "binding": False, "initializedcheck": False},
            build_dir=str(ROOT / "build" / "cython"),
            quiet=True,
        )
    except Exception as exc:
        print(f"radlens: cythonize failed ({exc}); the labeler kernel stays pure Python")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
