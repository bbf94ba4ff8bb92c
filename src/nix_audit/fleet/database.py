"""Opening the fleet database, SQLite or PostgreSQL, and migrating it with Alembic.

A plain path (or ``sqlite:///...``) is an SQLite file: zero set-up. A ``postgresql://`` URL is
a PostgreSQL server, through psycopg 3. Either way the schema is brought to the newest Alembic
revision before use (issue #7: migrations by a tool, not by hand).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from nix_audit.errors import NixAuditError

__all__ = ["FleetDatabase", "FleetDatabaseError", "database_url", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


class FleetDatabaseError(NixAuditError):
    """The fleet database cannot be opened, migrated or written."""


def database_url(value: str) -> str:
    """The SQLAlchemy URL for what the user gave: a path, ``sqlite:///``, ``postgresql://``."""
    if value.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    if "://" in value:
        try:
            url = make_url(value)
        except ArgumentError as e:
            raise FleetDatabaseError(f"{value}: not a database URL: {e}") from e
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise FleetDatabaseError(f"{value}: only SQLite paths and postgresql:// URLs work")
        return value
    return f"sqlite:///{Path(value).resolve()}"


class FleetDatabase:
    """An engine on the fleet database, with one writer at a time on SQLite.

    SQLite takes one writer at a time anyway; waiting on a Python lock instead of on SQLite's
    busy handler (which sleeps and retries) keeps report latency even under a burst.
    PostgreSQL takes concurrent writers and gets no lock.
    """

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine = _engine(self.url, pool_size)
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A transaction that commits on success, serialised on SQLite."""
        if self._write_lock is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str, pool_size: int) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(
            url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True
        )
    except (SQLAlchemyError, ImportError) as e:
        raise FleetDatabaseError(f"{url}: cannot open the fleet database: {e}") from e


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: pages read while a report is written; NORMAL: durable at checkpoints, and a crash
    # loses at most the last transactions, never the file (SQLite, "WAL mode").
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(database: FleetDatabase, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (upgrade, or ``downgrade`` for ``-N``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            if revision.startswith("-") or revision == "base":
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
    except SQLAlchemyError as e:
        raise FleetDatabaseError(f"{database.url}: migration failed: {e}") from e
