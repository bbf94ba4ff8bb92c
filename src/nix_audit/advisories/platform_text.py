"""The platform a record's description limits a flaw to, where its configurations name none.

Many records say in words only that a flaw is of one operating system: "on Windows", "for
macOS", "Non-Windows platforms are not affected" (CVE-2026-3298, CPython's ProactorEventLoop),
"Firefox for iOS". Without a platform node the configurations cover every build, and a NixOS
package would be reported for a Windows-only bug. Such a record is marked with the platform
it names, and its hits are shown as uncertain, not reported as affecting NixOS (issue #13).
A description that also names Linux or Unix, or every platform, is about more than one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nix_audit.models import Configuration

__all__ = ["foreign_platform"]

_PLATFORMS = {
    "windows": r"(?:microsoft\s+)?windows",
    "macos": r"mac\s?os(?:\s?x)?|macos|os\s?x",
    "ios": r"ios|ipados|iphone|ipad",
    "android": r"android",
}
_LIMITED = {
    platform: re.compile(
        rf"\b(?:on|for|under|in)\s+(?:the\s+)?(?:{words})\b"
        rf"|\b(?:{words})(?:-only|\s+only|\s+systems?\s+only)\b"
        rf"|\bnon-(?:{words})\s+(?:platforms|systems|operating systems)\s+are\s+not\s+affected",
        re.IGNORECASE,
    )
    for platform, words in _PLATFORMS.items()
}
_MENTIONED = {
    platform: re.compile(rf"\b(?:{words})\b", re.IGNORECASE)
    for platform, words in _PLATFORMS.items()
}
_BROADER = re.compile(
    r"\b(?:linux|unix|posix|bsd|cross-platform|(?:all|other)\s+(?:platforms|operating systems))\b",
    re.IGNORECASE,
)


def _has_platform_node(configurations: Iterable[Configuration]) -> bool:
    return any(
        not match.vulnerable and match.criteria.startswith("cpe:2.3:o:")
        for configuration in configurations
        for node in configuration.nodes
        for match in node.matches
    )


def foreign_platform(description: str, configurations: Iterable[Configuration]) -> str | None:
    """``windows``, ``macos``, ``ios`` or ``android`` when the description limits the flaw
    to that one system and no configuration names a platform; else None."""
    if _has_platform_node(configurations):
        return None
    named = {platform for platform, pattern in _LIMITED.items() if pattern.search(description)}
    mentioned = {platform for platform, word in _MENTIONED.items() if word.search(description)}
    if len(named) != 1 or mentioned != named or _BROADER.search(description):
        return None
    return named.pop()
