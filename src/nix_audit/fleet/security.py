"""Who is calling: a host with its token, or an admin with a session or a password (#7).

- ``POST /api/v1/reports`` takes only a host token (``Authorization: Bearer``); the report is
  stored for that token's host and no other.
- Everything else needs an admin: the session cookie the login page sets, a session token
  from ``POST /api/v1/session`` as ``Authorization: Bearer``, or HTTP Basic credentials.
- Pages send a browser without a session to the login page; the API answers 401.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from nix_audit.fleet.registry import Host, HostRegistry

__all__ = [
    "SESSION_COOKIE",
    "AdminPage",
    "LoginRequired",
    "admin_for_api",
    "admin_for_page",
    "bearer_token",
    "registry_of",
    "reporting_host",
]

SESSION_COOKIE = "nix_audit_session"


class LoginRequired(Exception):
    """A page asked for by a browser without a session: send it to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.location = "/login?next=" + quote(next_path, safe="/")


def registry_of(request: Request) -> HostRegistry:
    registry: HostRegistry = request.app.state.fleet.registry
    return registry


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def bearer_token(request: Request) -> str:
    """The request's bearer token; 401 without one (whether it is valid is checked later)."""
    token = _bearer(request)
    if token is None:
        raise _needs_host_token()
    return token


def reporting_host(request: Request) -> Host:
    """The host whose token the request carries; 401 otherwise (revoked tokens included)."""
    host = registry_of(request).host_for_token(bearer_token(request))
    if host is None:
        raise _needs_host_token()
    return host


def _needs_host_token() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "a valid host token is required (Authorization: Bearer ...)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _admin(request: Request) -> str | None:
    registry = registry_of(request)
    for token in (request.cookies.get(SESSION_COOKIE), _bearer(request)):
        if token and (admin := registry.session_admin(token)) is not None:
            return admin
    basic = _basic(request)
    if basic is not None and registry.check_admin(*basic):
        return basic[0]
    return None


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


def admin_for_api(request: Request) -> str:
    admin = _admin(request)
    if admin is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "admin login required",
            headers={"WWW-Authenticate": 'Basic realm="nix-audit"'},
        )
    return admin


def admin_for_page(request: Request) -> str:
    admin = _admin(request)
    if admin is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return admin


AdminPage = Annotated[str, Depends(admin_for_page)]
