"""The platform a description limits a flaw to, where no configuration names one (#13)."""

from __future__ import annotations

import pytest

from nix_audit.advisories.platform_text import foreign_platform
from nix_audit.models import ConfigNode, Configuration, CpeMatch


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        # CVE-2026-3298 (CPython), in the words of such records.
        (
            "The asyncio ProactorEventLoop can ... Non-Windows platforms are not affected.",
            "windows",
        ),
        ("A path traversal in foo on Windows allows ...", "windows"),
        ("Firefox for iOS before 141 allows ...", "ios"),
        ("WhatsApp for Android before 2.21.4.18 allows ...", "android"),
        ("An issue in the installer for macOS lets ...", "macos"),
        ("This issue is Windows-only.", "windows"),
        # More than one system, or a cross-platform flaw: no limit.
        ("A heap overflow on Linux and on Windows ...", None),
        ("A crash on Windows and macOS ...", None),
        ("Use after free in Blink in Google Chrome prior to 146 ...", None),
        ("A flaw affecting all platforms, most easily exploited on Windows.", None),
    ],
)
def test_foreign_platform(description: str, expected: str | None) -> None:
    assert foreign_platform(description, ()) == expected


def test_a_platform_node_decides_instead_of_the_words() -> None:
    platform = Configuration(
        "AND",
        False,
        (
            ConfigNode("OR", False, (CpeMatch("cpe:2.3:a:foo:foo:*:*:*:*:*:*:*:*"),)),
            ConfigNode(
                "OR",
                False,
                (CpeMatch("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", vulnerable=False),),
            ),
        ),
    )
    assert foreign_platform("A flaw in foo on Windows.", (platform,)) is None
