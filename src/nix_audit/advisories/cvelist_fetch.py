"""Where CVE List (CVE JSON 5) records come from, and which of them an update applies.

The CVE Program publishes the list as release assets of CVEProject/cvelistV5 (its README,
"Releases"): a daily baseline ``YYYY-MM-DD_all_CVEs_at_midnight.zip.zip`` (a zip holding
``cves.zip``, which holds ``cves/YYYY/NNxxx/CVE-*.json``) and hourly deltas
``YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip`` (``deltaCves/CVE-*.json``, the records changed in the
hour). Four places serve them: the GitHub Releases API, an HTTP folder of the asset files, a
local folder of them, and a git clone of the repository (``cves/`` itself).

``batches(state, dest_dir)`` plans from what the place lists and what the index last
applied (``CveListState``): a first load takes the newest baseline and every delta since its
midnight; later updates take the deltas since the last one, or the newest baseline again
when the listed deltas no longer reach back (GitHub lists the newest 100 releases, about
four days). Assets are downloaded and their zip structure checked before ``batches``
returns, so a bad asset fails the update before the index is touched; records are then read
lazily, one member at a time. The engines sit beside this module: ``_cvelist_plan`` (asset
names, the gap rule), ``_cvelist_listing`` (what a place lists) and ``_cvelist_zip``.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

from nix_audit.advisories import _cvelist_listing, _cvelist_plan, _cvelist_zip
from nix_audit.advisories._cvelist_plan import Asset, Listing
from nix_audit.advisories.http import (
    FEED_TOTAL_TIMEOUT,
    TEXT_MAX_BYTES,
    TEXT_TOTAL_TIMEOUT,
    LazyClient,
    download_to,
)
from nix_audit.advisories.interface import AdvisorySource
from nix_audit.errors import FeedError

__all__ = [
    "CVE_LIST_RELEASES_URL",
    "CveListBatch",
    "CveListCloneSource",
    "CveListFolderSource",
    "CveListMirrorSource",
    "CveListReleasesSource",
    "CveListSource",
    "CveListState",
    "cve_list_source_for",
]

CVE_LIST_RELEASES_URL = "https://api.github.com/repos/CVEProject/cvelistV5/releases"

_MIB = 1024 * 1024
# The whole list's baseline is about 500 MB and an hourly delta rarely 1 MB; the bounds leave
# room for growth and stop a runaway body (issue #12).
_BASELINE_MAX_BYTES = 2048 * _MIB
_DELTA_MAX_BYTES = 256 * _MIB
_LISTING_MAX_BYTES = TEXT_MAX_BYTES
_BASELINE_TOTAL_TIMEOUT = 3600.0  # 500 MB at 1.2 Mbit/s
# File systems stamp mtimes from a coarse clock that lags time.time_ns() by up to a tick
# (Linux: current_time() uses ktime_get_coarse_real_ts64), so a file written just after a
# scan began can carry an earlier mtime. Files this close before the last scan are read
# again; applying a record twice changes nothing.
_MTIME_SLACK_NS = 2_000_000_000

_DELTAS = "deltas"
_CLONE_BATCH = "cves/"


@dataclass(frozen=True, slots=True)
class CveListState:
    """What the index remembers of the last CVE List update (all None on a first load)."""

    baseline: str | None = None  # asset name of the baseline in use
    last_delta: str | None = None  # name of the newest delta asset applied since it
    listing_etag: str | None = None  # ETag of the last release listing (conditional requests)
    clone_scanned_ns: int | None = None  # clones: time.time_ns() when the last scan began


@dataclass(frozen=True, slots=True)
class CveListBatch:
    """One unit of records to apply, in order: a baseline, a delta, or a clone's changed files."""

    name: str  # asset name, or "cves/" for a clone folder
    kind: str  # "baseline" | "delta" | "clone"
    records: Iterator[tuple[str, bytes]]  # (member or file name, that record's JSON bytes), lazily


class CveListSource(AdvisorySource):
    """Where CVE List records come from."""

    @abstractmethod
    def batches(
        self, state: CveListState | None, dest_dir: Path, *, full: bool = False
    ) -> tuple[list[CveListBatch], CveListState]:
        """The batches to apply (baseline first if one is needed, then deltas oldest first),
        and the state to store once they are applied. Empty list: nothing new.

        Downloads land in ``dest_dir``, which the caller deletes. Raises ``FeedError``.
        """


class _AssetSource(CveListSource):
    """A place that lists baseline and delta assets: plans, fetches and checks them."""

    def batches(
        self, state: CveListState | None, dest_dir: Path, *, full: bool = False
    ) -> tuple[list[CveListBatch], CveListState]:
        """Plan from the listing (see the module docstring), fetch, check, and batch."""
        since = None
        if not full and state is not None:
            since = _cvelist_plan.last_applied(state.baseline, state.last_delta)
        listing = self._listing(state if since is not None else None, dest_dir)
        if listing is None:  # 304: the listing has not changed since it was applied
            return [], state or CveListState()
        last_delta = state.last_delta if state is not None else None
        baseline, deltas = _cvelist_plan.plan(listing.assets, since, last_delta, self.location)
        if baseline is None and state is not None:  # the baseline in use stays
            if not deltas:
                return [], replace(state, listing_etag=listing.etag)
            in_use = state.baseline
        else:
            in_use = baseline.name if baseline is not None else None
        planned = [baseline, *deltas] if baseline is not None else deltas
        batches = [self._batch(asset, dest_dir) for asset in planned]
        newest = deltas[-1].name if deltas else None
        return batches, CveListState(in_use, newest, listing.etag)

    @abstractmethod
    def _listing(self, state: CveListState | None, dest_dir: Path) -> Listing | None:
        """The assets listed; None when a conditional request said nothing changed."""

    @abstractmethod
    def _local(self, asset: Asset, dest_dir: Path) -> tuple[Path, bool]:
        """The asset as a local file, and whether it is a download (to delete when done)."""

    def _batch(self, asset: Asset, dest_dir: Path) -> CveListBatch:
        path, downloaded = self._local(asset, dest_dir)
        if asset.kind == "delta":
            _cvelist_zip.check_records(path, asset.name, "delta")
            return CveListBatch(
                asset.name, "delta", _cvelist_zip.records(path, asset.name, "delta")
            )
        inner = _cvelist_zip.unpack_baseline(path, asset.name, dest_dir)
        if downloaded:
            path.unlink(missing_ok=True)  # the outer zip is spent: half the disk space back
        records = _cvelist_zip.records(inner, asset.name, "baseline")
        return CveListBatch(asset.name, "baseline", records)


class _HttpAssetSource(_AssetSource):
    """Assets fetched over HTTP(S); one httpx client (keep-alive) for every request."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._url = url
        self._http = LazyClient(timeout)

    @property
    def location(self) -> str:
        """The URL the listing is read from."""
        return self._url

    def close(self) -> None:
        """Close the HTTP connection; a later ``batches`` opens a new one."""
        self._http.close()

    def _fetch_listing(
        self, url: str, dest_dir: Path, headers: dict[str, str]
    ) -> tuple[bytes, str | None] | None:
        """A listing's bytes and ETag (None on 304), through a file so its size is bounded."""
        dest = dest_dir / ".cvelist-listing"
        got = download_to(
            self._http.get(),
            url,
            dest,
            headers=headers,
            max_bytes=_LISTING_MAX_BYTES,
            total_timeout=TEXT_TOTAL_TIMEOUT,
        )
        if got.path is None:
            if "If-None-Match" not in headers:
                raise FeedError(f"{url}: HTTP 304 Not Modified to an unconditional request")
            return None
        try:
            return got.path.read_bytes(), got.etag
        finally:
            got.path.unlink(missing_ok=True)

    def _local(self, asset: Asset, dest_dir: Path) -> tuple[Path, bool]:
        baseline = asset.kind == "baseline"
        got = download_to(
            self._http.get(),
            asset.where,
            dest_dir / asset.name,
            max_bytes=_BASELINE_MAX_BYTES if baseline else _DELTA_MAX_BYTES,
            total_timeout=_BASELINE_TOTAL_TIMEOUT if baseline else FEED_TOTAL_TIMEOUT,
        )
        if got.path is None:
            raise FeedError(f"{asset.where}: HTTP 304 Not Modified to an unconditional request")
        # A body cut short within its Content-Length fails in download_to; one served short
        # (or chunked) lacks the zip's end record, and a damaged one its CRC-32s: the zip
        # checks catch it, so the listing's "size" need not be trusted either.
        return got.path, True


class CveListReleasesSource(_HttpAssetSource):
    """The GitHub Releases API of cvelistV5 (or a server answering like it), conditionally.

    ``GET .../releases?per_page=100`` lists the newest releases, each with its assets; a
    day's baseline is attached to every release of that day, so names are deduplicated, the
    newest release's copy first. The listing's ETag makes an update without news one 304.
    """

    def __init__(self, url: str = CVE_LIST_RELEASES_URL, *, timeout: float = 30.0) -> None:
        super().__init__(url.rstrip("/"), timeout=timeout)
        parts = urlsplit(self._url)
        self._listing_url = self._url if parts.query else self._url + "?per_page=100"

    def _listing(self, state: CveListState | None, dest_dir: Path) -> Listing | None:
        headers = dict(_cvelist_listing.GITHUB_HEADERS)
        if state is not None and state.listing_etag:
            headers["If-None-Match"] = state.listing_etag
        got = self._fetch_listing(self._listing_url, dest_dir, headers)
        if got is None:
            return None
        data, etag = got
        return Listing(_cvelist_listing.release_assets(data, self._listing_url), etag)


class CveListMirrorSource(_HttpAssetSource):
    """An HTTP folder of the asset files, at its root or in ``deltas/``.

    It is listed by the links of its HTML directory index (``python3 -m http.server``,
    nginx ``autoindex``, Apache ``mod_autoindex`` all write one ``<a href>`` per file).
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        super().__init__(base_url.rstrip("/") + "/", timeout=timeout)

    def _listing(self, state: CveListState | None, dest_dir: Path) -> Listing | None:
        names = self._index(self._url, dest_dir)
        files = [(n, self._url + quote(n)) for n in names]
        if f"{_DELTAS}/" in names:
            folder = f"{self._url}{_DELTAS}/"
            files += [(n, folder + quote(n)) for n in self._index(folder, dest_dir)]
        return Listing(_cvelist_plan.assets_of(files))

    def _index(self, url: str, dest_dir: Path) -> list[str]:
        """The names an index page links to directly under ``url`` (folders end in '/')."""
        got = self._fetch_listing(url, dest_dir, {})
        page = b"" if got is None else got[0]  # None answers conditional requests only
        return _cvelist_listing.index_names(page, url)


class CveListFolderSource(_AssetSource):
    """A local folder of the asset files, at its root or in ``deltas/``, read in place."""

    def __init__(self, folder: Path | str) -> None:
        self._folder = Path(folder).resolve()

    @property
    def location(self) -> str:
        """The folder assets are read from."""
        return str(self._folder)

    def _listing(self, state: CveListState | None, dest_dir: Path) -> Listing | None:
        files: list[tuple[str, str]] = []
        for folder in (self._folder, self._folder / _DELTAS):
            if folder.is_dir():  # files may be links (to a cache, say): they are followed
                files += [(e.name, e.path) for e in _cvelist_listing.listdir(folder) if e.is_file()]
        return Listing(_cvelist_plan.assets_of(files))

    def _local(self, asset: Asset, dest_dir: Path) -> tuple[Path, bool]:
        return Path(asset.where), False


class CveListCloneSource(CveListSource):
    """A git clone of cvelistV5: records are the files ``cves/YYYY/NNxxx/CVE-*.json``.

    Files are picked by modification time: ``git pull`` rewrites the files it changes, so
    only files newer than the last scan are read (all on a first load). Records a pull
    deletes stay in the index; the CVE Program rejects records rather than deleting them.
    """

    def __init__(self, folder: Path | str) -> None:
        self._folder = Path(folder).resolve()

    @property
    def location(self) -> str:
        """The clone's folder (the one holding ``cves/``)."""
        return str(self._folder)

    def batches(
        self, state: CveListState | None, dest_dir: Path, *, full: bool = False
    ) -> tuple[list[CveListBatch], CveListState]:
        """All record files on a first load (read lazily), else those changed since."""
        began = time.time_ns()
        new_state = CveListState(clone_scanned_ns=began)
        cves = self._folder / "cves"
        if full or state is None or state.clone_scanned_ns is None:
            return [CveListBatch(_CLONE_BATCH, "clone", _clone_records(cves, None))], new_state
        changed = list(_cvelist_listing.clone_files(cves, state.clone_scanned_ns - _MTIME_SLACK_NS))
        if not changed:
            return [], new_state
        return [CveListBatch(_CLONE_BATCH, "clone", _read_files(cves.parent, changed))], new_state


def cve_list_source_for(location: str | None, *, timeout: float = 30.0) -> CveListSource:
    """The CVE List source for a ``--cve-list`` value.

    None: the default, GitHub releases of CVEProject/cvelistV5; an http(s) URL: if it ends in
    '/releases' (or answers JSON) it is a Releases API, else a mirror folder of asset files;
    a local path (or ``file://`` URL): a clone when it holds cves/ or is a clone's cves/ (its
    parent is then the clone), else a folder of assets.
    A bad location -> FeedError with one line naming it. Telling JSON from an index page
    costs one request, made here.
    """
    if location is None:
        return CveListReleasesSource(CVE_LIST_RELEASES_URL, timeout=timeout)
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if parts.path.rstrip("/").endswith("/releases") or _cvelist_listing.answers_json(
            location, timeout
        ):
            return CveListReleasesSource(location, timeout=timeout)
        return CveListMirrorSource(location, timeout=timeout)
    folder = _folder_of_file_url(location) if scheme == "file" else Path(location)
    if not folder.is_dir():
        raise FeedError(f"{location}: not an http(s) URL, a file:// URL or an existing folder")
    root = _cvelist_listing.clone_root(folder)
    return CveListCloneSource(root) if root is not None else CveListFolderSource(folder)


# --- locations ----------------------------------------------------------------------------


def _folder_of_file_url(url: str) -> Path:
    """The folder a ``file://`` URL names (RFC 8089: local host only)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FeedError(f"{url}: file URL names a remote host {parts.netloc!r}")
    return Path(url2pathname(parts.path))


# --- clone records --------------------------------------------------------------------------


def _clone_records(cves: Path, since_ns: int | None) -> Iterator[tuple[str, bytes]]:
    yield from _read_files(cves.parent, _cvelist_listing.clone_files(cves, since_ns))


def _read_files(root: Path, paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """``(path relative to root, bytes)`` of each record file, at most 16 MiB each."""
    limit = _cvelist_zip.RECORD_MAX_BYTES
    for path in paths:
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:  # removed since the scan: nothing left to apply
            continue
        except OSError as e:
            raise FeedError(f"{path}: cannot read ({e.strerror or e})") from e
        if len(data) > limit:
            raise FeedError(f"{path}: record larger than {limit} bytes")
        yield path.relative_to(root).as_posix(), data
