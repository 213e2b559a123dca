"""Write a secret key once into a file only its owner can read: `python -m chatsite.secret_key`.

`make run` calls this when DJANGO_SECRET_KEY is not set, so that a fresh
install runs with DEBUG off and a key of its own, kept across restarts
(settings.py reads the file). An existing file is left as it is.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent.parent / ".secret_key"


def secret_key_file_ensure(path: Path) -> bool:
    """Create `path` (mode 0600) holding a new random key unless it exists; say if created."""
    try:
        # O_EXCL: of two processes starting at once, one writes and the other keeps its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(50) + "\n")
    return True


def main() -> int:
    if os.environ.get("DJANGO_SECRET_KEY"):
        return 0  # given: nothing to write
    path = Path(os.environ.get("PARLEY_SECRET_KEY_FILE") or DEFAULT_FILE)
    if secret_key_file_ensure(path):
        print(f"Parley: wrote a new secret key to {path} (readable by you only)")
    elif path.stat().st_mode & 0o077:
        print(f"Parley: {path} is readable by others: chmod 600 it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
