"""Tests of the loopback feed server itself, through httpx as the code under test uses it."""

from __future__ import annotations

import email.utils
import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.feed_server import Fault, FeedServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FeedServer]:
    (tmp_path / "a.txt").write_bytes(b"hello\n" * 100)
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(b"{}"))
    with FeedServer(tmp_path) as running:
        yield running


def test_serves_files_with_validators(server: FeedServer) -> None:
    response = httpx.get(server.url_for("a.txt"))
    assert response.status_code == 200 and response.content == b"hello\n" * 100
    assert response.headers["ETag"].startswith('"') and "GMT" in response.headers["Last-Modified"]
    assert httpx.get(server.url_for("b.json.gz")).headers["Content-Type"] == "application/gzip"


def test_if_none_match_takes_precedence_over_if_modified_since(server: FeedServer) -> None:
    first = httpx.get(server.url_for("a.txt"))
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert httpx.get(server.url_for("a.txt"), headers={"If-None-Match": etag}).status_code == 304
    assert (
        httpx.get(server.url_for("a.txt"), headers={"If-Modified-Since": modified}).status_code
        == 304
    )
    # A stale tag wins over a satisfied date (RFC 9110, 13.2.2).
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert httpx.get(server.url_for("a.txt"), headers=both).status_code == 200
    old = email.utils.formatdate(0, usegmt=True)
    assert httpx.get(server.url_for("a.txt"), headers={"If-Modified-Since": old}).status_code == 200


def test_paths_outside_root_are_404(server: FeedServer, tmp_path: Path) -> None:
    (tmp_path.parent / "secret.txt").write_text("no")
    assert httpx.get(server.url_for("..%2Fsecret.txt")).status_code == 404


def test_fault_times_and_clear(server: FeedServer) -> None:
    server.set_fault("a.txt", Fault(status=500, times=2))
    statuses = [httpx.get(server.url_for("a.txt")).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    server.set_fault("/a.txt", Fault(status=403))
    server.clear_faults()
    assert httpx.get(server.url_for("a.txt")).status_code == 200
    assert [r.status for r in server.requests_for("a.txt")] == [500, 500, 200, 200]


def test_truncate_and_gzip_encoding(server: FeedServer) -> None:
    server.set_fault("/a.txt", Fault(truncate=10))
    assert httpx.get(server.url_for("a.txt")).content == b"hello\nhell"
    server.clear_faults()
    server.gzip_encoding = True
    response = httpx.get(server.url_for("a.txt"))
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content == b"hello\n" * 100
    assert response.headers["ETag"].endswith('-gzip"')


def test_drop_after_announces_full_length(server: FeedServer) -> None:
    server.set_fault("/a.txt", Fault(drop_after=5))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(server.url_for("a.txt"))


def test_stop_releases_a_stalled_response(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with FeedServer(tmp_path) as server:
        server.set_fault("/a.txt", Fault(stall_before=60.0))
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url_for("a.txt"), timeout=0.3)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
