"""Pages. Thin: parse, check ownership through selectors, call a service, render.

One module per idea: `chat` (the chat pages), `settings` (one conversation's
settings, summary and title), `organize` (the sidebar: pin, archive, delete),
`sharing`, `exports` (downloads and import), `search` and `leaderboard`; what
their pages share is built in `context`.
"""
