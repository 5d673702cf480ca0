"""Property tests of the upload guards: zip entry names never escape, limits always hold."""

from __future__ import annotations

import posixpath

import pytest
from _support.service import zip_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.service.uploads import UploadError, UploadLimits, check_entry_name, unpack_zip

PARTS = st.sampled_from(["..", ".", "", "a", "b.dcm", "C:", "x\\..", "..\\y", "/"])


@given(st.lists(PARTS | st.text(min_size=1, max_size=5), min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_accepted_entry_names_stay_inside_the_archive(parts: list[str]) -> None:
    name = "/".join(parts)
    try:
        safe = check_entry_name(name)
    except UploadError as exc:
        assert "absolute path" in str(exc) or "'..'" in str(exc)
        return
    assert not safe.startswith("/") and ".." not in safe.replace("\\", "/").split("/")
    joined = posixpath.normpath(posixpath.join("/root", safe))
    assert joined == "/root" or joined.startswith("/root/")


@given(st.integers(1, 50), st.integers(1, 200_000))
@settings(max_examples=25, deadline=None)
def test_inflated_total_never_exceeds_limit(n_files: int, size: int) -> None:
    archive = zip_bytes([(f"f{i}.dcm", b"\0" * size) for i in range(n_files)])
    limits = UploadLimits(10**9, 1_000_000, 1e9, 1000)
    if n_files * size > limits.max_uncompressed_bytes:
        with pytest.raises(UploadError, match="zip bomb"):
            unpack_zip(archive, limits)
    else:
        assert sum(len(d) for _, d in unpack_zip(archive, limits)) == n_files * size
