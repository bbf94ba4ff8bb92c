"""Tests of advisories/cvelist_fetch.py: planning, the four places, and hostile zips.

Small assets are built here with ``zipfile``; the real ones (``shared_data / "cve5"``) are
served over loopback both as a Releases API and as a plain mirror.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nix_audit.advisories.cvelist_fetch import (
    CVE_LIST_RELEASES_URL,
    CveListBatch,
    CveListCloneSource,
    CveListFolderSource,
    CveListMirrorSource,
    CveListReleasesSource,
    CveListSource,
    CveListState,
    cve_list_source_for,
)
from nix_audit.errors import FeedError
from tests.conftest import REPO_ROOT
from tests.helpers.cve_list_assets import write_zip
from tests.helpers.feed_server import Fault
from tests.helpers.releases_server import (
    FolderIndexServer,
    Release,
    ReleasesServer,
    cvelist_releases,
)

BASELINE = "2024-10-24_all_CVEs_at_midnight.zip.zip"
OLD_BASELINE = "2024-10-23_all_CVEs_at_midnight.zip.zip"
D0013 = "2024-10-24_delta_CVEs_at_0013Z.zip"
D0113 = "2024-10-24_delta_CVEs_at_0113Z.zip"
D0213 = "2024-10-24_delta_CVEs_at_0213Z.zip"
D0313 = "2024-10-24_delta_CVEs_at_0313Z.zip"
MIB = 1024 * 1024


# --- building assets ------------------------------------------------------------------------


def record(cve_id: str, marker: str = "") -> bytes:
    """A small CVE JSON 5 record."""
    doc = {
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {"cveId": cve_id, "state": "PUBLISHED"},
        "containers": {"cna": {"title": marker}},
    }
    return json.dumps(doc).encode()


def baseline_member(cve_id: str) -> str:
    _, year, number = cve_id.split("-")
    return f"cves/{year}/{int(number) // 1000}xxx/{cve_id}.json"


def write_baseline(path: Path, cve_ids: list[str], marker: str = "base") -> Path:
    """A baseline as cvelistV5 packs it: a zip holding cves.zip holding cves/YYYY/NNxxx/."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cves/", b"")
        for cve_id in cve_ids:
            archive.writestr(baseline_member(cve_id), record(cve_id, marker))
    return write_zip(path, {"cves.zip": inner.getvalue()})


def write_delta(path: Path, cve_ids: list[str], marker: str = "delta") -> Path:
    members = {f"deltaCves/{cve_id}.json": record(cve_id, marker) for cve_id in cve_ids}
    members["delta.json"] = json.dumps({"numberOfChanges": len(cve_ids)}).encode()
    return write_zip(path, members)


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    """An older and a newer baseline, three deltas of the newer day, and a file to ignore."""
    root = tmp_path / "assets"
    write_baseline(root / OLD_BASELINE, ["CVE-2024-0001"], marker="old")
    write_baseline(root / BASELINE, ["CVE-2024-0001", "CVE-2024-1002", "CVE-2023-21003"])
    write_delta(root / "deltas" / D0013, ["CVE-2024-0001"])
    write_delta(root / "deltas" / D0113, ["CVE-2024-1002", "CVE-2024-0004"])
    write_delta(root / "deltas" / D0213, ["CVE-2024-0005"])
    write_delta(root / "deltas" / "2024-10-23_delta_CVEs_at_end_of_day.zip", ["CVE-2024-0009"])
    (root / "README.md").write_text("not an asset\n")
    return root


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "dest"


def names(batches: list[CveListBatch]) -> list[str]:
    return [batch.name for batch in batches]


def read_all(batches: list[CveListBatch]) -> dict[str, list[str]]:
    """Each batch's record names, in order (reading every record)."""
    return {batch.name: [name for name, _ in batch.records] for batch in batches}


def releases_of(root: Path) -> list[Release]:
    return cvelist_releases(root)


@pytest.fixture
def server(assets: Path) -> Iterator[ReleasesServer]:
    with ReleasesServer(releases_of(assets)) as running:
        yield running


@pytest.fixture
def releases(server: ReleasesServer) -> Iterator[CveListReleasesSource]:
    with CveListReleasesSource(server.url, timeout=2.0) as source:
        yield source


# --- first load -----------------------------------------------------------------------------


def test_first_load_takes_newest_baseline_then_deltas_oldest_first(
    assets: Path, dest: Path
) -> None:
    with CveListFolderSource(assets) as source:
        batches, state = source.batches(None, dest)
    assert names(batches) == [BASELINE, D0013, D0113, D0213]
    assert [b.kind for b in batches] == ["baseline", "delta", "delta", "delta"]
    got = read_all(batches)
    assert got[BASELINE] == [
        "cves/2024/0xxx/CVE-2024-0001.json",
        "cves/2024/1xxx/CVE-2024-1002.json",
        "cves/2023/21xxx/CVE-2023-21003.json",
    ]
    assert got[D0113] == ["deltaCves/CVE-2024-1002.json", "deltaCves/CVE-2024-0004.json"]
    assert state == CveListState(baseline=BASELINE, last_delta=D0213)
    assert sorted(p.name for p in assets.iterdir()) == sorted(  # read in place, not moved
        [OLD_BASELINE, BASELINE, "deltas", "README.md"]
    )


def test_records_are_the_members_bytes(assets: Path, dest: Path) -> None:
    batches, _ = CveListFolderSource(assets).batches(None, dest)
    name, data = next(batches[1].records)
    assert (name, json.loads(data)["containers"]["cna"]["title"]) == (
        "deltaCves/CVE-2024-0001.json",
        "delta",
    )


def test_first_load_over_the_releases_api(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    batches, state = releases.batches(None, dest)
    assert names(batches) == [BASELINE, D0013, D0113, D0213]
    assert len(read_all(batches)[BASELINE]) == 3
    assert state.baseline == BASELINE and state.last_delta == D0213
    assert state.listing_etag is not None and state.listing_etag.startswith('W/"')
    listing = server.requests_for("/repos/CVEProject/cvelistV5/releases")
    assert len(listing) == 1 and "if-none-match" not in listing[0].headers
    assert listing[0].headers["accept"] == "application/vnd.github+json"
    # The baseline is attached to all three releases of its day; it is fetched once.
    baseline_gets = [r for r in server.requests if r.path.endswith(BASELINE)]
    assert [r.status for r in baseline_gets] == [302, 200]


def test_first_load_with_a_stored_etag_still_reads_the_listing(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    _, state = releases.batches(None, dest)
    batches, _ = releases.batches(CveListState(listing_etag=state.listing_etag), dest)
    assert names(batches)[0] == BASELINE


def test_no_baseline_anywhere_fails_naming_the_place(tmp_path: Path, dest: Path) -> None:
    write_delta(tmp_path / "only" / D0013, ["CVE-2024-0001"])
    with pytest.raises(FeedError, match=r"only: no baseline asset"):
        CveListFolderSource(tmp_path / "only").batches(None, dest)


# --- later updates --------------------------------------------------------------------------


def test_incremental_update_takes_only_new_deltas(
    assets: Path, server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    _, state = releases.batches(None, dest)
    write_delta(assets / "deltas" / D0313, ["CVE-2024-0006"])
    server.set_releases(releases_of(assets))
    server.clear_log()
    batches, new_state = releases.batches(state, dest)
    assert names(batches) == [D0313]
    assert read_all(batches) == {D0313: ["deltaCves/CVE-2024-0006.json"]}
    assert new_state.baseline == BASELINE and new_state.last_delta == D0313
    assert new_state.listing_etag not in (None, state.listing_etag)
    assert server.requests[0].headers["if-none-match"] == state.listing_etag
    assert not [r for r in server.requests if BASELINE in r.path]


def test_unchanged_listing_is_one_304(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    _, state = releases.batches(None, dest)
    server.clear_log()
    batches, again = releases.batches(state, dest)
    assert (batches, again) == ([], state)
    assert [r.status for r in server.requests] == [304]


def test_changed_listing_without_new_deltas_keeps_the_new_etag(
    assets: Path, server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    _, state = releases.batches(None, dest)
    server.set_releases(releases_of(assets)[1:])  # the newest release withdrawn
    batches, again = releases.batches(replace_delta(state, D0113), dest)
    assert batches == []
    assert again.last_delta == D0113 and again.listing_etag != state.listing_etag


def replace_delta(state: CveListState, last_delta: str) -> CveListState:
    return CveListState(state.baseline, last_delta, state.listing_etag, state.clone_scanned_ns)


def test_full_reload_ignores_the_state(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    _, state = releases.batches(None, dest)
    server.clear_log()
    batches, _ = releases.batches(state, dest, full=True)
    assert names(batches) == [BASELINE, D0013, D0113, D0213]
    assert "if-none-match" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("last_delta", "expected"),
    [
        # The last delta applied is still listed: the listing reaches back to it.
        (D0013, [D0113, D0213]),
        # Not listed, but the oldest newer delta follows within an hour and the margin;
        # a newer baseline (2024-10-24) alone does not force a reload.
        ("2024-10-23_delta_CVEs_at_2313Z.zip", [D0013, D0113, D0213]),
        # Not listed, and a day of deltas missing: the newest baseline again.
        ("2024-10-22_delta_CVEs_at_2213Z.zip", [BASELINE, D0013, D0113, D0213]),
    ],
)
def test_gap_decides_whether_to_reload_the_baseline(
    assets: Path, dest: Path, last_delta: str, expected: list[str]
) -> None:
    state = CveListState(baseline=OLD_BASELINE, last_delta=last_delta)
    batches, new_state = CveListFolderSource(assets).batches(state, dest)
    assert names(batches) == expected
    assert new_state.baseline == (BASELINE if BASELINE in expected else OLD_BASELINE)
    assert new_state.last_delta == D0213


def test_baseline_only_state_counts_from_its_midnight(assets: Path, dest: Path) -> None:
    recent = CveListState(baseline=BASELINE)
    assert names(CveListFolderSource(assets).batches(recent, dest)[0]) == [D0013, D0113, D0213]
    stale = CveListState(baseline="2024-10-20_all_CVEs_at_midnight.zip.zip")
    assert names(CveListFolderSource(assets).batches(stale, dest)[0])[0] == BASELINE


def test_newer_baseline_without_deltas_after_a_gap_is_loaded(tmp_path: Path, dest: Path) -> None:
    write_baseline(tmp_path / "a" / BASELINE, ["CVE-2024-0001"])
    state = CveListState(baseline=OLD_BASELINE, last_delta="2024-10-23_delta_CVEs_at_1013Z.zip")
    assert names(CveListFolderSource(tmp_path / "a").batches(state, dest)[0]) == [BASELINE]
    near = CveListState(baseline=OLD_BASELINE, last_delta="2024-10-23_delta_CVEs_at_2313Z.zip")
    assert CveListFolderSource(tmp_path / "a").batches(near, dest)[0] == []


def test_unreadable_state_means_a_first_load(assets: Path, dest: Path) -> None:
    state = CveListState(baseline="whatever.zip", last_delta="nonsense")
    assert names(CveListFolderSource(assets).batches(state, dest)[0])[0] == BASELINE


# --- the HTTP mirror ------------------------------------------------------------------------


def test_mirror_lists_its_index_pages(assets: Path, dest: Path) -> None:
    with FolderIndexServer(assets) as mirror, CveListMirrorSource(mirror.url) as source:
        batches, state = source.batches(None, dest)
        assert names(batches) == [BASELINE, D0013, D0113, D0213]
        assert len(read_all(batches)[BASELINE]) == 3
        assert state == CveListState(baseline=BASELINE, last_delta=D0213)
        assert mirror.paths[:2] == ["/", "/deltas/"]
        mirror.paths.clear()
        assert source.batches(state, dest) == ([], state)
        assert mirror.paths == ["/", "/deltas/"]


def test_mirror_without_a_deltas_folder(tmp_path: Path, dest: Path) -> None:
    write_baseline(tmp_path / "m" / BASELINE, ["CVE-2024-0001"])
    write_delta(tmp_path / "m" / D0013, ["CVE-2024-0002"])
    with FolderIndexServer(tmp_path / "m") as mirror, CveListMirrorSource(mirror.url) as source:
        assert names(source.batches(None, dest)[0]) == [BASELINE, D0013]
        assert mirror.paths[0] == "/" and "/deltas/" not in mirror.paths


# --- clone folders --------------------------------------------------------------------------


def make_clone(root: Path, cve_ids: list[str], mtime_ns: int) -> Path:
    for cve_id in cve_ids:
        path = root / baseline_member(cve_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(record(cve_id))
        os.utime(path, ns=(mtime_ns, mtime_ns))
    (root / "cves" / "delta.json").write_text("{}")  # cvelistV5 keeps these beside the years
    (root / "cves" / "2024" / "0xxx" / "notes.txt").write_text("not a record")
    return root


def test_clone_first_load_then_only_touched_files(tmp_path: Path, dest: Path) -> None:
    day_ago = time.time_ns() - 86_400 * 10**9
    clone = make_clone(tmp_path / "clone", ["CVE-2024-0001", "CVE-2024-1002"], day_ago)
    source = cve_list_source_for(str(clone))
    assert isinstance(source, CveListCloneSource) and source.location == str(clone.resolve())
    before = time.time_ns()
    batches, state = source.batches(None, dest)
    assert [(b.name, b.kind) for b in batches] == [("cves/", "clone")]
    assert read_all(batches)["cves/"] == [
        "cves/2024/0xxx/CVE-2024-0001.json",
        "cves/2024/1xxx/CVE-2024-1002.json",
    ]
    assert state.clone_scanned_ns is not None and before <= state.clone_scanned_ns
    assert state.baseline is None and state.last_delta is None

    assert source.batches(state, dest)[0] == []  # nothing changed since

    touched = clone / baseline_member("CVE-2024-1002")
    touched.write_bytes(record("CVE-2024-1002", "pulled"))  # what a git pull does
    added = make_clone(clone, ["CVE-2024-0003"], time.time_ns())
    assert added == clone
    batches, later = source.batches(state, dest)
    got = dict(batches[0].records)
    assert sorted(got) == ["cves/2024/0xxx/CVE-2024-0003.json", "cves/2024/1xxx/CVE-2024-1002.json"]
    assert b"pulled" in got["cves/2024/1xxx/CVE-2024-1002.json"]
    assert later.clone_scanned_ns is not None and later.clone_scanned_ns >= state.clone_scanned_ns


def test_clone_named_by_its_cves_folder_is_the_clone(tmp_path: Path, dest: Path) -> None:
    clone = make_clone(tmp_path / "clone", ["CVE-2024-0001", "CVE-2024-1002"], time.time_ns())
    for location in (str(clone / "cves"), str(clone / "cves") + "/", (clone / "cves").as_uri()):
        source = cve_list_source_for(location)
        assert isinstance(source, CveListCloneSource), location
        assert source.location == str(clone.resolve())
    batches, state = source.batches(None, dest)
    assert read_all(batches)["cves/"] == [  # the same names and state as for the clone itself
        "cves/2024/0xxx/CVE-2024-0001.json",
        "cves/2024/1xxx/CVE-2024-1002.json",
    ]
    assert state.clone_scanned_ns is not None and state.baseline is None


def test_cves_folder_is_the_clone_through_a_link(tmp_path: Path) -> None:
    clone = make_clone(tmp_path / "clone", ["CVE-2024-0001"], time.time_ns())
    (tmp_path / "records").symlink_to(clone / "cves")
    source = cve_list_source_for(str(tmp_path / "records"))
    assert isinstance(source, CveListCloneSource) and source.location == str(clone.resolve())


def test_folder_named_cves_without_year_folders_is_a_folder_of_assets(
    tmp_path: Path, dest: Path
) -> None:
    write_baseline(tmp_path / "cves" / BASELINE, ["CVE-2024-0001"])
    write_delta(tmp_path / "cves" / "deltas" / D0013, ["CVE-2024-0002"])
    (tmp_path / "cves" / "2024" / "0xxx").mkdir(parents=True)  # no record files in it
    source = cve_list_source_for(str(tmp_path / "cves"))
    assert isinstance(source, CveListFolderSource)
    assert names(source.batches(None, dest)[0]) == [BASELINE, D0013]


def test_clone_full_reads_everything_again(tmp_path: Path, dest: Path) -> None:
    clone = make_clone(tmp_path / "clone", ["CVE-2024-0001"], time.time_ns() - 10**12)
    source = CveListCloneSource(clone)
    _, state = source.batches(None, dest)
    assert len(read_all(source.batches(state, dest, full=True)[0])["cves/"]) == 1


def test_clone_record_over_16_mib_fails(tmp_path: Path, dest: Path) -> None:
    clone = make_clone(tmp_path / "clone", ["CVE-2024-0001"], time.time_ns())
    (clone / baseline_member("CVE-2024-0001")).write_bytes(b" " * (16 * MIB + 1))
    batches, _ = CveListCloneSource(clone).batches(None, dest)
    with pytest.raises(FeedError, match=r"CVE-2024-0001\.json: record larger than"):
        read_all(batches)


# --- hostile and broken assets --------------------------------------------------------------


def delta_folder(tmp_path: Path, delta: Path | None = None) -> Path:
    """A folder with a baseline and one delta (``delta``, or a fresh good one)."""
    root = tmp_path / "hostile"
    write_baseline(root / BASELINE, ["CVE-2024-0001"])
    if delta is None:
        write_delta(root / D0013, ["CVE-2024-0002"])
    elif delta.parent != root:
        (root / D0013).write_bytes(delta.read_bytes())
    return root


@pytest.mark.parametrize(
    "member",
    [
        "deltaCves/../../../etc/cron.d/CVE-2024-0001.json",
        "../CVE-2024-0001.json",
        "/etc/CVE-2024-0001.json",
        "deltaCves\\CVE-2024-0001.json",
        "C:/CVE-2024-0001.json",
    ],
)
def test_path_traversal_member_fails_the_asset(tmp_path: Path, dest: Path, member: str) -> None:
    bad = write_zip(tmp_path / "bad.zip", {"deltaCves/CVE-2024-0002.json": b"{}", member: b"{}"})
    with pytest.raises(FeedError, match=rf"^{D0013}: member .* unsafe path"):
        CveListFolderSource(delta_folder(tmp_path, bad)).batches(None, dest)


def test_traversal_inside_the_baseline_fails_too(tmp_path: Path, dest: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("cves/2024/0xxx/CVE-2024-0001.json", b"{}")
        archive.writestr("cves/../../CVE-2024-0002.json", b"{}")
    write_zip(tmp_path / "b" / BASELINE, {"cves.zip": inner.getvalue()})
    with pytest.raises(FeedError, match=rf"^{BASELINE}: member 'cves/\.\./\.\./"):
        CveListFolderSource(tmp_path / "b").batches(None, dest)


def test_other_members_are_skipped(tmp_path: Path, dest: Path) -> None:
    odd = write_zip(
        tmp_path / "odd.zip",
        {
            "deltaCves/": b"",
            "deltaCves/CVE-2024-0002.json": b"{}",
            "deltaCves/notes.txt": b"x",
            "delta.json": b"{}",
            "deltaCves/CVE-24-1.json": b"{}",
        },
    )
    batches, _ = CveListFolderSource(delta_folder(tmp_path, odd)).batches(None, dest)
    assert read_all(batches)[D0013] == ["deltaCves/CVE-2024-0002.json"]


def test_member_inflating_over_16_mib_fails(tmp_path: Path, dest: Path) -> None:
    big = write_zip(tmp_path / "big.zip", {"deltaCves/CVE-2024-0002.json": b" " * (17 * MIB)})
    with pytest.raises(FeedError, match=rf"^{D0013}: member .* inflates to \d+ bytes \(limit"):
        CveListFolderSource(delta_folder(tmp_path, big)).batches(None, dest)


def test_compression_ratio_bomb_fails(tmp_path: Path, dest: Path) -> None:
    bomb = write_zip(tmp_path / "bomb.zip", {"deltaCves/CVE-2024-0002.json": b"0" * (8 * MIB)})
    with pytest.raises(FeedError, match=rf"^{D0013}: member .* ratio of \d+:1 \(a zip bomb\)"):
        CveListFolderSource(delta_folder(tmp_path, bomb)).batches(None, dest)


def test_many_small_bombs_fail_together(tmp_path: Path, dest: Path) -> None:
    members = {f"deltaCves/CVE-2024-{n:04d}.json": bytes(MIB - 1) for n in range(60)}
    bombs = write_zip(tmp_path / "bombs.zip", members)
    with pytest.raises(FeedError, match=rf"^{D0013}: members declare \d+ bytes \(a zip bomb\)"):
        CveListFolderSource(delta_folder(tmp_path, bombs)).batches(None, dest)


def patch_central_sizes(path: Path, file_size: int) -> None:
    """Make every central directory entry declare ``file_size`` (a header that lies)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        struct.pack_into("<L", data, at + 24, file_size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_member_inflating_past_its_declared_size_fails_while_reading(
    tmp_path: Path, dest: Path
) -> None:
    liar = write_zip(tmp_path / "liar.zip", {"deltaCves/CVE-2024-0002.json": b"x" * 50_000})
    patch_central_sizes(liar, 100)
    batches, _ = CveListFolderSource(delta_folder(tmp_path, liar)).batches(None, dest)
    with pytest.raises(FeedError, match=r"inflates past its declared 100 bytes"):
        read_all(batches)


def overlapping_zip(path: Path, copies: int) -> Path:
    """One member's data, listed ``copies`` times in the central directory (a zip bomb)."""
    write_zip(path, {"deltaCves/CVE-2024-0002.json": b"{}" * 1000})
    data = path.read_bytes()
    cd_at = data.find(b"PK\x01\x02")
    eocd_at = data.find(b"PK\x05\x06")
    entry = data[cd_at:eocd_at]
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHLL", eocd, 8, copies, copies, len(entry) * copies, cd_at)
    path.write_bytes(data[:cd_at] + entry * copies + bytes(eocd))
    return path


def test_overlapping_members_fail(tmp_path: Path, dest: Path) -> None:
    bomb = overlapping_zip(tmp_path / "overlap.zip", 50)
    with pytest.raises(FeedError, match=r"overlaps others \(a zip bomb\)"):
        CveListFolderSource(delta_folder(tmp_path, bomb)).batches(None, dest)


def test_truncated_zip_fails(tmp_path: Path, dest: Path) -> None:
    good = write_delta(tmp_path / "good.zip", ["CVE-2024-0002", "CVE-2024-0003"])
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FeedError, match=rf"^{D0013}: truncated or damaged zip"):
        CveListFolderSource(delta_folder(tmp_path, cut)).batches(None, dest)


def test_damaged_member_fails_its_crc(tmp_path: Path, dest: Path) -> None:
    good = write_zip(tmp_path / "good.zip", {"deltaCves/CVE-2024-0002.json": b"A" * 100})
    data = bytearray(good.read_bytes())
    stored_at = data.find(b"A" * 100)
    if stored_at < 0:  # deflated: break the stored CRC instead
        at = data.find(b"PK\x01\x02") + 16
        data[at] ^= 0xFF
    else:
        data[stored_at] = ord("B")
    good.write_bytes(bytes(data))
    batches, _ = CveListFolderSource(delta_folder(tmp_path, good)).batches(None, dest)
    with pytest.raises(FeedError, match=r"fails its CRC-32 check"):
        read_all(batches)


def test_zip64_directory_of_more_than_65535_members(tmp_path: Path, dest: Path) -> None:
    """The whole list's cves.zip holds 280,000 members: its directory is Zip64's."""
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w", zipfile.ZIP_STORED) as archive:
        for n in range(66_000):
            archive.writestr(f"deltaCves/CVE-2024-{n:05d}.json", b"{}")
    assert b"PK\x06\x06" in many.read_bytes()[-200:]
    batches, _ = CveListFolderSource(delta_folder(tmp_path, many)).batches(None, dest)
    assert sum(1 for _ in batches[1].records) == 66_000


def test_baseline_without_cves_zip_fails(tmp_path: Path, dest: Path) -> None:
    write_zip(tmp_path / "b" / BASELINE, {"other.zip": b"PK\x05\x06" + bytes(18)})
    with pytest.raises(FeedError, match=rf"^{BASELINE}: no cves\.zip inside"):
        CveListFolderSource(tmp_path / "b").batches(None, dest)


# --- HTTP failures --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 404])
def test_http_error_names_the_asset(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path, status: int
) -> None:
    server.set_fault(server.asset_path("cve_2024-10-24_0113Z", D0113), Fault(status=status))
    with pytest.raises(FeedError, match=rf"{D0113}: HTTP {status} "):
        releases.batches(None, dest)


def test_html_page_instead_of_an_asset(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    page = b"<!DOCTYPE html><html><title>Attention Required!</title></html>"
    server.set_fault(server.asset_path("cve_2024-10-24_0213Z", D0213), Fault(body=page))
    with pytest.raises(FeedError, match=rf"^{D0213}: served HTML, not a zip archive$"):
        releases.batches(None, dest)


def test_truncated_download_fails(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    server.set_fault(server.asset_path("cve_2024-10-24_0013Z", D0013), Fault(truncate=200))
    with pytest.raises(FeedError, match=rf"^{D0013}: truncated or damaged zip"):
        releases.batches(None, dest)
    server.set_fault(server.asset_path("cve_2024-10-24_0013Z", D0013), Fault(drop_after=200))
    with pytest.raises(FeedError, match=rf"{D0013}: connection closed after 200 of \d+ bytes"):
        releases.batches(None, dest)


def test_listing_that_is_no_release_listing(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    server.set_fault("/repos/CVEProject/cvelistV5/releases", Fault(body=b'{"message": "x"}'))
    with pytest.raises(FeedError, match=r"releases\?per_page=100: not a GitHub release listing"):
        releases.batches(None, dest)


def test_listing_error_names_the_url(
    server: ReleasesServer, releases: CveListReleasesSource, dest: Path
) -> None:
    server.set_fault("/repos/CVEProject/cvelistV5/releases", Fault(status=403))
    with pytest.raises(FeedError, match=r"/releases\?per_page=100: HTTP 403 Forbidden$"):
        releases.batches(None, dest)


# --- cve_list_source_for --------------------------------------------------------------------


def test_default_is_the_cvelistv5_releases() -> None:
    source = cve_list_source_for(None)
    assert isinstance(source, CveListReleasesSource) and source.location == CVE_LIST_RELEASES_URL
    assert CVE_LIST_RELEASES_URL == "https://api.github.com/repos/CVEProject/cvelistV5/releases"


def test_releases_url_needs_no_request() -> None:
    source = cve_list_source_for("http://127.0.0.1:9/repos/x/y/releases/")
    assert isinstance(source, CveListReleasesSource)


def test_url_answering_json_is_a_releases_api(assets: Path, dest: Path) -> None:
    with ReleasesServer(releases_of(assets), listing_path="/cve-list") as server:
        source = cve_list_source_for(server.url)
        assert isinstance(source, CveListReleasesSource)
        with source:
            assert names(source.batches(None, dest)[0])[0] == BASELINE


def test_url_answering_html_is_a_mirror(assets: Path) -> None:
    with FolderIndexServer(assets) as mirror:
        source = cve_list_source_for(mirror.url.rstrip("/"))
        assert isinstance(source, CveListMirrorSource) and source.location == mirror.url


def test_local_paths(assets: Path, tmp_path: Path) -> None:
    assert isinstance(cve_list_source_for(str(assets)), CveListFolderSource)
    assert isinstance(cve_list_source_for(assets.as_uri()), CveListFolderSource)
    clone = make_clone(tmp_path / "clone", ["CVE-2024-0001"], time.time_ns())
    assert isinstance(cve_list_source_for(clone.as_uri()), CveListCloneSource)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("/nonexistent/cve-list", r"^/nonexistent/cve-list: not an http\(s\) URL"),
        ("ftp://example.org/cves", r"^ftp://example.org/cves: not an http\(s\) URL"),
        ("file://elsewhere/x", r"^file://elsewhere/x: file URL names a remote host"),
        ("http://127.0.0.1:9/mirror", r"^http://127.0.0.1:9/mirror: cannot connect"),
    ],
)
def test_bad_location_is_one_line_naming_it(location: str, message: str) -> None:
    with pytest.raises(FeedError, match=message) as caught:
        cve_list_source_for(location, timeout=1.0)
    assert "\n" not in str(caught.value)


def test_probe_error_names_the_url(tmp_path: Path) -> None:
    with (
        FolderIndexServer(tmp_path) as mirror,
        pytest.raises(FeedError, match=r"/missing/: HTTP 404"),
    ):
        cve_list_source_for(mirror.url + "missing/")


def test_every_source_is_a_context_manager(assets: Path) -> None:
    sources: list[CveListSource] = [
        CveListFolderSource(assets),
        CveListCloneSource(assets),
        CveListReleasesSource(),
        CveListMirrorSource("http://127.0.0.1:9/"),
    ]
    for source in sources:
        with source as entered:
            assert entered is source


# --- the real data --------------------------------------------------------------------------


def delta_member_counts(cve5: Path) -> dict[str, int]:
    """Each real delta's ``deltaCves/CVE-*.json`` members, counted with zipfile."""
    counts: dict[str, int] = {}
    for path in sorted((cve5 / "deltas").glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            counts[path.name] = sum(1 for n in archive.namelist() if n.startswith("deltaCves/CVE-"))
    return counts


def test_real_assets_as_releases_api_and_as_mirror(shared_data: Path, tmp_path: Path) -> None:
    cve5 = shared_data / "cve5"
    if not cve5.is_dir():
        pytest.skip(f"{cve5} not found")
    expected = {BASELINE: 43_864, **delta_member_counts(cve5)}
    with ReleasesServer(cvelist_releases(cve5)) as api, FolderIndexServer(cve5) as mirror:
        for url in (api.url, mirror.url):
            with cve_list_source_for(url) as source:
                batches, state = source.batches(None, tmp_path / "dl")
                counts = {b.name: sum(1 for _ in b.records) for b in batches}
                assert counts == expected, url
                assert state.last_delta == "2024-10-24_delta_CVEs_at_2213Z.zip"
                assert source.batches(state, tmp_path / "dl")[0] == []


def test_real_baseline_iterates_in_little_memory(shared_data: Path, tmp_path: Path) -> None:
    cve5 = shared_data / "cve5"
    if not cve5.is_dir():
        pytest.skip(f"{cve5} not found")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of this large
    # test process would report the parent's peak.
    script = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from nix_audit.advisories.cvelist_fetch import CveListFolderSource\n"
        "batches, _ = CveListFolderSource(sys.argv[1]).batches(None, Path(sys.argv[2]))\n"
        "n = sum(len(data) > 0 for _, data in batches[0].records)\n"
        "status = Path('/proc/self/status').read_text()\n"
        "print(n, re.search(r'VmHWM:\\s+(\\d+) kB', status)[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(cve5), str(tmp_path / "dl")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    records, max_rss_kib = map(int, done.stdout.split())
    assert records == 43_864
    assert max_rss_kib < 64 * 1024, f"peak RSS {max_rss_kib} KiB"
