"""Which labeler kernel runs: the compiled extension when it is built from the current source,
else the same code as plain Python.

``pip install -e .`` compiles `radlens.reports.kernel` with Cython into `kernel_c` (setup.py;
optional: without a compiler or Cython the install still succeeds). The extension records the
SHA-256 of the source it was built from; when `kernel.py` has changed since (a stale build in an
editable checkout) or ``RADLENS_PURE_PYTHON=1`` is set, the pure-Python module is used instead.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from pathlib import Path
from types import ModuleType

from radlens.reports import kernel as pure

log = logging.getLogger(__name__)


def _load() -> tuple[ModuleType, str]:
    if os.environ.get("RADLENS_PURE_PYTHON", "").strip() not in ("", "0"):
        return pure, "pure Python (RADLENS_PURE_PYTHON is set)"
    try:
        fast = importlib.import_module("radlens.reports.kernel_c")
    except ImportError:
        return pure, "pure Python (the compiled kernel is not built: pip install -e .)"
    source = hashlib.sha256(Path(pure.__file__).read_bytes()).hexdigest()
    if getattr(fast, "SOURCE_SHA256", None) != source:
        log.warning(
            "radlens.reports.kernel_c was built from another version of kernel.py; using the "
            "pure-Python kernel (rebuild with: pip install -e .)"
        )
        return pure, "pure Python (the compiled kernel is stale: pip install -e .)"
    return fast, f"compiled ({Path(fast.__file__).name})"


kernel, KERNEL = _load()
#: True when the Cython-compiled kernel is in use.
COMPILED = kernel is not pure
