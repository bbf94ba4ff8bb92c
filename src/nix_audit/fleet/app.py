"""The fleet service's ASGI application: JSON API, pages, and the background work (#7).

``create_app`` takes a migrated database (``nix-audit serve`` migrates it first, so that a
database it cannot reach is one line and exit 3, not a failed start-up inside the server) and
runs two threads beside the request handlers: the
evaluator (matching and triage, woken by reports and triage uploads) and, when configured,
the index updater (``db update`` on a schedule, which wakes the evaluator in turn).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.types import Receive, Scope, Send

from nix_audit import __version__
from nix_audit.advisories.index import INDEX_FILE
from nix_audit.errors import NixAuditError, TriageError
from nix_audit.fleet import api
from nix_audit.fleet.central_triage import UnknownDocumentError
from nix_audit.fleet.config import ServerConfig
from nix_audit.fleet.database import FleetDatabase, FleetDatabaseError
from nix_audit.fleet.evaluation import Evaluator
from nix_audit.fleet.intake import ReportIntake
from nix_audit.fleet.protocol import ProtocolError, ReportTooLarge
from nix_audit.fleet.registry import HostRegistry, RegistryError, UnknownHostError
from nix_audit.fleet.reports import ForeignHostError, InvalidTokenError, UnknownClosureError
from nix_audit.fleet.security import LoginRequired
from nix_audit.fleet.updater import IndexUpdater
from nix_audit.fleet.uploads import UploadCoordinator

__all__ = ["FleetState", "ReportFastPath", "create_app", "error_response"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FleetState:
    """What the handlers share, on ``app.state.fleet``."""

    config: ServerConfig
    database: FleetDatabase
    registry: HostRegistry
    evaluator: Evaluator
    updater: IndexUpdater | None
    intake: ReportIntake
    uploads: UploadCoordinator = field(default_factory=UploadCoordinator)

    @property
    def index_path(self) -> Path:
        return self.config.db_dir / INDEX_FILE


def create_app(config: ServerConfig, database: FleetDatabase) -> ReportFastPath:
    """The application on ``database``, migrated to the newest revision by the caller."""
    from nix_audit.fleet import api_views, pages

    evaluator = Evaluator(database, config.db_dir / INDEX_FILE)
    updater = (
        IndexUpdater(config.db_dir, config.sources, config.update_interval, evaluator.wake)
        if config.update_interval is not None
        else None
    )
    intake = ReportIntake(database, lambda: evaluator.generation)
    state = FleetState(config, database, HostRegistry(database), evaluator, updater, intake)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        evaluator.start(config.poll_seconds, worker_process=not config.evaluate_in_process)
        if updater is not None:
            updater.start()
        evaluator.wake()  # catch up with reports stored while the server was down
        # What start-up made lives as long as the server: keep it out of every collection.
        gc.freeze()
        try:
            yield
        finally:
            if updater is not None:
                updater.stop()
            evaluator.stop()
            database.dispose()

    app = FastAPI(
        title="nix-audit fleet service",
        version=__version__,
        summary="NixOS hosts report their closures; the server matches them against the NVD.",
        lifespan=lifespan,
    )
    app.state.fleet = state

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for load balancers and service managers: no login, no database."""
        return {"status": "ok"}

    app.include_router(api.router)
    app.include_router(api_views.router)
    app.include_router(pages.router)
    _error_handlers(app)
    return ReportFastPath(app)


# Library errors -> HTTP statuses, in one place (as cli.py maps them to exit codes).
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (InvalidTokenError, 401),
    (ForeignHostError, 403),
    (UnknownClosureError, 409),
    (ReportTooLarge, 413),
    (ProtocolError, 400),
    (UnknownHostError, 404),
    (UnknownDocumentError, 404),
    (RegistryError, 409),
    (TriageError, 400),
    (FleetDatabaseError, 503),
    (NixAuditError, 500),
)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(NixAuditError)
    async def library_error(_request: Request, exc: NixAuditError) -> JSONResponse:
        return error_response(exc)


def error_response(exc: NixAuditError) -> JSONResponse:
    """The one mapping from a library error to an HTTP answer."""
    code = next(code for kind, code in _STATUS if isinstance(exc, kind))
    if code >= 500:
        log.error("request failed: %s", exc)
    body = {"detail": str(exc).splitlines()[0]}
    if isinstance(exc, UnknownClosureError):
        body["upload"] = f"/api/v1/closures/{exc.digest}"
    # RFC 9110 section 11.6.1: a 401 names the scheme the client should use.
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(body, status_code=code, headers=headers)


class ReportFastPath:
    """ASGI in front of the app: ``POST /api/v1/reports`` served without FastAPI's routing,
    dependency and middleware layers, which cost about 0.35 ms per request, a third of a
    report's time when a fleet reports at once (bench/fleet). Same handler, same answers;
    the FastAPI route stays, and documents the endpoint in /openapi.json.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/api/v1/reports"
        ):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # Request.app, as inside the app
        try:
            response: Response = await api.accept_report(Request(scope, receive))
        except NixAuditError as e:
            response = error_response(e)
        except HTTPException as e:
            response = JSONResponse({"detail": e.detail}, e.status_code, headers=e.headers)
        await response(scope, receive, send)
