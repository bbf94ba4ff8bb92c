"""One derivation to one package: identity, patches, store path, and the skip rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nix_audit.derivation.aterm import Derivation, DerivationOutput, parse_derivation
from nix_audit.derivation.package import package_from_derivation
from nix_audit.errors import DerivationError
from nix_audit.models import Closure, Package, Skipped

HASH = "17rdhaypdan2f1gg4rcz50b0lpkr09wm"


def _drv(
    env: dict[str, str],
    *,
    outputs: tuple[DerivationOutput, ...] = (DerivationOutput("out", f"/nix/store/{HASH}-o"),),
    path: str = f"/nix/store/{HASH}-made-up.drv",
) -> Derivation:
    return Derivation(path, outputs, (), (), "x86_64-linux", "/bin/sh", (), tuple(env.items()))


def _package(
    drv: Derivation, closure: Closure = Closure.RUNTIME, store_path: str | None = None
) -> Package:
    result = package_from_derivation(drv, closure=closure, store_path=store_path)
    assert isinstance(result, Package), result
    return result


def _skip_reason(drv: Derivation) -> str:
    result = package_from_derivation(drv)
    assert isinstance(result, Skipped), result
    assert result.what == drv.path
    return result.reason


REAL = {
    "audiofile-0.3.6.drv": ("audiofile-0.3.6", "audiofile", "0.3.6"),
    "bzip2-1.0.6.0.1.drv": ("bzip2-1.0.6.0.1", "bzip2", "1.0.6.0.1"),
    "cpio-2.12.drv": ("cpio-2.12", "cpio", "2.12"),
    "cyrus-sasl-2.5.10.drv": ("cyrus-sasl-2.5.10", "cyrus-sasl", "2.5.10"),
    "structured-attrs-1.drv": ("structured-attrs-1", "structured-attrs", "1"),
    "transmission-1.91.drv": ("transmission-1.91", "transmission", "1.91"),
    "unzip-6.0.drv": ("unzip-6.0", "unzip", "6.0"),
    # name without a version, version attribute alone
    "xercesc-3.2.3.drv": ("xercesc", "xercesc", "3.2.3"),
}


def test_real_derivations(real_drvs: list[Path]) -> None:
    for path in real_drvs:
        drv = parse_derivation(path)
        package = _package(drv)
        assert (package.name, package.pname, package.version) == REAL[path.name]
        assert package.derivation == str(path)
        assert package.closure is Closure.RUNTIME
        assert package.known_vulnerabilities == ()
        assert package.source_urls == ()


def test_real_cpio(shared_data: Path) -> None:
    package = _package(parse_derivation(shared_data / "drv" / "cpio-2.12.drv"))
    assert package.pname == "cpio"
    assert package.version == "2.12"
    assert package.patched_cves == {"CVE-2015-1197", "CVE-2016-2037"}
    assert package.store_path == "/nix/store/17rdhaypdan2f1gg4rcz50b0lpkr09wm-cpio-2.12"


def test_store_path_is_the_out_output(shared_data: Path) -> None:
    # bzip2's outputs are bin, dev, man, out in the file: "out" is chosen, not the first
    package = _package(parse_derivation(shared_data / "drv" / "bzip2-1.0.6.0.1.drv"))
    assert package.store_path == "/nix/store/c1xh47kkw4g9kayy6xzn7mygxbmp2fa3-bzip2-1.0.6.0.1"


def test_store_path_and_closure_are_passed_through(drv_data: Path) -> None:
    drv = parse_derivation(drv_data / "multi-out-2.3.drv")
    package = _package(drv, closure=Closure.BUILDTIME, store_path=drv.outputs[0].path)
    assert package.closure is Closure.BUILDTIME
    assert package.store_path == drv.outputs[0].path
    assert package.patched_cves == {"CVE-2019-13636"}


def test_store_path_without_out_output() -> None:
    outputs = (DerivationOutput("bin", "/nix/store/b"), DerivationOutput("lib", "/nix/store/l"))
    assert _package(_drv({"name": "a-1"}, outputs=outputs)).store_path == "/nix/store/b"
    assert _package(_drv({"name": "a-1"}, outputs=())).store_path is None


def test_structured_attrs_identity_and_patches(drv_data: Path) -> None:
    package = _package(parse_derivation(drv_data / "structured-pkg.drv"))
    assert package.name == "python3.11-requests-2.31.0"
    assert (package.pname, package.version) == ("requests", "2.31.0")
    assert package.patched_cves == {"CVE-2023-32681", "CVE-2024-35195", "CVE-2024-47081"}
    assert package.store_path is not None and package.store_path.endswith("-requests-2.31.0")


@pytest.mark.parametrize(
    ("env", "identity"),
    [
        ({"name": "openssl-1.0.1f"}, ("openssl", "1.0.1f")),
        ({"name": "foo-1.0", "pname": "bar", "version": "2.0"}, ("bar", "2.0")),
        ({"name": "foo-1.0", "pname": "", "version": ""}, ("foo", "1.0")),
        ({"name": "foo-1.0", "pname": "bar"}, ("bar", "1.0")),
        ({"name": "python3.11-six-1.16", "version": "1.16"}, ("python3.11-six", "1.16")),
        ({"name": "xercesc", "version": "3.2.3"}, ("xercesc", "3.2.3")),
        ({"name": "git-2.40-with-x", "version": "2.40-with-x"}, ("git", "2.40-with-x")),
        ({"name": "weird-name", "version": "7"}, ("weird-name", "7")),
    ],
)
def test_identity(env: dict[str, str], identity: tuple[str, str]) -> None:
    package = _package(_drv(env))
    assert (package.pname, package.version) == identity
    assert package.name == env["name"]


def test_name_from_the_drv_file_when_there_is_no_name_attribute() -> None:
    package = _package(_drv({}, path=f"/nix/store/{HASH}-hello-2.12.drv"))
    assert (package.name, package.pname, package.version) == ("hello-2.12", "hello", "2.12")
    package = _package(_drv({}, path="/tmp/copies/zlib-1.3.drv"))
    assert (package.name, package.pname, package.version) == ("zlib-1.3", "zlib", "1.3")


@pytest.mark.parametrize(
    "name",
    [
        "audiofile-0.3.6.tar.gz", "cpio-2.12.tar.bz2", "xz-5.4.5.tar.xz", "a-1.tgz", "a-1.zip",
        "CVE-2017-6833.patch", "fix-1.diff", "a-1.tar", "rake-13.0.gem", "log4j-2.17.jar",
        "six-1.16-py3-none-any.whl", "curl_7.1.deb", "curl-7.1.rpm", "source", "openssl-3.0-source",
    ],
)  # fmt: skip
def test_sources_and_patches_are_skipped(name: str) -> None:
    assert _skip_reason(_drv({"name": name, "version": "1.0"})) == (
        f"source or patch, not a package: {name}"
    )


@pytest.mark.parametrize("name", ["hook", "stdenv-linux", "bootstrap-tools", "foo-"])
def test_names_without_a_version_are_skipped(name: str) -> None:
    assert _skip_reason(_drv({"name": name})) == f"no version in name {name!r}"


def test_fixed_output_derivations_are_skipped(drv_data: Path) -> None:
    assert _skip_reason(parse_derivation(drv_data / "fetched-1.2.tar.gz.drv")) == (
        "fixed-output derivation (a download)"
    )
    # a fetcher with a versioned, non-archive name is still a download
    fetcher = DerivationOutput("out", "/nix/store/o", "r:sha256", "1b4f")
    reason = _skip_reason(_drv({"name": "foo-1.2"}, outputs=(fetcher,)))
    assert reason == "fixed-output derivation (a download)"


def test_packages_with_a_source_like_word_inside_are_kept() -> None:
    assert _package(_drv({"name": "sourcehut-0.1"})).pname == "sourcehut"
    assert _package(_drv({"name": "patchelf-0.18.0"})).pname == "patchelf"
    assert _package(_drv({"name": "zip-3.0"})).pname == "zip"


def test_bad_structured_attrs_raise() -> None:
    with pytest.raises(DerivationError, match="bad __json"):
        package_from_derivation(_drv({"__json": "[", "out": "/nix/store/o"}))


# --- source URLs (issue #4: evidence of which project a package is) ----------------------

_FETCHER_NIX = """
let
  src = builtins.derivation {
    name = "hello-2.12.tar.gz";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "exit 1" ];
    urls = [ "mirror://gnu/hello/hello-2.12.tar.gz"
             "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "0000000000000000000000000000000000000000000000000000";
  };
  other = builtins.derivation {
    name = "unrelated-1.0";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo > $out" ];
    url = "https://example.org/unrelated.tar.gz";
  };
in builtins.derivation {
  name = "hello-2.12";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo ${other} > $out" ];
  inherit src;
}
"""


def _instantiate(tmp_path: Path, expr: str) -> Path:
    (tmp_path / "default.nix").write_text(expr)
    done = subprocess.run(
        ["nix-instantiate", str(tmp_path / "default.nix")],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip())


def test_source_urls_come_from_the_src_fetcher(nix_config: str, tmp_path: Path) -> None:
    drv = parse_derivation(_instantiate(tmp_path, _FETCHER_NIX))
    reads: list[str] = []

    def read(path: str) -> Derivation | None:
        reads.append(path)
        return parse_derivation(path)

    package = package_from_derivation(drv, read_input=read)
    assert isinstance(package, Package)
    assert package.source_urls == (
        "mirror://gnu/hello/hello-2.12.tar.gz",
        "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz",
    )
    # Only the input named like ``src`` is read, not the unrelated input derivation.
    assert len(reads) == 1 and reads[0].endswith("-hello-2.12.tar.gz.drv")


def test_source_urls_without_a_reader_are_empty(nix_config: str, tmp_path: Path) -> None:
    drv = parse_derivation(_instantiate(tmp_path, _FETCHER_NIX))
    assert _package(drv).source_urls == ()


def test_own_url_attributes_are_used() -> None:
    drv = _drv({"name": "foo-1.0", "urls": "mirror://hackage/foo-1.0.tar.gz https://x.org/a"})
    assert _package(drv).source_urls == ("mirror://hackage/foo-1.0.tar.gz", "https://x.org/a")
    single = _drv({"name": "bar-1.0", "url": "https://github.com/o/bar.git"})
    assert _package(single).source_urls == ("https://github.com/o/bar.git",)


def test_src_whose_fetcher_is_gone_gives_no_urls() -> None:
    src = f"/nix/store/{HASH}-foo-1.0.tar.gz"
    drv = Derivation(
        f"/nix/store/{HASH}-foo-1.0.drv",
        (DerivationOutput("out", f"/nix/store/{HASH}-foo-1.0"),),
        ((f"/nix/store/{HASH}-foo-1.0.tar.gz.drv", ("out",)),),
        (),
        "x86_64-linux",
        "/bin/sh",
        (),
        (("name", "foo-1.0"), ("src", src)),
    )
    result = package_from_derivation(drv, read_input=lambda path: None)
    assert isinstance(result, Package) and result.source_urls == ()
