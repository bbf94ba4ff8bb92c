"""The fleet database: URLs, and Alembic migrations that agree with the tables on both backends."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, column, inspect, select, table

from nix_audit.fleet.database import (
    MIGRATIONS,
    FleetDatabase,
    FleetDatabaseError,
    database_url,
    migrate,
)
from nix_audit.fleet.tables import metadata

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def schema_differences(database: FleetDatabase, target: MetaData) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to go from the database to target."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def table_names(database: FleetDatabase) -> set[str]:
    with database.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def current_revision(database: FleetDatabase) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# --- migrations ----------------------------------------------------------------------------


def test_migrations_create_exactly_the_tables_of_tables_py(fleet_database: FleetDatabase) -> None:
    assert HEAD is not None
    assert current_revision(fleet_database) == HEAD
    assert table_names(fleet_database) == set(metadata.tables) | {"alembic_version"}
    assert schema_differences(fleet_database, metadata) == []


def test_the_schema_comparison_does_see_differences(fleet_database: FleetDatabase) -> None:
    """Guards the test above: against no tables, every migrated table is a difference."""
    removed = {
        d[1].name for d in schema_differences(fleet_database, MetaData()) if d[0] == "remove_table"
    }
    assert removed == set(metadata.tables)


def test_downgrade_to_base_drops_everything_and_upgrade_works_again(
    fleet_database: FleetDatabase,
) -> None:
    migrate(fleet_database, "base")
    assert table_names(fleet_database) - {"alembic_version"} == set()
    assert current_revision(fleet_database) is None

    migrate(fleet_database)
    assert current_revision(fleet_database) == HEAD
    assert schema_differences(fleet_database, metadata) == []


def test_migrating_twice_changes_nothing(fleet_database: FleetDatabase) -> None:
    migrate(fleet_database)
    with fleet_database.reading() as c:
        versions = c.execute(select(table("alembic_version", column("version_num")))).all()
    assert [tuple(v) for v in versions] == [(HEAD,)]
    assert schema_differences(fleet_database, metadata) == []


def test_migrating_an_unreachable_postgresql_raises_fleet_database_error() -> None:
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        database = FleetDatabase(f"postgresql://postgres@127.0.0.1:{port}/fleet")
        try:
            with pytest.raises(FleetDatabaseError, match="migration failed"):
                migrate(database)
        finally:
            database.dispose()


# --- URLs ----------------------------------------------------------------------------------


def test_a_plain_path_is_an_sqlite_file_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url("fleet.sqlite") == f"sqlite:///{tmp_path.resolve()}/fleet.sqlite"
    assert database_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path.resolve()}/a.db"


def test_sqlite_urls_are_kept() -> None:
    assert database_url("sqlite:////var/lib/fleet.db") == "sqlite:////var/lib/fleet.db"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_use_psycopg_3(scheme: str) -> None:
    url = database_url(f"{scheme}://fleet:secret@db.example.org:5433/fleet?sslmode=require")
    assert url == "postgresql+psycopg://fleet:secret@db.example.org:5433/fleet?sslmode=require"


@pytest.mark.parametrize("value", ["mysql://x", "mssql+pyodbc://u@h/db", "oracle://h/db"])
def test_other_databases_are_refused(value: str) -> None:
    with pytest.raises(FleetDatabaseError, match="only SQLite paths and postgresql:// URLs"):
        database_url(value)


def test_a_malformed_url_is_a_fleet_database_error() -> None:
    with pytest.raises(FleetDatabaseError, match="not a database URL"):
        database_url("no such scheme://")
