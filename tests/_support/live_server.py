"""`radlens serve` in-process for the real-browser tests: uvicorn + DICOM node + worker on the
settings' ports, stopped on exit."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from radlens.service.app import Services, create_app
from radlens.service.settings import Settings


class Server:
    """`radlens serve` in-process: uvicorn + DICOM node + worker, stopped on exit."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        self.services = Services.build(settings)
        app = create_app(services=self.services, start_background=True)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=settings.http_port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{settings.http_port}"
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.1)

    def get(self, path: str, token: str) -> object:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)
        self.services.db.dispose()
