"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, FastChat)."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator

import httpx2
import openai
from django.utils.translation import gettext as _

from conversations.backends.base import (
    Backend,
    BackendError,
    RequestOptions,
    StreamEvent,
    Usage,
)
from conversations.backends.registry import ModelConfig

logger = logging.getLogger("parley.backends")


class OpenAICompatibleBackend(Backend):
    """Stream chat completions with the official AsyncOpenAI client."""

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
                base_url=self.model.resolved_base_url or None,
                # A keyless local server still needs a non-empty key for the client.
                api_key=self.model.api_key or "not-needed",
                timeout=self.model.request_timeout,
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
        base_url = self.model.resolved_base_url
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
                        raise BackendError(
                            _("The model's server sent an error: %(detail)s")
                            % {"detail": _error_text(chunk["error"])},
                            retryable=True,
                        )
                    if reported := chunk.get("usage"):
                        usage = Usage(
                            input_tokens=reported.get("prompt_tokens") or 0,
                            output_tokens=reported.get("completion_tokens") or 0,
                        )
                    for choice in chunk.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text
        except openai.APIError as exc:
            raise _backend_error(exc, self.model) from exc
        except httpx2.HTTPError as exc:  # the raw stream is read below the client's wrapping
            raise BackendError(
                _("The connection to the model's server failed."), retryable=True
            ) from exc
        except (ValueError, AttributeError, TypeError) as exc:  # not the JSON we expect
            raise BackendError(
                _("The model's server sent a malformed reply."), retryable=True
            ) from exc
        if usage is not None:
            yield usage


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _backend_error(exc: openai.APIError, model: ModelConfig) -> BackendError:
    """Translate the client's exception into a message a user can act on."""
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
