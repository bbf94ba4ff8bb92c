"""Which nixpkgs package set a package belongs to (issue #13): attribute path, name prefix."""

from __future__ import annotations

import pytest

from nix_audit.matching.ecosystem import package_set
from nix_audit.matching.identity import HEURISTIC, TABLE, identify
from nix_audit.models import Confidence, Package


@pytest.mark.parametrize(
    ("attribute", "name", "expected"),
    [
        ("haskellPackages.mysql", "mysql-0.2.1", "haskell"),
        ("haskell.packages.ghc98.mysql", "mysql-0.2.1", "haskell"),
        ("texlive.pkgs.moodle", "moodle-1.0", "texlive"),
        ("texlive.pkgs.python", "python-0.22", "texlive"),
        ("python313Packages.requests", "python3.13-requests-2.32.3", "python"),
        ("python3.pkgs.requests", "python3.13-requests-2.32.3", "python"),
        ("perl5Packages.DBI", "perl5.42.0-DBI-1.643", "perl"),
        ("rubyPackages_4_0.json", "ruby4.0-json-2.9.1", "ruby"),
        ("php83Extensions.imagick", "php-imagick-3.8.0", "php"),
        ("ocamlPackages.tar", "ocaml5.3.0-tar-3.3.0", "ocaml"),
        # The set's own interpreter is the program.
        ("beamMinimal26Packages.erlang", "erlang-26.2.5.18", None),
        ("python313Packages.python", "python3-3.13.12", None),
        ("haskellPackages.ghc", "ghc-9.8.4", None),
        # Top-level attributes and sets of programs are no language set.
        ("openssl", "openssl-3.6.1", None),
        ("kdePackages.konsole", "konsole-25.12.3", None),
        ("linuxKernel.kernels.linux_6_1", "linux-6.1.167", None),
        # No attribute: the name's language prefix decides.
        (None, "python3.11-requests-2.28.1", "python"),
        (None, "mysql-0.2.1", None),
    ],
)
def test_package_set(attribute: str | None, name: str, expected: str | None) -> None:
    assert package_set(attribute, name) == expected


def test_a_haskell_binding_is_not_the_program_it_binds() -> None:
    binding = identify(Package("mysql-0.2.1", "mysql", "0.2.1", attribute="haskellPackages.mysql"))
    program = identify(Package("mysql-8.0.40", "mysql", "8.0.40", attribute="mysql80"))
    assert program.source == TABLE
    assert binding.source == HEURISTIC and binding.ecosystem == "haskell"
    assert binding.judge("cpe:2.3:a:oracle:mysql:*:*:*:*:*:*:*:*")[1] is Confidence.LOW


def test_a_tex_package_named_python_is_not_cpython() -> None:
    tex = identify(Package("python-0.22", "python", "0.22", attribute="texlive.pkgs.python"))
    assert tex.judge("cpe:2.3:a:python:python:*:*:*:*:*:*:*:*")[1] is Confidence.LOW


def test_a_python_library_whose_derivation_sets_pname_keeps_its_python_entry() -> None:
    # buildPythonPackage: name = "python3.11-requests-2.28.1", pname = "requests".
    library = identify(Package("python3.11-requests-2.28.1", "requests", "2.28.1"))
    assert library.source == TABLE and library.ecosystem == "python"
    assert "requests" in library.scopes
