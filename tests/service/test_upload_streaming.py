"""The upload size limit counts the bytes actually received, so a chunked body (no
Content-Length) is refused with 413 before the server reads it all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.settings import Settings

LIMIT = 200_000
CHUNK = 64 * 1024
N_CHUNKS = 400  # ~26 MB offered, 130x the limit


@pytest.fixture
def svc(tmp_path: Path):
    settings = Settings(
        service_dir=tmp_path / "svc",
        completion_timeout_s=0,
        enable_dicom=False,
        max_upload_bytes=LIMIT,
    )
    services = Services.build(settings)
    yield services
    services.db.dispose()


async def _post_chunked(svc) -> tuple[httpx.Response, int]:
    token = add_user(svc.db, "rad", "radiologist")
    pulled = 0
    boundary = "radlensboundary"

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="big.dcm"\r\nContent-Type: application/dicom\r\n\r\n'
        ).encode()
        for _ in range(N_CHUNKS):
            pulled += 1
            yield b"x" * CHUNK
        pulled += 1
        yield f"\r\n--{boundary}--\r\n".encode()

    transport = httpx.ASGITransport(app=create_app(services=svc))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/studies",
            content=body(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
    return response, pulled


def test_chunked_upload_over_the_limit_is_refused_without_reading_it_all(svc) -> None:
    response, pulled = asyncio.run(_post_chunked(svc))
    assert response.status_code == 413, response.text
    assert "RADLENS_MAX_UPLOAD_BYTES" in response.json()["detail"]
    # LIMIT plus the 1 MB multipart allowance is ~19 chunks of 64 KiB; stop right after.
    assert pulled <= 1 + (LIMIT + 1_000_000) // CHUNK + 2, pulled
