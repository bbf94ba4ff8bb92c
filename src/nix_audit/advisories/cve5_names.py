"""CNA free text as CPE words: the normalisation rule for CVE JSON 5 vendors and products.

A CNA's ``vendor`` and ``product`` are free text ("The Apache Software Foundation" /
"Apache HTTP Server", "Linux" / "Linux"); the index keys products by CPE words
(``apache:http_server``). The rule, in the NVD's own habits of naming: lower case, a leading
"the" and corporate suffixes dropped from the vendor, the vendor's name dropped from the
front of the product, spaces as ``_``. Where the record says more, that wins: a GitHub
``repo`` gives owner and repository (as the NVD names GitHub projects), a ``packageName``
in a language registry (``collectionURL``) gives the product and its ``target_sw``.

The curated mapping table names the CNA spellings of programs whose CPE words differ
(``Linux``/``Linux`` is ``o:linux:linux_kernel``); it applies the same rule to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["CnaName", "cna_name", "cpe_word"]

_SUFFIXES = re.compile(
    r"(?:,?\s+(?:inc|incorporated|corp|corporation|co|ltd|limited|llc|gmbh|ag|s\.?a|"
    r"software foundation|foundation|project|team|community|developers|contributors|"
    r"org|organization)\.?)+$",
    re.IGNORECASE,
)
# What CNAs write where they name no vendor or product (Red Hat's "n/a").
_NO_NAME = frozenset({"", "n/a", "na", "unknown", "unspecified", "-"})
_QUOTE = re.compile(r"([^a-z0-9_.\-])")
# Registries as CNAs write ``collectionURL``, and the ``target_sw`` the NVD gives their
# packages (``cpe:2.3:a:vendor:product:*:*:*:*:*:python:*:*``).
_REGISTRIES = {
    "pypi.org": "python",
    "pypi.python.org": "python",
    "files.pythonhosted.org": "python",
    "npmjs.com": "node.js",
    "registry.npmjs.org": "node.js",
    "www.npmjs.com": "node.js",
    "crates.io": "rust",
    "rubygems.org": "ruby",
    "hackage.haskell.org": "haskell",
    "metacpan.org": "perl",
    "cpan.org": "perl",
    "packagist.org": "php",
    "hex.pm": "erlang",
    "pkg.go.dev": "go",
    "proxy.golang.org": "go",
    "repo.maven.apache.org": "maven",
    "repo1.maven.org": "maven",
}


@dataclass(frozen=True, slots=True)
class CnaName:
    """A CNA product in CPE words: vendor, product and ``target_sw`` (``*``: any)."""

    vendor: str
    product: str
    target_sw: str = "*"

    def criteria(self, part: str = "a") -> str:
        """As a CPE 2.3 formatted string with ANY version (NISTIR 7695, 6.2)."""
        return (
            f"cpe:2.3:{part}:{_quoted(self.vendor)}:{_quoted(self.product)}"
            f":*:*:*:*:*:{_quoted(self.target_sw) if self.target_sw != '*' else '*'}:*:*"
        )


def _quoted(word: str) -> str:
    """A CPE value with every character the binding reserves quoted (NISTIR 7695, 6.2.2)."""
    return _QUOTE.sub(r"\\\1", word)


def cpe_word(text: str) -> str:
    """Free text as one CPE word: lower case, runs of white space as ``_``."""
    return re.sub(r"\s+", "_", text.strip().lower())


def _vendor(text: str) -> str:
    cleaned = re.sub(r"^the\s+", "", text.strip(), flags=re.IGNORECASE)
    cleaned = re.sub(r"\s*\([^)]*\)\s*$", "", cleaned)  # "Hewlett Packard Enterprise (HPE)"
    return cpe_word(_SUFFIXES.sub("", cleaned) or cleaned)


def _product(text: str, vendor: str) -> str:
    word = cpe_word(text)
    prefix = vendor + "_"
    return word[len(prefix) :] if word.startswith(prefix) and len(word) > len(prefix) else word


def _github(repo: str) -> tuple[str, str] | None:
    parts = urlsplit(repo.strip())
    if parts.hostname not in ("github.com", "www.github.com"):
        return None
    path = [p for p in parts.path.split("/") if p]
    if len(path) < 2:
        return None
    return path[0].lower(), path[1].lower().removesuffix(".git")


def _registry(collection_url: str) -> str | None:
    host = urlsplit(collection_url.strip()).hostname or collection_url.strip().lower()
    return _REGISTRIES.get(host.removeprefix("www.")) or _REGISTRIES.get(host)


@lru_cache(maxsize=1 << 14)
def cna_name(
    vendor: str, product: str, *, package_name: str = "", collection_url: str = "", repo: str = ""
) -> CnaName | None:
    """The CPE words of a CNA ``affected`` entry, or None when it names no product."""
    github = _github(repo) if repo else None
    if github is not None:
        cpe_vendor, cpe_product = github
    else:
        cpe_vendor = "" if vendor.strip().lower() in _NO_NAME else _vendor(vendor)
        cpe_product = "" if product.strip().lower() in _NO_NAME else _product(product, cpe_vendor)
    target = _registry(collection_url) if collection_url else None
    if package_name and (target is not None or not cpe_product):
        # ``github.com/foo/bar`` (Go), ``@scope/name`` (npm), ``group:artifact`` (Maven):
        # the last segment is the name the NVD writes as the product.
        cpe_product = cpe_word(re.split(r"[/:]", package_name.strip())[-1])
    if not cpe_product:
        return None
    return CnaName(cpe_vendor or "*", cpe_product, target or "*")
