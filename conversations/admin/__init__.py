"""The admin: transcripts, usage, model catalog, share links and comparison votes.

Everything here is server-rendered with the admin's own stylesheet: no inline
script or style (the CSP forbids both).
"""

# Django's admin autodiscovery imports `conversations.admin` only: importing the
# modules here is what registers their ModelAdmins (@admin.register).
from conversations.admin import comparisons, conversations, sharing, usage  # noqa: F401
