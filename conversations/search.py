"""Search a user's conversations: titles and message text, matches highlighted.

On PostgreSQL a full-text match (config "simple": no stemming, so English and
Korean are both split on word boundaries only) is OR'ed with a case-insensitive
substring match, which finds partial words ("여행" in "여행을"). SQLite gets the
portable substring query alone. Either way a hit is one row: a conversation
whose title matches, or one matching message, never anything another user owns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import overload

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from conversations.models import Conversation, Message
from conversations.rendering.markdown import html_text, message_html

PAGE_SIZE = 20
QUERY_MAX_CHARS = 200
TERMS_MAX = 8
SNIPPET_CHARS = 200
SNIPPET_LEAD = 60


@dataclass(frozen=True)
class SearchHit:
    """A conversation whose title matches, or one of its matching messages."""

    conversation: Conversation
    message: Message | None
    title: SafeString
    snippet: SafeString

    @property
    def url(self) -> str:
        target = self.message or self.conversation
        return target.get_absolute_url()


def search_terms(*, query: str) -> list[str]:
    """Split a query into the distinct words every hit must contain."""
    words = query[:QUERY_MAX_CHARS].split()
    return list(dict.fromkeys(word.lower() for word in words))[:TERMS_MAX]


def text_highlight(*, text: str, terms: Sequence[str], limit: int | None = None) -> SafeString:
    """Escape text (cut to a window around the first match) and wrap matches in <mark>."""
    text = " ".join(text.split())
    pattern = _terms_pattern(terms)
    if limit is not None and len(text) > limit:
        first = pattern.search(text) if pattern else None
        start = max(0, first.start() - SNIPPET_LEAD) if first else 0
        window = text[start : start + limit]
        text = ("…" if start else "") + window + ("…" if start + limit < len(text) else "")
    if pattern is None:
        return SafeString(escape(text))
    parts: list[str] = []
    end = 0
    for match in pattern.finditer(text):
        parts.append(escape(text[end : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        end = match.end()
    parts.append(escape(text[end:]))
    # Every piece of user text above went through escape(); only <mark> is ours.
    return mark_safe("".join(parts))


def _terms_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Longest first, so "busan" wins over "bu" where both match.
    alternatives = sorted(terms, key=len, reverse=True)
    return re.compile("|".join(re.escape(term) for term in alternatives), re.IGNORECASE)


def _contains_all(field: str, terms: Sequence[str]) -> Q:
    condition = Q()
    for term in terms:
        condition &= Q(**{f"{field}__icontains": term})
    return condition


class SearchResults(Sequence[SearchHit]):
    """Lazy hits, title matches first: a count is two queries, a slice at most two more."""

    def __init__(
        self,
        *,
        conversations: QuerySet[Conversation],
        messages: QuerySet[Message],
        terms: list[str],
    ) -> None:
        self._conversations = conversations
        self._messages = messages
        self.terms = terms

    @cached_property
    def _title_count(self) -> int:
        return self._conversations.count()

    @cached_property
    def _message_count(self) -> int:
        return self._messages.count()

    def count(self) -> int:  # Paginator prefers count() to len()
        return self._title_count + self._message_count

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> SearchHit: ...
    @overload
    def __getitem__(self, index: slice) -> list[SearchHit]: ...
    def __getitem__(self, index: int | slice) -> SearchHit | list[SearchHit]:
        if isinstance(index, int):
            position = index + self.count() if index < 0 else index
            found = self[position : position + 1] if position >= 0 else []
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop, step = index.indices(self.count())
        if step != 1:
            raise ValueError("Search results slice with a step of 1 only.")
        hits: list[SearchHit] = []
        titles = self._title_count
        if start < titles:
            for conversation in self._conversations[start : min(stop, titles)]:
                hits.append(self._conversation_hit(conversation))
        if stop > titles:
            first, last = max(start - titles, 0), stop - titles
            for message in self._messages[first:last]:
                hits.append(self._message_hit(message))
        return hits

    def _conversation_hit(self, conversation: Conversation) -> SearchHit:
        return SearchHit(
            conversation=conversation,
            message=None,
            title=text_highlight(text=str(conversation), terms=self.terms),
            snippet=SafeString(""),
        )

    def _message_hit(self, message: Message) -> SearchHit:
        return SearchHit(
            conversation=message.conversation,
            message=message,
            title=text_highlight(text=str(message.conversation), terms=self.terms),
            snippet=text_highlight(
                text=_shown_text(message), terms=self.terms, limit=SNIPPET_CHARS
            ),
        )


def _shown_text(message: Message) -> str:
    # An answer is shown rendered, so its snippet is its words without markdown's
    # marks (`**zebra**` reads "zebra"), read from the page's own rendering: the
    # stored HTML, or the same bounded render. A question is shown as typed.
    if message.role == Message.Role.ASSISTANT:
        return html_text(message_html(message))
    return message.content


def conversation_search(*, user: AbstractBaseUser, query: str) -> SearchResults:
    """Find the user's conversations whose title or messages contain every word of the query."""
    terms = search_terms(query=query)
    conversations = Conversation.objects.filter(owner=user)
    # Messages of the branch shown: a hit opens the conversation at that message.
    messages = Message.objects.filter(conversation__owner=user, off_branch=False).select_related(
        "conversation"
    )
    message_order: list = ["-id"]
    if not terms:
        conversations, messages = conversations.none(), messages.none()
    elif connection.vendor == "postgresql":
        conversations, messages = _postgresql_match(conversations, messages, terms)
        message_order = [F("rank").desc(), "-id"]
    else:
        conversations = conversations.filter(_contains_all("title", terms))
        messages = messages.filter(_contains_all("content", terms))
    return SearchResults(
        conversations=conversations.order_by("-updated_at", "-id"),
        messages=messages.order_by(*message_order),
        terms=terms,
    )


def _postgresql_match(
    conversations: QuerySet[Conversation], messages: QuerySet[Message], terms: list[str]
) -> tuple[QuerySet[Conversation], QuerySet[Message]]:
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    words = SearchQuery(" ".join(terms), config="simple")
    conversations = conversations.alias(document=SearchVector("title", config="simple")).filter(
        Q(document=words) | _contains_all("title", terms)
    )
    content_vector = SearchVector("content", config="simple")
    messages = (
        messages.alias(document=content_vector)
        .filter(Q(document=words) | _contains_all("content", terms))
        .alias(rank=SearchRank(content_vector, words))
    )
    return conversations, messages
