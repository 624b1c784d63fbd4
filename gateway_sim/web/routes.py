"""The inbox page and its assets (served from `static/`, no build step, nothing from elsewhere),
and the `/_sim/events` stream of server-sent events that keeps it live.

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

from gateway_sim.web.feed import Feed

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
Endpoint = Callable[[Request], Awaitable[Response]]


def _static(name: str) -> bytes:
    return files("gateway_sim.web").joinpath("static", name).read_bytes()


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
