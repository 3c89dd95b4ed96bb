"""An HTTP proxy in front of the MLflow server that can hold artifact uploads: with `stall_after(n)` it forwards n
more artifact PUTs and then holds every further one unanswered, so a worker is caught mid-upload, deterministically."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

UPLOAD_PATH = "/mlflow-artifacts/artifacts/"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}


class UploadStallProxy:
    def __init__(self, upstream: str):
        outer = self
        self.upstream = upstream.rstrip("/")
        self.uploads_left: int | None = None  # None: forward every upload
        self.stalled = threading.Event()  # set when an upload is being held
        self.uploaded: list[str] = []
        self._closing = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "PUT" and UPLOAD_PATH in self.path:
                    if outer.uploads_left is not None and outer.uploads_left <= 0:
                        outer.stalled.set()
                        outer._closing.wait()  # never answered while the test runs
                        return
                    if outer.uploads_left is not None:
                        outer.uploads_left -= 1
                    outer.uploaded.append(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    answer = requests.request(
                        self.command, outer.upstream + self.path, headers=headers, data=body, timeout=60
                    )
                except requests.RequestException:
                    self.send_error(502)
                    return
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stall_after(self, uploads: int) -> None:
        self.uploads_left = uploads

    def wait_stalled(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        return self.stalled.wait(max(0.0, deadline - time.time()))

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
