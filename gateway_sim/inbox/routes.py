"""The inbox page and its assets (served from `static/`, no build step, nothing from elsewhere),
the `/_sim/events` stream of server-sent events that keeps it live, and how an MMS part is served
to it (`part_response`: only checked values in its headers).

The page is served without the control token (it holds no data); its API calls carry the token
the user gives it (kept in the tab's sessionStorage), and the event stream, which an
`EventSource` opens without headers, takes it as `?token=`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway_sim.domain.records import ContentPart
from gateway_sim.domain.text import content_disposition, header_media_type
from gateway_sim.inbox.feed import Feed

HEARTBEAT_SECONDS = 15.0
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ASSET_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "inbox.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "text/plain"}
)
"""Part types a browser shows inertly; SVG and HTML (which can carry script) stay downloads."""
PART_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
Endpoint = Callable[[Request], Awaitable[Response]]


def _static(name: str) -> bytes:
    return files("gateway_sim.inbox").joinpath("static", name).read_bytes()


def routes() -> list[BaseRoute]:
    """The page at `/` and `/_sim/ui`, and its assets under `/_sim/ui/assets/`."""
    page = _static("index.html")
    assets = {name: _static(name) for name in ASSET_TYPES}

    async def show_page(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def show_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(assets[name], media_type=ASSET_TYPES[name], headers=PAGE_HEADERS)

    return [
        Route("/", show_page),
        Route("/_sim/ui", show_page),
        Route("/_sim/ui/assets/{name}", show_asset),
    ]


def event_stream(feed: Feed) -> Endpoint:
    """`GET /_sim/events`: the feed as `text/event-stream`, with a comment line every
    `HEARTBEAT_SECONDS` so that proxies and browsers keep the connection open."""

    async def events(request: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":  # no body: the stream would never end
            return Response(media_type="text/event-stream", headers=headers)
        stream = feed.open()

        async def lines() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\nevent: hello\ndata: {}\n\n"
                while True:
                    event = await stream.next(HEARTBEAT_SECONDS)
                    if event is None:
                        return
                    name, data = event
                    yield f"event: {name}\ndata: {data}\n\n" if name else ": keep-alive\n\n"
            finally:
                feed.release(stream)

        return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)

    return events


def part_response(part: ContentPart, n: int) -> Response:
    """MMS content part `n` as raw bytes, never rendered as a page. Every header value is
    checked, whatever a client stored: the content type must parse as a media type (else
    `application/octet-stream`), the file name is written as RFC 6266 says (an ASCII fallback
    and `filename*`), so no value can break a header or add one."""
    content_type = header_media_type(part.content_type)
    disposition = "inline" if _shown_inline(content_type) else "attachment"
    shown = content_disposition(disposition, part.filename or f"part-{n}")
    return Response(
        part.data, media_type=content_type, headers={**PART_HEADERS, "Content-Disposition": shown}
    )


def _shown_inline(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type in INLINE_TYPES or media_type.startswith(("audio/", "video/"))
