"""Host reports: the wire protocol, and storing each closure once, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Table, func, select

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.protocol import (
    MAX_BODY_BYTES,
    MAX_DECODED_BYTES,
    MAX_PACKAGES,
    HostReport,
    ProtocolError,
    ReportedPackage,
    closure_digest,
    decode_report,
    encode_report,
    gzip_body,
)
from nix_audit.fleet.registry import Host, HostRegistry
from nix_audit.fleet.reports import ForeignHostError, ReportReceipt, record_report
from nix_audit.fleet.tables import closure_packages, closures, hosts, reports
from nix_audit.models import IdentifiedFrom


def package(
    name: str,
    *,
    buildtime: bool = False,
    patched_cves: list[str] | None = None,
    source_urls: list[str] | None = None,
    cpes: list[str] | None = None,
    identified_from: IdentifiedFrom = IdentifiedFrom.DERIVATION,
) -> ReportedPackage:
    """A package named like Nix names it, with its store path and derivation."""
    pname, _, version = name.rpartition("-")
    return ReportedPackage(
        name=name,
        pname=pname,
        version=version,
        store_path=f"/nix/store/{'a' * 32}-{name}",
        derivation=f"/nix/store/{'b' * 32}-{name}.drv",
        buildtime=buildtime,
        patched_cves=patched_cves or [],
        source_urls=source_urls or [],
        cpes=cpes or [],
        identified_from=identified_from.value,
    )


PACKAGES = [
    package("openssl-3.0.13", patched_cves=["CVE-2024-0727"], cpes=["cpe:2.3:a:openssl:openssl"]),
    package("zlib-1.3.1", source_urls=["https://zlib.net/zlib-1.3.1.tar.gz"]),
    package("gcc-13.2.0", buildtime=True, identified_from=IdentifiedFrom.STORE_PATH_NAME),
]


def report(hostname: str, packages: list[ReportedPackage] = PACKAGES) -> HostReport:
    return HostReport(
        hostname=hostname,
        packages=packages,
        system=f"/nix/store/{'c' * 32}-nixos-system-{hostname}-24.05",
        nixos_version="24.05.1234.abcdef",
    )


def count(database: FleetDatabase, table: Table) -> int:
    with database.reading() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


def counts(database: FleetDatabase) -> tuple[int, int, int]:
    """(closures, closure_packages, reports)."""
    return count(database, closures), count(database, closure_packages), count(database, reports)


@pytest.fixture
def registry(fleet_database: FleetDatabase) -> HostRegistry:
    return HostRegistry(fleet_database)


def new_host(registry: HostRegistry, name: str) -> Host:
    host = registry.host_for_token(registry.add_host(name))
    assert host is not None
    return host


# --- storing reports -----------------------------------------------------------------------


def test_two_hosts_with_the_same_closure_store_it_once(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1, web2 = new_host(registry, "web1"), new_host(registry, "web2")
    first = record_report(fleet_database, web1, report("web1"), generation=None)
    second = record_report(fleet_database, web2, report("web2", PACKAGES[::-1]), generation=None)

    assert first.closure == second.closure == closure_digest(report("web1"))
    assert (first.new_closure, second.new_closure) == (True, False)
    assert first.report_id != second.report_id
    assert counts(fleet_database) == (1, len(PACKAGES), 2)
    with fleet_database.reading() as c:
        current = {r.name: r.current_report_id for r in c.execute(select(hosts))}
        stored = [(r.host_id, r.system) for r in c.execute(select(reports).order_by(reports.c.id))]
    assert stored == [(web1.id, report("web1").system), (web2.id, report("web2").system)]
    assert current == {"web1": first.report_id, "web2": second.report_id}
    last = {h.name: h.last_report_at for h in registry.hosts()}
    assert last["web1"] is not None and last["web2"] is not None


def test_the_first_stored_closure_keeps_its_packages_in_order(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    record_report(fleet_database, new_host(registry, "web1"), report("web1"), generation=None)
    with fleet_database.reading() as c:
        rows = c.execute(select(closure_packages).order_by(closure_packages.c.idx)).all()
    assert [(r.idx, r.name, r.pname, r.version) for r in rows] == [
        (i, p.name, p.pname, p.version) for i, p in enumerate(PACKAGES)
    ]
    assert [bool(r.buildtime) for r in rows] == [False, False, True]
    assert json.loads(rows[0].patched_cves) == ["CVE-2024-0727"]
    assert json.loads(rows[1].source_urls) == ["https://zlib.net/zlib-1.3.1.tar.gz"]
    assert rows[2].identified_from == "store-path-name"


def test_a_different_package_list_is_a_second_closure(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1, web2 = new_host(registry, "web1"), new_host(registry, "web2")
    updated = [*PACKAGES[:-1], package("zlib-1.3.2")]
    first = record_report(fleet_database, web1, report("web1"), generation=None)
    second = record_report(fleet_database, web2, report("web2", updated), generation=None)
    assert second.new_closure is True
    assert first.closure != second.closure
    assert counts(fleet_database) == (2, len(PACKAGES) + len(updated), 2)

    again = record_report(fleet_database, web1, report("web1", updated), generation=None)
    assert (again.closure, again.new_closure) == (second.closure, False)
    assert counts(fleet_database) == (2, len(PACKAGES) + len(updated), 3)


def test_a_report_for_another_host_is_refused_and_writes_nothing(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1 = new_host(registry, "web1")
    new_host(registry, "web2")
    with pytest.raises(ForeignHostError, match="'web1', not to 'web2'"):
        record_report(fleet_database, web1, report("web2"), generation=None)
    assert counts(fleet_database) == (0, 0, 0)
    assert all(h.last_report_at is None for h in registry.hosts())


def test_matched_only_when_the_closure_was_matched_with_this_generation(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1 = new_host(registry, "web1")
    receipt = record_report(fleet_database, web1, report("web1"), generation="g1")
    assert receipt.matched is False  # a new closure has no findings yet
    with fleet_database.writing() as c:
        c.execute(closures.update().values(matched_generation="g1"))
    assert record_report(fleet_database, web1, report("web1"), generation="g1").matched is True
    assert record_report(fleet_database, web1, report("web1"), generation="g2").matched is False
    assert record_report(fleet_database, web1, report("web1"), generation=None).matched is False


def test_hosts_sending_the_same_new_closure_at_once_store_it_once(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    """On PostgreSQL the writers really race: the losers take the ON CONFLICT DO NOTHING path."""
    many = [package(f"pkg{i}-1.{i}") for i in range(500)]  # a longer insert: a wider race
    names = [f"host{i}" for i in range(8)]
    hosts_ = [new_host(registry, name) for name in names]
    start = threading.Barrier(len(names))

    def send(host: Host) -> ReportReceipt:
        start.wait(timeout=30)
        return record_report(fleet_database, host, report(host.name, many), generation=None)

    with ThreadPoolExecutor(len(names)) as pool:
        receipts = list(pool.map(send, hosts_))  # re-raises the first failure

    assert len({r.closure for r in receipts}) == 1
    assert sum(r.new_closure for r in receipts) == 1
    assert len({r.report_id for r in receipts}) == len(names)
    assert counts(fleet_database) == (1, len(many), len(names))


# --- the wire protocol ---------------------------------------------------------------------


def test_a_report_survives_encoding_and_decoding() -> None:
    original = report("web1")
    body = encode_report(original)
    assert decode_report(body) == original
    assert decode_report(gzip_body(body), gzipped=True) == original
    assert decode_report(gzip.compress(body, compresslevel=9), gzipped=True) == original


def test_defaults_are_filled_in_and_omitted_on_the_wire() -> None:
    decoded = decode_report(
        b'{"hostname":"h","packages":[{"name":"a-1","pname":"a","version":"1"}]}'
    )
    assert decoded.closure_kind == "runtime"
    assert decoded.packages == [ReportedPackage(name="a-1", pname="a", version="1")]
    assert decoded.packages[0].identified_from == "derivation"
    assert b"patched_cves" not in encode_report(decoded)


def test_a_gzip_bomb_is_refused() -> None:
    # A valid report followed by whitespace (still valid JSON) inflating past the limit: only
    # the inflation limit can refuse it.
    padding = b" " * (MAX_DECODED_BYTES + 1)
    bomb = gzip.compress(encode_report(report("web1")) + padding, compresslevel=9)
    assert len(bomb) < 100_000 < MAX_BODY_BYTES  # small on the wire
    with pytest.raises(ProtocolError, match="inflates to more than"):
        decode_report(bomb, gzipped=True)


def test_a_report_just_under_the_inflation_limit_is_accepted() -> None:
    body = encode_report(report("web1"))
    padded = gzip.compress(body + b" " * (MAX_DECODED_BYTES - len(body)), compresslevel=9)
    assert decode_report(padded, gzipped=True) == report("web1")


@pytest.mark.parametrize("keep", [0.5, -4])
def test_truncated_gzip_is_refused(keep: float) -> None:
    body = gzip_body(encode_report(report("web1")))
    cut = body[: int(len(body) * keep)] if isinstance(keep, float) else body[:keep]
    with pytest.raises(ProtocolError, match="truncated gzip"):
        decode_report(cut, gzipped=True)


def test_a_body_that_is_not_gzip_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not valid gzip"):
        decode_report(encode_report(report("web1")), gzipped=True)


@pytest.mark.parametrize(
    "document",
    [
        {"hostname": "h", "packages": [], "admin": True},
        {"hostname": "h", "packages": [{"name": "a-1", "pname": "a", "version": "1", "x": 1}]},
    ],
)
def test_unknown_fields_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ProtocolError, match="invalid report"):
        decode_report(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"packages": []}', "invalid report"),
        (b'{"hostname": "", "packages": []}', "hostname must have"),
        (b'{"hostname": "h", "packages": [{"name": "a"}]}', "invalid report"),
    ],
)
def test_malformed_reports_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_report(body)


def test_an_unknown_identified_from_is_refused() -> None:
    bad = HostReport("h", [ReportedPackage("a-1", "a", "1", identified_from="guesswork")])
    with pytest.raises(ProtocolError, match="unknown identified_from 'guesswork'"):
        decode_report(encode_report(bad))


def test_too_many_packages_are_refused_and_the_limit_is_accepted() -> None:
    item = b'{"name":"a-1","pname":"a","version":"1"}'

    def body(n: int) -> bytes:
        return b'{"hostname":"h","packages":[' + b",".join([item] * n) + b"]}"

    assert len(decode_report(body(MAX_PACKAGES)).packages) == MAX_PACKAGES
    with pytest.raises(ProtocolError, match=f"{MAX_PACKAGES + 1} packages, more than"):
        decode_report(body(MAX_PACKAGES + 1))


def test_an_oversized_body_is_refused_before_parsing() -> None:
    with pytest.raises(ProtocolError, match="more than"):
        decode_report(b" " * (MAX_BODY_BYTES + 1))


def test_the_closure_digest_ignores_package_order_and_host() -> None:
    digest = closure_digest(report("web1"))
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert closure_digest(report("web2", PACKAGES[::-1])) == digest
    assert closure_digest(report("web1", [PACKAGES[1], PACKAGES[0], PACKAGES[2]])) == digest


def test_the_closure_digest_changes_with_the_packages() -> None:
    digest = closure_digest(report("web1"))
    changed = [
        PACKAGES[:-1],  # one package fewer
        [*PACKAGES, package("bash-5.2")],  # one more
        [package("openssl-3.0.14"), *PACKAGES[1:]],  # another version
        [*PACKAGES[:2], package("gcc-13.2.0")],  # runtime instead of build-time
        [PACKAGES[0], PACKAGES[0], *PACKAGES[1:]],  # a duplicate counts
    ]
    digests = [closure_digest(report("web1", packages)) for packages in changed]
    assert digest not in digests
    assert len(set(digests)) == len(changed)
