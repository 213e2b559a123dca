"""The OpenAI-compatible API under /v1: thin async views on the turn engine.

One module per OpenAI resource (`models`, `chat`, `responses`); `endpoint`
holds what every view shares (the Bearer key, CORS, errors), `streaming` how a
reply is followed and sent as server-sent events.
"""
