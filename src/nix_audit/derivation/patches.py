"""CVE ids in the names of applied patches: evidence that nixpkgs fixed a CVE (as vulnix).

nixpkgs names security patches after the CVE they fix (``CVE-2019-13636.patch``, fetchpatch
``name = "CVE-2021-3997.patch"``), sometimes several in one name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["cves_in_name", "patched_cves"]

# CVE ids are CVE-YYYY-NNNN with four or more digits in the sequence part (CVE numbering
# syntax since 2014, cve.org). Patch names differ in case and sometimes use "_"; the id must
# not be glued to a preceding letter or digit, nor be followed by more digits.
_CVE_RE = re.compile(r"(?<![A-Za-z0-9])cve[-_](\d{4})[-_](\d{4,})(?!\d)", re.IGNORECASE)


def cves_in_name(name: str) -> frozenset[str]:
    """All CVE ids in a patch file name or store path, as ``CVE-YYYY-NNNN``.

    Only the last path component is read: the directory part (a store hash, a source
    tree) says nothing about what the patch fixes.
    """
    basename = name.rstrip("/").rpartition("/")[2]
    return frozenset(f"CVE-{year}-{number}" for year, number in _CVE_RE.findall(basename))


def patched_cves(attrs: Mapping[str, object]) -> frozenset[str]:
    """CVE ids named by the ``patches`` attribute.

    ``patches`` is a space-separated string of paths in a plain environment and a list of
    strings with structured attributes; anything else carries no patch names.
    """
    patches = attrs.get("patches")
    if isinstance(patches, str):
        names: list[object] = list(patches.split())
    elif isinstance(patches, list):
        names = patches
    else:
        return frozenset()
    found: set[str] = set()
    for name in names:
        if isinstance(name, str):
            found.update(cves_in_name(name))
    return frozenset(found)
