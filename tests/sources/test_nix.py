"""NixStore: the Nix tools run for real against the fixture store; the parsers by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nix_audit.errors import NixError
from nix_audit.sources import nix as nix_module
from nix_audit.sources.nix import NixStore, PathInfo, parse_gc_roots, parse_path_info
from tests.helpers.nix_store import NixFixtureStore

ZLIB = "/nix/store/l08cbzpyzm345fgisfhdmr7ypi13m5x0-zlib-1.2.11"
CURL = "/nix/store/h3v4a4l9qbc858a31ndc9k4vvawcr8vc-curl-7.50.0"
GONE = "/nix/store/i1bsxr2cd511gg39il4jiyi4gbf7bzs8-sqlite-3.8.10"

# --- parse_path_info: both shapes, written by hand after real Nix output ------------------

OLD_SHAPE = json.dumps(
    [
        {
            "path": CURL,
            "narHash": "sha256-U9nDZT4HN3ZvLZxKs8X+RIg+ZW6K1fBWDcL+JtdigHs=",
            "narSize": 120,
            "references": [ZLIB],
            "deriver": "/nix/store/zk3008561f6z2dj8h0ydhwy6kxn2h46r-curl-7.50.0.drv",
            "registrationTime": 1795499495,
            "ultimate": True,
        },
        {"path": GONE, "valid": False},
    ]
)

NEW_SHAPE = json.dumps(
    {
        CURL: {
            "narHash": "sha256-U9nDZT4HN3ZvLZxKs8X+RIg+ZW6K1fBWDcL+JtdigHs=",
            "narSize": 120,
            "references": ["l08cbzpyzm345fgisfhdmr7ypi13m5x0-zlib-1.2.11"],
            "deriver": "zk3008561f6z2dj8h0ydhwy6kxn2h46r-curl-7.50.0.drv",
            "ca": None,
            "signatures": [],
        },
        GONE: None,
    }
)

EXPECTED_CURL = PathInfo(
    path=CURL,
    deriver="/nix/store/zk3008561f6z2dj8h0ydhwy6kxn2h46r-curl-7.50.0.drv",
    references=(ZLIB,),
    nar_hash="sha256-U9nDZT4HN3ZvLZxKs8X+RIg+ZW6K1fBWDcL+JtdigHs=",
    nar_size=120,
)


@pytest.mark.parametrize("text", [OLD_SHAPE, NEW_SHAPE], ids=["list-before-2.19", "object-2.19"])
def test_parse_path_info_both_shapes(text: str) -> None:
    assert parse_path_info(text) == {CURL: EXPECTED_CURL}


def test_parse_path_info_content_addressed_without_deriver() -> None:
    text = json.dumps({ZLIB: {"narHash": "h", "narSize": 1, "references": [], "ca": "text:x"}})
    info = parse_path_info(text)[ZLIB]
    assert (info.deriver, info.ca, info.references) == (None, "text:x", ())


@pytest.mark.parametrize("text", ["[{", '"a string"', "[1]"])
def test_parse_path_info_rejects_garbage(text: str) -> None:
    with pytest.raises(NixError, match="nix path-info"):
        parse_path_info(text)


# --- parse_gc_roots -----------------------------------------------------------------------


def test_parse_gc_roots_skips_censored_and_runtime_roots() -> None:
    text = (
        "/nix/var/nix/profiles/default-1-link -> /nix/store/aaa-user-environment\n"
        "/home/alice/result -> /nix/store/bbb-hello-2.12\n"
        "{censored} -> /nix/store/ccc-secret-1.0\n"
        "{memory:12} -> /nix/store/ddd-bash-5.2\n"
        "/proc/1234/maps -> /nix/store/eee-glibc-2.38\n"
        "\n"
        "not a root line\n"
    )
    assert parse_gc_roots(text) == [
        ("/nix/var/nix/profiles/default-1-link", "/nix/store/aaa-user-environment"),
        ("/home/alice/result", "/nix/store/bbb-hello-2.12"),
    ]


# --- the real tools -----------------------------------------------------------------------


def test_closure_of_outputs_and_of_drvs(nix_fixture_store: NixFixtureStore) -> None:
    store = nix_fixture_store
    runtime = NixStore().closure([store.out("curl")])
    assert set(runtime) == {store.out("curl"), store.out("openssl"), store.out("zlib")}
    buildtime = NixStore().closure([store.drvs["openssl"]])
    assert store.drvs["cmake"] in buildtime
    assert store.drvs["openssl_src"] in buildtime
    assert len(buildtime) == len(set(buildtime))


def test_closure_is_chunked_without_duplicates(
    nix_fixture_store: NixFixtureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = nix_fixture_store
    # A budget of one path per process: every path goes to its own nix-store call.
    monkeypatch.setattr(nix_module, "_CHUNK_BYTES", 1)
    paths = [store.out("curl"), store.out("openssl"), store.out("zlib")]
    assert sorted(NixStore().closure(paths)) == sorted(paths)
    assert NixStore().derivers(paths) == {
        store.out("curl"): store.drvs["curl"],
        store.out("openssl"): store.drvs["openssl"],
        store.out("zlib"): store.drvs["zlib"],
    }


def test_derivers_known_deleted_and_unknown(nix_fixture_store: NixFixtureStore) -> None:
    store = nix_fixture_store
    found = NixStore().derivers([store.out("zlib"), store.out("sqlite"), store.no_deriver])
    assert found == {
        store.out("zlib"): store.drvs["zlib"],
        store.out("sqlite"): store.drvs["sqlite"],  # still recorded, though the file is gone
        store.no_deriver: None,
    }


def test_outputs_references_and_validity(nix_fixture_store: NixFixtureStore) -> None:
    store = nix_fixture_store
    nix = NixStore()
    outputs = nix.outputs([store.drvs["openssl"], store.drvs["zlib"]])
    assert {drv: sorted(paths) for drv, paths in outputs.items()} == {
        store.drvs["openssl"]: sorted([store.out("openssl"), store.out("openssl", "dev")]),
        store.drvs["zlib"]: [store.out("zlib")],
    }
    assert nix.references([store.out("curl")]) == [store.out("openssl")]
    unbuilt = next(iter(nix.outputs([store.drvs["libpng"]]).values()))
    assert nix.valid([store.out("curl"), *unbuilt]) == {store.out("curl")}


def test_gc_roots_include_the_fixture_roots(nix_fixture_store: NixFixtureStore) -> None:
    roots = set(NixStore().gc_roots())
    assert nix_fixture_store.out("openssl_g") in roots  # the gcroot link
    assert nix_fixture_store.out("curl") in roots  # the result link


def test_path_info_of_real_paths(nix_fixture_store: NixFixtureStore) -> None:
    store = nix_fixture_store
    info = NixStore().path_info([store.out("curl"), store.no_deriver])
    assert info[store.out("curl")].deriver == store.drvs["curl"]
    assert info[store.out("curl")].references == (store.out("openssl"),)
    assert info[store.out("curl")].nar_size > 0
    assert info[store.no_deriver].deriver is None


def test_tool_failure_is_one_line_naming_the_path(nix_config: str) -> None:
    bogus = "/nix/store/00000000000000000000000000000000-nix-audit-bogus-1.0"
    with pytest.raises(NixError) as error:
        NixStore().derivers([bogus])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"nix-store --query --deriver on {bogus} failed: error:")
    assert "is not valid" in message


def test_store_dir_follows_nix_store_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIX_STORE_DIR", "/gnu/store")
    assert NixStore().store_dir == "/gnu/store"
    monkeypatch.delenv("NIX_STORE_DIR")
    assert NixStore().store_dir == "/nix/store"
    assert NixStore("/opt/store/").store_dir == "/opt/store"


def test_nix_missing(tmp_path: Path) -> None:
    with pytest.raises(NixError, match=r"^nix not found: install Nix \(Debian: nix-bin\)$"):
        NixStore(search_path=str(tmp_path)).path_info(["/x"])


def test_first_error_line_drops_colours_and_progress() -> None:
    stderr = b"these 2 paths will be fetched\n\x1b[31;1merror:\x1b[0m path '/x' is bad\nmore\n"
    assert nix_module._first_error_line(stderr) == "error: path '/x' is bad"
    assert nix_module._first_error_line(b"\n  warning: odd\n") == "warning: odd"
