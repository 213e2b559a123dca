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
* ``POST /tokenize``, ``POST /extras/tokenize`` (``server.tokenize_paths``):
  a word is a token.
* Anything else: an OpenAI-style 404 error.

Run on its own (bench/): ``python -m fake_openai TOKENS DELAY`` with tests/ on
the path prints its base URL, then serves until killed.

Modules: ``server`` (``FakeOpenAI``: settings, lifecycle, recorded requests),
``handler`` (HTTP: connections, bodies, routing), ``chat`` (chat completions,
whole or streamed, and their failures), ``bodies`` (the JSON bodies sent),
``catalog`` (a models.toml naming the fake's models, for the suite and bench/).
"""

from .server import FakeOpenAI

__all__ = ["FakeOpenAI"]
