"""Tests of advisories/http.py against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nix_audit.advisories.http import (
    USER_AGENT,
    download_text,
    download_to,
    http_client,
)
from nix_audit.errors import FeedError
from tests.helpers.feed_server import Fault, FeedServer

BODY = bytes(range(256)) * 400  # 102,400 bytes: several reads, not one


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.bin").write_bytes(BODY)
    (root / "list.txt").write_text("# whitelist\nopenssl-1.0.1f\n", encoding="utf-8")
    return root


@pytest.fixture
def server(served: Path) -> Iterator[FeedServer]:
    with FeedServer(served) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with http_client(timeout=1.0) as made:
        yield made


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_saves_body_and_validators(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "data.bin"
    result = download_to(client, server.url_for("data.bin"), dest)
    assert dest.read_bytes() == BODY
    assert (result.status, result.path, result.size) == (200, dest, len(BODY))
    assert result.etag is not None and result.etag.startswith('"')
    assert result.last_modified is not None and result.last_modified.endswith("GMT")
    assert not result.not_modified
    assert leftovers(dest.parent) == ["data.bin"]


def test_client_sends_user_agent_and_asks_for_bytes_as_stored(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    download_to(client, server.url_for("data.bin"), tmp_path / "x")
    (record,) = server.requests
    assert record.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("nix-audit/")
    assert record.headers["accept-encoding"] == "identity"


def test_conditional_request_answered_304_writes_nothing(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    first = download_to(client, server.url_for("data.bin"), tmp_path / "a")
    assert first.etag is not None
    dest = tmp_path / "b" / "data.bin"
    again = download_to(
        client, server.url_for("data.bin"), dest, headers={"If-None-Match": first.etag}
    )
    assert again.not_modified and again.path is None and again.size == 0
    assert not dest.exists()
    assert [r.status for r in server.requests] == [200, 304]


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (403, "HTTP 403 Forbidden"),
        (404, "HTTP 404 Not Found"),
        (500, "HTTP 500 Internal Server Error"),
    ],
)
def test_error_status_names_url_and_status(
    server: FeedServer, client: httpx.Client, tmp_path: Path, status: int, text: str
) -> None:
    server.set_fault("/data.bin", Fault(status=status))
    url = server.url_for("data.bin")
    with pytest.raises(FeedError) as caught:
        download_to(client, url, tmp_path / "out" / "data.bin")
    assert str(caught.value) == f"{url}: {text}"
    assert leftovers(tmp_path / "out") == []


def test_missing_file_is_404(server: FeedServer, client: httpx.Client, tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"/nope\.bin: HTTP 404 Not Found$"):
        download_to(client, server.url_for("nope.bin"), tmp_path / "nope.bin")


def test_stall_before_headers_times_out_in_bounded_time(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.set_fault("/data.bin", Fault(stall_before=30.0))
    started = time.monotonic()
    with pytest.raises(FeedError, match=r"data\.bin: timed out after 1 s$"):
        download_to(client, server.url_for("data.bin"), tmp_path / "out" / "data.bin")
    assert time.monotonic() - started < 5.0
    assert leftovers(tmp_path / "out") == []


def test_stall_mid_body_times_out_and_leaves_no_partial_file(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.set_fault("/data.bin", Fault(stall_after=1000, stall_for=30.0))
    started = time.monotonic()
    with pytest.raises(FeedError, match="timed out after 1 s"):
        download_to(client, server.url_for("data.bin"), tmp_path / "out" / "data.bin")
    assert time.monotonic() - started < 5.0
    assert leftovers(tmp_path / "out") == []


def test_total_time_bound_stops_a_slow_server(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    # Each pause is shorter than the read timeout, so only the total bound can catch it.
    server.set_fault("/data.bin", Fault(stall_after=1000, stall_for=0.6))
    with pytest.raises(FeedError, match=r"download took longer than 0\.3 s$"):
        download_to(client, server.url_for("data.bin"), tmp_path / "out" / "d", total_timeout=0.3)
    assert leftovers(tmp_path / "out") == []


def test_dropped_connection_fails_and_leaves_no_partial_file(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.set_fault("/data.bin", Fault(drop_after=5000))
    url = server.url_for("data.bin")
    with pytest.raises(FeedError) as caught:
        download_to(client, url, tmp_path / "out" / "data.bin")
    assert str(caught.value) == f"{url}: connection closed after 5000 of {len(BODY)} bytes"
    assert leftovers(tmp_path / "out") == []


def test_announced_size_over_limit_fails_before_reading(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    with pytest.raises(FeedError, match=r"response larger than 1000 bytes \(102400\)$"):
        download_to(client, server.url_for("data.bin"), tmp_path / "out" / "d", max_bytes=1000)
    assert leftovers(tmp_path / "out") == []


def test_redirect_is_followed(server: FeedServer, client: httpx.Client, tmp_path: Path) -> None:
    server.set_fault("/old.bin", Fault(status=301, headers={"Location": "/data.bin"}))
    result = download_to(client, server.url_for("old.bin"), tmp_path / "d")
    assert result.status == 200 and (tmp_path / "d").read_bytes() == BODY
    assert [(r.path, r.status) for r in server.requests] == [("/old.bin", 301), ("/data.bin", 200)]


def test_refused_connection_is_a_feed_error(client: httpx.Client, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(FeedError, match=rf"^{url}: cannot connect \("):
        download_to(client, url, tmp_path / "x")


def test_one_line_messages(server: FeedServer, client: httpx.Client, tmp_path: Path) -> None:
    server.set_fault("/data.bin", Fault(drop_after=10))
    with pytest.raises(FeedError) as caught:
        download_to(client, server.url_for("data.bin"), tmp_path / "d")
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is not None  # translated with "from e"


# --- download_text ------------------------------------------------------------------------


def test_download_text(server: FeedServer) -> None:
    assert download_text(server.url_for("list.txt")) == "# whitelist\nopenssl-1.0.1f\n"


def test_download_text_404(server: FeedServer) -> None:
    url = server.url_for("missing.toml")
    with pytest.raises(FeedError, match=rf"^{url}: HTTP 404 Not Found$"):
        download_text(url)


def test_download_text_decodes_gzip_content_encoding(server: FeedServer) -> None:
    server.gzip_encoding = True
    assert download_text(server.url_for("list.txt")) == "# whitelist\nopenssl-1.0.1f\n"
    (record,) = server.requests
    assert "gzip" in record.headers["accept-encoding"]


def test_download_text_limits_decoded_size(served: Path, server: FeedServer) -> None:
    # 1 MiB of zeros gzips to about 1 KiB: the limit must count what it decodes to.
    (served / "bomb.txt").write_bytes(b"0" * (1 << 20))
    server.gzip_encoding = True
    with pytest.raises(FeedError, match=r"response larger than 65536 bytes$"):
        download_text(server.url_for("bomb.txt"), max_bytes=65536)


def test_download_text_stall_is_bounded(server: FeedServer) -> None:
    server.set_fault("/list.txt", Fault(stall_before=30.0))
    started = time.monotonic()
    with pytest.raises(FeedError, match=r"timed out after 0\.5 s$"):
        download_text(server.url_for("list.txt"), timeout=0.5)
    assert time.monotonic() - started < 5.0


def test_download_text_rejects_invalid_utf8(served: Path, server: FeedServer) -> None:
    (served / "bad.txt").write_bytes(b"ok\xff\xfe")
    with pytest.raises(FeedError, match=r"bad\.txt: not valid utf-8-sig text at byte 2$"):
        download_text(server.url_for("bad.txt"))


def test_download_text_file_url(tmp_path: Path) -> None:
    path = tmp_path / "white list.yaml"
    path.write_bytes("\ufeff- name: zlib\n".encode())
    assert download_text(path.as_uri()) == "- name: zlib\n"


def test_download_text_file_url_missing_and_too_large(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"nothing\.toml: cannot read \("):
        download_text((tmp_path / "nothing.toml").as_uri())
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 101)
    with pytest.raises(FeedError, match=r"big\.txt: file larger than 100 bytes$"):
        download_text(big.as_uri(), max_bytes=100)


def test_download_text_rejects_other_schemes() -> None:
    with pytest.raises(FeedError, match=r"^ftp://example\.org/w: unsupported URL scheme"):
        download_text("ftp://example.org/w")
