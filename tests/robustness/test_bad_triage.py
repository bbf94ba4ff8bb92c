"""Bad whitelists through the real command: exit 3, one line naming the file and the line.

A whitelist that cannot be read changes results silently if it is skipped, so every problem
fails the run (issue #6); only an unreachable whitelist *URL* may be skipped, and only with
``--whitelist-optional``. The served-URL 503 case lives in ``tests/e2e/test_update_http.py``;
this adds a 404, a refused connection, a redirect loop and an HTML page served as TOML.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import Run, run_cli
from tests.helpers.feed_server import Fault, FeedServer
from tests.robustness.conftest import assert_failed, write_packages

# (file name, text, words of the error line besides the file name)
CASES = [
    ("syntax.toml", '["openssl-1.0.1f"]\ncve = ["CVE-2014-0160"\n', ("line 2", "invalid TOML")),
    ("unquoted.toml", "[openssl-1.0.1f]\n", ("line 1", "must be quoted")),
    ("syntax.yaml", "- name: openssl\n  cve: [CVE-2014-0160\n", ("line 3", "invalid YAML")),
    ("not-a-list.yaml", "name: openssl\n", ("line 1", "expected a list")),
    ("feb30.toml", '["openssl"]\nuntil = "2018-02-30"\n', ("line 2", "bad date")),
    ("feb30.yaml", "- name: openssl\n  until: 2018-02-30\n", ("line 2", "until")),
    ("words.toml", '["openssl"]\nuntil = "next week"\n', ("line 2", "bad date")),
    ("misspelt.toml", '["openssl"]\n\nuntill = 2030-01-01\n', ("line 3", "unknown key 'untill'")),
    ("misspelt.yaml", "- name: openssl\n  cves: [CVE-2014-0160]\n", ("line 2", "'cves'")),
    ("bad-cve.toml", '["openssl"]\ncve = ["CVE-14-160"]\n', ("line 2", "malformed CVE id")),
    ("star.toml", '["*"]\ncomment = "everything"\n', ("line 1", "needs a 'cve' list")),
    ("float.yaml", "- name: openssl\n  version: 1.10\n", ("line 2", "quoted string")),
    ("binary.toml", "", ("not UTF-8",)),
]


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    return write_packages(tmp_path / "p.json", ["openssl-1.0.1f"])


def _scan(db: Path, packages: Path, *args: str) -> Run:
    return run_cli("scan", "--offline", "--json", "--db", str(db), "-f", str(packages), *args)


@pytest.mark.parametrize(("name", "text", "words"), CASES, ids=[c[0] for c in CASES])
def test_invalid_whitelist_fails_with_file_and_line(
    db: Path, packages: Path, tmp_path: Path, name: str, text: str, words: tuple[str, ...]
) -> None:
    path = tmp_path / name
    if name == "binary.toml":
        path.write_bytes(b'["openssl"]\ncomment = "\xff\xfe"\n')
    else:
        path.write_text(text)
    assert_failed(_scan(db, packages, "-w", str(path)), f"{path}: ", *words)
    # --whitelist-optional is about unreachable URLs; it never excuses a broken file.
    assert_failed(_scan(db, packages, "-w", str(path), "--whitelist-optional"), str(path))


def test_missing_whitelist_file(db: Path, packages: Path, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    assert_failed(_scan(db, packages, "-w", str(missing)), str(missing), "No such file")


def _refused_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/wl.toml"


def test_unreachable_whitelist_urls_fail_unless_optional(
    db: Path, packages: Path, tmp_path: Path
) -> None:
    with FeedServer(tmp_path) as server:
        server.set_fault("/loop.toml", Fault(status=302, headers={"Location": "/loop.toml"}))
        cases = [
            (server.url_for("/absent.toml"), "HTTP 404"),
            (server.url_for("/loop.toml"), "too many redirects"),
            (_refused_url(), "cannot connect"),
        ]
        for url, words in cases:
            assert_failed(_scan(db, packages, "-w", url), url, words)
            run = _scan(db, packages, "-w", url, "--whitelist-optional")
            assert run.returncode == 2, run.stderr
            assert any(url in w for w in run.json()["warnings"])


def test_html_page_served_as_a_whitelist_is_invalid(
    db: Path, packages: Path, tmp_path: Path
) -> None:
    """A captive portal's 200 page is not "unreachable": it fails even when optional."""
    with FeedServer(tmp_path) as server:
        page = b"<!DOCTYPE html>\n<html><body>Log in to continue</body></html>\n"
        server.set_fault("/wl.toml", Fault(body=page))
        url = server.url_for("/wl.toml")
        assert_failed(_scan(db, packages, "-w", url), url, "line")
        assert_failed(_scan(db, packages, "-w", url, "--whitelist-optional"), url)
