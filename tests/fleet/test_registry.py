"""Hosts with their tokens, admins with their sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.registry import DEFAULT_INTERVAL, HostRegistry, RegistryError
from nix_audit.fleet.tables import hosts, sessions


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def registry(fleet_database: FleetDatabase) -> HostRegistry:
    return HostRegistry(fleet_database)


# --- hosts and tokens ----------------------------------------------------------------------


def test_a_new_host_is_found_by_its_token(registry: HostRegistry) -> None:
    before = datetime.now(UTC)
    token = registry.add_host("web-01.example.org")
    host = registry.host_for_token(token)
    assert host is not None
    assert host.name == "web-01.example.org"
    assert host.report_interval == DEFAULT_INTERVAL
    assert host.revoked is False
    assert host.last_report_at is None
    assert before - timedelta(seconds=1) <= host.created_at <= datetime.now(UTC)
    assert [h.name for h in registry.hosts()] == ["web-01.example.org"]


def test_each_host_has_its_own_token_and_interval(registry: HostRegistry) -> None:
    a = registry.add_host("a", interval=timedelta(hours=6))
    b = registry.add_host("b")
    assert a != b
    found_a, found_b = registry.host_for_token(a), registry.host_for_token(b)
    assert found_a is not None and found_b is not None
    assert (found_a.name, found_a.report_interval) == ("a", timedelta(hours=6))
    assert found_b.name == "b"
    assert found_a.id != found_b.id


def test_a_wrong_token_finds_no_host(registry: HostRegistry) -> None:
    token = registry.add_host("web1")
    assert registry.host_for_token(token + "x") is None
    assert registry.host_for_token(token[:-1]) is None
    assert registry.host_for_token("") is None


def test_the_database_keeps_only_the_sha256_of_a_token(
    registry: HostRegistry, fleet_database: FleetDatabase
) -> None:
    token = registry.add_host("web1")
    with fleet_database.reading() as c:
        row = c.execute(select(hosts)).one()
    assert row.token_hash == sha256(token)
    assert all(token not in str(value) for value in row)


def test_a_duplicate_host_name_is_refused(
    registry: HostRegistry, fleet_database: FleetDatabase
) -> None:
    first = registry.add_host("web1")
    with pytest.raises(RegistryError, match="already registered"):
        registry.add_host("web1")
    assert registry.host_for_token(first) is not None  # the first one still works
    with fleet_database.reading() as c:
        assert c.execute(select(func.count()).select_from(hosts)).scalar() == 1


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-web",
        "web-",
        "a..b",
        ".web",
        "web.",
        "has space",
        "under_score",
        "a/b",
        "wéb",
        "x" * 64,
        "web1\n",
        ".".join(["x" * 63] * 4) + ".xx",
    ],
)
def test_invalid_host_names_are_refused(
    registry: HostRegistry, fleet_database: FleetDatabase, name: str
) -> None:
    with pytest.raises(RegistryError, match="not a valid host name"):
        registry.add_host(name)
    with fleet_database.reading() as c:
        assert c.execute(select(func.count()).select_from(hosts)).scalar() == 0


@pytest.mark.parametrize("name", ["a", "x" * 63, "web-01", "WEB01.Example.ORG", "1.2.3.4"])
def test_valid_host_names_are_accepted(registry: HostRegistry, name: str) -> None:
    host = registry.host_for_token(registry.add_host(name))
    assert host is not None and host.name == name


def test_a_revoked_token_is_refused(registry: HostRegistry) -> None:
    token = registry.add_host("web1")
    other = registry.add_host("web2")
    registry.revoke("web1")
    assert registry.host_for_token(token) is None
    assert registry.host_for_token(other) is not None  # only that host
    assert {h.name: h.revoked for h in registry.hosts()} == {"web1": True, "web2": False}


def test_revoking_an_unknown_host_is_an_error(registry: HostRegistry) -> None:
    with pytest.raises(RegistryError, match="no host named"):
        registry.revoke("nowhere")


def test_a_new_token_replaces_the_old_one(
    registry: HostRegistry, fleet_database: FleetDatabase
) -> None:
    old = registry.add_host("web1")
    new = registry.new_token("web1")
    assert new != old
    assert registry.host_for_token(old) is None
    host = registry.host_for_token(new)
    assert host is not None and host.name == "web1"
    with fleet_database.reading() as c:
        assert c.execute(select(hosts.c.token_hash)).scalar_one() == sha256(new)


def test_a_new_token_readmits_a_revoked_host(registry: HostRegistry) -> None:
    registry.add_host("web1")
    registry.revoke("web1")
    token = registry.new_token("web1")
    host = registry.host_for_token(token)
    assert host is not None and host.revoked is False


def test_a_new_token_for_an_unknown_host_is_an_error(registry: HostRegistry) -> None:
    with pytest.raises(RegistryError, match="no host named"):
        registry.new_token("nowhere")


# --- admins and sessions -------------------------------------------------------------------


def test_admin_passwords_are_checked(registry: HostRegistry) -> None:
    registry.set_admin("alice", "correct horse battery")
    assert registry.check_admin("alice", "correct horse battery") is True
    assert registry.check_admin("alice", "correct horse batterz") is False
    assert registry.check_admin("alice", "") is False
    assert registry.check_admin("bob", "correct horse battery") is False


def test_setting_an_admin_again_changes_the_password(registry: HostRegistry) -> None:
    registry.set_admin("alice", "first password")
    registry.set_admin("alice", "second password")
    assert registry.check_admin("alice", "second password") is True
    assert registry.check_admin("alice", "first password") is False


@pytest.mark.parametrize(
    ("name", "password"), [("", "long enough"), ("a" * 101, "long enough"), ("alice", "short")]
)
def test_bad_admin_names_and_short_passwords_are_refused(
    registry: HostRegistry, name: str, password: str
) -> None:
    with pytest.raises(RegistryError):
        registry.set_admin(name, password)
    assert registry.check_admin(name, password) is False


def test_sessions_open_are_found_and_close(
    registry: HostRegistry, fleet_database: FleetDatabase
) -> None:
    registry.set_admin("alice", "correct horse battery")
    token = registry.open_session("alice")
    other = registry.open_session("alice")
    assert token != other
    assert registry.session_admin(token) == "alice"
    assert registry.session_admin(token + "x") is None
    with fleet_database.reading() as c:
        stored = set(c.execute(select(sessions.c.token_hash)).scalars())
    assert stored == {sha256(token), sha256(other)}

    registry.close_session(token)
    assert registry.session_admin(token) is None
    assert registry.session_admin(other) == "alice"


def test_an_expired_session_is_refused_and_later_cleared(
    registry: HostRegistry, fleet_database: FleetDatabase
) -> None:
    registry.set_admin("alice", "correct horse battery")
    token = registry.open_session("alice")
    with fleet_database.writing() as c:
        c.execute(
            update(sessions)
            .where(sessions.c.token_hash == sha256(token))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert registry.session_admin(token) is None

    fresh = registry.open_session("alice")  # opening a session sweeps the expired ones
    assert registry.session_admin(fresh) == "alice"
    with fleet_database.reading() as c:
        assert list(c.execute(select(sessions.c.token_hash)).scalars()) == [sha256(fresh)]


def test_a_session_lasts_about_twelve_hours(
    registry: HostRegistry, fleet_database: FleetDatabase
) -> None:
    registry.set_admin("alice", "correct horse battery")
    registry.open_session("alice")
    with fleet_database.reading() as c:
        expires = c.execute(select(sessions.c.expires_at)).scalar_one()
    if expires.tzinfo is None:  # SQLite hands datetimes back naive; they are stored as UTC
        expires = expires.replace(tzinfo=UTC)
    left = expires - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)
