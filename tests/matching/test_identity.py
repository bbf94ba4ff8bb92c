"""Identity mapping: exact CPEs, the curated table, source URLs, name heuristics (issue #4)."""

from __future__ import annotations

import pytest

from nix_audit.errors import AdvisoryError
from nix_audit.matching.identity import EXACT, HEURISTIC, TABLE, URL, identify
from nix_audit.matching.mapping_table import default_table, parse_mapping_table
from nix_audit.matching.url_evidence import url_evidence
from nix_audit.models import Confidence, Package


def _pkg(
    pname: str, version: str = "1.0", *, urls: tuple[str, ...] = (), cpes: tuple[str, ...] = ()
) -> Package:
    return Package(f"{pname}-{version}", pname, version, cpes=cpes, source_urls=urls)


def test_exact_cpes_win_and_allow_only_their_vendor() -> None:
    ident = identify(
        _pkg("fuse", "2.9.8", cpes=("cpe:2.3:a:fuse_project:fuse:2.9.8:*:*:*:*:*:*:*",))
    )
    assert ident.source == EXACT
    assert ident.scopes["fuse"].vendors == frozenset({"fuse_project"})
    assert ident.judge("cpe:2.3:a:fuse_project:fuse:*:*:*:*:*:*:*:*") == (EXACT, Confidence.HIGH)


def test_malformed_exact_cpe_falls_back_to_the_table() -> None:
    assert identify(_pkg("openssl", cpes=("not-a-cpe",))).source == TABLE


@pytest.mark.parametrize(
    ("pname", "product", "vendors", "parts"),
    [
        ("python3", "python", {"python", "python_software_foundation"}, {"a"}),
        ("python311", "python", {"python", "python_software_foundation"}, {"a"}),
        # a: CISA ADP's CPEs (issue #12); kernel: old records (issue #13, test_mapping_gaps)
        ("linux", "linux_kernel", {"linux", "kernel"}, {"o", "a"}),
        ("openssh", "openssh", {"openbsd"}, {"a"}),
        ("nodejs-slim", "node.js", {"nodejs", "joyent", "node.js"}, {"a"}),  # node.js: the CNA
        ("git", "git", {"git-scm", "git", "git_project"}, {"a"}),
        ("firefox-esr-unwrapped", "firefox", {"mozilla"}, {"a"}),
        ("ShellCheck", "shellcheck", {"koalaman"}, {"a"}),
        ("mariadb-server", "mariadb", {"mariadb"}, {"a"}),
    ],
)
def test_table_entries(pname: str, product: str, vendors: set[str], parts: set[str]) -> None:
    ident = identify(_pkg(pname))
    assert ident.source == TABLE
    assert ident.scopes[product].vendors == frozenset(vendors)
    assert ident.scopes[product].parts == parts


def test_vscode_extension_is_limited_to_its_target() -> None:
    ident = identify(_pkg("vscode-extension-timonwong-shellcheck", "0.13.3"))
    assert ident.scopes["shellcheck"].target_sw == frozenset({"visual_studio_code"})


def test_hackage_url_makes_a_library_not_the_c_program() -> None:
    ident = identify(_pkg("zlib", "0.7.1.1", urls=("mirror://hackage/zlib-0.7.1.1.tar.gz",)))
    assert ident.source == HEURISTIC and ident.ecosystem == "hackage"
    assert ident.judge("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*") == (HEURISTIC, Confidence.LOW)
    haskell = "cpe:2.3:a:zlib_project:zlib:*:*:*:*:*:haskell:*:*"
    assert ident.judge(haskell) == (HEURISTIC, Confidence.HIGH)


def test_texlive_output_is_not_the_go_toolchain() -> None:
    ident = identify(_pkg("go", "28628-tex"))
    assert ident.ecosystem == "texlive" and ident.source == HEURISTIC
    assert ident.judge("cpe:2.3:a:golang:go:*:*:*:*:*:*:*:*")[1] is Confidence.LOW


def test_github_owner_is_a_vendor() -> None:
    ident = identify(
        _pkg("hydra", "25.4.0", urls=("https://github.com/ory/hydra/archive/v25.4.0.tar.gz",))
    )
    assert ident.source == URL
    assert ident.judge("cpe:2.3:a:ory:hydra:*:*:*:*:*:go:*:*") == (URL, Confidence.HIGH)
    # The repository names a vendor too (``<repo>_project``, an NVD habit).
    assert ident.judge("cpe:2.3:a:hydra_project:hydra:*:*:*:*:*:*:*:*") == (URL, Confidence.HIGH)
    assert ident.judge("cpe:2.3:a:someone:hydra:*:*:*:*:*:*:*:*")[1] is Confidence.LOW


def test_heuristic_vendor_named_by_the_name_is_high_others_low() -> None:
    ident = identify(_pkg("libfoo-unknown"))
    assert ident.source == HEURISTIC
    assert (
        ident.judge("cpe:2.3:a:libfoo-unknown:libfoo-unknown:*:*:*:*:*:*:*:*")[1] is Confidence.HIGH
    )
    assert (
        ident.judge("cpe:2.3:a:libfoo_unknown_project:libfoo_unknown:*:*:*:*:*:*:*:*")[1]
        is Confidence.HIGH
    )
    assert ident.judge("cpe:2.3:a:themeton:libfoo_unknown:*:*:*:*:*:*:*:*")[1] is Confidence.LOW


def test_python_library_uses_python_entries_only() -> None:
    ident = identify(_pkg("python3.13-django", "5.2"))
    assert ident.source == TABLE and ident.scopes["django"].vendors
    # A Python package named like a C program is not that program.
    assert identify(_pkg("python3.13-curl", "1.0")).source == HEURISTIC


@pytest.mark.parametrize(
    ("url", "vendors", "ecosystem"),
    [
        ("mirror://gnu/hello/hello-2.12.tar.gz", {"gnu"}, None),
        ("https://ftp.gnu.org/gnu/bash/bash-5.2.tar.gz", {"gnu"}, None),
        ("mirror://cpan/authors/id/T/TI/TIMB/DBI-1.643.tar.gz", set(), "cpan"),
        (
            "https://files.pythonhosted.org/packages/source/r/requests/requests-2.3.tar.gz",
            set(),
            "pypi",
        ),
        (
            "https://gitlab.com/Owner/Repo.git",
            {"owner", "owner_project", "repo", "repo_project"},
            None,
        ),
        ("mirror://sourceforge/giflib/giflib-5.2.2.tar.gz", {"giflib", "giflib_project"}, None),
        ("not a url", set(), None),
    ],
)
def test_url_evidence(url: str, vendors: set[str], ecosystem: str | None) -> None:
    found = url_evidence((url,))
    assert found.vendors == vendors and found.ecosystem == ecosystem


def test_space_joined_urls_are_split() -> None:
    found = url_evidence(("mirror://gnu/a/a-1.tar.gz https://github.com/x/a/archive/1.tar.gz",))
    assert found.vendors >= {"gnu", "x"}


def test_default_table_has_many_reviewed_entries() -> None:
    table = default_table()
    assert len(table.entries) >= 200
    assert table.lookup("openssl") is not None and table.lookup("no-such-package") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[entry]]\nnix = ['a']\n", "needs at least one 'cpe'"),
        ("[[entry]]\nnix = ['a']\ncpe = ['nonsense']\n", "bad cpe"),
        ("[[entry]]\ncpe = ['a:b:c']\n", "needs 'nix' names or a 'pattern'"),
        ("[[entry]]\nnix = ['a']\ncpe = ['a:b:c']\ncolour = 1\n", "unknown key 'colour'"),
        ("[[entry]]\npattern = '('\ncpe = ['a:b:c']\n", "bad 'pattern'"),
        ("x = 1\n", "unknown top-level key 'x'"),
        ("[[entry]\n", "not valid TOML"),
    ],
)
def test_bad_tables_are_rejected_with_the_entry(text: str, message: str) -> None:
    with pytest.raises(AdvisoryError, match=message) as caught:
        parse_mapping_table(text, origin="t.toml")
    assert str(caught.value).startswith("t.toml: ")
    assert "\n" not in str(caught.value)
