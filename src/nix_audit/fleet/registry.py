"""Who may talk to the fleet server: hosts with their tokens, admins with their sessions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from nix_audit.errors import NixAuditError
from nix_audit.fleet import auth
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.tables import admins, hosts, sessions

__all__ = [
    "DEFAULT_INTERVAL",
    "SESSION_LIFETIME",
    "Host",
    "HostRegistry",
    "RegistryError",
    "UnknownHostError",
    "aware",
    "check_hostname",
]

#: How often a host is expected to report when registered without an interval: daily, as a
#: systemd timer would run it.
DEFAULT_INTERVAL = timedelta(days=1)
SESSION_LIFETIME = timedelta(hours=12)

# A hostname as RFC 1123 allows it (labels of letters, digits and hyphens), which also keeps
# host names safe in URLs and pages.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class RegistryError(NixAuditError):
    """A host or admin operation that cannot be done (duplicate name, bad name, ...)."""


class UnknownHostError(RegistryError):
    """No host of that name is registered."""


@dataclass(frozen=True, slots=True)
class Host:
    id: int
    name: str
    report_interval: timedelta
    created_at: datetime
    last_report_at: datetime | None
    revoked: bool


class HostRegistry:
    """Hosts, their tokens and the admins, in the fleet database."""

    def __init__(self, database: FleetDatabase) -> None:
        self._db = database

    def add_host(self, name: str, *, interval: timedelta = DEFAULT_INTERVAL) -> str:
        """Register a host; returns its token, which is shown once and stored only hashed."""
        check_hostname(name)
        token = auth.new_token()
        row = {
            "name": name,
            "token_hash": auth.hash_token(token),
            "created_at": datetime.now(UTC),
            "report_interval": int(interval.total_seconds()),
        }
        try:
            with self._db.writing() as c:
                c.execute(insert(hosts).values(row))
        except IntegrityError:
            raise RegistryError(f"host {name!r} is already registered") from None
        return token

    def new_token(self, name: str) -> str:
        """A new token for a host; the old one stops working at once."""
        token = auth.new_token()
        self._set_token(name, auth.hash_token(token), revoked_at=None)
        return token

    def revoke(self, name: str) -> None:
        """Refuse the host's token from now on; its data stays."""
        self._set_token(name, None, revoked_at=datetime.now(UTC))

    def _set_token(self, name: str, token_hash: str | None, revoked_at: datetime | None) -> None:
        with self._db.writing() as c:
            done = c.execute(
                update(hosts)
                .where(hosts.c.name == name)
                .values(token_hash=token_hash, revoked_at=revoked_at)
            )
        if done.rowcount == 0:
            raise UnknownHostError(f"no host named {name!r}")

    def host_for_token(self, token: str) -> Host | None:
        """The host a token belongs to; None for an unknown or revoked token."""
        with self._db.reading() as c:
            row = c.execute(
                select(hosts).where(hosts.c.token_hash == auth.hash_token(token))
            ).first()
        return _host(row) if row is not None and row.revoked_at is None else None

    def hosts(self) -> list[Host]:
        with self._db.reading() as c:
            return [_host(r) for r in c.execute(select(hosts).order_by(hosts.c.name))]

    # --- admins ---------------------------------------------------------------------------

    def set_admin(self, name: str, password: str) -> None:
        """Create an admin or change its password."""
        if not name or len(name) > 100:
            raise RegistryError("admin name must have 1 to 100 characters")
        if len(password) < 8:
            raise RegistryError("admin password must have at least 8 characters")
        hashed = auth.hash_password(password)
        with self._db.writing() as c:
            c.execute(delete(admins).where(admins.c.name == name))
            c.execute(
                insert(admins).values(name=name, password_hash=hashed, created_at=datetime.now(UTC))
            )

    def check_admin(self, name: str, password: str) -> bool:
        with self._db.reading() as c:
            stored = c.execute(select(admins.c.password_hash).where(admins.c.name == name)).scalar()
        if stored is None:
            auth.hash_password(password)  # as slow as a wrong password: names stay secret
            return False
        return auth.verify_password(password, stored)

    def open_session(self, admin: str) -> str:
        """A new login session of ``admin`` (whose password was checked); returns its token."""
        token = auth.new_token()
        expires = datetime.now(UTC) + SESSION_LIFETIME
        try:
            with self._db.writing() as c:
                c.execute(delete(sessions).where(sessions.c.expires_at < datetime.now(UTC)))
                c.execute(
                    insert(sessions).values(
                        token_hash=auth.hash_token(token), admin=admin, expires_at=expires
                    )
                )
        except IntegrityError:
            raise RegistryError(f"no admin named {admin!r}") from None
        return token

    def session_admin(self, token: str) -> str | None:
        """The admin a live session belongs to, or None."""
        with self._db.reading() as c:
            row = c.execute(
                select(sessions.c.admin, sessions.c.expires_at).where(
                    sessions.c.token_hash == auth.hash_token(token)
                )
            ).first()
        if row is None or aware(row.expires_at) < datetime.now(UTC):
            return None
        return str(row.admin)

    def close_session(self, token: str) -> None:
        with self._db.writing() as c:
            c.execute(delete(sessions).where(sessions.c.token_hash == auth.hash_token(token)))


def check_hostname(name: str) -> None:
    if not _HOSTNAME.fullmatch(name):
        raise RegistryError(f"{name!r} is not a valid host name (RFC 1123)")


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _host(row: Row[Any]) -> Host:
    return Host(
        id=row.id,
        name=row.name,
        report_interval=timedelta(seconds=row.report_interval),
        created_at=aware(row.created_at),
        last_report_at=aware(row.last_report_at) if row.last_report_at else None,
        revoked=row.revoked_at is not None,
    )
