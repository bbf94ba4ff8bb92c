"""What ``nix-audit report`` sends to the fleet server (issue #7), in two parts.

1. ``POST /api/v1/reports`` with a :class:`HostReport`: who the host is, which system it runs,
   and the *digest* of its closure. A few hundred bytes.
2. Only when the server answers 409 (it has never seen that closure):
   ``PUT /api/v1/closures/<digest>`` with a :class:`ClosureUpload`, the closure's packages
   (gzip-compressed JSON), then the report again.

Nix paths are content-addressed, so hosts deployed from one system closure have one digest:
the server receives, stores and matches each closure once, and the daily report of a host
whose closure did not change costs one small request. Each package is the scanner's own
:class:`~nix_audit.models.Package` as the host's sources read it (name and version from the
derivation, CVE-named patches, source URLs), so the server's matcher sees exactly what a local
``scan`` would, while the host needs no advisory data.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta

from nix_audit.errors import NixAuditError
from nix_audit.models import Closure, Package

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "MAX_PACKAGES",
    "MAX_REPORT_BYTES",
    "ClosureUpload",
    "HostReport",
    "ProtocolError",
    "ReportTooLarge",
    "ReportedPackage",
    "closure_digest",
    "decode_closure",
    "decode_report",
    "encode",
    "from_package",
    "gzip_body",
]

#: Limits (issue #7, "request size limits"). A NixOS desktop closure has 3,000 to 6,000 store
#: paths, about 0.5 MB of JSON; the limits leave room for a build-time closure ten times that.
MAX_BODY_BYTES = 16 * 1024 * 1024  # a closure upload on the wire, compressed or not
MAX_DECODED_BYTES = 64 * 1024 * 1024  # after gzip: a small body must not inflate without end
MAX_REPORT_BYTES = 64 * 1024  # a report is a few hundred bytes
MAX_PACKAGES = 100_000

_Text = Annotated[str, Meta(max_length=4096)]  # a store path is at most 211 + store dir bytes
_Texts = Annotated[tuple[_Text, ...], Meta(max_length=1000)]
_Digest = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
_T = TypeVar("_T")
_IdentifiedFrom = Literal["derivation", "store-path-name", "metadata"]


class ProtocolError(NixAuditError):
    """A report or upload that cannot be accepted: malformed, too large or inconsistent."""


class ReportTooLarge(ProtocolError):
    """A body over the size limits (answered 413)."""


# gc=False and tuples: a closure upload is 3,000 structs of strings, which cannot form cycles;
# tracked by the cyclic collector, they cost more to collect than to decode (bench/fleet).
class ReportedPackage(
    msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True, gc=False
):
    """One package of the host's closure, as the host's scanner read it."""

    name: _Text
    pname: _Text
    version: _Text
    store_path: _Text | None = None
    derivation: _Text | None = None
    buildtime: bool = False
    patched_cves: _Texts = ()
    source_urls: _Texts = ()
    cpes: _Texts = ()
    identified_from: _IdentifiedFrom = "derivation"


class ClosureUpload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A closure's packages (``PUT /api/v1/closures/<digest>``)."""

    packages: Annotated[tuple[ReportedPackage, ...], Meta(max_length=MAX_PACKAGES)]


class HostReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A host's report (``POST /api/v1/reports``): who, which system, which closure."""

    hostname: Annotated[str, Meta(min_length=1, max_length=253)]
    closure: _Digest  # closure_digest of its packages
    system: _Text | None = None  # the system's store path (/run/current-system's target)
    nixos_version: Annotated[str, Meta(max_length=100)] | None = None
    closure_kind: Literal["runtime", "runtime+buildtime"] = "runtime"


def from_package(package: Package) -> ReportedPackage:
    """The wire form of a package the host's sources produced."""
    return ReportedPackage(
        name=package.name,
        pname=package.pname,
        version=package.version,
        store_path=package.store_path,
        derivation=package.derivation,
        buildtime=package.closure is Closure.BUILDTIME,
        patched_cves=tuple(sorted(package.patched_cves)),
        source_urls=package.source_urls,
        cpes=package.cpes,
        identified_from=package.identified_from.value,
    )


_ENCODER = msgspec.json.Encoder()
_TOO_MANY = f"Expected `array` of length <= {MAX_PACKAGES} - at `$.packages`"
_REPORT = msgspec.json.Decoder(HostReport)
_CLOSURE = msgspec.json.Decoder(ClosureUpload)


def encode(message: HostReport | ClosureUpload) -> bytes:
    """A message's JSON body."""
    return _ENCODER.encode(message)


def decode_report(body: bytes) -> HostReport:
    """Parse and check a report; raises :class:`ProtocolError` with a one-line reason."""
    if len(body) > MAX_REPORT_BYTES:
        raise ReportTooLarge(f"report is {len(body)} bytes, more than {MAX_REPORT_BYTES}")
    return _decode(_REPORT, body, "report")


def decode_closure(body: bytes, *, gzipped: bool = False) -> ClosureUpload:
    """Parse and check a closure upload (maybe gzip-compressed)."""
    if len(body) > MAX_BODY_BYTES:
        raise ReportTooLarge(f"closure is {len(body)} bytes, more than {MAX_BODY_BYTES}")
    return _decode(_CLOSURE, _gunzip(body) if gzipped else body, "closure")


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes, what: str) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        if str(e) == _TOO_MANY:  # the whole message: a client's text cannot forge it
            raise ReportTooLarge(f"{what} has more than {MAX_PACKAGES} packages") from e
        raise ProtocolError(f"invalid {what}: {e}") from e
    except msgspec.DecodeError as e:
        raise ProtocolError(f"{what} is not JSON: {e}") from e


def _gunzip(body: bytes) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, MAX_DECODED_BYTES + 1)
    except zlib.error as e:
        raise ProtocolError(f"body is not valid gzip: {e}") from e
    if len(data) > MAX_DECODED_BYTES:
        raise ReportTooLarge(f"body inflates to more than {MAX_DECODED_BYTES} bytes")
    if not decompressor.eof:
        raise ProtocolError("body is truncated gzip")
    if decompressor.unused_data:
        raise ProtocolError("body has data after its gzip stream")
    return data


def closure_digest(packages: tuple[ReportedPackage, ...] | list[ReportedPackage]) -> str:
    """sha256 of the canonical (sorted, re-encoded) package list: equal closures, equal digests."""
    digest = hashlib.sha256()
    for item in sorted(_ENCODER.encode(p) for p in packages):
        digest.update(item)
        digest.update(b"\n")
    return digest.hexdigest()


def gzip_body(body: bytes) -> bytes:
    """Closures go compressed: store paths share long prefixes and compress about 5:1."""
    return gzip.compress(body, compresslevel=5)
