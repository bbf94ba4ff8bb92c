"""Nix's rules for names: ``builtins.parseDrvName`` and the name part of a store path."""

from __future__ import annotations

import re

from nix_audit.errors import DerivationError

__all__ = ["artifact_suffix", "parse_drv_name", "store_path_name"]

# builtins.parseDrvName (Nix manual, "Built-in Functions"; libexpr/names.cc): the name ends
# at the first "-" followed by a character that is not a letter. Nix tests with C isalpha in
# the C locale, so only ASCII letters count: "a-é1" splits into ("a", "é1").
_VERSION_DASH_RE = re.compile(r"-(?=[^A-Za-z])", re.DOTALL)

# A store path is <store dir>/<hash>-<name> (Nix manual, "Store Path"): the hash is 32
# characters of Nix's base32 alphabet (digits and lower-case letters without e, o, u, t), and
# a name uses only letters, digits and "+-._?=". The store dir is /nix/store by default but
# may be anything (NIX_STORE_DIR), so any absolute directory other than "/" is accepted.
_STORE_PATH_RE = re.compile(r"/(?:[^/]+/)+[0-9a-df-np-sv-z]{32}-([A-Za-z0-9+\-._?=]+)/?")


# Store names of build inputs, not installed software (issue #13): source archives (fetchurl
# names them after the file: ``firefox-148.0b15.source.tar.xz``, ``Python-3.12.13.tar.xz``),
# patches, scripts, Java archives and Maven metadata, language and distribution packages, disk
# images, and fetchFromGitHub & co., whose output is named "source" or "<repo>-source".
# Matching them against CPEs would report the package they build a second time (or a patch as
# the vulnerable program), so every source skips them, as vulnix does.
_ARTIFACT = re.compile(
    r"(?:\.(?:tar(?:\.(?:gz|xz|bz2|zst|lz|lzma|z))?|tgz|tbz2?|txz|zip|7z|rar|jar|war|ear|pom"
    r"|gem|whl|crate|nupkg|deb|rpm|msi|dmg|iso|vsix|xpi|patch|diff|nix|sh)|-source|^source)$",
    re.IGNORECASE,
)


def artifact_suffix(name: str) -> str | None:
    """What makes a store name a build input (``.tar.xz``, ``-source``), else None."""
    found = _ARTIFACT.search(name)
    return found[0] if found is not None else None


def parse_drv_name(name: str) -> tuple[str, str]:
    """Split a derivation name into (name, version) exactly as ``builtins.parseDrvName``.

    ``openssl-1.0.1f`` -> (``openssl``, ``1.0.1f``); ``bash-4.4-p12`` -> (``bash``,
    ``4.4-p12``); ``xz-5.4.5-bin`` -> (``xz``, ``5.4.5-bin``); ``hello`` -> (``hello``, ``""``).
    """
    match = _VERSION_DASH_RE.search(name)
    if match is None:
        return name, ""
    return name[: match.start()], name[match.end() :]


def store_path_name(path: str) -> str:
    """The name part of a store path: what follows ``<store dir>/<hash>-``.

    The ``.drv`` suffix of a derivation path is dropped, so ``/nix/store/<hash>-hello-2.12.drv``
    and ``/nix/store/<hash>-hello-2.12`` both give ``hello-2.12``. Only the store path itself
    is accepted (a trailing ``/`` is allowed), not a file inside it.

    Raises ``DerivationError`` for anything that is not a store path: silently deriving a
    name from an arbitrary file name would report packages that do not exist.
    """
    match = _STORE_PATH_RE.fullmatch(path)
    if match is None:
        raise DerivationError(f"{path}: not a store path (<store dir>/<32-char hash>-<name>)")
    return match[1].removesuffix(".drv")
