"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio, FastChat)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import openai

from conversations.backends.base import Backend, BackendError, StreamEvent, Usage
from conversations.backends.registry import ModelConfig

logger = logging.getLogger("parley.backends")


class OpenAICompatibleBackend(Backend):
    """Stream chat completions with the official AsyncOpenAI client."""

    def __init__(self, model: ModelConfig) -> None:
        super().__init__(model)
        self._client: openai.AsyncOpenAI | None = None

    def client(self) -> openai.AsyncOpenAI:
        """Return this model's client, made once so its connection pool is reused."""
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.model.resolved_base_url or None,
                # A keyless local server still needs a non-empty key for the client.
                api_key=self.model.api_key or "not-needed",
                timeout=self.model.request_timeout,
                max_retries=2,
            )
        return self._client

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
        base_url = self.model.resolved_base_url
        if not base_url or "api.openai.com" in base_url:
            kwargs["max_completion_tokens"] = max_tokens
        else:
            kwargs["max_tokens"] = max_tokens
        if self.model.temperature is not None:
            kwargs["temperature"] = self.model.temperature
        try:
            stream = await self.client().chat.completions.create(**kwargs)
            usage: Usage | None = None
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(
                        input_tokens=chunk.usage.prompt_tokens or 0,
                        output_tokens=chunk.usage.completion_tokens or 0,
                    )
                for choice in chunk.choices:
                    text = choice.delta.content if choice.delta else None
                    if text:
                        yield text
            if usage is not None:
                yield usage
        except openai.AuthenticationError as exc:
            raise BackendError("The model's API key was refused.") from exc
        except openai.PermissionDeniedError as exc:
            raise BackendError("The model's API key was refused (permission denied).") from exc
        except openai.RateLimitError as exc:
            retry_after = exc.response.headers.get("retry-after", "")
            hint = f" Retry in {retry_after} s." if retry_after.isdigit() else ""
            raise BackendError(f"The model is rate limited.{hint}", retryable=True) from exc
        except openai.NotFoundError as exc:
            raise BackendError(
                f"The server does not know the model {self.model.upstream!r}."
            ) from exc
        except openai.BadRequestError as exc:
            raise BackendError(f"The model refused the request: {_detail(exc)}") from exc
        except openai.APITimeoutError as exc:
            raise BackendError("The model did not answer in time.", retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise BackendError("Could not reach the model's server.", retryable=True) from exc
        except openai.InternalServerError as exc:
            raise BackendError(
                f"The model's server failed ({exc.status_code}).", retryable=True
            ) from exc
        except openai.APIError as exc:
            logger.warning("upstream error for %s: %s", self.model.id, exc)
            raise BackendError(f"The model's server sent an error: {_detail(exc)}", retryable=True) from exc


def _detail(exc: openai.APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") or (body.get("error") or {}).get("message") if body else None
    return str(message or exc.message)[:300]
