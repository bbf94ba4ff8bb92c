"""Fixtures of the fleet tests: a migrated fleet database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nix_audit.fleet.database import FleetDatabase, migrate
from tests.e2e.conftest import db, mirror
from tests.helpers.nix_store import nix_fixture_store
from tests.helpers.postgres import PostgresServer, running_postgres

# Session fixtures shared by the fleet tests (defined once here, so built once per session).
__all__ = ["db", "mirror", "nix_fixture_store"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (skips without PostgreSQL, but not on CI)."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def fleet_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What a user would pass: an SQLite file's plain path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "fleet.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def fleet_database(fleet_url: str) -> Iterator[FleetDatabase]:
    """An empty fleet database migrated to the newest revision, on each backend."""
    database = FleetDatabase(fleet_url)
    try:
        migrate(database)
        yield database
    finally:
        database.dispose()
