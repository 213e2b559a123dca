"""chatsite.asgi with every SQL statement counted, for bench/load.py.

The bench serves `counted_asgi:application` (bench/ on PYTHONPATH). On SIGUSR1
a worker writes how many statements it has run so far to
$BENCH_SQL_DIR/<pid>. Counting costs a Python call per statement (a few per
answer): nothing next to the statements themselves.
"""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path

from django.db.backends.signals import connection_created

from chatsite.asgi import application  # noqa: F401 - served as this module's

# next() on itertools.count is atomic under the GIL: no lock on the hot path.
_statements = itertools.count()
_counted = 0


# BENCH_SQL_LOG=path: also write each statement there (to see which they are).
_log = open(os.environ["BENCH_SQL_LOG"], "a") if os.environ.get("BENCH_SQL_LOG") else None  # noqa: SIM115


def _count(execute, sql, params, many, context):
    global _counted
    _counted = next(_statements) + 1
    if _log is not None:
        _log.write(sql[:160].replace("\n", " ") + "\n")
        _log.flush()
    return execute(sql, params, many, context)


def _wrap(sender, connection, **kwargs) -> None:
    # Fired on every connect (every borrow from the pool): wrap each database
    # wrapper (one per thread) once.
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


def _dump(signum, frame) -> None:
    Path(os.environ["BENCH_SQL_DIR"], str(os.getpid())).write_text(str(_counted))


connection_created.connect(_wrap)
signal.signal(signal.SIGUSR1, _dump)
