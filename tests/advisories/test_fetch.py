"""Tests of advisories/fetch.py: conditional feed downloads over loopback HTTP, and folders."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nix_audit.advisories.fetch import (
    NVD_FEED_URL,
    FolderFeedSource,
    HttpFeedSource,
    feed_file_name,
    feed_source_for,
)
from nix_audit.errors import FeedError
from tests.helpers.feed_server import Fault, FeedServer

FEED_2014 = "nvdcve-2.0-2014.json.gz"
PATH_2014 = "/" + FEED_2014


def feed_bytes(marker: str) -> bytes:
    """A small gzip file shaped like an NVD 2.0 feed."""
    text = (
        f'{{"format": "NVD_CVE", "version": "2.0", "timestamp": "{marker}", "vulnerabilities": []}}'
    )
    return gzip.compress(text.encode(), mtime=0)


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    root.mkdir()
    (root / FEED_2014).write_bytes(feed_bytes("2026-03-01T00:00:00"))
    (root / "nvdcve-2.0-modified.json.gz").write_bytes(feed_bytes("2026-03-15T08:00:01"))
    return root


@pytest.fixture
def server(mirror: Path) -> Iterator[FeedServer]:
    with FeedServer(mirror) as running:
        yield running


@pytest.fixture
def source(server: FeedServer) -> Iterator[HttpFeedSource]:
    with HttpFeedSource(server.url, timeout=1.0) as made:
        yield made


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "dest"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_feed_file_name() -> None:
    assert feed_file_name("2014") == "nvdcve-2.0-2014.json.gz"
    assert feed_file_name("modified") == "nvdcve-2.0-modified.json.gz"
    with pytest.raises(FeedError, match="not a feed name"):
        feed_file_name("../../etc/passwd")


# --- HttpFeedSource ------------------------------------------------------------------------


def test_first_fetch_saves_feed_and_validators(
    source: HttpFeedSource, mirror: Path, dest: Path
) -> None:
    got = source.fetch("2014", None, dest)
    assert got.name == "2014"
    assert got.path == dest / FEED_2014
    assert got.path.read_bytes() == (mirror / FEED_2014).read_bytes()
    assert got.validators.etag is not None and got.validators.last_modified is not None
    assert files_in(dest) == [FEED_2014]


def test_unchanged_feed_costs_one_request_answered_304(
    source: HttpFeedSource, server: FeedServer, tmp_path: Path
) -> None:
    first = source.fetch("2014", None, tmp_path / "one")
    server.clear_log()
    again = source.fetch("2014", first.validators, tmp_path / "two")
    assert again.path is None
    assert again.validators == first.validators
    assert files_in(tmp_path / "two") == []
    (record,) = server.requests
    assert (record.path, record.status) == (PATH_2014, 304)
    assert record.headers["if-none-match"] == first.validators.etag
    assert record.headers["if-modified-since"] == first.validators.last_modified


def test_changed_feed_is_downloaded_with_new_etag(
    source: HttpFeedSource, mirror: Path, dest: Path
) -> None:
    first = source.fetch("2014", None, dest)
    (mirror / FEED_2014).write_bytes(feed_bytes("2026-03-02T00:00:00"))
    second = source.fetch("2014", first.validators, dest)
    assert second.path is not None
    assert second.path.read_bytes() == (mirror / FEED_2014).read_bytes()
    assert second.validators.etag != first.validators.etag


def test_last_modified_only_server(mirror: Path, tmp_path: Path) -> None:
    with FeedServer(mirror, etag=False) as server, HttpFeedSource(server.url) as source:
        first = source.fetch("2014", None, tmp_path / "a")
        assert first.validators.etag is None and first.validators.last_modified is not None
        again = source.fetch("2014", first.validators, tmp_path / "b")
        assert again.path is None
        later = time.time() + 60
        (mirror / FEED_2014).write_bytes(feed_bytes("2026-03-03T00:00:00"))
        os.utime(mirror / FEED_2014, (later, later))
        third = source.fetch("2014", first.validators, tmp_path / "c")
        assert third.path is not None
        assert third.validators.last_modified != first.validators.last_modified
        assert [r.status for r in server.requests] == [200, 304, 200]


def test_feeds_share_one_connection(source: HttpFeedSource, server: FeedServer, dest: Path) -> None:
    source.fetch("2014", None, dest)
    source.fetch("modified", None, dest)
    ports = {record.client_port for record in server.requests}
    assert len(server.requests) == 2 and len(ports) == 1


def test_base_url_with_or_without_slash(server: FeedServer, dest: Path) -> None:
    for base in (server.url, server.url.rstrip("/")):
        with HttpFeedSource(base) as source:
            assert source.location == server.url
            assert source.fetch("modified", None, dest).path is not None
    assert [r.path for r in server.requests] == ["/nvdcve-2.0-modified.json.gz"] * 2


def test_feed_under_a_sub_path(mirror: Path, tmp_path: Path) -> None:
    sub = mirror / "feeds" / "json" / "cve" / "2.0"
    sub.mkdir(parents=True)
    (sub / FEED_2014).write_bytes(feed_bytes("x"))
    with FeedServer(mirror) as server, HttpFeedSource(server.url + "feeds/json/cve/2.0") as source:
        assert source.fetch("2014", None, tmp_path).path == tmp_path / FEED_2014
        assert server.requests[0].path == "/feeds/json/cve/2.0/" + FEED_2014


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (403, "HTTP 403 Forbidden"),
        (404, "HTTP 404 Not Found"),
        (500, "HTTP 500 Internal Server Error"),
    ],
)
def test_http_errors_name_url_and_status(
    source: HttpFeedSource, server: FeedServer, dest: Path, status: int, text: str
) -> None:
    server.set_fault(PATH_2014, Fault(status=status))
    with pytest.raises(FeedError) as caught:
        source.fetch("2014", None, dest)
    assert str(caught.value) == f"{server.url}{FEED_2014}: {text}"
    assert files_in(dest) == []


def test_missing_feed_is_404(source: HttpFeedSource, server: FeedServer, dest: Path) -> None:
    with pytest.raises(FeedError, match=r"nvdcve-2\.0-2099\.json\.gz: HTTP 404 Not Found$"):
        source.fetch("2099", None, dest)


def test_html_page_served_as_feed_is_refused(
    source: HttpFeedSource, server: FeedServer, dest: Path
) -> None:
    page = b"<!DOCTYPE html>\n<html><title>Attention Required!</title></html>\n"
    server.set_fault(PATH_2014, Fault(body=page))
    with pytest.raises(FeedError, match=r"2014\.json\.gz: served HTML, not a gzip feed$"):
        source.fetch("2014", None, dest)
    assert files_in(dest) == []


def test_real_cdn_error_page_is_refused(shared_data: Path, tmp_path: Path) -> None:
    page = (
        shared_data
        / "nvd/modified-history/nvdcve-2.0-modified.2026-03-11T141843Z.html-error-page.bin"
    )
    with FeedServer(tmp_path) as server, HttpFeedSource(server.url) as source:
        # Served as the CDN did: status 200 and no hint in the content type.
        server.set_fault(
            "/nvdcve-2.0-modified.json.gz",
            Fault(body=page.read_bytes(), content_type="application/octet-stream"),
        )
        with pytest.raises(FeedError, match=r"served HTML, not a gzip feed$"):
            source.fetch("modified", None, tmp_path / "dest")
    assert files_in(tmp_path / "dest") == []


def test_other_non_gzip_body_is_refused(
    source: HttpFeedSource, server: FeedServer, dest: Path
) -> None:
    server.set_fault(PATH_2014, Fault(body=b'{"plain": "json"}', content_type="application/json"))
    with pytest.raises(FeedError, match=r"not a gzip feed \(starts with b'\{\"plain\"'\)$"):
        source.fetch("2014", None, dest)
    assert files_in(dest) == []


def test_real_feed_from_shared_data(shared_data: Path, tmp_path: Path) -> None:
    nvd = shared_data / "nvd"
    with FeedServer(nvd) as server, HttpFeedSource(server.url) as source:
        got = source.fetch("modified", None, tmp_path)
        assert got.path is not None
        assert got.path.read_bytes() == (nvd / "nvdcve-2.0-modified.json.gz").read_bytes()
        assert source.fetch("modified", got.validators, tmp_path / "again").path is None


def test_stalled_server_fails_in_bounded_time(
    source: HttpFeedSource, server: FeedServer, dest: Path
) -> None:
    server.set_fault(PATH_2014, Fault(stall_before=30.0))
    started = time.monotonic()
    with pytest.raises(FeedError, match=r"2014\.json\.gz: timed out after 1 s$"):
        source.fetch("2014", None, dest)
    assert time.monotonic() - started < 5.0
    assert files_in(dest) == []


def test_dropped_connection_leaves_no_partial_file(
    source: HttpFeedSource, server: FeedServer, mirror: Path, dest: Path
) -> None:
    size = (mirror / FEED_2014).stat().st_size
    server.set_fault(PATH_2014, Fault(drop_after=20))
    with pytest.raises(FeedError, match=rf"connection closed after 20 of {size} bytes$"):
        source.fetch("2014", None, dest)
    assert files_in(dest) == []


def test_size_limit(server: FeedServer, dest: Path) -> None:
    with (
        HttpFeedSource(server.url, max_bytes=50) as source,
        pytest.raises(FeedError, match=r"2014\.json\.gz: response larger than 50 bytes"),
    ):
        source.fetch("2014", None, dest)
    assert files_in(dest) == []


def test_304_to_unconditional_request_is_an_error(
    source: HttpFeedSource, server: FeedServer, dest: Path
) -> None:
    server.set_fault(PATH_2014, Fault(status=304))
    with pytest.raises(FeedError, match=r"HTTP 304 Not Modified to an unconditional request$"):
        source.fetch("2014", None, dest)


def test_close_then_fetch_again(source: HttpFeedSource, server: FeedServer, dest: Path) -> None:
    source.fetch("2014", None, dest)
    source.close()
    source.fetch("modified", None, dest)
    assert len({record.client_port for record in server.requests}) == 2


# --- FolderFeedSource ----------------------------------------------------------------------


def test_folder_fetch_unchanged_and_changed(mirror: Path, tmp_path: Path) -> None:
    source = FolderFeedSource(mirror)
    assert source.location == str(mirror)
    first = source.fetch("2014", None, tmp_path / "a")
    assert first.path == tmp_path / "a" / FEED_2014
    assert first.path.read_bytes() == (mirror / FEED_2014).read_bytes()
    assert first.validators.etag is not None and first.validators.last_modified is not None

    assert source.fetch("2014", first.validators, tmp_path / "b").path is None
    assert files_in(tmp_path / "b") == []

    (mirror / FEED_2014).write_bytes(feed_bytes("a later one, longer"))
    changed = source.fetch("2014", first.validators, tmp_path / "c")
    assert changed.path is not None and changed.validators.etag != first.validators.etag


def test_folder_touched_file_counts_as_changed(mirror: Path, tmp_path: Path) -> None:
    source = FolderFeedSource(mirror)
    first = source.fetch("2014", None, tmp_path / "a")
    os.utime(mirror / FEED_2014, (1_700_000_000, 1_700_000_000))
    assert source.fetch("2014", first.validators, tmp_path / "b").path is not None


def test_folder_result_belongs_to_the_caller(mirror: Path, tmp_path: Path) -> None:
    got = FolderFeedSource(mirror).fetch("2014", None, tmp_path / "a")
    assert got.path is not None
    got.path.unlink()
    assert (mirror / FEED_2014).is_file()


def test_folder_copies_across_filesystems(shared_data: Path, tmp_path: Path) -> None:
    # The shared data is read-only and owned by root: a link may be refused, a copy is not.
    got = FolderFeedSource(shared_data / "nvd").fetch("modified", None, tmp_path)
    assert got.path is not None
    assert got.path.read_bytes() == (shared_data / "nvd/nvdcve-2.0-modified.json.gz").read_bytes()


def test_folder_missing_feed(mirror: Path, tmp_path: Path) -> None:
    with pytest.raises(FeedError) as caught:
        FolderFeedSource(mirror).fetch("2099", None, tmp_path)
    assert str(caught.value) == f"{mirror / 'nvdcve-2.0-2099.json.gz'}: feed file not found"


def test_folder_html_file_is_refused(mirror: Path, tmp_path: Path) -> None:
    (mirror / FEED_2014).write_bytes(b"<html>blocked</html>")
    with pytest.raises(FeedError, match=r"2014\.json\.gz: served HTML, not a gzip feed$"):
        FolderFeedSource(mirror).fetch("2014", None, tmp_path / "d")
    assert (mirror / FEED_2014).exists()  # the mirror's file is never deleted
    assert files_in(tmp_path / "d") == []


# --- feed_source_for -----------------------------------------------------------------------


def test_feed_source_for_default_is_nvd() -> None:
    source = feed_source_for(None)
    assert isinstance(source, HttpFeedSource) and source.location == NVD_FEED_URL
    assert NVD_FEED_URL == "https://nvd.nist.gov/feeds/json/cve/2.0/"


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://mirror.example/nvd", "https://mirror.example/nvd/"),
        ("https://mirror.example/nvd/", "https://mirror.example/nvd/"),
        ("HTTP://mirror.example/nvd//", "HTTP://mirror.example/nvd/"),
    ],
)
def test_feed_source_for_urls(url: str, location: str) -> None:
    source = feed_source_for(url)
    assert isinstance(source, HttpFeedSource) and source.location == location


def test_feed_source_for_folder_and_file_url(mirror: Path, tmp_path: Path) -> None:
    by_path = feed_source_for(str(mirror))
    by_url = feed_source_for(mirror.as_uri())
    assert isinstance(by_path, FolderFeedSource) and isinstance(by_url, FolderFeedSource)
    assert by_path.location == by_url.location == str(mirror)
    with by_url as source:  # every source works in a with block, as the CLI uses them
        assert source.fetch("2014", None, tmp_path).path == tmp_path / FEED_2014


def test_feed_source_for_http_mirror_in_with_block(server: FeedServer, tmp_path: Path) -> None:
    with feed_source_for(server.url, timeout=1.0) as source:
        assert source.fetch("2014", None, tmp_path).path == tmp_path / FEED_2014


@pytest.mark.parametrize("mirror_value", ["ftp://mirror.example/nvd", "/no/such/folder", "mirror"])
def test_feed_source_for_rejects_others(mirror_value: str) -> None:
    with pytest.raises(FeedError, match="not an http\\(s\\) URL, a file:// URL or an existing"):
        feed_source_for(mirror_value)


def test_feed_source_for_missing_file_url(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"does not exist$"):
        feed_source_for((tmp_path / "gone").as_uri())
    with pytest.raises(FeedError, match="remote host 'server'"):
        feed_source_for("file://server/share/nvd")
