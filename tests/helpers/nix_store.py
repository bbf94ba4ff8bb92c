"""A small real Nix store for tests: derivations with real names, built with ``/bin/sh``.

``build_fixture_store(tmp)`` writes one Nix expression of ``builtins.derivation``s (no
nixpkgs), instantiates and realises them with the installed Nix, and returns where everything
is. Every store object is held by an indirect GC root under ``tmp/roots``, so a garbage
collection run by another test cannot pull the store from under a test. A random salt in an
attribute (not in the names) makes the store paths new in every session, so tests never see
objects left by an earlier run.

The store:

========================  ===================================================================
attribute                 what it is
========================  ===================================================================
``zlib``                  ``zlib-1.2.11``
``cmake``                 ``cmake-3.10.2``, a build-only tool of ``openssl`` (named by its
                          builder's args, not written into its output)
``openssl_src``           ``openssl-1.0.1f.tar.gz``, a source-named derivation (skipped)
``openssl``               ``openssl-1.0.1f``, outputs ``out`` (refers to zlib) and ``dev``
``cve_patch``             ``CVE-2014-0224.patch``, a patch built by a derivation
``openssl_g``             ``openssl-1.0.1g`` with ``patches = [ cve_patch ]``
``curl``                  ``curl-7.50.0``, ``bin/curl`` refers to openssl-1.0.1f
``requests``              ``python3.10-requests-2.28.1`` with ``pname``/``version`` attributes
``expat``                 ``expat-2.2.6`` with ``__structuredAttrs`` and a CVE-named patch
``libpng``                ``libpng-1.6.37`` (needs zlib): instantiated, never realised
``sqlite``                ``sqlite-3.8.10``: realised, then its ``.drv`` deleted (as on a host
                          installed from a binary cache: the deriver is known, the file gone)
``system``                ``nixos-system-nixaudit-23.11``: refers to curl, expat, requests
``profile_v1``            a ``nix profile`` output, ``manifest.json`` version 1 (a list) -> zlib
``profile_v3``            a ``nix profile`` output, ``manifest.json`` version 3 (an object)
                          -> curl
========================  ===================================================================

plus ``bzip2-1.0.6`` added with ``nix-store --add`` (no deriver at all), and links:
``result`` (-> curl), ``curl-bin`` (-> ``result/bin/curl``), ``gcroot`` (-> openssl-1.0.1g),
``profile`` (a ``nix-env`` profile with curl installed), ``profile-v1``/``profile-v3``,
``current-system``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "FIXTURE_NIX",
    "WIDE_NIX",
    "NixFixtureStore",
    "build_fixture_store",
    "instantiate_wide",
    "nix_fixture_store",
]

FIXTURE_NIX = r"""
{ salt }:
let
  # PATH reaches the host's coreutils: the fixture runs unsandboxed (tests/conftest.py).
  mk = attrs: derivation ({
    system = builtins.currentSystem;
    builder = "/bin/sh";
    PATH = "/usr/bin:/bin";
    inherit salt;
  } // attrs);
  sh = script: [ "-c" script ];
in rec {
  zlib = mk { name = "zlib-1.2.11"; args = sh "mkdir -p $out/lib; echo zlib > $out/lib/libz.so"; };
  cmake = mk { name = "cmake-3.10.2"; args = sh "mkdir -p $out/bin; echo cmake > $out/bin/cmake"; };
  openssl_src = mk { name = "openssl-1.0.1f.tar.gz"; args = sh "echo tarball > $out"; };
  openssl = mk {
    name = "openssl-1.0.1f";
    outputs = [ "out" "dev" ];
    # cmake and the tarball are read at build time only: nothing of them reaches $out.
    args = sh ''
      test -e ${cmake}/bin/cmake; test -e ${openssl_src}
      mkdir -p $out/lib $dev/include
      echo ${zlib} > $out/lib/libssl.so
      echo $out > $dev/include/ssl.h
    '';
  };
  cve_patch = mk { name = "CVE-2014-0224.patch"; args = sh "echo fix > $out"; };
  openssl_g = mk {
    name = "openssl-1.0.1g";
    patches = [ cve_patch ];
    args = sh "mkdir -p $out/lib; echo 1.0.1g > $out/lib/libssl.so";
  };
  curl = mk {
    name = "curl-7.50.0";
    args = sh "mkdir -p $out/bin; echo ${openssl} > $out/bin/curl";
  };
  requests = mk {
    name = "python3.10-requests-2.28.1";
    pname = "requests";
    version = "2.28.1";
    args = sh "mkdir -p $out/lib; echo requests > $out/lib/requests.py";
  };
  expat = mk {
    name = "expat-2.2.6";
    pname = "expat";
    version = "2.2.6";
    __structuredAttrs = true;
    patches = [ "CVE-2018-20843.patch" ];
    # Structured attributes reach the builder as .attrs.json, not as variables (no $out,
    # no PATH); the placeholder in args is rewritten to the output path.
    args = sh "PATH=/usr/bin:/bin; mkdir -p ${builtins.placeholder "out"}/lib";
  };
  libpng = mk { name = "libpng-1.6.37"; args = sh "mkdir -p $out; echo ${zlib} > $out/png"; };
  sqlite = mk {
    name = "sqlite-3.8.10";
    args = sh "mkdir -p $out/bin; echo sqlite > $out/bin/sqlite3";
  };
  system = mk {
    name = "nixos-system-nixaudit-23.11";
    args = sh "mkdir -p $out; echo ${curl} ${expat} ${requests} > $out/sw";
  };
  profile_v1 = mk {
    name = "profile";
    manifest = builtins.toJSON {
      version = 1;
      elements = [ { active = true; priority = 5; storePaths = [ "${zlib}" ]; } ];
    };
    args = sh "mkdir -p $out; printf '%s\n' \"$manifest\" > $out/manifest.json";
  };
  profile_v3 = mk {
    name = "profile";
    manifest = builtins.toJSON {
      version = 3;
      elements = { curl = { active = true; priority = 5; storePaths = [ "${curl}" ]; }; };
    };
    args = sh "mkdir -p $out; printf '%s\n' \"$manifest\" > $out/manifest.json";
  };
}
"""

# For speed tests: one derivation ("world-1.0") whose builder names ``count`` leaf
# derivations, each with pname, version and a CVE-named patch, as a system closure has.
WIDE_NIX = r"""
{ salt, count }:
let
  leaf = i: derivation {
    name = "pkg${toString i}-1.${toString i}";
    pname = "pkg${toString i}";
    version = "1.${toString i}";
    patches = [ "CVE-2020-${toString (10000 + i)}.patch" ];
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo > $out" ];
    inherit salt;
  };
in derivation {
  name = "world-1.0";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo ${toString (builtins.genList leaf count)} > $out" ];
  inherit salt;
}
"""

# attribute -> output names, in the order the expression declares them.
_OUTPUTS: dict[str, tuple[str, ...]] = {
    "zlib": ("out",),
    "cmake": ("out",),
    "openssl_src": ("out",),
    "openssl": ("out", "dev"),
    "cve_patch": ("out",),
    "openssl_g": ("out",),
    "curl": ("out",),
    "requests": ("out",),
    "expat": ("out",),
    "libpng": ("out",),
    "sqlite": ("out",),
    "system": ("out",),
    "profile_v1": ("out",),
    "profile_v3": ("out",),
}
_UNREALISED = frozenset({"libpng"})


@dataclass(frozen=True)
class NixFixtureStore:
    """Where the fixture store's objects are; see the module docstring for the contents."""

    root: Path
    salt: str
    drvs: Mapping[str, str]  # attribute -> .drv path (sqlite's is deleted)
    outputs: Mapping[str, Mapping[str, str]]  # attribute -> output name -> store path
    no_deriver: str  # bzip2-1.0.6, added with nix-store --add
    links: Mapping[str, Path]  # result, curl-bin, gcroot, profile, profile-v1/-v3, system

    def out(self, attr: str, output: str = "out") -> str:
        """The store path of one output of one attribute."""
        return self.outputs[attr][output]


def _nix(*argv: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, check=False, env=dict(env or os.environ)
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _instantiate(expr: Path, attr: str, salt: str, roots: Path) -> str:
    out = _nix(
        "nix-instantiate", str(expr), "--argstr", "salt", salt, "-A", attr,
        "--add-root", str(roots / f"drv-{attr}"), "--indirect",
    )  # fmt: skip
    return os.path.realpath(out.strip())


def _realise(drv: str, attr: str, roots: Path) -> dict[str, str]:
    """Build ``drv`` with one indirect root per output; output name -> store path."""
    _nix("nix-store", "--realise", drv, "--add-root", str(roots / f"out-{attr}"), "--indirect")
    found = _nix("nix-store", "--query", "--outputs", drv).split()
    # Nix names output <name> "<hash>-<drv name>-<name>", except "out": "<hash>-<drv name>".
    others = tuple(f"-{name}" for name in _OUTPUTS[attr] if name != "out")
    outputs: dict[str, str] = {}
    for name in _OUTPUTS[attr]:
        if name == "out":
            outputs[name] = next(p for p in found if not others or not p.endswith(others))
        else:
            outputs[name] = next(p for p in found if p.endswith(f"-{name}"))
    return outputs


def _root_link(link: Path, path: str) -> Path:
    """``link`` -> ``path``, registered as an indirect GC root (as ``nix-build`` does)."""
    _nix("nix-store", "--realise", path, "--add-root", str(link), "--indirect")
    return link


def _add_without_deriver(root: Path, salt: str, roots: Path) -> str:
    """A store path Nix knows no deriver of: a directory added with ``nix-store --add``."""
    source = root / "bzip2-1.0.6"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "bzip2").write_text(f"bzip2 {salt}\n")
    path = _nix("nix-store", "--add", str(source)).strip()
    _nix("nix-store", "--realise", path, "--add-root", str(roots / "bzip2"), "--indirect")
    return path


def _delete_drv(drv: str, roots: Path) -> None:
    """Delete ``drv`` though its output lives: what a binary-cache host looks like."""
    (roots / "drv-sqlite").unlink()
    # keep-derivations (default true) keeps the .drv of every live output; turn it off.
    config = os.environ.get("NIX_CONFIG", "") + "\nkeep-derivations = false\n"
    env = {**os.environ, "NIX_CONFIG": config}
    _nix("nix-store", "--delete", drv, env=env)


def build_fixture_store(root: Path, *, salt: str | None = None) -> NixFixtureStore:
    """Write, instantiate and realise the fixture expression under ``root`` (needs Nix)."""
    salt = salt or secrets.token_hex(8)
    roots = root / "roots"
    roots.mkdir(parents=True)
    expr = root / "fixture.nix"
    expr.write_text(FIXTURE_NIX)
    drvs = {attr: _instantiate(expr, attr, salt, roots) for attr in _OUTPUTS}
    outputs = {
        attr: _realise(drv, attr, roots) for attr, drv in drvs.items() if attr not in _UNREALISED
    }
    _delete_drv(drvs["sqlite"], roots)
    no_deriver = _add_without_deriver(root, salt, roots)
    _nix("nix-env", "-p", str(root / "profile"), "-i", outputs["curl"]["out"])
    result = _root_link(root / "result", outputs["curl"]["out"])
    curl_bin = root / "curl-bin"
    curl_bin.symlink_to(result / "bin" / "curl")
    links = {
        "result": result,
        "curl-bin": curl_bin,
        "gcroot": _root_link(root / "gcroot", outputs["openssl_g"]["out"]),
        "profile": root / "profile",
        "profile-v1": _root_link(root / "profile-v1", outputs["profile_v1"]["out"]),
        "profile-v3": _root_link(root / "profile-v3", outputs["profile_v3"]["out"]),
        "system": _root_link(root / "current-system", outputs["system"]["out"]),
    }
    return NixFixtureStore(root, salt, drvs, outputs, no_deriver, links)


def instantiate_wide(root: Path, count: int, *, salt: str | None = None) -> str:
    """Instantiate (not build) ``WIDE_NIX`` with ``count`` leaves; the top ``.drv`` path."""
    expr = root / "wide.nix"
    expr.write_text(WIDE_NIX)
    out = _nix(
        "nix-instantiate", str(expr), "--argstr", "salt", salt or secrets.token_hex(8),
        "--arg", "count", str(count), "--add-root", str(root / "wide.drv"), "--indirect",
    )  # fmt: skip
    return os.path.realpath(out.strip())


@pytest.fixture(scope="session")
def nix_fixture_store(
    nix_config: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NixFixtureStore]:
    """One fixture store for the whole session (import this fixture into a conftest.py)."""
    yield build_fixture_store(tmp_path_factory.mktemp("nix-fixture-store"))
