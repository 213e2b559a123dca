"""The fake server itself: its settings, its lifecycle and the requests it recorded."""

from __future__ import annotations

import contextlib
import copy
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from .handler import Dropped, FakeHTTPServer, Handler

__all__ = ["FakeOpenAI"]


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
        # Streaming only: "normal"; "empty" (HTTP 200, then no event at all, the
        # way llama-cpp-python's server answers a prompt over its context);
        # "error_event" (an error object inside the stream after the first token).
        "stream_shape": "normal",
        # The server's real context window, in prompt tokens counted as "auto"
        # usage does (words + 1 per message). A longer prompt gets the overflow
        # error of `overflow_shape`. None: no limit.
        "context_window": None,
        # How an overflow is said: "openai", "vllm", "vllm_new", "llamacpp",
        # "llamacpp_python" (HTTP 400 bodies as each server sends them),
        # "stream_error" (llama.cpp's body inside a 200 stream), "empty" (an empty
        # 200 stream, llama-cpp-python's server when streaming).
        "overflow_shape": "openai",
        # Paths that tokenize (a word is a token): llama.cpp's and vLLM's, and
        # llama-cpp-python's. Empty: a server without tokenization (404).
        "tokenize_paths": ("/tokenize", "/extras/tokenize"),
        # Per requested model name: its own "delay" and "tokens" (several models
        # answering at once, at different speeds, with different texts).
        "model_delays": {},
        "model_tokens": {},
    }

    def __init__(self, **settings: Any) -> None:
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: FakeHTTPServer | None = None
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
            httpd = FakeHTTPServer(("127.0.0.1", 0), Handler)
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
            raise Dropped  # server is stopping: abandon this response

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def _as_set(paths: Iterable[str] | str) -> set[str]:
    return {paths} if isinstance(paths, str) else set(paths)
