"""ListFileSource: one path per line, streamed; errors name the file and the line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nix_audit.errors import SourceError
from nix_audit.models import Closure
from nix_audit.sources.listfile import ListFileSource, read_list_file
from nix_audit.sources.nix import NixStore
from nix_audit.sources.store import ClosureMode
from tests.helpers.nix_store import NixFixtureStore

DATA = Path(__file__).parent / "data"
R, B = Closure.RUNTIME, Closure.BUILDTIME


def scan(file: Path, mode: ClosureMode = ClosureMode.RUNTIME) -> set[tuple[str, Closure]]:
    result = ListFileSource(file, mode=mode, nix=NixStore()).collect()
    return {(p.name, p.closure) for p in result.packages}


def write_list(tmp_path: Path, store: NixFixtureStore) -> Path:
    listing = tmp_path / "paths.txt"
    listing.write_text(
        "# deployed on host1\n"
        "\n"
        f"{store.links['result']}\n"
        f"   {store.drvs['libpng']}   # not built yet\n"
        f"{store.out('expat')}\n"
        f"{store.links['result']}\n"
    )
    return listing


def test_list_file_in_every_mode(nix_fixture_store: NixFixtureStore, tmp_path: Path) -> None:
    listing = write_list(tmp_path, nix_fixture_store)
    assert scan(listing) == {
        ("curl-7.50.0", R),
        ("openssl-1.0.1f", R),
        ("zlib-1.2.11", R),
        ("expat-2.2.6", R),
        ("libpng-1.6.37", B),
    }
    assert scan(listing, ClosureMode.DIRECT) == {
        ("curl-7.50.0", R),
        ("expat-2.2.6", R),
        ("libpng-1.6.37", B),
    }
    assert scan(listing, ClosureMode.BUILDTIME) == {
        ("curl-7.50.0", R),
        ("openssl-1.0.1f", R),
        ("zlib-1.2.11", R),
        ("expat-2.2.6", R),
        ("libpng-1.6.37", B),
        ("cmake-3.10.2", B),
    }


def test_first_line_of_each_store_path_is_kept(
    nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    store = nix_fixture_store
    lines = read_list_file(write_list(tmp_path, store), "/nix/store")
    assert lines == {store.out("curl"): 3, store.drvs["libpng"]: 4, store.out("expat"): 5}


def test_empty_list(tmp_path: Path) -> None:
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing\n\n")
    assert ListFileSource(listing).collect().packages == ()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{tmp}/missing", "{tmp}/missing: no such file or directory"),
        ("{tmp}/paths.txt", "{tmp}/paths.txt: not in the Nix store"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    listing = tmp_path / "paths.txt"
    listing.write_text("# header\n" + line.format(tmp=tmp_path) + "\n")
    with pytest.raises(SourceError) as error:
        ListFileSource(listing).collect()
    assert str(error.value).startswith(f"{listing}:2: {message.format(tmp=tmp_path)}")
    assert "\n" not in str(error.value)


def test_invalid_store_path_names_its_line(
    nix_fixture_store: NixFixtureStore, unregistered_store_path: str, tmp_path: Path
) -> None:
    listing = tmp_path / "paths.txt"
    listing.write_text(f"{nix_fixture_store.links['result']}\n\n{unregistered_store_path}\n")
    with pytest.raises(SourceError) as error:
        ListFileSource(listing, nix=NixStore()).collect()
    expected = f"{listing}:3: {unregistered_store_path}: not a valid path in the Nix store"
    assert str(error.value) == expected


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    listing = tmp_path / "paths.txt"
    listing.write_bytes(b"# ok\n/nix/store/\xff\n")
    with pytest.raises(SourceError, match=r"paths\.txt:2: not UTF-8 text$"):
        ListFileSource(listing).collect()


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.txt: cannot read: No such file"):
        ListFileSource(tmp_path / "nope.txt").collect()


def test_json_list_is_packages_json() -> None:
    result = ListFileSource(DATA / "packages.json").collect()
    assert "openssl-1.0.1f" in {p.name for p in result.packages}


def test_126001_lines_stream_quickly(nix_fixture_store: NixFixtureStore, tmp_path: Path) -> None:
    store = nix_fixture_store
    paths = [str(store.links["result"]), store.out("expat"), store.out("requests")]
    listing = tmp_path / "big.txt"
    with listing.open("w") as stream:
        for i in range(126_001):
            stream.write(f"# entry {i}\n" if i % 10 == 0 else f"{paths[i % 3]}\n")
    start = time.perf_counter()
    assert scan(listing) == {
        ("curl-7.50.0", R),
        ("openssl-1.0.1f", R),
        ("zlib-1.2.11", R),
        ("expat-2.2.6", R),
        ("python3.10-requests-2.28.1", R),
    }
    assert time.perf_counter() - start < 5.0
