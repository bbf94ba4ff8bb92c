"""The listing side of ``cvelist_fetch``: what a CVE List place says it holds.

Two HTTP listings are parsed, from bytes already fetched: the GitHub Releases API's JSON
(``GET /repos/{owner}/{repo}/releases``, docs.github.com, "List releases"), of which only
each asset's ``name`` and ``browser_download_url`` are read, and an HTML directory index
(``python3 -m http.server``, nginx ``autoindex``, Apache ``mod_autoindex``), of which only
the ``<a href>`` links are; ``answers_json`` tells a URL's kind with one request. Local
folders are listed with ``os.scandir``: a folder of asset files, and a cvelistV5 clone's
record files ``cves/YYYY/NNxxx/CVE-*.json``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import msgspec

from nix_audit.advisories._cvelist_plan import Asset, assets_of
from nix_audit.advisories.http import http_client, translated_errors
from nix_audit.errors import FeedError

__all__ = [
    "GITHUB_HEADERS",
    "answers_json",
    "clone_files",
    "clone_root",
    "index_names",
    "listdir",
    "release_assets",
]

# GitHub's REST API media type and version (docs.github.com, "Media types", "API versions").
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

# The clone's layout (cvelistV5 README): cves/<year>/<thousands>xxx/CVE-<year>-<number>.json.
_YEAR = re.compile(r"\d{4}")
_GROUP = re.compile(r"\d+xxx")
_CLONE_NAME = re.compile(r"CVE-\d{4}-\d{4,}\.json")


class _ReleaseAsset(msgspec.Struct, frozen=True):
    name: str
    browser_download_url: str


class _Release(msgspec.Struct, frozen=True):
    """One release as the GitHub REST API lists it (fields nix-audit reads; others skipped)."""

    tag_name: str = ""
    assets: list[_ReleaseAsset] = []


class _Links(HTMLParser):
    """Collects the ``href`` of every ``<a>`` in a directory index page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for key, value in attrs if key == "href" and value]


def answers_json(url: str, timeout: float) -> bool:
    """Whether ``url`` answers a GitHub API request with JSON (headers only are read)."""
    with (
        http_client(timeout) as client,
        translated_errors(url, timeout),
        client.stream("GET", url, headers=GITHUB_HEADERS) as response,
    ):
        if response.status_code >= 400:
            raise FeedError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
        return "json" in response.headers.get("Content-Type", "").lower()


def release_assets(data: bytes, url: str) -> list[Asset]:
    """The assets a release listing from ``url`` attaches, the newest release's copy first.

    Not a release listing -> ``FeedError`` naming ``url``.
    """
    try:
        releases = msgspec.json.decode(data, type=list[_Release])
    except msgspec.DecodeError as e:
        raise FeedError(f"{url}: not a GitHub release listing ({e})") from e
    return assets_of((a.name, a.browser_download_url) for r in releases for a in r.assets)


def index_names(page: bytes, url: str) -> list[str]:
    """The names an index page at ``url`` links to directly under it (folders end in '/')."""
    links = _Links()
    links.feed(page.decode("utf-8", errors="replace"))
    base = urlsplit(url)
    names: list[str] = []
    for href in links.hrefs:
        target = urlsplit(urljoin(url, href))
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            continue
        if target.path.startswith(base.path) and len(target.path) > len(base.path):
            names.append(unquote(target.path[len(base.path) :]))
    return names


def listdir(folder: Path | str) -> list[os.DirEntry[str]]:
    """A folder's entries sorted by name (a stable order), failing as one-line errors."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as e:
        raise FeedError(f"{folder}: cannot list ({e.strerror or e})") from e


def clone_files(cves: Path, since_ns: int | None) -> Iterator[Path]:
    """``cves/*/*/CVE-*.json`` files modified at or after ``since_ns`` (all when None).

    ``DirEntry`` types come with the listing (``d_type``), so a first load costs no
    ``stat`` per file, and an update one ``stat`` and no read per unchanged file. Symbolic
    links are not followed: git checks out none under ``cves/``.
    """
    for year in (e for e in listdir(cves) if e.is_dir(follow_symlinks=False)):
        for group in (e for e in listdir(year.path) if e.is_dir(follow_symlinks=False)):
            for entry in listdir(group.path):
                if not (_CLONE_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)):
                    continue
                try:
                    if since_ns is not None and entry.stat().st_mtime_ns < since_ns:
                        continue
                except FileNotFoundError:  # removed by a concurrent git pull
                    continue
                yield Path(entry.path)


def clone_root(folder: Path) -> Path | None:
    """The clone ``folder`` stands for: itself when it holds ``cves/``, its parent when it is
    a clone's ``cves/`` (year folders of ``NNxxx/CVE-*.json``), else None (no clone)."""
    if (folder / "cves").is_dir():
        return folder
    # As named first (a link called cves/), then resolved (a link to a cves/, or "cves/..").
    for cves in dict.fromkeys((folder.absolute(), folder.resolve())):
        if cves.name == "cves" and _holds_records(cves):
            return cves.parent
    return None


def _holds_records(cves: Path) -> bool:
    """Whether ``cves`` holds a ``YYYY/NNxxx/CVE-*.json`` file; stops at the first found."""
    for year in listdir(cves):
        if not (_YEAR.fullmatch(year.name) and year.is_dir(follow_symlinks=False)):
            continue
        for group in listdir(year.path):
            if not (_GROUP.fullmatch(group.name) and group.is_dir(follow_symlinks=False)):
                continue
            if any(
                _CLONE_NAME.fullmatch(e.name) and e.is_file(follow_symlinks=False)
                for e in listdir(group.path)
            ):
                return True
    return False
