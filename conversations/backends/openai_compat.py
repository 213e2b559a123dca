"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, FastChat)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2
import openai
from django.utils.translation import gettext as _

from conversations.backends.base import Backend, BackendError, Finish, StreamEvent, Usage
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
        self, *, messages: list[dict[str, str]], max_tokens: int
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
