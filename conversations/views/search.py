"""Searching the user's conversations, from the sidebar's box or as a page of results."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations import search
from conversations.inputs import text_check
from conversations.views.context import HtmxHttpRequest, page_context

SEARCH_PAGE = "conversations/search.html"
# Hits shown in the sidebar as you type; the full results page has the rest.
SIDEBAR_SEARCH_HITS = 8


@never_cache
@require_GET
def conversation_search(request: HtmxHttpRequest) -> HttpResponse:
    """Search the user's conversations (titles and message text).

    From the sidebar's box (htmx) the first hits replace the box's results as
    the reader types; without htmx it is a page of all the results, sidebar kept.
    """
    query = request.GET.get("q", "").strip()
    try:
        text_check(query, field=_("The search"))
    except ValidationError as exc:
        context = {"search_query": query.replace("\x00", ""), "search_error": exc.messages[0]}
        return render(request, "conversations/search.html", context, status=400)
    results = None
    if query:
        hits = search.conversation_search(user=request.user, query=query)
        results = Paginator(hits, search.PAGE_SIZE).get_page(request.GET.get("page"))
    if request.htmx:
        hits = list(results.paginator.object_list[:SIDEBAR_SEARCH_HITS]) if results else []
        context = {"search_query": query, "results": results, "hits": hits}
        return render(request, f"{SEARCH_PAGE}#sidebar-results", context)
    context = page_context(request.user, search_query=query, results=results)
    return render(request, SEARCH_PAGE, context)
