"""Which package set of nixpkgs a package belongs to, from whatever the input says (issue #13).

A library of a language's package set is named like the C library or program it binds or
shares a word with (``haskellPackages.mysql``, ``texlive.pkgs.moodle``, ``php83Extensions.
imagick``): the NVD's records of the program are not about it. The set shows in three places:

* the attribute path, the key of ``packages.json`` and of ``nix-env -qa --json``
  (``python313Packages.requests``, ``haskellPackages.mysql``, ``texlive.pkgs.moodle``);
* the name: ``buildPythonPackage`` and its siblings set ``name = "${prefix}-${pname}-..."``
  (``python3.13-requests-2.32.3``) while ``pname`` has no prefix, so a derivation's own
  ``pname`` attribute hides what its name says;
* the source URL (a registry: ``url_evidence``), read by the identity itself.

The set's own interpreter is not one of its libraries: ``python313Packages.python``,
``beamPackages.erlang`` and ``haskellPackages.ghc`` are the programs.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nix_audit.derivation.names import parse_drv_name
from nix_audit.matching.candidates import language_prefix

__all__ = ["package_set"]

# The first attribute of a package set (digits of a version dropped) -> the set's key, as the
# mapping table's ``ecosystem`` and ``url_evidence.ECOSYSTEM_LANGUAGES`` spell it. Counted in
# the attribute paths of a nixos-unstable nix-index (../shared/data/nixpkgs).
_SETS = {
    "pythonpackages": "python",
    "pypypackages": "python",
    "python": "python",  # python3.pkgs.requests
    "haskellpackages": "haskell",
    "haskell": "haskell",  # haskell.packages.ghc98.mysql
    "texlive": "texlive",
    "perlpackages": "perl",
    "perl_packages": "perl",
    "rubypackages": "ruby",
    "nodepackages": "node.js",
    "nodepackages_latest": "node.js",
    "beampackages": "erlang",
    "beamminimalpackages": "erlang",
    "beam": "erlang",
    "ocamlpackages": "ocaml",
    "ocaml-ng": "ocaml",
    "luapackages": "lua",
    "luajitpackages": "lua",
    "phpextensions": "php",
    "phppackages": "php",
    "rpackages": "r",
    "typstpackages": "typst",
    "vimplugins": "vim",
    "emacspackages": "emacs",
    "gnomeextensions": "gnome_shell",
    "sbclpackages": "common_lisp",
    "lisppackages": "common_lisp",
    "chickenpackages": "chicken",
    "akkupackages": "scheme",
    "coqpackages": "coq",
    "rocqpackages": "coq",
    "idrispackages": "idris",
    "kodipackages": "kodi",
    "tmuxplugins": "tmux",
    "fishplugins": "fish",
    "octavepackages": "octave",
}
_VERSION_DIGITS = re.compile(r"\d+(?:_\d+)*")
# Each language set's own interpreters and compilers, by the last attribute
# (``python313Packages.python``); ``texlive.pkgs.python`` is a TeX package all the same.
_INTERPRETERS = {
    "python": frozenset({"python", "pypy"}),
    "haskell": frozenset({"ghc"}),
    "perl": frozenset({"perl"}),
    "ruby": frozenset({"ruby"}),
    "node.js": frozenset({"nodejs", "node"}),
    "erlang": frozenset({"erlang", "elixir"}),
    "ocaml": frozenset({"ocaml"}),
    "lua": frozenset({"lua", "luajit"}),
    "php": frozenset({"php"}),
    "r": frozenset({"r"}),
    "common_lisp": frozenset({"sbcl"}),
    "chicken": frozenset({"chicken"}),
    "coq": frozenset({"coq", "rocq"}),
}


def _attribute_set(attribute: str) -> str | None:
    parts = attribute.split(".")
    if len(parts) < 2:
        return None
    head = _VERSION_DIGITS.sub("", parts[0].lower())
    found = _SETS.get(head) or _SETS.get(head.rstrip("_"))
    if found is None:
        return None
    own = _INTERPRETERS.get(found, frozenset())
    return None if _VERSION_DIGITS.sub("", parts[-1].lower()) in own else found


@lru_cache(maxsize=1 << 16)
def package_set(attribute: str | None, name: str) -> str | None:
    """The package set a package with this attribute path and Nix name belongs to, or None.

    The attribute decides when it names a set; else a language prefix of the name
    (``python3.13-requests-2.32.3``, whatever ``pname`` says).
    """
    if attribute:
        found = _attribute_set(attribute)
        if found is not None:
            return found
    language, _ = language_prefix(parse_drv_name(name)[0])
    return language
