"""Read-only JSON views of the fleet (hosts, CVEs, packages, hygiene, trend), admins only.

The response models are the frozen dataclasses of ``views``, the same values the pages show,
so FastAPI documents them in ``/openapi.json``. Endpoints are plain ``def``: FastAPI runs
them in its thread pool, where their database reads do not block the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from nix_audit.fleet.api import ERROR_RESPONSES
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.security import admin_for_api
from nix_audit.fleet.views import (
    CveView,
    FleetOverview,
    HostView,
    HygieneView,
    PackageView,
    TrendView,
    UnknownCveError,
    UnknownPackageError,
    cve_view,
    fleet_overview,
    host_view,
    hygiene_view,
    package_view,
    trend_view,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["views"], responses=ERROR_RESPONSES)
Admin = Annotated[str, Depends(admin_for_api)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such host, CVE or package"}}


def _database(request: Request) -> FleetDatabase:
    database: FleetDatabase = request.app.state.fleet.database
    return database


@router.get("/hosts", summary="Every host, worst first, with fleet totals")
def list_hosts(request: Request, _admin: Admin) -> FleetOverview:
    return fleet_overview(_database(request), datetime.now(UTC))


@router.get(
    "/hosts/{name}",
    summary="One host: its current findings triaged for it, and its reports",
    responses=_NOT_FOUND,
)
def get_host(request: Request, name: str, _admin: Admin) -> HostView:
    # UnknownHostError is answered 404 by the application's error handlers.
    return host_view(_database(request), name, datetime.now(UTC))


@router.get(
    "/cves/{cve_id}", summary="One CVE and the hosts whose closure has it", responses=_NOT_FOUND
)
def get_cve(
    request: Request,
    cve_id: Annotated[str, Path(pattern=r"^[Cc][Vv][Ee]-\d{4}-\d{4,19}$")],
    _admin: Admin,
) -> CveView:
    try:
        return cve_view(_database(request), cve_id, datetime.now(UTC))
    except UnknownCveError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e


@router.get(
    "/packages/{pname}",
    summary="The versions of a package in use, with their hosts and open CVEs",
    responses=_NOT_FOUND,
)
def get_package(request: Request, pname: str, _admin: Admin) -> PackageView:
    try:
        return package_view(_database(request), pname, datetime.now(UTC))
    except UnknownPackageError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e


@router.get("/hygiene", summary="Central whitelist rules that are unused, expired or expiring")
def get_hygiene(request: Request, _admin: Admin) -> HygieneView:
    return hygiene_view(_database(request), datetime.now(UTC).date())


@router.get("/trend", summary="Open findings over the fleet after each evaluation")
def get_trend(
    request: Request,
    _admin: Admin,
    days: Annotated[int, Query(ge=1, le=3660, description="How far back")] = 90,
) -> TrendView:
    return trend_view(_database(request), datetime.now(UTC) - timedelta(days=days))
