"""The fake's HTTP side: connections, bodies read and sent, and routing by path."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .bodies import REASONS, error_body, model_entry, retry_after_header
from .chat import ChatCompletions

if TYPE_CHECKING:
    from .server import FakeOpenAI


class Dropped(Exception):
    """The handler dropped (or lost) the connection; stop handling it."""


class FakeHTTPServer(ThreadingHTTPServer):
    """One thread per connection, none of them keeping the process alive."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # Load tests open a hundred connections at once; the default backlog is 5.
    request_queue_size = 512
    fake: FakeOpenAI


class Handler(ChatCompletions, BaseHTTPRequestHandler):
    """One connection's requests, answered as `server.fake`'s settings say."""

    protocol_version = "HTTP/1.1"  # keep-alive + chunked, like a real API server
    server: FakeHTTPServer

    # -- plumbing ---------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, add=False)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (Dropped, ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    raise Dropped
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until a blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None,
                   raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_event(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {text}\n\n".encode())

    def _reset_connection(self) -> None:
        """Drop the connection abruptly (TCP RST, no terminating chunk)."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        with contextlib.suppress(OSError):
            self.rfile.close()  # releases the makefile() reference so close() is real
        with contextlib.suppress(OSError):
            self.connection.close()
        self.close_connection = True
        raise Dropped

    # -- request handling ---------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        # Kept by the handler: a streamed answer counts the tokens it sent in it.
        self._record = {"method": method, "path": path, "headers": headers, "json": body,
                        "raw_body": raw, "tokens_sent": 0}
        cfg = fake._begin_request(self._record)

        # Authentication (only when the fake is given a key to expect).
        expected_auth = f"Bearer {cfg['api_key']}"
        if cfg["api_key"] is not None and headers.get("authorization") != expected_auth:
            self._stall(cfg)
            self._send_json(401, error_body(401))
            return

        if cfg["fail"]:
            self._stall(cfg)
            extra = {}
            if cfg["retry_after"] is not None:
                extra["retry-after"] = retry_after_header(cfg["retry_after"])
            status = cfg["fail_status"]
            self._send_json(status, error_body(status, cfg["fail_message"]), extra)
            return

        if method == "GET" and path.rstrip("/") == "/v1/models":
            self._stall(cfg)
            self._send_json(200, {
                "object": "list",
                "data": [model_entry(m) for m in cfg["models"]],
            })
        elif method == "GET" and path.startswith("/v1/models/"):
            self._stall(cfg)
            model_id = path[len("/v1/models/"):]
            if model_id in cfg["models"]:
                self._send_json(200, model_entry(model_id))
            else:
                self._send_json(404, error_body(
                    404, f"The model '{model_id}' does not exist"))
        elif method == "POST" and path in cfg["tokenize_paths"]:
            # llama.cpp's /tokenize reads "content", vLLM's "prompt", llama-cpp-python's
            # /extras/tokenize "input"; this fake's tokens are words.
            text = next((body.get(key) for key in ("content", "prompt", "input")
                         if isinstance(body, dict) and isinstance(body.get(key), str)), None)
            self._stall(cfg)
            if text is None:
                self._send_json(400, error_body(400, "Nothing to tokenize."))
            else:
                words = text.split()
                self._send_json(200, {"tokens": list(range(len(words)))})
        elif path.rstrip("/") == "/v1/chat/completions":
            if method != "POST":
                self._send_json(405, error_body(405, "Method not allowed."))
            elif not isinstance(body, dict):
                self._send_json(400, error_body(
                    400, "We could not parse the JSON body of your request."))
            else:
                self._chat(cfg, body)
        else:
            self._send_json(404, error_body(404, f"Invalid URL ({method} {path})"))

    def _stall(self, cfg: dict[str, Any]) -> None:
        if cfg["stall_seconds"]:
            self.server.fake._sleep(cfg["stall_seconds"])
