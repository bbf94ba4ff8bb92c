"""Streaming decoder of NVD JSON 2.0 feed files (``nvdcve-2.0-<name>.json.gz``).

A yearly feed is up to ~80 MB of JSON; the whole corpus 1.08 GB. The decoder never holds a
feed in memory: it inflates the gzip stream in bounded pieces, cuts the ``vulnerabilities``
array into batches of whole elements with ``bytes.rfind`` (no per-character Python loop) and
decodes each batch with one ``msgspec`` call into Structs that declare only the fields
nix-audit uses (unknown fields are skipped inside msgspec's C code).

Cutting relies on two facts of the NVD CVE API 2.0 schema: the key ``"cve"`` occurs only as
the wrapper of an array element (``{"cve": {...}}``), and a JSON string cannot contain an
unescaped ``"``, so ``"cve"`` followed by ``:`` is always that key, never text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import msgspec

from nix_audit.advisories._feed_json import (
    FeedHeaderJson,
    JsonCve,
    JsonElement,
    JsonTail,
    details_of,
)
from nix_audit.advisories.envelope import (
    UNBOUNDED,
    Envelope,
    entry_envelope,
    merge_envelopes,
)
from nix_audit.advisories.platform_text import foreign_platform
from nix_audit.errors import FeedError
from nix_audit.models import AdvisoryDetails, AdvisoryRecord, Configuration

__all__ = [
    "FeedHeader",
    "FeedReader",
    "FeedRecord",
    "cpe_fields",
    "iter_feed_records",
    "vulnerable_products",
]

# Compressed bytes read at a time, and the most inflated bytes produced per step: NVD feeds
# inflate ~11x, so a step is a few MB of JSON; the cap also defuses a gzip bomb.
_READ_SIZE = 128 * 1024
_MAX_PIECE = 2 * 1024 * 1024
# The header (resultsPerPage .. timestamp) is ~200 bytes; allow generous whitespace.
_MAX_HEADER = 64 * 1024
_ARRAY_KEY = re.compile(rb'"vulnerabilities"\s*:\s*\[')
_KEY_COLON = re.compile(rb"\s*:")
_CVE_KEY = b'"cve"'
# In the CPE 2.3 formatted string binding (NISTIR 7695, 6.2) "\" quotes the next character.
_UNQUOTE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class FeedHeader:
    """The top-level fields of a feed, before its ``vulnerabilities`` array."""

    format: str
    version: str
    timestamp: str | None
    total_results: int | None


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One decoded CVE: what the matcher needs, what reports need, and its index keys.

    ``products`` holds the lower-cased, unquoted (vendor, product) pairs of the CPE criteria
    marked ``vulnerable: true``; platform entries (``vulnerable: false``) are not products
    the CVE affects (NVD CVE API 2.0, "configurations").
    """

    record: AdvisoryRecord
    details: AdvisoryDetails
    products: dict[tuple[str, str], Envelope]  # (vendor, product) -> version envelope

    @property
    def cve_id(self) -> str:
        """The CVE id (``CVE-2014-0160``)."""
        return self.record.cve_id

    @property
    def last_modified(self) -> str:
        """The record's ``lastModified`` (``2019-12-17T15:25:27.643``)."""
        return self.details.last_modified

    @property
    def rejected(self) -> bool:
        """True for ``vulnStatus: Rejected``: the CVE was withdrawn and leaves the index."""
        return self.details.status == "Rejected"


def cpe_fields(criteria: str, maxsplit: int = -1) -> list[str]:
    """Split a CPE 2.3 formatted string at its unquoted ``:`` (NISTIR 7695, 6.2).

    Fields keep their quoting (``visual_c\\+\\+``): a quoted ``\\:`` does not split.
    ``maxsplit`` as for ``str.split``.
    """
    if "\\" not in criteria:
        return criteria.split(":", maxsplit)
    # Hide quoted backslashes, then quoted colons, from split() and put them back after.
    hidden = criteria.replace("\\\\", "\x00").replace("\\:", "\x01")
    return [f.replace("\x01", "\\:").replace("\x00", "\\\\") for f in hidden.split(":", maxsplit)]


def _unquote(value: str) -> str:
    return _UNQUOTE.sub(r"\1", value) if "\\" in value else value


def vulnerable_products(
    configurations: tuple[Configuration, ...],
) -> dict[tuple[str, str], Envelope]:
    """The (vendor, product) pairs of the vulnerable criteria, lower-cased and unquoted, each
    with the version envelope of its entries (``envelope``).

    ``cpe:2.3:part:vendor:product:version:update:...``: fields 3 to 6 of the formatted string.
    """
    found: dict[tuple[str, str], Envelope | None] = {}
    for configuration in configurations:
        for node in configuration.nodes:
            for match in node.matches:
                if not match.vulnerable:
                    continue
                # Only part .. update are needed: stop splitting after them.
                fields = cpe_fields(match.criteria, 7)
                if len(fields) < 7 or not fields[4]:
                    continue
                pair = (_unquote(fields[3]).lower(), _unquote(fields[4]).lower())
                entry = entry_envelope(match, _unquote(fields[5]), _unquote(fields[6]))
                if entry is not None:
                    known = found.get(pair)
                    found[pair] = entry if known is None else merge_envelopes(known, entry)
                else:
                    found.setdefault(pair, None)
    # A product named only with NA and no bounds holds no version; kept, unbounded, so that
    # the posting list stays the list of every vulnerable product.
    return {pair: envelope or UNBOUNDED for pair, envelope in found.items()}


def _record_of(cve: JsonCve) -> FeedRecord:
    # msgspec converts the decoded tree into the array_like model Structs in C: the JSON
    # Structs carry the model's attribute names (see _feed_json), so from_attributes applies.
    configurations = msgspec.convert(
        cve.configurations, tuple[Configuration, ...], from_attributes=True
    )
    details = details_of(cve)
    return FeedRecord(
        record=AdvisoryRecord(
            cve.id, configurations, platform=foreign_platform(details.description, configurations)
        ),
        details=details,
        products=vulnerable_products(configurations),
    )


class FeedReader:
    """An open feed file: ``header`` is read on opening, iterating yields its records.

    Every problem (unreadable file, not gzip, truncated, not an NVD JSON 2.0 feed, invalid
    JSON, a record without ``id``) raises ``FeedError("<path>: <problem>")``.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            self._file: BinaryIO = path.open("rb")
        except OSError as e:
            raise FeedError(f"{path}: cannot read feed: {e.strerror or e}") from e
        self._pieces = self._inflate()
        self._buffer = b""
        self._count = 0
        self._batch_decoder = msgspec.json.Decoder(list[JsonElement])
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    @property
    def records_read(self) -> int:
        """How many records iteration has produced so far."""
        return self._count

    def close(self) -> None:
        """Close the file (iteration stops)."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[FeedRecord]:
        for batch in self._batches():
            for element in batch:
                self._count += 1
                yield _record_of(element.cve)

    def _fail(self, problem: str) -> FeedError:
        return FeedError(f"{self._path}: {problem}".replace("\n", " "))

    def _inflate(self) -> Iterator[bytes]:
        """The decompressed stream in pieces of at most ``_MAX_PIECE`` bytes."""
        inflater = zlib.decompressobj(wbits=31)  # 31: gzip wrapper only (RFC 1952)
        started = False
        while chunk := self._file.read(_READ_SIZE):
            data = chunk
            while data:
                try:
                    piece = inflater.decompress(data, _MAX_PIECE)
                except zlib.error as e:
                    if not started:
                        raise self._fail(f"not gzip data (starts with {chunk[:16]!r})") from e
                    raise self._fail(f"corrupt gzip data: {e}") from e
                started = True
                if piece:
                    yield piece
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:
                    # Concatenated gzip members form one stream (RFC 1952, 2.2).
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
        if not started:
            raise self._fail("empty file, expected a gzip-compressed feed")
        if not inflater.eof:
            raise self._fail("truncated gzip data (incomplete download?)")

    def _read_header(self) -> FeedHeader:
        found = None
        while found is None:
            found = _ARRAY_KEY.search(self._buffer)
            if found is None:
                if len(self._buffer) > _MAX_HEADER:
                    raise self._fail("no 'vulnerabilities' array near the start: not an NVD feed")
                piece = next(self._pieces, None)
                if piece is None:
                    raise self._fail("no 'vulnerabilities' array: not an NVD JSON 2.0 feed")
                self._buffer += piece
        # The top-level keys before the array, closed into an object of their own.
        head = self._buffer[: found.start()] + b'"vulnerabilities": []}'
        self._buffer = self._buffer[found.end() :]
        try:
            raw = msgspec.json.decode(head, type=FeedHeaderJson)
        except msgspec.DecodeError as e:
            raise self._fail(f"invalid feed header: {e}") from e
        # NVD CVE API 2.0 feeds say format "NVD_CVE", version "2.0"; 1.1 feeds had other keys.
        if raw.format != "NVD_CVE" or not raw.version.startswith("2."):
            raise self._fail(
                f"not an NVD JSON 2.0 feed (format {raw.format!r}, version {raw.version!r})"
            )
        return FeedHeader(raw.format, raw.version, raw.timestamp, raw.totalResults)

    def _split_point(self) -> int:
        """Offset of the ``,`` after the last complete element in the buffer, or -1."""
        buffer = self._buffer
        end = len(buffer)
        while (key := buffer.rfind(_CVE_KEY, 0, end)) > 0:
            end = key
            if not _KEY_COLON.match(buffer, key + len(_CVE_KEY)):
                continue  # "cve" as a string value, not the element key
            opener = buffer.rfind(b"{", 0, key)
            comma = buffer.rfind(b",", 0, opener) if opener > 0 else -1
            if comma < 0:
                return -1  # the first element in the buffer: nothing complete before it
            if buffer[opener + 1 : key].strip() or buffer[comma + 1 : opener].strip():
                raise self._fail(f"unexpected JSON around record {self._count + 1}")
            return comma
        return -1

    def _batches(self) -> Iterator[list[JsonElement]]:
        for piece in self._pieces:
            self._buffer += piece
            cut = self._split_point()
            if cut < 0:
                continue
            batch, self._buffer = self._buffer[:cut], self._buffer[cut + 1 :]
            yield self._decode(b"[" + batch + b"]")
        # The rest is the last elements, "]" and the end of the top-level object.
        rest = b'{"vulnerabilities": [' + self._buffer
        self._buffer = b""
        try:
            tail = msgspec.json.decode(rest, type=JsonTail)
        except msgspec.DecodeError as e:
            raise self._fail(f"invalid JSON after record {self._count}: {e}") from e
        yield tail.vulnerabilities

    def _decode(self, batch: bytes) -> list[JsonElement]:
        try:
            return self._batch_decoder.decode(batch)
        except msgspec.DecodeError as e:
            raise self._fail(f"invalid JSON after record {self._count}: {e}") from e


def iter_feed_records(path: Path) -> Iterator[FeedRecord]:
    """Every record of the feed file ``path``, decoded as it streams in.

    Raises ``FeedError`` naming ``path`` on any problem (see ``FeedReader``). Use
    ``FeedReader`` directly to also see the feed header (its ``timestamp``).
    """
    with FeedReader(path) as reader:
        yield from reader
