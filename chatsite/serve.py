"""Run several Daphne workers on one port: `python -m chatsite.serve --workers 2`.

Other options (`--proxy-headers`, `--access-log`...) are passed to Daphne.

One Daphne process runs Python on one core; a reply costs it tens of
milliseconds of CPU, so a busy server is CPU-bound long before the database or
the model is. This launcher binds the port once and starts N Daphne processes
that accept connections from that same socket (`daphne --fd`); the kernel hands
each new connection to whichever worker accepts it first.

Each worker streams the replies its own sockets asked for and delivers their
events to its own views directly; views of one conversation on different
workers meet through the channel layer, so more than one worker needs a layer
shared between processes: Redis (REDIS_URL). The in-memory layer cannot cross
processes, and the launcher refuses to start several workers on it.

SIGTERM or SIGINT is passed to every worker, which saves its running replies as
interrupted before it exits. If one worker dies, the others are stopped too and
the launcher exits with its status, for the supervisor (systemd, Docker) to
restart the whole set.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

# Daphne closes a websocket whose consumer has not accepted it within 5 s (its
# command line's default). A consumer's connect reads the session, the user and
# the conversation: under a burst of connections, or on a slow host, that can
# take longer, and the browser would see the socket fail and retry.
WEBSOCKET_CONNECT_TIMEOUT = 30


def daphne_connect_timeout(daphne_args: list[str]) -> list[str]:
    """Daphne's option for a longer handshake, unless the command line sets one."""
    if any(arg.startswith("--websocket_connect_timeout") for arg in daphne_args):
        return []
    return ["--websocket_connect_timeout", str(WEBSOCKET_CONNECT_TIMEOUT)]


# A message of PARLEY_MAX_MESSAGE_CHARS characters is at most 4 bytes a character
# in UTF-8, plus JSON escapes and htmx's headers; the consumer refuses longer
# messages anyway, Daphne drops larger frames before they cost any work.
WEBSOCKET_MAX_MESSAGE_BYTES = 256 * 1024


def daphne_message_size(daphne_args: list[str]) -> list[str]:
    """Daphne's cap on one websocket message, unless the command line sets one."""
    if any(arg.startswith("--websocket-max-message-size") for arg in daphne_args):
        return []
    chars = int(os.environ.get("PARLEY_MAX_MESSAGE_CHARS") or 32_000)
    size = max(WEBSOCKET_MAX_MESSAGE_BYTES, chars * 6 + 64 * 1024)
    return ["--websocket-max-message-size", str(size)]


def lan_hosts() -> list[str]:
    """This machine's names and addresses, for ALLOWED_HOSTS when serving on every address."""
    hosts = {"localhost", "127.0.0.1", "[::1]", socket.gethostname()}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        addresses = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.split()
        hosts.update(f"[{a}]" if ":" in a else a for a in addresses)
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        # No packet is sent: connecting a UDP socket only picks the outgoing address.
        probe.connect(("10.255.255.255", 1))
        hosts.add(probe.getsockname()[0])
    return sorted(hosts)


def workers_default() -> int:
    """One worker per core when a shared channel layer is configured, else one."""
    return (os.cpu_count() or 1) if os.environ.get("REDIS_URL") else 1


def database_connections_check(workers: int) -> str:
    """A warning when `workers` pools may exceed their share of PostgreSQL's max_connections.

    Each worker holds at most DATABASE_POOL_SIZE connections (settings.py); all
    the workers of a site, on every machine, must stay within
    DATABASE_POOL_SHARE of the server's max_connections. This launcher knows
    only its own workers: "" when they fit (or the database is not PostgreSQL,
    or cannot be asked).
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.conf import settings

    database = settings.DATABASES["default"]
    pool = database.get("OPTIONS", {}).get("pool")
    if not pool:
        return ""
    try:
        import psycopg

        with psycopg.connect(
            dbname=database["NAME"],
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            connect_timeout=5,
        ) as connection:
            max_connections = int(connection.execute("SHOW max_connections").fetchone()[0])
    except Exception:  # the workers will say what is wrong with the database
        return ""
    wanted = workers * pool["max_size"]
    allowed = int(max_connections * settings.DATABASE_POOL_SHARE)
    if wanted <= allowed:
        return ""
    return (
        f"Parley: warning: {workers} worker(s) x DATABASE_POOL_SIZE={pool['max_size']} = "
        f"{wanted} connections, over {settings.DATABASE_POOL_SHARE:.0%} of PostgreSQL's "
        f"max_connections ({max_connections}): lower DATABASE_POOL_SIZE or raise max_connections"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "-w",
        "--workers",
        type=int,
        default=int(os.environ.get("PARLEY_WORKERS") or 0) or workers_default(),
        help="Daphne processes (default: PARLEY_WORKERS, else one per core with Redis, else 1)",
    )
    parser.add_argument("application", nargs="?", default="chatsite.asgi:application")
    args, daphne_args = parser.parse_known_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        parser.error(
            "several workers need a channel layer shared between processes: set REDIS_URL "
            "(the in-memory layer serves one process only)"
        )

    if warning := database_connections_check(args.workers):
        print(warning, file=sys.stderr, flush=True)
    if args.bind in ("0.0.0.0", "::", "[::]") and not os.environ.get("DJANGO_ALLOWED_HOSTS"):
        # Served on the LAN: answer to this machine's own names and addresses.
        os.environ["DJANGO_ALLOWED_HOSTS"] = ",".join(lan_hosts())
        print(f"Parley: allowed hosts {os.environ['DJANGO_ALLOWED_HOSTS']}", flush=True)

    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind.strip("[]"), args.port))
    listener.listen(1024)
    listener.set_inheritable(True)
    fd = listener.fileno()

    command = [
        sys.executable,
        "-m",
        "daphne",
        "--fd",
        str(fd),
        *daphne_connect_timeout(daphne_args),
        *daphne_message_size(daphne_args),
        *daphne_args,
        args.application,
    ]
    workers = [subprocess.Popen(command, pass_fds=(fd,)) for _ in range(args.workers)]
    listener.close()  # the workers hold it now
    print(
        f"Parley: {args.workers} Daphne worker(s) on http://{args.bind}:{args.port}/ "
        f"(pids {', '.join(str(w.pid) for w in workers)})",
        flush=True,
    )

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while any(worker.poll() is None for worker in workers):
        for worker in workers:
            code = worker.poll()
            if code is not None and not stopping:
                print(f"Parley: worker {worker.pid} exited ({code}); stopping the others")
                status = code or 1
                stop(signal.SIGTERM, None)
        time.sleep(0.2)
    return status


if __name__ == "__main__":
    sys.exit(main())
