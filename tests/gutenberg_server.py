"""A real HTTP server on 127.0.0.1 that serves the shared Gutenberg mirror under the real URL
pattern (``/cache/epub/{id}/pg{id}.txt``, ``/cache/epub/feeds/pg_catalog.csv``), with optional
per-book faults that a healthy server cannot be made to produce."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "gutenberg"
CATALOG = "pg_catalog_subset_1-7702.csv"
_BOOK = re.compile(r"^/cache/epub/(\d+)/pg\1\.txt$")


class MirrorServer:
    """``faults[book_id]`` is a queue of behaviours for the next requests of that book:
    ``"500"``, ``"429"``, ``"404"``, ``"stall"`` (headers, part of the body, then silence),
    ``"short"`` (a body shorter than its Content-Length, then the connection closes)."""

    def __init__(self, root: Path = SHARED) -> None:
        self.root = root
        self.faults: dict[int, deque[str]] = defaultdict(deque)
        self.requests: Counter[str] = Counter()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests[self.path] += 1
                if self.path == "/cache/epub/feeds/pg_catalog.csv":
                    return self._send(200, (server.root / CATALOG).read_bytes())
                match = _BOOK.match(self.path)
                file = server.root / f"{match.group(1)}.txt" if match else None
                if file is None or not file.is_file():
                    return self._send(404, b"not found")
                fault = server.faults[int(match.group(1))].popleft() if server.faults[int(match.group(1))] else "ok"
                body = file.read_bytes()
                if fault in ("500", "429", "404"):
                    return self._send(int(fault), b"fault", {"Retry-After": "0"} if fault == "429" else None)
                if fault in ("stall", "short"):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    if fault == "stall":
                        server._stop.wait(30)
                    self.close_connection = True
                    return None
                return self._send(200, body)

            def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def book_requests(self, book_id: int) -> int:
        return self.requests[f"/cache/epub/{book_id}/pg{book_id}.txt"]

    def __enter__(self) -> MirrorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        time.sleep(0.05)
