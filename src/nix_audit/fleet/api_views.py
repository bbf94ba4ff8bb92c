"""Read-only JSON views of the fleet (hosts, CVEs, packages, hygiene, trend)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
