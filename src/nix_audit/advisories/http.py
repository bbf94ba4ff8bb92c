"""The one place nix-audit configures httpx: timeouts, size limits, streaming to disk.

Every download is bounded three ways, so a hostile or broken server can neither hang an
update nor fill the disk:

* a per-read timeout (``timeout``): a server that sends no byte for that long fails;
* a total-time bound (``total_timeout``): a server that trickles bytes forever fails;
* a size bound (``max_bytes``): announced by ``Content-Length`` or counted while reading.

A body shorter than its ``Content-Length`` (a dropped connection) is an error, never a
short file: files are written to a temporary name beside the destination and renamed into
place only once complete (``os.replace`` is atomic within one filesystem), and the
temporary file is deleted on any failure.

Every failure raises :class:`~nix_audit.errors.FeedError` with one line naming the URL and
the problem; httpx's exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from nix_audit import __version__
from nix_audit.errors import FeedError

__all__ = [
    "FEED_MAX_BYTES",
    "FEED_TOTAL_TIMEOUT",
    "TEXT_MAX_BYTES",
    "TEXT_TOTAL_TIMEOUT",
    "USER_AGENT",
    "Download",
    "LazyClient",
    "download_text",
    "download_to",
    "http_client",
    "translated_errors",
]

_MIB = 1024 * 1024

# The largest NVD 2.0 yearly feed is about 25 MiB compressed (2024, 2025); 512 MiB leaves
# room for growth and for mirrors that bundle more, while still stopping a runaway body.
FEED_MAX_BYTES = 512 * _MIB
# Whitelists are small hand-written files; 16 MiB is far beyond any real one.
TEXT_MAX_BYTES = 16 * _MIB
# Seconds one feed file may take in total: 25 MiB at 256 kbit/s still fits.
FEED_TOTAL_TIMEOUT = 900.0
TEXT_TOTAL_TIMEOUT = 120.0

USER_AGENT = f"nix-audit/{__version__}"

# 200 OK and 203 Non-Authoritative Information (a transforming proxy) carry the full body
# (RFC 9110, 15.3.1 and 15.3.4); 304 answers a conditional request (RFC 9110, 15.4.5).
_OK_STATUSES = frozenset({200, 203})
_NOT_MODIFIED = 304


@dataclass(frozen=True, slots=True)
class Download:
    """What one ``download_to`` call produced: ``path`` is None when the server said 304."""

    url: str
    status: int
    path: Path | None
    size: int
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304 Not Modified and nothing was written."""
        return self.status == _NOT_MODIFIED


@dataclass(frozen=True, slots=True)
class _Limits:
    """The bounds of one download, carried together into the streaming loop."""

    max_bytes: int
    total_timeout: float
    deadline: float  # time.monotonic() value after which the download fails


def http_client(timeout: float = 30.0) -> httpx.Client:
    """An httpx client with nix-audit's settings; the caller closes it (or uses ``with``).

    ``timeout`` bounds connecting and each read or write. ``Accept-Encoding: identity`` asks
    servers for the bytes as stored: feeds are already ``.json.gz`` files, and a server that
    gzips them again, or a client that silently un-gzips a ``Content-Encoding: gzip``
    answer, would change what lands on disk.
    """
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def download_to(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = FEED_MAX_BYTES,
    total_timeout: float = FEED_TOTAL_TIMEOUT,
) -> Download:
    """GET ``url`` and save the body, byte for byte as served, to ``dest``.

    ``headers`` may carry ``If-None-Match`` / ``If-Modified-Since``; a 304 answer writes
    nothing and returns a ``Download`` with ``path=None``. Any other status than 200, 203 or
    304 raises ``FeedError`` (``HTTP 403 Forbidden``). ``dest`` appears only when complete.
    """
    limits = _Limits(max_bytes, total_timeout, time.monotonic() + total_timeout)
    with (
        translated_errors(url, _read_timeout(client)),
        client.stream("GET", url, headers=headers) as response,
    ):
        _check_status(response, url, allow_not_modified=True)
        if response.status_code == _NOT_MODIFIED:
            return _summary(url, response, None, 0)
        size = _save(response, url, dest, limits)
        return _summary(url, response, dest, size)


def download_text(
    url: str,
    *,
    timeout: float = 30.0,
    max_bytes: int = TEXT_MAX_BYTES,
    total_timeout: float = TEXT_TOTAL_TIMEOUT,
) -> str:
    """The text at an ``http://``, ``https://`` or ``file://`` URL (a whitelist, say).

    The body is decoded with the charset the server names, else UTF-8 (a leading BOM is
    dropped). Unlike feeds, text may come with ``Content-Encoding: gzip``; ``max_bytes``
    then bounds the decoded size, which also stops a compression bomb.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return _decode(url, _read_file_url(url, max_bytes), None)
    if scheme not in ("http", "https"):
        raise FeedError(f"{url}: unsupported URL scheme (expected http, https or file)")
    limits = _Limits(max_bytes, total_timeout, time.monotonic() + total_timeout)
    body = bytearray()
    with (
        http_client(timeout) as client,
        translated_errors(url, timeout),
        client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response,
    ):
        _check_status(response, url, allow_not_modified=False)
        _stream_body(response, url, body.extend, limits, raw=False)
        charset = response.charset_encoding
    return _decode(url, bytes(body), charset)


# --- internals ------------------------------------------------------------------------------


def _read_timeout(client: httpx.Client) -> float | None:
    """The client's read timeout, for the "timed out after N s" message."""
    return client.timeout.read


@contextmanager
def translated_errors(url: str, timeout: float | None) -> Iterator[None]:
    """Turn httpx's exceptions into one-line ``FeedError``s that name ``url``."""
    try:
        yield
    except httpx.TimeoutException as e:
        after = "" if timeout is None else f" after {timeout:g} s"
        raise FeedError(f"{url}: timed out{after}") from e
    except httpx.TooManyRedirects as e:
        raise FeedError(f"{url}: too many redirects") from e
    except httpx.UnsupportedProtocol as e:
        raise FeedError(f"{url}: unsupported URL ({_one_line(e)})") from e
    except httpx.ConnectError as e:
        raise FeedError(f"{url}: cannot connect ({_one_line(e)})") from e
    except httpx.HTTPError as e:
        raise FeedError(f"{url}: {type(e).__name__} ({_one_line(e)})") from e
    except httpx.InvalidURL as e:  # not an HTTPError subclass in httpx
        raise FeedError(f"{url}: invalid URL ({_one_line(e)})") from e


def _one_line(error: BaseException) -> str:
    """An exception's message squeezed onto one line (errors are shown as one line)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _check_status(response: httpx.Response, url: str, *, allow_not_modified: bool) -> None:
    """Raise ``FeedError("<url>: HTTP 403 Forbidden")`` unless the status carries a body."""
    status = response.status_code
    if status in _OK_STATUSES or (allow_not_modified and status == _NOT_MODIFIED):
        return
    reason = response.reason_phrase
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "unknown status"
    raise FeedError(f"{url}: HTTP {status} {reason}")


def _content_length(response: httpx.Response) -> int | None:
    """The announced body length, or None when absent or unparsable (chunked encoding)."""
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _save(response: httpx.Response, url: str, dest: Path, limits: _Limits) -> int:
    """Stream the raw body to a temporary file beside ``dest``, then rename it into place."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise FeedError(f"{dest}: cannot create a file here ({e.strerror or e})") from e
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                size = _stream_body(response, url, out.write, limits, raw=True)
            tmp.replace(dest)
        except OSError as e:
            raise FeedError(f"{dest}: cannot write ({e.strerror or e})") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


def _stream_body(
    response: httpx.Response,
    url: str,
    sink: Callable[[bytes], object],
    limits: _Limits,
    *,
    raw: bool,
) -> int:
    """Feed the body to ``sink`` chunk by chunk, enforcing size, time and completeness.

    ``raw`` keeps any ``Content-Encoding`` as served (feeds); otherwise chunks are decoded
    (text). Returns the number of bytes given to ``sink``.
    """
    expected = _content_length(response)
    if expected is not None and expected > limits.max_bytes:
        raise FeedError(f"{url}: response larger than {limits.max_bytes} bytes ({expected})")
    chunks = response.iter_raw() if raw else response.iter_bytes()
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limits.max_bytes:
                raise FeedError(f"{url}: response larger than {limits.max_bytes} bytes")
            if time.monotonic() > limits.deadline:
                raise FeedError(f"{url}: download took longer than {limits.total_timeout:g} s")
            sink(chunk)
    except httpx.RemoteProtocolError as e:
        # h11 raises this when the peer closes before Content-Length bytes have arrived.
        raise FeedError(_closed_message(url, response.num_bytes_downloaded, expected)) from e
    if expected is not None and response.num_bytes_downloaded < expected:
        raise FeedError(_closed_message(url, response.num_bytes_downloaded, expected))
    return size


def _closed_message(url: str, received: int, expected: int | None) -> str:
    """``<url>: connection closed after N of M bytes`` (or ``after N bytes``)."""
    of = "" if expected is None else f" of {expected}"
    return f"{url}: connection closed after {received}{of} bytes"


def _summary(url: str, response: httpx.Response, path: Path | None, size: int) -> Download:
    """The ``Download`` for a finished response."""
    return Download(
        url=url,
        status=response.status_code,
        path=path,
        size=size,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        content_type=response.headers.get("Content-Type"),
    )


def _read_file_url(url: str, max_bytes: int) -> bytes:
    """The bytes of a local ``file://`` URL (RFC 8089: empty host or ``localhost`` only)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FeedError(f"{url}: file URL names a remote host {parts.netloc!r}")
    path = Path(url2pathname(parts.path))
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as e:
        raise FeedError(f"{path}: cannot read ({e.strerror or e})") from e
    if len(data) > max_bytes:
        raise FeedError(f"{path}: file larger than {max_bytes} bytes")
    return data


def _decode(url: str, data: bytes, charset: str | None) -> str:
    """Decode text with the server's charset, else UTF-8 without a BOM."""
    encoding = charset or "utf-8"
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except LookupError as e:
        raise FeedError(f"{url}: unknown charset {charset!r}") from e
    except UnicodeDecodeError as e:
        raise FeedError(f"{url}: not valid {encoding} text at byte {e.start}") from e


class LazyClient:
    """An ``http_client`` opened on first use; ``close()`` closes it, and a later use opens
    a new one (a source is kept between updates by the fleet server)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._client: httpx.Client | None = None

    def get(self) -> httpx.Client:
        """The open client."""
        if self._client is None:
            self._client = http_client(self._timeout)
        return self._client

    def close(self) -> None:
        """Close the client, if open."""
        if self._client is not None:
            self._client.close()
            self._client = None
