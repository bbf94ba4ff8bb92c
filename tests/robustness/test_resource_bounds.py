"""Resource bounds: download size and time limits, and big inputs in bounded memory.

The limits of ``advisories/http.py`` (``FEED_MAX_BYTES``, the read and total timeouts) are
not settable from the command line, so they are exercised on ``HttpFeedSource`` and
``download_text`` against the loopback server with small values. The big inputs go
through the real command: a ``--from-file`` list and a ``packages.json`` of 126,001 real
nixpkgs names each (``../shared/data/nixpkgs``), with the child's peak RSS read from
``os.wait4``.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from nix_audit.advisories.fetch import HttpFeedSource
from nix_audit.advisories.http import download_text
from nix_audit.errors import FeedError
from tests.helpers.feed_server import Fault, FeedServer
from tests.robustness.conftest import assert_failed, run_measured

NAMES = 126_001
RSS_LIMIT_KIB = 300 * 1024
FEED = "nvdcve-2.0-modified.json.gz"


def _nixpkgs(shared_data: Path) -> list[dict[str, str]]:
    (path,) = (shared_data / "nixpkgs").glob("nix-index-storepaths-*.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    assert len(records) == NAMES
    return records


@pytest.fixture
def big_feed(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    root.mkdir()
    (root / FEED).write_bytes(b"\x1f\x8b" + bytes(range(256)) * 64)  # 16 KiB "gzip"
    return root


def test_feed_larger_than_the_limit_fails_before_writing(big_feed: Path, tmp_path: Path) -> None:
    with (
        FeedServer(big_feed) as server,
        HttpFeedSource(server.url, max_bytes=4096) as source,
        pytest.raises(FeedError, match=r"modified\.json\.gz: response larger than 4096"),
    ):
        source.fetch("modified", None, tmp_path / "out")
    assert not (tmp_path / "out" / FEED).exists()
    assert not list((tmp_path / "out").glob("*.part"))


def test_trickling_server_hits_the_total_time_limit(big_feed: Path, tmp_path: Path) -> None:
    """Bytes keep coming, so no read times out; the total bound still ends the download."""
    with FeedServer(big_feed) as server:
        server.set_fault(f"/{FEED}", Fault(stall_after=1000, stall_for=2.0))
        source = HttpFeedSource(server.url, timeout=10.0, total_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(FeedError, match=r"download took longer than 0\.5 s"):
            source.fetch("modified", None, tmp_path / "out")
        source.close()
    assert time.monotonic() - started < 5
    assert not list((tmp_path / "out").glob("*"))


def test_compressed_whitelist_is_bounded_by_its_decoded_size(tmp_path: Path) -> None:
    """A gzip bomb: 8 MiB of text arrives as ~8 KiB with Content-Encoding: gzip."""
    (tmp_path / "wl.toml").write_bytes(b"#" * (8 * 1024 * 1024))
    with FeedServer(tmp_path, gzip_encoding=True) as server:
        url = server.url_for("/wl.toml")
        with pytest.raises(FeedError, match=r"wl\.toml: response larger than 1048576 bytes"):
            download_text(url, max_bytes=1024 * 1024)


def test_from_file_of_126001_store_paths_fails_fast_in_bounded_memory(
    db: Path, tmp_path: Path, shared_data: Path
) -> None:
    """None of these paths is in this store: one clean error, quickly, naming line 1."""
    listing = tmp_path / "paths.txt"
    records = _nixpkgs(shared_data)
    paths = [f"{r['store_dir']}/{r['hash']}-{r['name']}" for r in records]
    listing.write_text("".join(f"{p}\n" for p in paths))
    run = run_measured("scan", "--offline", "--db", str(db), "-f", str(listing))
    assert_failed(run, f"{listing}:1", paths[0])
    assert run.seconds < 10
    assert run.max_rss_kib < RSS_LIMIT_KIB
    print(f"126,001-line list: {run.seconds:.2f} s, peak RSS {run.max_rss_kib / 1024:.0f} MiB")


def test_packages_json_of_126001_names_in_bounded_memory(
    db: Path, tmp_path: Path, shared_data: Path
) -> None:
    records = _nixpkgs(shared_data)
    packages = {f"p{i}": {"name": r["name"]} for i, r in enumerate(records)}
    packages["marker"] = {"name": "marker-1.0"}
    path = tmp_path / "packages.json"
    path.write_text(json.dumps({"version": 2, "packages": packages}))
    run = run_measured("scan", "--offline", "--json", "--db", str(db), "-f", str(path))
    assert run.returncode == 2, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert "marker-1.0" in {d["name"] for d in report["derivations"]}
    assert report["summary"]["packages"] > 100_000
    assert run.max_rss_kib < RSS_LIMIT_KIB
    assert run.seconds < 60
    rss = run.max_rss_kib / 1024
    print(f"126,001-name packages.json: {run.seconds:.2f} s, peak RSS {rss:.0f} MiB")
