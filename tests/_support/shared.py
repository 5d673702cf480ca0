"""Where the development data lives, and what a test does when it is missing.

Locally a test that needs ../shared data (or pydicom-data) skips with the reason; in CI
(``CI=true``, as .ci/run runs) it fails instead, so a green CI never hides an unchecked test.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_data(reason: str) -> NoReturn:
    """Skip (locally) or fail (in CI) a test whose data is not there."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must have this test's data: {reason}", pytrace=False)
    pytest.skip(reason)
