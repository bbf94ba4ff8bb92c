"""Where NVD JSON 2.0 feeds come from: the NVD over HTTP(S), a mirror URL, or a local folder.

Each source implements :class:`~nix_audit.advisories.interface.FeedSource`: ``fetch(name,
validators, dest_dir)`` puts ``nvdcve-2.0-<name>.json.gz`` into ``dest_dir`` when it changed
since ``validators`` were recorded, and says "not modified" otherwise, so an update that
finds nothing new costs one small request per feed.
"""

from __future__ import annotations

import email.utils
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from nix_audit.advisories.http import (
    FEED_MAX_BYTES,
    FEED_TOTAL_TIMEOUT,
    Download,
    LazyClient,
    download_to,
)
from nix_audit.advisories.interface import FeedFetch, FeedSource, Validators
from nix_audit.errors import FeedError

__all__ = [
    "NVD_FEED_URL",
    "FolderFeedSource",
    "HttpFeedSource",
    "feed_file_name",
    "feed_source_for",
]

# The NVD's JSON 2.0 data feeds (https://nvd.nist.gov/vuln/data-feeds): one file per CVE-ID
# year plus "modified" and "recent", each as nvdcve-2.0-<name>.json.gz beside a .meta file.
NVD_FEED_URL = "https://nvd.nist.gov/feeds/json/cve/2.0/"

# Feed names are years and the words "modified"/"recent"; anything else could reach outside
# the base URL or folder ("../x"), so it is refused before building a path.
_FEED_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
# Every gzip member starts with ID1 ID2 = 0x1f 0x8b (RFC 1952, 2.3.1).
_GZIP_MAGIC = b"\x1f\x8b"


def feed_file_name(name: str) -> str:
    """``nvdcve-2.0-<name>.json.gz``, the NVD's file name for feed ``name``."""
    if not _FEED_NAME.fullmatch(name):
        raise FeedError(f"{name!r}: not a feed name (expected a year, 'modified' or 'recent')")
    return f"nvdcve-2.0-{name}.json.gz"


class HttpFeedSource(FeedSource):
    """Feeds from the NVD or an HTTP(S) mirror of its feed folder, fetched conditionally.

    One httpx client (one keep-alive connection) serves every feed; close the source with
    ``close()`` or use it as a context manager.
    """

    def __init__(
        self,
        base_url: str = NVD_FEED_URL,
        *,
        timeout: float = 30.0,
        max_bytes: int = FEED_MAX_BYTES,
        total_timeout: float = FEED_TOTAL_TIMEOUT,
    ) -> None:
        self._base_url = base_url.rstrip("/") + "/"
        self._max_bytes = max_bytes
        self._total_timeout = total_timeout
        self._http = LazyClient(timeout)

    @property
    def location(self) -> str:
        """The base URL feeds are fetched from (always with a trailing slash)."""
        return self._base_url

    def fetch(self, name: str, validators: Validators | None, dest_dir: Path) -> FeedFetch:
        """GET the feed with ``If-None-Match``/``If-Modified-Since``; 304 -> ``path=None``."""
        file_name = feed_file_name(name)
        url = self._base_url + file_name
        headers = _conditional_headers(validators)
        dest = dest_dir / file_name
        result = download_to(
            self._http.get(),
            url,
            dest,
            headers=headers,
            max_bytes=self._max_bytes,
            total_timeout=self._total_timeout,
        )
        if result.path is None:
            if not headers:
                # 304 answers a conditional request only (RFC 9110, 15.4.5); to an
                # unconditional one it means a broken mirror, and there is nothing to keep.
                raise FeedError(f"{url}: HTTP 304 Not Modified to an unconditional request")
            return FeedFetch(name=name, path=None, validators=validators or Validators())
        _require_gzip(result.path, url, result)
        return FeedFetch(
            name=name,
            path=result.path,
            validators=Validators(etag=result.etag, last_modified=result.last_modified),
        )

    def close(self) -> None:
        """Close the HTTP connection; a later ``fetch`` opens a new one."""
        self._http.close()


class FolderFeedSource(FeedSource):
    """Feeds from a local folder holding ``nvdcve-2.0-<name>.json.gz`` files (a mirror).

    The validators are synthetic: an ETag built from the file's modification time and size,
    so an untouched file counts as not modified. The feed is hard-linked into ``dest_dir``
    when both are on one filesystem, else copied, so the caller may delete it either way.
    It holds nothing open; ``close()`` and ``with`` exist so every source is used alike.
    """

    def __init__(self, folder: Path | str) -> None:
        self._folder = Path(folder)

    @property
    def location(self) -> str:
        """The folder feeds are read from."""
        return str(self._folder)

    def fetch(self, name: str, validators: Validators | None, dest_dir: Path) -> FeedFetch:
        """Link or copy the feed into ``dest_dir`` unless its mtime and size are unchanged."""
        source = self._folder / feed_file_name(name)
        try:
            stat = source.stat()
        except FileNotFoundError as e:
            raise FeedError(f"{source}: feed file not found") from e
        except OSError as e:
            raise FeedError(f"{source}: cannot read ({e.strerror or e})") from e
        current = Validators(
            etag=f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"',
            last_modified=email.utils.formatdate(stat.st_mtime, usegmt=True),
        )
        if validators is not None and validators.etag == current.etag:
            return FeedFetch(name=name, path=None, validators=validators)
        _require_gzip(source, str(source), None)
        dest = dest_dir / source.name
        _link_or_copy(source, dest)
        return FeedFetch(name=name, path=dest, validators=current)


def feed_source_for(mirror: str | None, *, timeout: float = 30.0) -> FeedSource:
    """The feed source for a ``--mirror`` value.

    None -> the NVD; ``http://``/``https://`` URL -> :class:`HttpFeedSource`; ``file://``
    URL or an existing folder -> :class:`FolderFeedSource`; anything else -> ``FeedError``.
    Either is a context manager: ``with feed_source_for(mirror) as source: ...``.
    """
    if mirror is None:
        return HttpFeedSource(NVD_FEED_URL, timeout=timeout)
    scheme = urlsplit(mirror).scheme.lower()
    if scheme in ("http", "https"):
        return HttpFeedSource(mirror, timeout=timeout)
    if scheme == "file":
        return FolderFeedSource(_folder_of_file_url(mirror))
    if Path(mirror).is_dir():
        return FolderFeedSource(Path(mirror))
    raise FeedError(f"{mirror}: not an http(s) URL, a file:// URL or an existing folder")


# --- internals ------------------------------------------------------------------------------


def _conditional_headers(validators: Validators | None) -> dict[str, str]:
    """``If-None-Match`` and ``If-Modified-Since`` from stored validators (RFC 9110, 13.1).

    Both are sent: a server that honours ETags uses ``If-None-Match`` and ignores the date
    (RFC 9110, 13.2.2), and one that only knows dates still answers 304.
    """
    headers: dict[str, str] = {}
    if validators is None:
        return headers
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _require_gzip(path: Path, origin: str, result: Download | None) -> None:
    """Refuse a file that is not gzip, deleting it when it was downloaded (``result``).

    CDNs answer some blocked requests with an HTML page and status 200 (a Cloudflare
    "Attention Required!" page served as the modified feed on 2026-03-11, kept in the
    shared data), so a 200 alone does not prove a feed arrived.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError as e:
        raise FeedError(f"{path}: cannot read ({e.strerror or e})") from e
    if head.startswith(_GZIP_MAGIC):
        return
    if result is not None:
        path.unlink(missing_ok=True)
    content_type = (result.content_type or "") if result is not None else ""
    if "html" in content_type.lower() or head.lstrip().startswith(b"<"):
        raise FeedError(f"{origin}: served HTML, not a gzip feed")
    raise FeedError(f"{origin}: not a gzip feed (starts with {head[:8]!r})")


def _link_or_copy(source: Path, dest: Path) -> None:
    """Put ``source`` at ``dest``: a hard link when possible, else a copy, atomically."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
    except OSError as e:
        raise FeedError(f"{dest}: cannot create a file here ({e.strerror or e})") from e
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        try:
            # A link costs no copy of a 25 MiB feed; it fails across filesystems (EXDEV) and
            # for files of other users under fs.protected_hardlinks (EPERM): then copy.
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        tmp.replace(dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise FeedError(f"{source}: cannot copy to {dest} ({e.strerror or e})") from e


def _folder_of_file_url(url: str) -> Path:
    """The existing folder a ``file://`` URL names (RFC 8089: local host only)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FeedError(f"{url}: file URL names a remote host {parts.netloc!r}")
    folder = Path(url2pathname(parts.path))
    if not folder.is_dir():
        raise FeedError(f"{url}: folder {folder} does not exist")
    return folder
