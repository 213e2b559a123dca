"""A fake OpenAI-compatible HTTP server for tests (standard library only).

The real ``openai.AsyncOpenAI`` client talks real HTTP/1.1 to it::

    with FakeOpenAI() as server:
        server.tokens = ["Hel", "lo"]
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.requests[-1]["json"]["messages"] == [...]

Behaviour knobs are plain attributes that may be changed between requests
(see ``FakeOpenAI.DEFAULTS``); every request takes a consistent snapshot of
them when it arrives. ``reset()`` restores the defaults and forgets the
recorded requests.

Endpoints:

* ``GET /v1/models``: an OpenAI-style model list (``server.models``).
* ``GET /v1/models/{id}``: one model, or 404.
* ``POST /v1/chat/completions``: a ``chat.completion`` JSON, or with
  ``"stream": true`` Server-Sent Events in ``chat.completion.chunk`` format,
  sent with ``Transfer-Encoding: chunked`` and flushed after every event.
* Anything else: an OpenAI-style 404 error.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI"]

_FINGERPRINT = "fp_fake0000"

# Bodies modelled on the errors api.openai.com really sends.
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: test. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    409: ("Conflict.", "invalid_request_error", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}

_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class _Dropped(Exception):
    """The handler dropped (or lost) the connection; stop handling it."""


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    default_message, err_type, code = _ERRORS.get(
        status, (f"Error {status}.", "server_error" if status >= 500 else "invalid_request_error",
                 None)
    )
    return {
        "error": {
            "message": message or default_message,
            "type": err_type,
            "param": None,
            "code": code,
        }
    }


def _format_retry_after(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # Load tests open a hundred connections at once; the default backlog is 5.
    request_queue_size = 512
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + chunked, like a real API server
    server: _Server

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
        except (_Dropped, ConnectionError, TimeoutError, OSError):
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
                    raise _Dropped
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
        self.send_response(status, _REASONS.get(status))
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
        raise _Dropped

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
            self._send_json(401, _error_body(401))
            return

        if cfg["fail"]:
            self._stall(cfg)
            extra = {}
            if cfg["retry_after"] is not None:
                extra["retry-after"] = _format_retry_after(cfg["retry_after"])
            status = cfg["fail_status"]
            self._send_json(status, _error_body(status, cfg["fail_message"]), extra)
            return

        if method == "GET" and path.rstrip("/") == "/v1/models":
            self._stall(cfg)
            self._send_json(200, {
                "object": "list",
                "data": [_model_entry(m) for m in cfg["models"]],
            })
        elif method == "GET" and path.startswith("/v1/models/"):
            self._stall(cfg)
            model_id = path[len("/v1/models/"):]
            if model_id in cfg["models"]:
                self._send_json(200, _model_entry(model_id))
            else:
                self._send_json(404, _error_body(
                    404, f"The model '{model_id}' does not exist"))
        elif path.rstrip("/") == "/v1/chat/completions":
            if method != "POST":
                self._send_json(405, _error_body(405, "Method not allowed."))
            elif not isinstance(body, dict):
                self._send_json(400, _error_body(
                    400, "We could not parse the JSON body of your request."))
            else:
                self._chat(cfg, body)
        else:
            self._send_json(404, _error_body(404, f"Invalid URL ({method} {path})"))

    def _stall(self, cfg: dict[str, Any]) -> None:
        if cfg["stall_seconds"]:
            self.server.fake._sleep(cfg["stall_seconds"])

    def _chat(self, cfg: dict[str, Any], body: dict[str, Any]) -> None:
        fake = self.server.fake
        model = body.get("model") or (cfg["models"][0] if cfg["models"] else "fake-model")
        tokens = list(cfg["model_tokens"].get(model, cfg["tokens"]))
        cfg["delay"] = cfg["model_delays"].get(model, cfg["delay"])
        finish_reason = cfg["finish_reason"]
        # As OpenAI does: stop at the requested maximum, saying so.
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = _usage(cfg["usage"], body, tokens)

        self._stall(cfg)

        if not body.get("stream"):
            if cfg["reset_after_tokens"] is not None:
                self._reset_connection()
            if cfg["malformed_after_tokens"] is not None:
                self._send_json(200, None, raw=b'{"id": "chatcmpl-broken", "choices": [')
                return
            if cfg["delay"]:
                fake._sleep(cfg["delay"] * len(tokens))
            payload: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": _FINGERPRINT,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens),
                                "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }],
            }
            if usage is not None:
                payload["usage"] = usage
            self._send_json(200, payload)
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": _FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}],
            }
            if include_usage:
                c["usage"] = None
            return c

        self.send_response(200, "OK")
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        self.end_headers()
        self.wfile.flush()

        self._send_event(chunk({"role": "assistant", "content": "", "refusal": None}))
        for sent, token in enumerate(tokens):
            if cfg["reset_after_tokens"] is not None and sent >= cfg["reset_after_tokens"]:
                self._reset_connection()
            if cfg["malformed_after_tokens"] is not None and sent == cfg["malformed_after_tokens"]:
                self._send_event('{"id": "chatcmpl-broken", "choices": [{not json')
            if cfg["delay"] and sent:
                fake._sleep(cfg["delay"])
            self._send_event(chunk({"content": token}))
            self._record["tokens_sent"] = sent + 1
        if cfg["reset_after_tokens"] is not None:  # N >= len(tokens): drop before finishing
            self._reset_connection()
        malformed_at = cfg["malformed_after_tokens"]
        if malformed_at is not None and len(tokens) <= malformed_at:
            self._send_event('{"id": "chatcmpl-broken", "choices": [{not json')
        self._send_event(chunk({}, finish_reason))
        if include_usage and usage is not None:
            final = chunk({})
            final["choices"] = []
            final["usage"] = usage
            self._send_event(final)
        self._send_event("[DONE]")
        self._write_chunk(b"")  # terminating zero-length chunk


def _model_entry(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fake-openai"}


def _usage(setting: Any, body: dict[str, Any], tokens: list[str]) -> dict[str, Any] | None:
    if setting is None:
        return None
    if setting == "auto":
        prompt = 0
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                prompt += len(content.split()) + 1
        completion = len(tokens)
    else:
        prompt, completion = setting
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    }


class FakeOpenAI:
    """A fake OpenAI-compatible server on 127.0.0.1, run in a background thread."""

    #: Attribute defaults; ``reset()`` restores them.
    DEFAULTS: dict[str, Any] = {
        # Model ids listed by GET /v1/models.
        "models": ["fake-model"],
        # Content deltas of a completion; the full text is "".join(tokens).
        "tokens": ["Hello", ",", " world", "!"],
        # Seconds to wait between content tokens (streaming), or
        # delay * len(tokens) before a non-streamed answer.
        "delay": 0.0,
        # (prompt_tokens, completion_tokens); "auto" counts words of the messages
        # (+1 each) and len(tokens); None omits usage even when the client asks.
        "usage": "auto",
        # finish_reason of the last choice chunk.
        "finish_reason": "stop",
        # HTTP status to fail with (e.g. 401, 429, 500, 503) or None.
        "fail_status": None,
        # Fail only the first N matching requests (None: every one).
        "fail_times": None,
        # Only fail requests whose path is in this collection (None: every path).
        # E.g. {"/v1/chat/completions"} to keep /v1/models working.
        "fail_paths": None,
        # Error message override (default: an OpenAI-like message per status).
        "fail_message": None,
        # Value of the retry-after header on failed responses (None: no header).
        "retry_after": None,
        # Seconds to wait before sending the response headers (any request).
        "stall_seconds": 0.0,
        # Streaming: drop the connection (TCP RST) after N content tokens
        # (0 = right after the role chunk). Non-streamed: drop before answering.
        "reset_after_tokens": None,
        # Streaming: send a non-JSON ``data:`` line after N content tokens, then
        # carry on. Non-streamed: answer 200 with a truncated JSON body.
        "malformed_after_tokens": None,
        # If set, requests without "Authorization: Bearer <api_key>" get a 401.
        "api_key": None,
        # Per requested model name: its own "delay" and "tokens" (several models
        # answering at once, at different speeds, with different texts).
        "model_delays": {},
        "model_tokens": {},
    }

    def __init__(self, **settings: Any) -> None:
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._requests: list[dict[str, Any]] = []
        self._failures = 0
        self._apply_defaults()
        for key, value in settings.items():
            if key not in self.DEFAULTS:
                raise TypeError(f"unknown FakeOpenAI setting {key!r}")
            setattr(self, key, value)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        with self._lock:
            if self._httpd is not None:
                return self
            self._stopping.clear()
            httpd = _Server(("127.0.0.1", 0), _Handler)
            httpd.fake = self
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"FakeOpenAI:{httpd.server_address[1]}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None:
                return
            self._stopping.set()  # wakes handlers sleeping in delay/stall
            connections = list(self._connections)
            self._connections.clear()
        httpd.shutdown()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=2)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        httpd = self._httpd
        if httpd is None:
            raise RuntimeError("FakeOpenAI is not running; call start() first")
        return httpd.server_address[1]

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the OpenAI client, e.g. http://127.0.0.1:PORT/v1"""
        return f"{self.url}/v1"

    # -- configuration & records ----------------------------------------------------

    def _apply_defaults(self) -> None:
        for key, value in self.DEFAULTS.items():
            setattr(self, key, copy.deepcopy(value))

    def reset(self) -> None:
        """Restore every setting to its default and forget recorded requests."""
        with self._lock:
            self._apply_defaults()
            self._requests.clear()
            self._failures = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Copy of the recorded requests, oldest first.

        Each is ``{"method", "path", "headers" (lowercased keys), "json" (parsed
        body or None), "raw_body" (bytes), "tokens_sent" (so far, of a stream)}``.
        """
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def last_request(self) -> dict[str, Any] | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def chat_requests(self) -> list[dict[str, Any]]:
        """Recorded POST /v1/chat/completions requests."""
        return [r for r in self.requests if r["path"].rstrip("/") == "/v1/chat/completions"]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` requests were recorded (False on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request_count >= count:
                return True
            time.sleep(0.005)
        return self.request_count >= count

    # -- used by the handler ---------------------------------------------------------

    def _begin_request(self, record: dict[str, Any]) -> dict[str, Any]:
        """Record a request and return a snapshot of the settings for it."""
        with self._lock:
            self._requests.append(record)
            cfg = {key: copy.copy(getattr(self, key)) for key in self.DEFAULTS}
            fail = cfg["fail_status"] is not None and (
                cfg["fail_paths"] is None
                or record["path"] in _as_set(cfg["fail_paths"])
                or record["path"].rstrip("/") in _as_set(cfg["fail_paths"])
            )
            if fail and cfg["fail_times"] is not None:
                fail = self._failures < cfg["fail_times"]
            if fail:
                self._failures += 1
            cfg["fail"] = fail
            return cfg

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Dropped  # server is stopping: abandon this response

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def _as_set(paths: Iterable[str] | str) -> set[str]:
    return {paths} if isinstance(paths, str) else set(paths)


if __name__ == "__main__":
    # Run on its own (bench/load.py): python tests/fake_openai.py TOKENS DELAY
    # prints its base URL, then serves until killed.
    import sys

    tokens, delay = int(sys.argv[1]), float(sys.argv[2])
    server = FakeOpenAI(tokens=[f" tok{i}" for i in range(tokens)], delay=delay)
    server.start()
    print(server.base_url, flush=True)
    threading.Event().wait()
