"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, FastChat)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2
import openai
from django.utils.translation import gettext as _

from conversations.backends.base import (
    Backend,
    BackendError,
    Finish,
    RequestOptions,
    StreamEvent,
    TokenizerUnavailable,
    Usage,
)
from conversations.backends.overflow import overflow_recognise

if TYPE_CHECKING:
    from conversations.backends.registry import ModelConfig

logger = logging.getLogger("parley.backends")


@dataclass(frozen=True)
class OpenAIOptions:
    """Where an OpenAI-compatible server is and how to sign in to it."""

    # The server URL (".../v1"); `base_url_env` names a variable that overrides it.
    base_url: str = ""
    base_url_env: str = ""
    # The variable holding the API key; none for a keyless local server.
    api_key_env: str = ""
    request_timeout: float = 60.0

    @property
    def resolved_base_url(self) -> str:
        override = os.environ.get(self.base_url_env, "") if self.base_url_env else ""
        return override or self.base_url

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


class OpenAICompatibleBackend(Backend):
    """Stream chat completions with the official AsyncOpenAI client."""

    Options = OpenAIOptions
    TOKENIZER = "server"

    @classmethod
    def unusable_reason(cls, options: OpenAIOptions) -> str:
        """Usable with its key set, or, keyless, with a base URL."""
        if options.api_key_env and not options.api_key:
            return _("%(variable)s is not set") % {"variable": options.api_key_env}
        if not options.api_key_env and not options.resolved_base_url:
            return _("no base_url for a keyless server")
        return ""

    def __init__(self, model: ModelConfig) -> None:
        super().__init__(model)
        # A client's connection pool belongs to one event loop: keep one per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._clients = weakref.WeakKeyDictionary()

    def text_counter(self) -> Callable[[str], int]:
        """Count with the server's own tokenizer, over HTTP, with a timeout and a cache."""
        return ServerTokenCounter(
            base_url=self.options.resolved_base_url,
            upstream=self.model.upstream,
            api_key=self.options.api_key,
        )

    def client(self) -> openai.AsyncOpenAI:
        """Return this model's client for the running loop, made once and reused."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = openai.AsyncOpenAI(
                base_url=self.options.resolved_base_url or None,
                # A keyless local server still needs a non-empty key for the client.
                api_key=self.options.api_key or "not-needed",
                timeout=self.options.request_timeout,
                max_retries=2,
            )
        return client

    async def stream(
        self,
        *,
        messages: list[dict[str, str]],
        max_tokens: int,
        options: RequestOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream text chunks from the upstream, then its reported usage if any."""
        kwargs: dict = {
            "model": self.model.upstream,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        # OpenAI itself wants max_completion_tokens (its reasoning models refuse
        # max_tokens); most compatible servers only know max_tokens.
        base_url = self.options.resolved_base_url
        if not base_url or "api.openai.com" in base_url:
            kwargs["max_completion_tokens"] = max_tokens
        else:
            kwargs["max_tokens"] = max_tokens
        if self.model.temperature is not None:
            kwargs["temperature"] = self.model.temperature
        if options is not None:
            if options.temperature is not None:
                kwargs["temperature"] = options.temperature
            if options.top_p is not None:
                kwargs["top_p"] = options.top_p
            if options.stop:
                kwargs["stop"] = list(options.stop)
        usage: Usage | None = None
        finish_reason = ""
        try:
            # The raw event stream, parsed with json.loads: building the client's
            # typed chunk objects cost ~0.2 ms per token, the largest CPU cost of
            # a reply (bench/load.py). Requests, retries and errors stay the client's.
            async with self.client().chat.completions.with_streaming_response.create(
                **kwargs
            ) as response:
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if not isinstance(chunk, dict):
                        raise ValueError("chunk is not an object")
                    if chunk.get("error"):
                        raise _stream_error(chunk, self.model)
                    if reported := chunk.get("usage"):
                        usage = Usage(
                            input_tokens=reported.get("prompt_tokens") or 0,
                            output_tokens=reported.get("completion_tokens") or 0,
                        )
                    for choice in chunk.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text
                        if choice.get("finish_reason"):
                            finish_reason = str(choice["finish_reason"])
        except openai.APIError as exc:
            raise _backend_error(exc, self.model) from exc
        except httpx2.HTTPError as exc:  # the raw stream is read below the client's wrapping
            raise BackendError(
                _("The connection to the model's server failed."), retryable=True, detail=str(exc)
            ) from exc
        except (ValueError, AttributeError, TypeError) as exc:  # not the JSON we expect
            raise BackendError(
                _("The model's server sent a malformed reply."), retryable=True, detail=str(exc)
            ) from exc
        yield Finish(finish_reason)
        if usage is not None:
            yield usage


def _stream_error(chunk: dict, model: ModelConfig) -> BackendError:
    """An error object sent inside the event stream (vLLM, LiteLLM, llama.cpp do)."""
    if overflow := overflow_recognise(chunk):
        return overflow
    detail = _error_text(chunk["error"])
    return BackendError(
        _("The model's server sent an error: %(detail)s") % {"detail": detail},
        retryable=True,
        detail=detail,
    )


class ServerTokenCounter:
    """Ask an OpenAI-compatible server how many tokens a text is.

    llama.cpp's `llama-server` and vLLM answer `POST /tokenize`, llama-cpp-python
    `POST /extras/tokenize`, all at the server's root (not under /v1). One body
    serves all three (each reads its own field: `content`, `prompt`, `input`);
    the path that answered is remembered. Counts are cached (a gauge asks for
    the same draft again and again); a server that does not answer in
    TIMEOUT_SECONDS raises TokenizerUnavailable.
    """

    TIMEOUT_SECONDS = 2.0
    # After a failure, counts are estimated for this long without asking again:
    # a server that is down must not cost every keystroke a timeout.
    RETRY_AFTER_SECONDS = 30.0
    CACHE_SIZE = 2048
    PATHS = ("/tokenize", "/extras/tokenize")

    def __init__(self, *, base_url: str, upstream: str, api_key: str = "") -> None:
        root = base_url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.upstream = upstream
        self.api_key = api_key
        self._path: str | None = None
        self._down_until = 0.0
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        with self._lock:
            if (cached := self._cache.get(text)) is not None:
                self._cache.move_to_end(text)
                return cached
        if time.monotonic() < self._down_until:
            raise TokenizerUnavailable("it failed a moment ago")
        try:
            count = self._ask(text)
        except TokenizerUnavailable:
            self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
            raise
        with self._lock:
            self._cache[text] = count
            if len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        return count

    def _ask(self, text: str) -> int:
        body = json.dumps(
            {
                "model": self.upstream,
                "content": text,
                "prompt": text,
                "input": text,
                "add_special": False,
                "add_special_tokens": False,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = "no tokenize endpoint"
        for path in (self._path,) if self._path else self.PATHS:
            request = urllib.request.Request(
                self.root + path, data=body, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.TIMEOUT_SECONDS) as response:
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                last_error = f"{path}: HTTP {exc.code}"
                continue
            except (OSError, ValueError) as exc:  # refused, timed out, not JSON
                raise TokenizerUnavailable(f"{path}: {exc}") from exc
            if isinstance(answer, dict) and isinstance(answer.get("count"), int):
                count = answer["count"]
            elif isinstance(answer, dict) and isinstance(answer.get("tokens"), list):
                count = len(answer["tokens"])
            else:
                raise TokenizerUnavailable(f"{path}: unexpected answer")
            self._path = path
            return count
        raise TokenizerUnavailable(last_error)


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _backend_error(exc: openai.APIError, model: ModelConfig) -> BackendError:
    """Translate the client's exception into a message a user can act on.

    The upstream's own words go with it, for the log line.
    """
    error = _translate(exc, model)
    error.detail = error.detail or _detail(exc)
    return error


def _translate(exc: openai.APIError, model: ModelConfig) -> BackendError:
    if isinstance(exc, openai.AuthenticationError):
        return BackendError(_("The model's API key was refused."))
    if isinstance(exc, openai.PermissionDeniedError):
        return BackendError(_("The model's API key was refused (permission denied)."))
    if isinstance(exc, openai.RateLimitError):
        retry_after = exc.response.headers.get("retry-after", "")
        if retry_after.isdigit():
            text = _("The model is rate limited. Retry in %(seconds)s s.") % {
                "seconds": retry_after
            }
        else:
            text = _("The model is rate limited.")
        return BackendError(text, retryable=True)
    if isinstance(exc, openai.NotFoundError):
        return BackendError(
            _("The server does not know the model %(model)r.") % {"model": model.upstream}
        )
    body = exc.body if exc.body is not None else exc.message
    if isinstance(exc, openai.APIStatusError) and (overflow := overflow_recognise(body)):
        return overflow
    if isinstance(exc, openai.BadRequestError):
        return BackendError(
            _("The model refused the request: %(detail)s") % {"detail": _detail(exc)}
        )
    if isinstance(exc, openai.APITimeoutError):
        return BackendError(_("The model did not answer in time."), retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return BackendError(_("The connection to the model's server failed."), retryable=True)
    if isinstance(exc, openai.InternalServerError):
        return BackendError(
            _("The model's server failed (%(status)s).") % {"status": exc.status_code},
            retryable=True,
        )
    logger.warning("upstream error for %s: %s", model.id, exc)
    return BackendError(
        _("The model's server sent an error: %(detail)s") % {"detail": _detail(exc)}, retryable=True
    )


def _detail(exc: openai.APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") or (body.get("error") or {}).get("message") if body else None
    return str(message or exc.message)[:300]
