"""Who may drive the control API (`/_sim`) and the inbox page (`/`): the user's own browser tab,
and any client that is not a browser; never a page of another origin.

This module owns the two checks run before those routes (`Guard.refusal`); the emulated gateway
paths (`/smsgateway/...`, `/api/...`) and `/metrics` are not guarded, since real clients and
scrapers send no Origin and any Host.

- Host (against DNS rebinding, where a foreign name comes to resolve to the simulator): the Host
  (port stripped, IPv6 without its brackets) must be allowed, else 421 with JSON
  `{"error": "host_not_allowed", ...}`. Allowed: `localhost`, `127.0.0.1`, `::1`, this machine's
  name and FQDN, the host listened on (unless a wildcard), the `--tls-hostnames`, any IP address
  (an address cannot be rebound), any single-label name (a compose service name such as
  `gateway-sim`) and the `--allowed-hosts`, where `*` turns the check off. A request without a
  Host (no browser sends one) passes.
- Origin (against cross-site request forgery): a request of any method but GET, HEAD and OPTIONS
  is refused with 403 and JSON `{"error": "cross_origin", ...}`, whatever its content type, when
  its browser says it is not same-origin (`Sec-Fetch-Site: cross-site` or `same-site`), or when
  it carries an Origin that is not the simulator's own (scheme, host and port of the request
  itself; `null` is foreign) and no `Sec-Fetch-Site: same-origin` vouches for it (behind a
  proxy that rewrites the Host, the browser knows better). Requests without either header (curl,
  SDKs, the Python client) pass.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence

from starlette.responses import JSONResponse, Response

from gateway_sim.wire.asgi import Scope
from gateway_sim.wire.keyed import connection_secure

ANY_HOST = "*"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::", "[::]")
"""Listen hosts (`--host`) that mean every address of the machine."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
VOUCHED_SITES = frozenset({"same-origin", "none"})
"""`Sec-Fetch-Site` values of a request its own page (or the user, typing a URL) made."""
DEFAULT_PORTS = {"http": 80, "https": 443}
LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,62})")
"""A single-label name (no dot): a compose service or a machine on the local network."""
SHOWN_MOST = 100
"""The most characters of a refused Host or Origin echoed in the refusal's detail."""


def guarded(path: str) -> bool:
    """Whether `path` is the control API's or the inbox's (`/`, `/_sim/ui` and its assets)."""
    return path == "/" or path.startswith("/_sim")


@functools.cache
def machine_names() -> tuple[str, ...]:
    """This machine's name and its FQDN (looked up once per process)."""
    name = socket.gethostname()
    return (name, socket.getfqdn(name))


def split_host(value: str) -> tuple[str, int | None] | None:
    """`host[:port]` (an IPv6 address in brackets) as a lower-case name without brackets and the
    port (None when not given); None when it is not of that form."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    elif value.count(":") > 1:
        return None
    else:
        name, _, port = value.partition(":")
    if not name or not (port.isdigit() or port == "") or not port.isascii():
        return None
    return name, int(port) if port else None


def _normal(name: str) -> str:
    """An allow-list entry as hosts are compared: lower case, no brackets, port or final dot."""
    split = split_host(name)
    found = split[0] if split is not None else name.strip().lower()
    return found.removesuffix(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    return True


class Guard:
    """The Host and Origin checks in front of `/_sim` and the inbox."""

    def __init__(
        self,
        allowed_hosts: Iterable[str] = (),
        *,
        listen_host: str | None = None,
        tls_hostnames: Iterable[str] = (),
        trust_proxy: bool = False,
    ) -> None:
        """`allowed_hosts` adds to the defaults (`*`: any host); `listen_host` is the `--host`
        served on; with `trust_proxy`, an `X-Forwarded-Proto: https` makes the request's own
        origin an https one."""
        extra = [name.strip() for name in allowed_hosts if name.strip()]
        self.any_host = ANY_HOST in extra
        names = [*LOCAL_NAMES, *machine_names(), *tls_hostnames, *extra]
        if listen_host is not None and listen_host.strip("[]") not in WILDCARDS:
            names.append(listen_host)
        self.allowed = frozenset(_normal(name) for name in names if name.strip()) - {ANY_HOST}
        self.trust_proxy = trust_proxy

    def host_allowed(self, host: str) -> bool:
        """Whether a Host header's value names this simulator."""
        if self.any_host:
            return True
        split = split_host(host)
        if split is None:
            return False
        name = split[0]
        if _is_address(name):
            return True
        qualified = name.endswith(".")  # `evil.` is a top-level name, not a local one
        name = name.removesuffix(".")
        return name in self.allowed or (not qualified and LABEL.fullmatch(name) is not None)

    def refusal(self, scope: Scope) -> Response | None:
        """The answer refusing this request, or None when it may go on."""
        if not guarded(scope["path"]):
            return None
        host: str | None = None
        origins: list[str] = []
        site: str | None = None
        for name, value in scope["headers"]:
            if name == b"host" and host is None:
                host = value.decode("latin-1")
            elif name == b"origin":
                origins.append(value.decode("latin-1"))
            elif name == b"sec-fetch-site":
                site = value.decode("latin-1").strip().lower()
        if host and not self.host_allowed(host):
            return _refuse(
                421,
                "host_not_allowed",
                f"this simulator does not answer to the host {_shown(host)} on the control API "
                "and the inbox (a guard against DNS rebinding); if you reach it by that name, "
                "add it with --allowed-hosts (or GATEWAY_SIM_ALLOWED_HOSTS)",
            )
        if scope["method"] in SAFE_METHODS:
            return None
        if site is not None and site not in VOUCHED_SITES:
            return _cross_origin(f"the browser sent it from another site (Sec-Fetch-Site: {site})")
        if site == "same-origin":
            return None
        own = self._own_origin(scope, host)
        for origin in origins:
            key = _origin_key(origin)
            if key is None or key != own:
                return _cross_origin(f"it comes from the page of another origin, {_shown(origin)}")
        return None

    def _own_origin(self, scope: Scope, host: str | None) -> tuple[str, str, int] | None:
        """The request's own scheme, host and port, as an Origin header from its page shows."""
        if not host:
            return None
        scheme = "https" if connection_secure(scope, self.trust_proxy) else "http"
        return _origin_key(f"{scheme}://{host}")


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """An origin's scheme, host and port (the scheme's default when not given); None for `null`
    or any value that is not `scheme://host[:port]`."""
    scheme, separator, authority = origin.strip().lower().partition("://")
    if not separator or scheme not in DEFAULT_PORTS:
        return None
    split = split_host(authority)
    if split is None:
        return None
    name, port = split
    return scheme, name, DEFAULT_PORTS[scheme] if port is None else port


def _shown(value: str) -> str:
    return repr(value if len(value) <= SHOWN_MOST else value[:SHOWN_MOST] + "…")


def _cross_origin(why: str) -> Response:
    return _refuse(
        403,
        "cross_origin",
        f"a request that changes state was refused: {why}; the control API takes writes only "
        "from the simulator's own pages and from clients that are not browsers",
    )


def _refuse(status: int, error: str, detail: str) -> Response:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def allowed_hosts_of(value: str | None) -> Sequence[str]:
    """The `--allowed-hosts` flag's value (comma-separated) as a list."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]
