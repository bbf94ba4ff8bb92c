"""Server-rendered pages of the fleet: overview, host, CVE, package, hygiene, login (#7).

Plain HTML from Jinja2 templates with autoescaping on: host names, package names, store
paths, reasons and descriptions come from hosts, feeds and uploaded documents, and are text
here, never markup. Pages need no script and load nothing from elsewhere; the
Content-Security-Policy says so, so that an escaping mistake still could not run code.

Every page but the login page needs an admin session (``AdminPage``); a browser without one
is sent to ``/login?next=<the page>``, and back there once logged in, if ``next`` is a path
on this server (never to another site: an open redirect would lend phishing our name).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from nix_audit import __version__
from nix_audit.fleet.chart import trend_chart
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.registry import SESSION_LIFETIME, UnknownHostError
from nix_audit.fleet.security import SESSION_COOKIE, AdminPage, registry_of
from nix_audit.fleet.views import (
    UnknownCveError,
    UnknownPackageError,
    cve_view,
    fleet_overview,
    host_view,
    hygiene_view,
    package_view,
    trend_view,
)

__all__ = ["CONTENT_SECURITY_POLICY", "TREND_DAYS", "router", "safe_next"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # findings of a fleet are nobody else's business
}
#: The overview's chart covers this many days.
TREND_DAYS = 90

router = APIRouter(include_in_schema=False)


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _interval(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the test, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["interval"] = _interval
    env.filters["urlpart"] = lambda text: quote(str(text), safe="")
    env.globals["version"] = __version__
    return env


_ENV = _environment()


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("admin", None)
    html = _ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def _not_found(admin: str, message: str) -> HTMLResponse:
    return _page("error.html", 404, admin=admin, title="Not found", message=message)


def _database(request: Request) -> FleetDatabase:
    database: FleetDatabase = request.app.state.fleet.database
    return database


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, admin: AdminPage) -> HTMLResponse:
    now = datetime.now(UTC)
    database = _database(request)
    trend = trend_view(database, now - timedelta(days=TREND_DAYS))
    return _page(
        "overview.html",
        admin=admin,
        title="Fleet",
        overview=fleet_overview(database, now),
        chart=trend_chart(trend.points),
        trend_days=TREND_DAYS,
    )


@router.get("/hosts/{name}", response_class=HTMLResponse)
def host_page(request: Request, name: str, admin: AdminPage) -> HTMLResponse:
    try:
        view = host_view(_database(request), name, datetime.now(UTC))
    except UnknownHostError:
        return _not_found(admin, f"No host named {name!r} is registered.")
    return _page("host.html", admin=admin, title=name, view=view)


@router.get("/cves/{cve_id}", response_class=HTMLResponse)
def cve_page(request: Request, cve_id: str, admin: AdminPage) -> HTMLResponse:
    try:
        view = cve_view(_database(request), cve_id, datetime.now(UTC))
    except UnknownCveError as e:
        return _not_found(admin, str(e))
    return _page("cve.html", admin=admin, title=view.cve.cve_id, view=view)


@router.get("/packages/{pname}", response_class=HTMLResponse)
def package_page(request: Request, pname: str, admin: AdminPage) -> HTMLResponse:
    try:
        view = package_view(_database(request), pname, datetime.now(UTC))
    except UnknownPackageError as e:
        return _not_found(admin, str(e))
    return _page("package.html", admin=admin, title=pname, view=view)


@router.get("/hygiene", response_class=HTMLResponse)
def hygiene_page(request: Request, admin: AdminPage) -> HTMLResponse:
    view = hygiene_view(_database(request), datetime.now(UTC).date())
    return _page("hygiene.html", admin=admin, title="Whitelist hygiene", view=view)


# --- login and logout -----------------------------------------------------------------------


def safe_next(target: str) -> str:
    """``target`` when it is a path on this server, else ``/``.

    Browsers read ``//host`` and ``/\\host`` as another site, and drop tabs and newlines from
    URLs, so only a single leading slash followed by no such trick passes.
    """
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(next_path: Annotated[str, Query(alias="next")] = "/") -> HTMLResponse:
    return _page("login.html", title="Log in", next_path=safe_next(next_path), error=None, name="")


@router.post("/login", response_model=None)
def log_in(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    registry = registry_of(request)
    target = safe_next(next_path)
    if not name or not registry.check_admin(name, password):
        error = "Wrong admin name or password."
        return _page("login.html", 401, title="Log in", next_path=target, error=error, name=name)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        registry.open_session(name),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,  # no script reads it, so no injected script can steal it
        samesite="strict",  # not sent with requests other sites start: no CSRF
        secure=request.app.state.fleet.config.secure_cookies,
    )
    return response


@router.post("/logout", response_model=None)
def log_out(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        registry_of(request).close_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.app.state.fleet.config.secure_cookies,
    )
    return response
