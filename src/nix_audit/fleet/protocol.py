"""What ``nix-audit report`` sends to the fleet server: one host, one closure (issue #7).

The body is JSON, optionally gzip-compressed (``Content-Encoding: gzip``). Each package is the
scanner's own :class:`~nix_audit.models.Package` as the host's sources produced it (name and
version from the derivation, CVE-named patches, source URLs), so the server's matcher sees
exactly what a local ``scan`` would, while the host needs no advisory data.

A closure's digest is a hash of its canonical package list: Nix paths are content-addressed,
so hosts deployed from the same system closure send the same digest, and the server stores
and matches that closure once.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib

import msgspec

from nix_audit.errors import NixAuditError
from nix_audit.models import Closure, IdentifiedFrom, Package

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PACKAGES",
    "HostReport",
    "ProtocolError",
    "ReportTooLarge",
    "ReportedPackage",
    "closure_digest",
    "decode_report",
    "encode_report",
    "from_package",
    "gzip_body",
    "to_package",
]

#: Limits a report must respect (issue #7, "request size limits"). A NixOS desktop closure
#: has 3,000 to 6,000 store paths, whose report is about 0.5 MB of JSON; the limits leave room
#: for a build-time closure ten times that size and no more.
MAX_BODY_BYTES = 16 * 1024 * 1024  # on the wire, compressed or not
MAX_DECODED_BYTES = 64 * 1024 * 1024  # after gzip: a small body must not inflate without end
MAX_PACKAGES = 100_000
MAX_TEXT = 4096  # any single string: a store path is at most 211 + len(store dir) bytes


class ProtocolError(NixAuditError):
    """A report that cannot be accepted: malformed, too large or inconsistent."""


class ReportTooLarge(ProtocolError):
    """A report over the size limits (answered 413)."""


class ReportedPackage(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One package of the host's closure, as the host's scanner read it."""

    name: str
    pname: str
    version: str
    store_path: str | None = None
    derivation: str | None = None
    buildtime: bool = False
    patched_cves: list[str] = msgspec.field(default_factory=list)
    source_urls: list[str] = msgspec.field(default_factory=list)
    cpes: list[str] = msgspec.field(default_factory=list)
    identified_from: str = IdentifiedFrom.DERIVATION.value


class HostReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A host's report: who it is, which system it runs, and that system's packages."""

    hostname: str
    packages: list[ReportedPackage]
    system: str | None = None  # the system's store path (/run/current-system's target)
    nixos_version: str | None = None
    closure_kind: str = "runtime"  # "runtime", or "runtime+buildtime" with --buildtime


def from_package(package: Package) -> ReportedPackage:
    """The wire form of a package the host's sources produced."""
    return ReportedPackage(
        name=package.name,
        pname=package.pname,
        version=package.version,
        store_path=package.store_path,
        derivation=package.derivation,
        buildtime=package.closure is Closure.BUILDTIME,
        patched_cves=sorted(package.patched_cves),
        source_urls=list(package.source_urls),
        cpes=list(package.cpes),
        identified_from=package.identified_from.value,
    )


def to_package(reported: ReportedPackage) -> Package:
    """The scanner's package for a reported one, for the server's matcher and triage."""
    return Package(
        name=reported.name,
        pname=reported.pname,
        version=reported.version,
        derivation=reported.derivation,
        store_path=reported.store_path,
        closure=Closure.BUILDTIME if reported.buildtime else Closure.RUNTIME,
        patched_cves=frozenset(reported.patched_cves),
        source_urls=tuple(reported.source_urls),
        cpes=tuple(reported.cpes),
        identified_from=IdentifiedFrom(reported.identified_from),
    )


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(HostReport)


def encode_report(report: HostReport) -> bytes:
    """The report's JSON body."""
    return _ENCODER.encode(report)


def decode_report(body: bytes, *, gzipped: bool = False) -> HostReport:
    """Parse and check a report body; raises :class:`ProtocolError` with a one-line reason."""
    if len(body) > MAX_BODY_BYTES:
        raise ReportTooLarge(f"report body is {len(body)} bytes, more than {MAX_BODY_BYTES}")
    if gzipped:
        body = _gunzip(body)
    try:
        report = _DECODER.decode(body)
    except msgspec.ValidationError as e:
        raise ProtocolError(f"invalid report: {e}") from e
    except msgspec.DecodeError as e:
        raise ProtocolError(f"report is not JSON: {e}") from e
    _check_limits(report)
    return report


def _gunzip(body: bytes) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_DECODED_BYTES + 1)
    except zlib.error as e:
        raise ProtocolError(f"report body is not valid gzip: {e}") from e
    if len(data) > MAX_DECODED_BYTES:
        raise ReportTooLarge(f"report inflates to more than {MAX_DECODED_BYTES} bytes")
    if not decompressor.eof:
        raise ProtocolError("report body is truncated gzip")
    if decompressor.unused_data:
        raise ProtocolError("report body has data after its gzip stream")
    return data


def _check_limits(report: HostReport) -> None:
    if len(report.packages) > MAX_PACKAGES:
        raise ReportTooLarge(
            f"report has {len(report.packages)} packages, more than {MAX_PACKAGES}"
        )
    if not report.hostname or len(report.hostname) > 253:
        raise ProtocolError("report hostname must have 1 to 253 characters")
    for item in report.packages:
        for text in (item.name, item.store_path or "", item.derivation or ""):
            if len(text) > MAX_TEXT:
                raise ProtocolError(f"report has a name or path longer than {MAX_TEXT} characters")
        try:
            IdentifiedFrom(item.identified_from)
        except ValueError:
            raise ProtocolError(
                f"package {item.name!r}: unknown identified_from {item.identified_from!r}"
            ) from None


def closure_digest(report: HostReport) -> str:
    """sha256 of the canonical (sorted, re-encoded) package list: equal closures, equal digests."""
    canonical = sorted(_ENCODER.encode(p) for p in report.packages)
    digest = hashlib.sha256()
    for item in canonical:
        digest.update(item)
        digest.update(b"\n")
    return digest.hexdigest()


def gzip_body(body: bytes) -> bytes:
    """Reports go compressed: store paths share long prefixes and compress about 5:1."""
    return gzip.compress(body, compresslevel=5)
