"""What a derivation's source URLs say about which project a package is.

The ``src`` of a nixpkgs package is a fixed-output fetcher whose ``url``/``urls`` name the
upstream: a GitHub or GitLab owner and repository (an owner is often the NVD vendor:
``github.com/ory/hydra`` is ``a:ory:hydra``), a project host (``mirror://gnu/`` and
``ftp.gnu.org/gnu/`` are the vendor ``gnu``), or a language registry: ``mirror://hackage/``
is a Haskell library, ``mirror://cpan/`` a Perl module, PyPI a Python package, so
``zlib-0.7.1.1`` from Hackage is the Haskell binding and not the C library ``zlib:zlib``.
``mirror://`` schemes are those of nixpkgs ``pkgs/build-support/fetchurl/mirrors.nix``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["ECOSYSTEM_LANGUAGES", "UrlEvidence", "url_evidence"]

# Language of each registry, as the NVD writes it in ``target_sw`` or as a vendor
# (``a:python:pillow``, ``...:*:*:*:*:haskell:*:*``).
ECOSYSTEM_LANGUAGES: dict[str, frozenset[str]] = {
    "hackage": frozenset({"haskell"}),
    "cpan": frozenset({"perl"}),
    "pypi": frozenset({"python"}),
    "rubygems": frozenset({"ruby", "rails"}),
    "npm": frozenset({"node.js", "nodejs"}),
    "crates": frozenset({"rust"}),
    "hex": frozenset({"erlang", "elixir"}),
    "luarocks": frozenset({"lua"}),
    "texlive": frozenset(),
    "python": frozenset({"python"}),
    "perl": frozenset({"perl"}),
    "ruby": frozenset({"ruby", "rails"}),
    "ocaml": frozenset({"ocaml"}),
    "lua": frozenset({"lua"}),
    "haskell": frozenset({"haskell"}),
    # Package sets named by attribute paths (``matching.ecosystem``); a set missing here
    # (TeX Live, Typst, R) has no language word in CPEs: every heuristic hit is uncertain.
    "node.js": frozenset({"node.js", "nodejs"}),
    "erlang": frozenset({"erlang", "elixir"}),
    "php": frozenset({"php"}),
    "vim": frozenset({"vim"}),
    "emacs": frozenset({"emacs", "gnu_emacs"}),
    "gnome_shell": frozenset({"gnome_shell"}),
    "kodi": frozenset({"kodi"}),
}

_MIRROR_ECOSYSTEM = {
    "hackage": "hackage",
    "cpan": "cpan",
    "pypi": "pypi",
    "ctan": "texlive",
}
_HOST_ECOSYSTEM = {
    "hackage.haskell.org": "hackage",
    "cpan.org": "cpan",
    "www.cpan.org": "cpan",
    "cpan.metacpan.org": "cpan",
    "files.pythonhosted.org": "pypi",
    "pypi.org": "pypi",
    "pypi.python.org": "pypi",
    "rubygems.org": "rubygems",
    "registry.npmjs.org": "npm",
    "crates.io": "crates",
    "static.crates.io": "crates",
    "repo.hex.pm": "hex",
    "luarocks.org": "luarocks",
}
# Hosts and mirror schemes that name the NVD vendor of what they host.
_MIRROR_VENDOR = {
    "gnu": "gnu",
    "apache": "apache",
    "kde": "kde",
    "gnome": "gnome",
    "mozilla": "mozilla",
    "xorg": "x.org",
    "samba": "samba",
    "openbsd": "openbsd",
    "kernel": "kernel",
    "savannah": "gnu",
}
_HOST_VENDOR = {
    "ftp.gnu.org": "gnu",
    "ftpmirror.gnu.org": "gnu",
    "alpha.gnu.org": "gnu",
    "archive.apache.org": "apache",
    "downloads.apache.org": "apache",
    "download.kde.org": "kde",
    "download.gnome.org": "gnome",
    "archive.mozilla.org": "mozilla",
    "ftp.mozilla.org": "mozilla",
    "www.x.org": "x.org",
    "xorg.freedesktop.org": "x.org",
    "cdn.kernel.org": "kernel",
    "download.samba.org": "samba",
    "ftp.openbsd.org": "openbsd",
    "cdn.openbsd.org": "openbsd",
}
_FORGES = frozenset({"github.com", "gitlab.com", "codeberg.org", "bitbucket.org", "sr.ht"})
_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*)://(?P<host>[^/?#]+)(?P<path>/[^?#]*)?")
_TEX_OUTPUT = re.compile(r"-(?:tex|texdoc|texsource|tlpkg)$")


@dataclass(frozen=True, slots=True)
class UrlEvidence:
    """Vendors and products the URLs name, and the language registry they come from."""

    vendors: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    ecosystem: str | None = None


def _cpe_word(text: str) -> str:
    """A forge owner or repository as the NVD spells vendors and products."""
    return text.lower().removesuffix(".git").replace(" ", "_")


def _one(url: str) -> UrlEvidence:
    found = _URL.match(url.strip())
    if found is None:
        return UrlEvidence()
    scheme, host = found["scheme"].lower(), found["host"].lower().rpartition("@")[2]
    parts = [p for p in (found["path"] or "").split("/") if p]
    if scheme == "mirror":
        if host in _MIRROR_ECOSYSTEM:
            return UrlEvidence(ecosystem=_MIRROR_ECOSYSTEM[host])
        if host == "sourceforge" and parts:
            project = _cpe_word(parts[0])
            return UrlEvidence(frozenset({project, f"{project}_project"}), frozenset({project}))
        vendor = _MIRROR_VENDOR.get(host)
        return UrlEvidence(frozenset({vendor}) if vendor else frozenset())
    host = host.split(":")[0].removeprefix("www.") if host not in _HOST_ECOSYSTEM else host
    if host in _HOST_ECOSYSTEM:
        return UrlEvidence(ecosystem=_HOST_ECOSYSTEM[host])
    if (host in _FORGES or host.startswith(("gitlab.", "git."))) and len(parts) >= 2:
        owner, repo = _cpe_word(parts[0].lstrip("~")), _cpe_word(parts[1])
        vendors = {owner, f"{owner}_project", repo, f"{repo}_project"}
        return UrlEvidence(frozenset(vendors), frozenset({repo, repo.replace("-", "_")}))
    vendor = _HOST_VENDOR.get(host)
    return UrlEvidence(frozenset({vendor}) if vendor else frozenset())


@lru_cache(maxsize=1 << 12)
def url_evidence(urls: tuple[str, ...], version: str = "") -> UrlEvidence:
    """The evidence of all ``urls`` together (a registry anywhere makes it a library).

    ``version`` is read too: nixpkgs' TeX Live packages are ``<name>-<revision>`` with the
    outputs ``tex`` and ``texdoc``, so a store path name ``go-28628-tex`` is the TeX package
    ``go``, not the Go toolchain.
    """
    vendors: set[str] = set()
    products: set[str] = set()
    ecosystem = "texlive" if _TEX_OUTPUT.search(version) else None
    for url in _split(urls):
        found = _one(url)
        vendors |= found.vendors
        products |= found.products
        ecosystem = ecosystem or found.ecosystem
    return UrlEvidence(frozenset(vendors), frozenset(products), ecosystem)


def _split(urls: Iterable[str]) -> Iterable[str]:
    """Each URL; a plain derivation environment joins a ``urls`` list with spaces."""
    for value in urls:
        yield from value.split()
