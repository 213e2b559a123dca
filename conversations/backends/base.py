"""The one interface every model backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conversations.backends.registry import ModelConfig


class BackendError(Exception):
    """A model call failed; `message` is safe to show to the user."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class Usage:
    """Token usage as reported by the upstream (or counted by us when it reports none)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Queued:
    """The backend is busy: the request waits behind `ahead` others."""

    ahead: int


@dataclass(frozen=True)
class RequestOptions:
    """What one request asks beyond the catalog's settings (from the API: None is unset).

    `max_tokens` caps the reply below the model's own maximum; the others
    replace the catalog's sampling settings for this request.
    """

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


type StreamEvent = str | Usage | Queued


class Backend(ABC):
    """A configured model that can stream a chat completion."""

    def __init__(self, model: ModelConfig) -> None:
        self.model = model

    def load(self) -> None:  # noqa: B027 - optional hook, most backends load nothing
        """Load anything heavy (weights) once, when the server starts."""

    @abstractmethod
    def stream(
        self,
        *,
        messages: list[dict[str, str]],
        max_tokens: int,
        options: RequestOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream the reply to `messages`: text chunks, maybe `Queued`, finally `Usage`."""
