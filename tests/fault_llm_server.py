"""A loopback OpenAI-style server that misbehaves on purpose (what a real vLLM cannot be made to do).

``behaviours`` is a queue consumed one per request; when it is empty ``default`` is used:
``ok`` (answers ``answer``), ``slow`` (sleeps past any client timeout), ``500``, ``429``, ``400``,
``garbage`` (200 with a body that is not JSON), ``text`` (200, a non-digit answer); chat completions, or
Responses API answers on ``/v1/responses``.
With ``api_key`` every request must carry it as a bearer token, else 401 (what vLLM's ``--api-key`` does).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self, default: str = "ok", answer: str = "7", delay_s: float = 0.0, api_key: str | None = None) -> None:
        self.behaviours: deque[str] = deque()
        self.default = default
        self.answer = answer
        self.delay_s = delay_s
        self.api_key = api_key
        self.unauthorised = 0
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompts: list[str] = []
        self.bodies: list[dict] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._reply(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if server.api_key is not None and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    with server._lock:
                        server.unauthorised += 1
                    return self._reply(401, json.dumps({"error": {"message": "invalid API key"}}).encode())
                with server._lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.prompts.append((body.get("messages") or body.get("input") or [{}])[-1].get("content", ""))
                    server.bodies.append(body)
                    mode = server.behaviours.popleft() if server.behaviours else server.default
                try:
                    self._answer(mode, _response if self.path.endswith("/responses") else _completion)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, mode: str, answer) -> None:
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server._stop.is_set():  # killed: drop the connection without an answer
                    self.close_connection = True
                    return None
                if mode == "slow":
                    server._stop.wait(30)
                    return self._reply(200, answer(server.answer))
                if mode in ("500", "429", "400"):
                    return self._reply(int(mode), json.dumps({"error": {"message": f"injected {mode}"}}).encode(),
                                       {"Retry-After": "0"} if mode == "429" else None)
                if mode == "garbage":
                    return self._reply(200, b"<html>not json{{{", {"Content-Type": "application/json"})
                return self._reply(200, answer("a fine story" if mode == "text" else server.answer))

            def _reply(self, code: int, data: bytes, headers: dict | None = None) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def kill(self) -> None:
        """Stop answering at once: the listening socket closes, later calls are refused."""
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc) -> None:
        if not self._stop.is_set():
            self.kill()


def _completion(text: str) -> bytes:
    return json.dumps({
        "id": "cmpl-fault", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()


def _response(text: str) -> bytes:
    """A Responses API answer (POST /v1/responses)."""
    return json.dumps({
        "id": "resp-fault", "object": "response", "created_at": 0, "model": "fake", "status": "completed",
        "output": [{"type": "message", "id": "msg-fault", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "parallel_tool_calls": False, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
    }).encode()
