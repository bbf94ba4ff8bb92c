"""CPE product candidates for Nix package names."""

from __future__ import annotations

import pytest

from nix_audit.matching.candidates import product_candidates


@pytest.mark.parametrize(
    ("pname", "expected"),
    [
        ("openssl", ("openssl",)),
        ("util-linux", ("util-linux", "util_linux")),
        ("OpenSSL", ("openssl",)),
        ("python3.13-requests", ("python3.13-requests", "python3.13_requests", "requests")),
        ("perl5.42.0-DBI", ("perl5.42.0-dbi", "perl5.42.0_dbi", "dbi")),
        ("ocaml4.14.3-findlib", ("ocaml4.14.3-findlib", "ocaml4.14.3_findlib", "findlib")),
        ("python311Packages.requests", ("python311packages.requests", "requests")),
        ("firefox-unwrapped", ("firefox-unwrapped", "firefox_unwrapped", "firefox")),
        ("curl-static", ("curl-static", "curl_static", "curl")),
        ("nodejs-slim", ("nodejs-slim", "nodejs_slim", "nodejs", "node.js")),
        ("python3", ("python3", "python")),
        ("python3-minimal", ("python3-minimal", "python3_minimal", "python3", "python")),
        ("linux", ("linux", "linux_kernel")),
        ("apache-httpd", ("apache-httpd", "apache_httpd", "http_server")),
        ("chromium-unwrapped", ("chromium-unwrapped", "chromium_unwrapped", "chromium", "chrome")),
        ("expat", ("expat", "libexpat")),
    ],
)
def test_candidates(pname: str, expected: tuple[str, ...]) -> None:
    assert product_candidates(pname) == expected


@pytest.mark.parametrize("pname", ["python-dateutil", "bin", "lua-check-hyphen", "gnupg"])
def test_names_that_only_look_decorated_keep_their_meaning(pname: str) -> None:
    candidates = product_candidates(pname)
    assert candidates[0] == pname
    assert all(c in (pname, pname.replace("-", "_")) for c in candidates)


def test_candidates_are_distinct_and_lower_case() -> None:
    for pname in ["Foo-Bar-unwrapped-bin", "python3.11-Foo_Bar", "x"]:
        candidates = product_candidates(pname)
        assert len(set(candidates)) == len(candidates)
        assert all(c == c.lower() and c for c in candidates)
