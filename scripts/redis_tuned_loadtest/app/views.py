"""The cache side: read a key, write it when missing (Django's async cache API)."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from redis_tuned_loadtest import gcwatch

PAYLOAD = "x" * 512


async def cached(request: HttpRequest, key: int) -> HttpResponse:
    name = f"loadtest:{key}"
    value = await cache.aget(name)
    hit = value is not None
    if not hit:
        await cache.aset(name, {"key": key, "payload": PAYLOAD}, 300)
    return _sized(JsonResponse({"hit": hit}))


async def health(request: HttpRequest) -> HttpResponse:
    return _sized(HttpResponse("ok"))


async def gc_pauses(request: HttpRequest) -> HttpResponse:
    """This process's GC pauses since the last read (the capacity study, each step)."""
    return _sized(JsonResponse(gcwatch.read()))


def _sized(response: HttpResponse) -> HttpResponse:
    """Content-Length, so that the client reads a kept-alive connection without chunking."""
    response["Content-Length"] = str(len(response.content))
    return response
