"""Loopback servers for the CVE List: a GitHub Releases API look-alike, and a plain folder.

:class:`ReleasesServer` answers like ``api.github.com`` for CVEProject/cvelistV5, on
127.0.0.1 and a free port, in a background thread:

* ``GET /repos/CVEProject/cvelistV5/releases?per_page=N``: the JSON release listing, newest
  first, with the fields GitHub sends (``tag_name``, ``published_at``, ``assets`` with
  ``name``, ``browser_download_url``, ``size``, ``updated_at``), a weak ETag like GitHub's,
  and ``304 Not Modified`` to a matching ``If-None-Match``;
* ``GET /CVEProject/cvelistV5/releases/download/<tag>/<name>``: a 302 to
  ``/assets/<tag>/<name>`` (GitHub sends asset downloads to its object store), which
  streams the file with its ``Content-Length``.

Faults reuse :class:`tests.helpers.feed_server.Fault` (``status``, ``body``, ``truncate``,
``drop_after``, ``times``), set per URL path: ``server.set_fault(server.asset_path(tag,
name), Fault(status=500))``. Every request is logged as a ``RequestRecord``.

:class:`FolderIndexServer` serves a folder with ``python3 -m http.server``'s own handler
(its HTML directory index included), as a mirror of the asset files would be served.

Example::

    releases = cvelist_releases(assets_folder)  # one release per delta, like cvelistV5
    with ReleasesServer(releases) as server:
        source = CveListReleasesSource(server.url)
        batches, state = source.batches(None, tmp_path / "dl")
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import json
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.helpers.feed_server import Fault, FaultsAndLog, RequestRecord
from tests.helpers.loopback import LoopbackServer

__all__ = [
    "LISTING_PATH",
    "FolderIndexServer",
    "Release",
    "ReleasesServer",
    "cvelist_releases",
]

LISTING_PATH = "/repos/CVEProject/cvelistV5/releases"
_DOWNLOAD = "/CVEProject/cvelistV5/releases/download/"
_ASSETS = "/assets/"
_GITHUB_DEFAULT_PER_PAGE = 30  # docs.github.com, "Using pagination in the REST API"
_CHUNK = 256 * 1024
_DELTA = re.compile(r"(\d{4}-\d{2}-\d{2})_delta_CVEs_at_(\d{2})(\d{2})Z\.zip")


@dataclass(frozen=True, slots=True)
class Release:
    """One release: its tag, publication time (ISO 8601, ``Z``) and asset files."""

    tag: str
    published_at: str
    assets: tuple[Path, ...]


def cvelist_releases(folder: Path) -> list[Release]:
    """Releases laid out like cvelistV5's: one per delta, each with that day's baseline.

    ``folder`` holds ``*_all_CVEs_at_midnight.zip.zip`` and, at its root or in ``deltas/``,
    ``*_delta_CVEs_at_HHMMZ.zip``. Newest first, as GitHub lists them.
    """
    baselines = {p.name[:10]: p for p in folder.glob("*_all_CVEs_at_midnight.zip.zip")}
    deltas = sorted([*folder.glob("*_delta_CVEs_at_*Z.zip"), *folder.glob("deltas/*.zip")])
    releases: list[Release] = []
    for delta in deltas:
        match = _DELTA.fullmatch(delta.name)
        if match is None:
            continue
        day, hh, mm = match.groups()
        published = f"{day}T{hh}:{mm}:00Z"
        with_baseline = (baselines[day], delta) if day in baselines else (delta,)
        releases.append(Release(f"cve_{day}_{hh}{mm}Z", published, with_baseline))
    if not releases:
        releases = [
            Release(f"cve_{day}_0000Z", f"{day}T00:00:00Z", (path,))
            for day, path in sorted(baselines.items())
        ]
    return sorted(releases, key=lambda r: r.published_at, reverse=True)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that hang up are what the tests provoke."""


class ReleasesServer(FaultsAndLog, LoopbackServer):
    """The GitHub Releases API of cvelistV5 over ``releases`` (newest first), on loopback.

    ``listing_path`` moves the listing elsewhere (a JSON endpoint not ending in
    ``/releases``). ``set_releases`` changes the listing, and with it its ETag.
    """

    def __init__(self, releases: Sequence[Release] = (), *, listing_path: str = LISTING_PATH):
        self.listing_path = listing_path
        self._releases = list(releases)
        super().__init__()

    def _make_server(self) -> ThreadingHTTPServer:
        return _ReleasesHTTPServer(self)

    @property
    def url(self) -> str:
        """The listing's URL (no query): what ``CveListReleasesSource`` is given."""
        return self.origin + self.listing_path

    def asset_path(self, tag: str, name: str) -> str:
        """The URL path an asset is finally served from (where faults apply to downloads)."""
        return f"{_ASSETS}{quote(tag)}/{quote(name)}"

    def set_releases(self, releases: Sequence[Release]) -> None:
        """Replace the listing (newest first)."""
        with self._lock:
            self._releases = list(releases)

    def listing(self, per_page: int) -> bytes:
        """The listing JSON as served (the newest ``per_page`` releases)."""
        with self._lock:
            releases = self._releases[:per_page]
        body = [self._release_json(release) for release in releases]
        return json.dumps(body, indent=1).encode()

    def asset_file(self, tag: str, name: str) -> Path | None:
        with self._lock:
            for release in self._releases:
                if release.tag == tag:
                    return next((p for p in release.assets if p.name == name), None)
        return None

    def _release_json(self, release: Release) -> dict[str, Any]:
        assets = []
        for path in release.assets:
            stat = path.stat()
            updated = datetime.fromtimestamp(int(stat.st_mtime), UTC).isoformat()
            assets.append(
                {
                    "name": path.name,
                    "label": "",
                    "content_type": "application/zip",
                    "state": "uploaded",
                    "size": stat.st_size,
                    "updated_at": updated.replace("+00:00", "Z"),
                    "browser_download_url": f"{self.origin}{_DOWNLOAD}{release.tag}/{path.name}",
                }
            )
        return {
            "tag_name": release.tag,
            "name": release.tag.replace("_", " "),
            "draft": False,
            "prerelease": False,
            "published_at": release.published_at,
            "assets": assets,
        }


class _ReleasesHTTPServer(_QuietServer):
    def __init__(self, owner: ReleasesServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _ReleasesHandler)


class _ReleasesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as GitHub
    server: _ReleasesHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence stderr logging; the owner keeps its own request log."""

    def do_GET(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        path = parts.path
        fault = owner._take_fault(path)
        status, headers, body, file = self._plan(owner, path, parts.query, fault)
        lowered = {key.lower(): value for key, value in self.headers.items()}
        port = int(self.client_address[1])
        owner._record(RequestRecord(self.command, path, status, lowered, port))
        try:
            self._send(status, headers, body, file, fault)
        except OSError:
            self.close_connection = True

    def _plan(
        self, owner: ReleasesServer, path: str, query: str, fault: Fault | None
    ) -> tuple[int, dict[str, str], bytes, Path | None]:
        if fault is not None and fault.status is not None:
            reason = HTTPStatus(fault.status).phrase
            body = fault.body if fault.body is not None else f"{fault.status} {reason}\n".encode()
            return fault.status, {"Content-Type": "text/plain", **fault.headers}, body, None
        if fault is not None and fault.body is not None:
            content_type = fault.content_type or "text/html; charset=utf-8"
            return 200, {"Content-Type": content_type, **fault.headers}, fault.body, None
        if path == owner.listing_path:
            return self._listing(owner, query)
        if path.startswith(_DOWNLOAD):
            tag, _, name = path[len(_DOWNLOAD) :].partition("/")
            return 302, {"Location": owner.origin + owner.asset_path(tag, name)}, b"", None
        if path.startswith(_ASSETS):
            tag, _, name = unquote(path[len(_ASSETS) :]).partition("/")
            file = owner.asset_file(tag, name)
            if file is not None:
                return 200, {"Content-Type": "application/octet-stream"}, b"", file
        return 404, {"Content-Type": "application/json"}, b'{"message": "Not Found"}', None

    def _listing(
        self, owner: ReleasesServer, query: str
    ) -> tuple[int, dict[str, str], bytes, Path | None]:
        per_page = int(parse_qs(query).get("per_page", [_GITHUB_DEFAULT_PER_PAGE])[0])
        body = owner.listing(per_page)
        etag = f'W/"{hashlib.sha256(body).hexdigest()[:40]}"'
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(usegmt=True),
        }
        tags = [tag.strip() for tag in self.headers.get("If-None-Match", "").split(",")]
        if etag in tags:
            return 304, headers, b"", None
        return 200, headers, body, None

    def _send(
        self,
        status: int,
        headers: dict[str, str],
        body: bytes,
        file: Path | None,
        fault: Fault | None,
    ) -> None:
        size = file.stat().st_size if file is not None else len(body)
        if fault is not None and fault.truncate is not None:
            size = min(size, fault.truncate)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if status == 304:
            return
        drop = fault.drop_after if fault is not None else None
        sent = 0
        for chunk in _chunks(file, body, size):
            if drop is not None and sent + len(chunk) > drop:
                self.wfile.write(chunk[: drop - sent])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_WR)
                return
            self.wfile.write(chunk)
            sent += len(chunk)


def _chunks(file: Path | None, body: bytes, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``file`` (streamed) or of ``body``, in chunks."""
    if file is None:
        yield body[:size]
        return
    with file.open("rb") as handle:
        left = size
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


class FolderIndexServer(LoopbackServer):
    """``root`` served exactly as ``python3 -m http.server --directory root`` serves it."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.paths: list[str] = []  # every path requested, in order

    def _make_server(self) -> ThreadingHTTPServer:
        handler = functools.partial(_QuietFolderHandler, self.paths, directory=str(self.root))
        return _QuietServer(("127.0.0.1", 0), handler)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return self.origin + "/"


class _QuietFolderHandler(SimpleHTTPRequestHandler):
    def __init__(self, paths: list[str], *args: Any, **kwargs: Any) -> None:
        self._paths = paths
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence stderr logging."""

    def send_head(self) -> Any:
        self._paths.append(urlsplit(self.path).path)
        return super().send_head()
