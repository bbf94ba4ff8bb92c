"""Host reports: the wire protocol, and storing each closure once, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Table, func, select

from nix_audit.fleet.auth import hash_token
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import closure_package_list
from nix_audit.fleet.protocol import (
    MAX_BODY_BYTES,
    MAX_DECODED_BYTES,
    MAX_PACKAGES,
    MAX_REPORT_BYTES,
    ClosureUpload,
    HostReport,
    ProtocolError,
    ReportedPackage,
    ReportTooLarge,
    closure_digest,
    decode_closure,
    decode_report,
    encode,
    from_package,
    gzip_body,
)
from nix_audit.fleet.registry import Host, HostRegistry
from nix_audit.fleet.reports import (
    ForeignHostError,
    ReportReceipt,
    Submission,
    UnknownClosureError,
    closure_known,
    record_report,
    record_reports,
    store_closure,
)
from nix_audit.fleet.tables import closure_packages, closures, hosts, reports
from nix_audit.models import Closure, IdentifiedFrom, Package


def package(
    name: str,
    *,
    buildtime: bool = False,
    patched_cves: tuple[str, ...] = (),
    source_urls: tuple[str, ...] = (),
    cpes: tuple[str, ...] = (),
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
        patched_cves=patched_cves,
        source_urls=source_urls,
        cpes=cpes,
        identified_from=identified_from.value,
    )


PACKAGES = (
    package("openssl-3.0.13", patched_cves=("CVE-2024-0727",), cpes=("cpe:2.3:a:openssl:openssl",)),
    package("zlib-1.3.1", source_urls=("https://zlib.net/zlib-1.3.1.tar.gz",)),
    package("gcc-13.2.0", buildtime=True, identified_from=IdentifiedFrom.STORE_PATH_NAME),
)
DIGEST = closure_digest(PACKAGES)
UPDATED = (*PACKAGES[:-1], package("zlib-1.3.2"))


def upload(packages: Sequence[ReportedPackage] = PACKAGES) -> ClosureUpload:
    return ClosureUpload(packages=tuple(packages))


def report(hostname: str, packages: Sequence[ReportedPackage] = PACKAGES) -> HostReport:
    return HostReport(
        hostname=hostname,
        closure=closure_digest(tuple(packages)),
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


def nothing_reported(database: FleetDatabase, registry: HostRegistry) -> bool:
    """No report row, and no host pointing at one or marked as having reported."""
    with database.reading() as c:
        current = [r.current_report_id for r in c.execute(select(hosts))]
    return (
        count(database, reports) == 0
        and all(h.last_report_at is None for h in registry.hosts())
        and all(r is None for r in current)
    )


# --- storing closures ----------------------------------------------------------------------


def test_storing_a_closure_twice_stores_it_once(fleet_database: FleetDatabase) -> None:
    assert closure_known(fleet_database, DIGEST) is False
    assert store_closure(fleet_database, DIGEST, upload()) is True
    assert closure_known(fleet_database, DIGEST) is True
    assert store_closure(fleet_database, DIGEST, upload()) is False
    # The same packages in another order have the same digest: the closure is there already.
    assert store_closure(fleet_database, DIGEST, upload(PACKAGES[::-1])) is False
    assert counts(fleet_database) == (1, len(PACKAGES), 0)
    with fleet_database.reading() as c:
        row = c.execute(select(closures)).one()
    assert (row.digest, row.package_count, row.matched_generation) == (DIGEST, len(PACKAGES), None)


def test_the_stored_closure_keeps_its_first_upload_s_packages_in_order(
    fleet_database: FleetDatabase,
) -> None:
    store_closure(fleet_database, DIGEST, upload())
    store_closure(fleet_database, DIGEST, upload(PACKAGES[::-1]))  # too late: ignored
    with fleet_database.reading() as c:
        rows = c.execute(select(closure_packages).order_by(closure_packages.c.idx)).all()
    assert [(r.idx, r.name, r.pname, r.version) for r in rows] == [
        (i, p.name, p.pname, p.version) for i, p in enumerate(PACKAGES)
    ]
    assert [r.store_path for r in rows] == [p.store_path for p in PACKAGES]
    assert [r.derivation for r in rows] == [p.derivation for p in PACKAGES]
    assert [bool(r.buildtime) for r in rows] == [False, False, True]
    assert json.loads(rows[0].patched_cves) == ["CVE-2024-0727"]
    assert json.loads(rows[0].cpes) == ["cpe:2.3:a:openssl:openssl"]
    assert json.loads(rows[1].source_urls) == ["https://zlib.net/zlib-1.3.1.tar.gz"]
    assert json.loads(rows[1].patched_cves) == []
    assert [r.identified_from for r in rows] == ["derivation", "derivation", "store-path-name"]


@pytest.mark.parametrize(
    "digest",
    [
        closure_digest(UPDATED),  # another closure's digest
        closure_digest(PACKAGES[:-1]),  # a part of this closure's
        "0" * 64,  # well-formed, but nobody's
    ],
)
def test_packages_filed_under_a_digest_they_do_not_hash_to_are_refused(
    fleet_database: FleetDatabase, digest: str
) -> None:
    with pytest.raises(ProtocolError, match=f"hash to {DIGEST}, not to {digest}"):
        store_closure(fleet_database, digest, upload())
    assert counts(fleet_database) == (0, 0, 0)
    assert closure_known(fleet_database, digest) is False
    assert closure_known(fleet_database, DIGEST) is False


def test_an_empty_closure_is_a_closure(fleet_database: FleetDatabase) -> None:
    empty = closure_digest(())
    assert store_closure(fleet_database, empty, upload(())) is True
    assert store_closure(fleet_database, empty, upload(())) is False
    assert counts(fleet_database) == (1, 0, 0)


# --- recording reports ---------------------------------------------------------------------


def test_two_hosts_with_the_same_closure_share_it(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1, web2 = new_host(registry, "web1"), new_host(registry, "web2")
    assert store_closure(fleet_database, DIGEST, upload()) is True
    first = record_report(fleet_database, web1, report("web1"), generation=None)
    assert store_closure(fleet_database, DIGEST, upload(PACKAGES[::-1])) is False
    second = record_report(fleet_database, web2, report("web2", PACKAGES[::-1]), generation=None)

    assert first == ReportReceipt(first.report_id, DIGEST, matched=False)
    assert second == ReportReceipt(second.report_id, DIGEST, matched=False)
    assert first.report_id != second.report_id
    assert counts(fleet_database) == (1, len(PACKAGES), 2)
    with fleet_database.reading() as c:
        current = {r.name: r.current_report_id for r in c.execute(select(hosts))}
        closure_id = c.execute(select(closures.c.id)).scalar_one()
        stored = [
            (r.host_id, r.closure_id, r.system, r.nixos_version, r.closure_kind)
            for r in c.execute(select(reports).order_by(reports.c.id))
        ]
    assert stored == [
        (web1.id, closure_id, report("web1").system, "24.05.1234.abcdef", "runtime"),
        (web2.id, closure_id, report("web2").system, "24.05.1234.abcdef", "runtime"),
    ]
    assert current == {"web1": first.report_id, "web2": second.report_id}
    last = {h.name: h.last_report_at for h in registry.hosts()}
    assert last["web1"] is not None and last["web2"] is not None


def test_a_different_package_list_is_a_second_closure(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1, web2 = new_host(registry, "web1"), new_host(registry, "web2")
    updated = closure_digest(UPDATED)
    assert updated != DIGEST
    assert store_closure(fleet_database, DIGEST, upload()) is True
    first = record_report(fleet_database, web1, report("web1"), generation=None)
    assert store_closure(fleet_database, updated, upload(UPDATED)) is True
    second = record_report(fleet_database, web2, report("web2", UPDATED), generation=None)
    assert (first.closure, second.closure) == (DIGEST, updated)
    assert counts(fleet_database) == (2, len(PACKAGES) + len(UPDATED), 2)

    # web1 deploys web2's closure: known already, nothing to upload.
    assert closure_known(fleet_database, updated) is True
    again = record_report(fleet_database, web1, report("web1", UPDATED), generation=None)
    assert again.closure == updated
    assert counts(fleet_database) == (2, len(PACKAGES) + len(UPDATED), 3)
    with fleet_database.reading() as c:
        current = c.execute(select(hosts.c.current_report_id).where(hosts.c.id == web1.id))
        assert current.scalar_one() == again.report_id


def test_a_report_of_an_unknown_closure_asks_for_it_and_writes_nothing(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1 = new_host(registry, "web1")
    with pytest.raises(UnknownClosureError, match=f"closure {DIGEST} is unknown") as raised:
        record_report(fleet_database, web1, report("web1"), generation="g1")
    assert raised.value.digest == DIGEST
    assert isinstance(raised.value, ProtocolError)
    assert counts(fleet_database) == (0, 0, 0)
    assert nothing_reported(fleet_database, registry)

    # Another closure being known does not make this one known.
    store_closure(fleet_database, closure_digest(UPDATED), upload(UPDATED))
    with pytest.raises(UnknownClosureError):
        record_report(fleet_database, web1, report("web1"), generation="g1")
    assert nothing_reported(fleet_database, registry)

    # Once uploaded, the same report is accepted.
    store_closure(fleet_database, DIGEST, upload())
    assert record_report(fleet_database, web1, report("web1"), generation="g1").closure == DIGEST


@pytest.mark.parametrize("stored", [True, False])
def test_a_report_for_another_host_is_refused_and_writes_nothing(
    fleet_database: FleetDatabase, registry: HostRegistry, stored: bool
) -> None:
    """Refused whether or not the closure is known: the host is checked first."""
    web1 = new_host(registry, "web1")
    new_host(registry, "web2")
    if stored:
        store_closure(fleet_database, DIGEST, upload())
    with pytest.raises(ForeignHostError, match="'web1', not to 'web2'"):
        record_report(fleet_database, web1, report("web2"), generation=None)
    assert counts(fleet_database) == ((1, len(PACKAGES), 0) if stored else (0, 0, 0))
    assert nothing_reported(fleet_database, registry)


def test_matched_only_when_the_closure_was_matched_with_this_generation(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    web1 = new_host(registry, "web1")
    store_closure(fleet_database, DIGEST, upload())
    receipt = record_report(fleet_database, web1, report("web1"), generation="g1")
    assert receipt.matched is False  # a new closure has no findings yet
    with fleet_database.writing() as c:
        c.execute(closures.update().values(matched_generation="g1"))
    assert record_report(fleet_database, web1, report("web1"), generation="g1").matched is True
    assert record_report(fleet_database, web1, report("web1"), generation="g2").matched is False
    assert record_report(fleet_database, web1, report("web1"), generation=None).matched is False


def test_hosts_uploading_the_same_new_closure_at_once_store_it_once(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    """On PostgreSQL the writers really race: the losers take the ON CONFLICT DO NOTHING path."""
    many = tuple(package(f"pkg{i}-1.{i}") for i in range(500))  # a longer insert: a wider race
    digest = closure_digest(many)
    names = [f"host{i}" for i in range(8)]
    hosts_ = [new_host(registry, name) for name in names]
    start = threading.Barrier(len(names))

    def send(host: Host) -> tuple[bool, ReportReceipt]:
        start.wait(timeout=30)
        stored = store_closure(fleet_database, digest, upload(many))
        return stored, record_report(fleet_database, host, report(host.name, many), generation=None)

    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(send, hosts_))  # re-raises the first failure

    assert sorted(stored for stored, _ in results) == [False] * (len(names) - 1) + [True]
    assert {receipt.closure for _, receipt in results} == {digest}
    assert len({receipt.report_id for _, receipt in results}) == len(names)
    assert counts(fleet_database) == (1, len(many), len(names))
    with fleet_database.reading() as c:
        assert c.execute(select(closures.c.package_count)).scalar_one() == len(many)


# --- the wire protocol ---------------------------------------------------------------------


def test_a_report_survives_encoding_and_decoding() -> None:
    original = report("web1")
    body = encode(original)
    assert len(body) < 1000  # a report names its closure; it does not carry it
    assert decode_report(body) == original
    built = HostReport("h", DIGEST, closure_kind="runtime+buildtime")
    assert decode_report(encode(built)) == built


def test_a_closure_survives_encoding_and_decoding() -> None:
    original = upload()
    body = encode(original)
    assert decode_closure(body) == original
    assert decode_closure(gzip_body(body), gzipped=True) == original
    assert decode_closure(gzip.compress(body, compresslevel=9), gzipped=True) == original
    assert closure_digest(decode_closure(body).packages) == DIGEST


def test_a_package_survives_the_trip_from_the_host_s_scanner_to_the_server_s(
    fleet_database: FleetDatabase,
) -> None:
    scanned = Package(
        name="openssl-3.0.13",
        pname="openssl",
        version="3.0.13",
        derivation=f"/nix/store/{'b' * 32}-openssl-3.0.13.drv",
        store_path=f"/nix/store/{'a' * 32}-openssl-3.0.13",
        closure=Closure.BUILDTIME,
        patched_cves=frozenset({"CVE-2024-0727", "CVE-2023-5678"}),
        cpes=("cpe:2.3:a:openssl:openssl",),
        source_urls=("https://www.openssl.org/source/openssl-3.0.13.tar.gz",),
        identified_from=IdentifiedFrom.STORE_PATH_NAME,
    )
    sent = from_package(scanned)
    assert sent.patched_cves == ("CVE-2023-5678", "CVE-2024-0727")  # sorted: one encoding
    received = decode_closure(encode(ClosureUpload((sent,)))).packages
    digest = closure_digest(received)
    assert store_closure(fleet_database, digest, ClosureUpload(received))
    with fleet_database.reading() as c:
        closure_id = c.execute(select(closures.c.id).where(closures.c.digest == digest)).scalar()
        assert closure_id is not None
        assert closure_package_list(c, closure_id) == [(0, scanned)]  # what the matcher gets


def test_defaults_are_filled_in_and_omitted_on_the_wire() -> None:
    report_ = decode_report(f'{{"hostname":"h","closure":"{DIGEST}"}}'.encode())
    assert report_ == HostReport(hostname="h", closure=DIGEST)
    assert (report_.system, report_.nixos_version, report_.closure_kind) == (None, None, "runtime")

    decoded = decode_closure(b'{"packages":[{"name":"a-1","pname":"a","version":"1"}]}')
    assert decoded.packages == (ReportedPackage(name="a-1", pname="a", version="1"),)
    (only,) = decoded.packages
    assert (only.identified_from, only.buildtime, only.patched_cves) == ("derivation", False, ())
    assert encode(decoded) == b'{"packages":[{"name":"a-1","pname":"a","version":"1"}]}'


def test_defaults_sent_explicitly_do_not_change_the_digest() -> None:
    explicit = json.dumps(
        {
            "packages": [
                {
                    "name": "a-1",
                    "pname": "a",
                    "version": "1",
                    "store_path": None,
                    "buildtime": False,
                    "patched_cves": [],
                    "identified_from": "derivation",
                }
            ]
        }
    ).encode()
    implicit = b'{"packages":[{"name":"a-1","pname":"a","version":"1"}]}'
    assert closure_digest(decode_closure(explicit).packages) == closure_digest(
        decode_closure(implicit).packages
    )


def test_a_gzip_bomb_is_refused() -> None:
    # A valid closure followed by whitespace (still valid JSON) inflating past the limit: only
    # the inflation limit can refuse it.
    padding = b" " * (MAX_DECODED_BYTES + 1)
    bomb = gzip.compress(encode(upload()) + padding, compresslevel=9)
    assert len(bomb) < 100_000 < MAX_BODY_BYTES  # small on the wire
    with pytest.raises(ReportTooLarge, match="inflates to more than"):
        decode_closure(bomb, gzipped=True)


def test_a_closure_just_under_the_inflation_limit_is_accepted() -> None:
    body = encode(upload())
    padded = gzip.compress(body + b" " * (MAX_DECODED_BYTES - len(body)), compresslevel=9)
    assert decode_closure(padded, gzipped=True) == upload()


@pytest.mark.parametrize("keep", [0.5, -4])
def test_truncated_gzip_is_refused(keep: float) -> None:
    body = gzip_body(encode(upload()))
    cut = body[: int(len(body) * keep)] if isinstance(keep, float) else body[:keep]
    with pytest.raises(ProtocolError, match="truncated gzip") as raised:
        decode_closure(cut, gzipped=True)
    assert not isinstance(raised.value, ReportTooLarge)


@pytest.mark.parametrize(
    "trailer",
    [b"x", b"\0" * 16, gzip_body(b"{}")],  # garbage, padding, a second gzip member
)
def test_data_after_the_gzip_stream_is_refused(trailer: bytes) -> None:
    body = gzip_body(encode(upload())) + trailer
    with pytest.raises(ProtocolError, match="data after its gzip stream") as raised:
        decode_closure(body, gzipped=True)
    assert not isinstance(raised.value, ReportTooLarge)


def test_a_body_that_is_not_gzip_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not valid gzip"):
        decode_closure(encode(upload()), gzipped=True)


def test_a_gzipped_closure_sent_as_plain_json_is_refused() -> None:
    with pytest.raises(ProtocolError, match="closure is not JSON"):
        decode_closure(gzip_body(encode(upload())))


def test_a_report_is_never_gzip() -> None:
    with pytest.raises(ProtocolError, match="report is not JSON"):
        decode_report(gzip_body(encode(report("web1"))))


@pytest.mark.parametrize(
    "document",
    [
        {"hostname": "h", "closure": DIGEST, "admin": True},
        # A report in the old, one-request form: its packages are not part of a report now.
        {"hostname": "h", "closure": DIGEST, "packages": []},
    ],
)
def test_unknown_report_fields_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ProtocolError, match="invalid report: Object contains unknown field"):
        decode_report(json.dumps(document).encode())


@pytest.mark.parametrize(
    "document",
    [
        {"packages": [], "admin": True},
        {"packages": [{"name": "a-1", "pname": "a", "version": "1", "x": 1}]},
    ],
)
def test_unknown_closure_fields_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ProtocolError, match="invalid closure: Object contains unknown field"):
        decode_closure(json.dumps(document).encode())


def report_json(**fields: object) -> bytes:
    return json.dumps({"hostname": "h", "closure": DIGEST, **fields}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "report is not JSON"),
        (json.dumps({"closure": DIGEST}).encode(), r"missing required field `hostname`"),
        (json.dumps({"hostname": "h"}).encode(), r"missing required field `closure`"),
        (report_json(hostname=""), r"length >= 1 - at `\$.hostname`"),
        (report_json(hostname="h" * 254), r"length <= 253 - at `\$.hostname`"),
        (report_json(closure=DIGEST.upper()), r"regex .* at `\$.closure`"),
        (report_json(closure=DIGEST[:-1]), r"regex .* at `\$.closure`"),
        (report_json(closure=DIGEST + "0"), r"regex .* at `\$.closure`"),
        (report_json(closure_kind="buildtime"), r"Invalid enum value 'buildtime'"),
        (report_json(nixos_version="2" * 101), r"length <= 100 - at `\$.nixos_version`"),
        (report_json(system="/" * 4097), r"length <= 4096 - at `\$.system`"),
        (report_json(hostname=1), r"Expected `str`, got `int`"),
    ],
)
def test_malformed_reports_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as raised:
        decode_report(body)
    assert not isinstance(raised.value, ReportTooLarge)


def closure_json(**fields: object) -> bytes:
    return json.dumps(
        {"packages": [{"name": "a-1", "pname": "a", "version": "1", **fields}]}
    ).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "closure is not JSON"),
        (b"{}", "missing required field `packages`"),
        (b'{"packages": [{"name": "a"}]}', "missing required field `pname`"),
        (b'{"packages": {}}', r"Expected `array`, got `object`"),
        (closure_json(identified_from="guesswork"), r"Invalid enum value 'guesswork'"),
        (closure_json(name="a" * 4097), r"length <= 4096 - at `\$.packages\[0\].name`"),
        (closure_json(derivation="/" * 4097), r"length <= 4096 - at `\$.packages\[0\].deriv"),
        (closure_json(cpes=["c" * 4097]), r"length <= 4096 - at `\$.packages\[0\].cpes\[0\]`"),
        (closure_json(patched_cves=["CVE"] * 1001), r"length <= 1000 - at `\$.packages\[0\]"),
        (closure_json(buildtime="yes"), r"Expected `bool`, got `str`"),
    ],
)
def test_malformed_closures_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as raised:
        decode_closure(body)
    assert not isinstance(raised.value, ReportTooLarge)


def test_the_text_limits_are_accepted() -> None:
    at_limit = closure_json(name="a" * 4096, patched_cves=["CVE"] * 1000)
    (only,) = decode_closure(at_limit).packages
    assert (len(only.name), len(only.patched_cves)) == (4096, 1000)
    limits = report_json(hostname="h" * 253, nixos_version="2" * 100, system="/" * 4096)
    assert len(decode_report(limits).hostname) == 253


def test_too_many_packages_are_refused_and_the_limit_is_accepted() -> None:
    item = b'{"name":"a-1","pname":"a","version":"1"}'

    def body(n: int) -> bytes:
        return b'{"packages":[' + b",".join([item] * n) + b"]}"

    assert len(decode_closure(body(MAX_PACKAGES)).packages) == MAX_PACKAGES
    with pytest.raises(ReportTooLarge, match=f"closure has more than {MAX_PACKAGES} packages"):
        decode_closure(body(MAX_PACKAGES + 1))
    with pytest.raises(ReportTooLarge, match=f"more than {MAX_PACKAGES} packages"):
        decode_closure(gzip_body(body(MAX_PACKAGES + 1)), gzipped=True)


def test_oversized_bodies_are_refused_before_parsing() -> None:
    with pytest.raises(ReportTooLarge, match=f"more than {MAX_REPORT_BYTES}"):
        decode_report(b" " * (MAX_REPORT_BYTES + 1))
    padded = encode(report("web1"))
    padded += b" " * (MAX_REPORT_BYTES - len(padded))
    assert decode_report(padded) == report("web1")
    with pytest.raises(ReportTooLarge, match=f"more than {MAX_BODY_BYTES}"):
        decode_closure(b" " * (MAX_BODY_BYTES + 1))
    # The wire limit holds for compressed bodies too, before anything is inflated.
    with pytest.raises(ReportTooLarge, match=f"more than {MAX_BODY_BYTES}"):
        decode_closure(b"\x1f\x8b" + b" " * MAX_BODY_BYTES, gzipped=True)


def test_the_closure_digest_ignores_package_order() -> None:
    assert len(DIGEST) == 64 and int(DIGEST, 16) >= 0
    assert closure_digest(PACKAGES[::-1]) == DIGEST
    assert closure_digest([PACKAGES[1], PACKAGES[0], PACKAGES[2]]) == DIGEST
    assert closure_digest(list(PACKAGES)) == DIGEST  # a list or a tuple
    assert report("web1").closure == report("web2", PACKAGES[::-1]).closure == DIGEST


def test_the_closure_digest_changes_with_the_packages() -> None:
    changed = [
        PACKAGES[:-1],  # one package fewer
        (*PACKAGES, package("bash-5.2")),  # one more
        (package("openssl-3.0.14"), *PACKAGES[1:]),  # another version
        (*PACKAGES[:2], package("gcc-13.2.0")),  # runtime instead of build-time
        (PACKAGES[0], PACKAGES[0], *PACKAGES[1:]),  # a duplicate counts
        (package("openssl-3.0.13", cpes=PACKAGES[0].cpes), *PACKAGES[1:]),  # a patch fewer
        (),  # none
    ]
    digests = [closure_digest(packages) for packages in changed]
    assert DIGEST not in digests
    assert len(set(digests)) == len(changed)


def test_text_of_a_client_cannot_pass_for_the_package_limit() -> None:
    forged = b'{"packages":[],"length <= 100000":1}'
    with pytest.raises(ProtocolError) as raised:
        decode_closure(forged)
    assert not isinstance(raised.value, ReportTooLarge)


def test_a_batch_answers_each_report_and_writes_only_the_accepted(
    fleet_database: FleetDatabase, registry: HostRegistry
) -> None:
    tokens = {name: registry.add_host(name) for name in ("web1", "web2", "web3")}
    store_closure(fleet_database, DIGEST, upload())
    unknown = report("web3", UPDATED)
    batch = [
        Submission(hash_token(tokens["web1"]), report("web1")),
        Submission(hash_token("nixaudit_not-a-token"), report("web1")),
        Submission(hash_token(tokens["web2"]), report("web1")),  # another host's name
        Submission(hash_token(tokens["web3"]), unknown),
        Submission(hash_token(tokens["web2"]), report("web2")),
    ]
    outcomes = record_reports(fleet_database, batch, generation=None)
    assert [type(o).__name__ for o in outcomes] == [
        "ReportReceipt",
        "InvalidTokenError",
        "ForeignHostError",
        "UnknownClosureError",
        "ReportReceipt",
    ]
    first, last = outcomes[0], outcomes[4]
    assert isinstance(first, ReportReceipt) and isinstance(last, ReportReceipt)
    assert last.report_id == first.report_id + 1
    assert count(fleet_database, reports) == 2
    with fleet_database.reading() as c:
        current = dict(c.execute(select(hosts.c.name, hosts.c.current_report_id)).all())
    assert current == {"web1": first.report_id, "web2": last.report_id, "web3": None}
