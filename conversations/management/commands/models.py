import asyncio
import time

from django.core.management.base import BaseCommand, CommandError

from conversations.backends import BackendError, CatalogError, Usage, get_backend, get_catalog
from conversations.backends.base import TokenizerUnavailable
from conversations.counters import counter_compare, counter_describe


class Command(BaseCommand):
    help = (
        "List the models of the catalog and whether each is usable now (and why not). "
        "With --check, send one tiny request to each usable model and report latency or error, "
        "and our token count of a fixed English and Korean sample against the server's."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Make one tiny request to each usable model.",
        )

    def handle(self, *args, check: bool = False, **options) -> None:
        try:
            catalog = get_catalog()
        except CatalogError as exc:
            raise CommandError(str(exc)) from None
        width = max(len(model.id) for model in catalog.models.values())
        failures = 0
        for model in catalog.models.values():
            default = " (default)" if model.id == catalog.default().id else ""
            reason = model.unusable_reason()
            status = "usable" if not reason else f"not usable: {reason}"
            line = f"{model.id:<{width}}  {model.backend:<6}  {status}{default}  — {model.label}"
            line += f"\n{'':<{width}}  tokens: {counter_describe(model)}"
            if check and not reason:
                outcome, ok = asyncio.run(_probe(model))
                failures += not ok
                line += f"\n{'':<{width}}  check: {outcome}"
                line += f"\n{'':<{width}}  counts: {_counts(model)}"
            self.stdout.write(line)
        usable = len(catalog.usable())
        summary = f"{len(catalog.models)} models, {usable} usable"
        if check:
            summary += f", {usable - failures} answered"
        self.stdout.write(summary)
        if check and failures:
            raise CommandError(f"{failures} usable model(s) failed the check")


async def _probe(model) -> tuple[str, bool]:
    """Ask for a one-word answer; report time to first token and total, or the error."""
    backend = get_backend(model)
    first = None
    text = []
    try:
        await asyncio.to_thread(backend.load)
        started = time.monotonic()
        async for event in backend.stream(
            messages=[{"role": "user", "content": "Say OK."}], max_tokens=5
        ):
            if isinstance(event, str) and event:
                first = first or time.monotonic()
                text.append(event)
            elif isinstance(event, Usage):
                pass
    except BackendError as exc:
        return f"error: {exc.message}", False
    total = time.monotonic() - started
    if first is None:
        return f"answered nothing in {total * 1000:.0f} ms", False
    reply = "".join(text).strip()[:30]
    ttft_ms = (first - started) * 1000
    return f"ok, first token {ttft_ms:.0f} ms, total {total * 1000:.0f} ms: {reply!r}", True


def _counts(model) -> str:
    """Our count of the samples against the server's, or why the server was not asked."""
    try:
        compared = counter_compare(model)
    except TokenizerUnavailable as exc:
        return f"the server's tokenizer cannot be asked ({exc})"
    return "; ".join(
        f"{name} ours {ours}, server {theirs}" + ("" if ours == theirs else " (differs)")
        for name, (ours, theirs) in compared.items()
    )
