"""CPE product names to look up for a Nix package name.

NVD products are lower case with ``_`` where nixpkgs writes ``-`` (vulnix tries both), and
nixpkgs decorates names: a language prefix with the interpreter version
(``python3.13-requests``, ``perl5.42.0-DBI``, ``ocaml4.14.3-findlib``; nixpkgs
``buildPythonPackage`` and friends set ``name = "${prefix}-${pname}-${version}"``), or a
variant suffix (``firefox-unwrapped``, ``curl-static``, ``nodejs-slim``). The plain name is
tried too. A tiny alias table covers the best-known misses of vulnix, where the NVD
product is another word (``linux`` is ``linux_kernel``); a curated mapping is issue #4.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["language_prefix", "product_candidates", "strip_suffixes"]

# A language prefix: interpreter name and its version with at least one dot (so that the
# interpreter's own ``python3-minimal`` keeps its name), or a package set's attribute name.
_PREFIX = re.compile(
    r"^(?:(?P<lang>python|pypy|perl|ruby|ocaml|lua|luajit|erlang|coq)\d+(?:\.\d+)+-"
    r"|(?P<set>python|perl|ruby|ocaml|lua|php|haskell|node|rust)\d*packages[.-])"
)
# The language a prefix names, as the NVD writes it in ``target_sw`` (``pypy`` is Python).
_LANGUAGE = {"pypy": "python", "luajit": "lua", "node": "node.js"}

# Variant suffixes nixpkgs adds to a package's name (counted in a nixos-unstable store).
_SUFFIXES = (
    "-unwrapped",
    "-wrapped",
    "-bin",
    "-full",
    "-minimal",
    "-dev",
    "-static",
    "-slim",
    "-headless",
    "-nox",
    "-small",
)

# Famous misses: the NVD product is another word than the nixpkgs name.
_ALIASES = {
    "apache-httpd": "http_server",
    "chromium": "chrome",
    "expat": "libexpat",
    "linux": "linux_kernel",
    "nodejs": "node.js",
    "rustc": "rust",
}

# The CPython interpreters: python2, python3, python311, ... are the NVD's ``python``.
_PYTHON = re.compile(r"^python\d*(?:\.\d+)*$")


def language_prefix(pname: str) -> tuple[str | None, str]:
    """(language of a nixpkgs language prefix or None, the name without the prefix).

    ``python3.13-requests`` is ``("python", "requests")``: a library of that language.
    """
    name = pname.strip().lower()
    found = _PREFIX.match(name)
    if found is None or found.end() == len(name):
        return None, name
    language = found.group("lang") or found.group("set")
    return _LANGUAGE.get(language, language), name[found.end() :]


def strip_suffixes(name: str) -> str:
    """``name`` without variant suffixes, repeatedly (``firefox-beta-unwrapped-bin``)."""
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def _bases(name: str) -> list[str]:
    """The name, then without its language prefix, then without variant suffixes."""
    bases = [name]
    unprefixed = _PREFIX.sub("", name, count=1)
    if unprefixed:
        bases.append(unprefixed)
    for base in list(bases):
        bases.append(strip_suffixes(base))
    return bases


@lru_cache(maxsize=1 << 14)
def product_candidates(pname: str) -> tuple[str, ...]:
    """Lower-case CPE product names for ``pname``, most specific first, without duplicates."""
    found: dict[str, None] = {}
    for base in _bases(pname.strip().lower()):
        for name in (base, base.replace("-", "_")):
            found.setdefault(name, None)
        alias = "python" if _PYTHON.match(base) else _ALIASES.get(base)
        if alias is not None:
            found.setdefault(alias, None)
    found.pop("", None)
    return tuple(found)
