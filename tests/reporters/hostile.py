"""A scan result made of hostile text (issue #6), shared by the tests of every report format.

Package names, descriptions, reasons and paths carry terminal escapes (a window-title OSC, a
screen clear, a C1 CSI), bidirectional overrides, HTML that would run script, the characters
that are special in Nagios (``|``) and in Prometheus labels (``"`` and ``\\``), and one
description of a megabyte.
"""

from __future__ import annotations

import dataclasses

from nix_audit.models import AdvisoryDetails, Closure, ScanResult, TriageStatus
from tests.reporters.sample import SCANNED_AT, package, sample_result, triaged

__all__ = ["BAD_CHARACTERS", "HUGE", "SCRIPT", "hostile_result"]

SCRIPT = "<script>alert(1)</script>"
OSC_TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\x1b[H"
C1_CSI = "\x9b31m"
BIDI = "\u202e"
# Characters no neutralised report may contain raw (ESC, BEL, C1 CSI, bidi override).
BAD_CHARACTERS = ("\x1b", "\x07", "\x9b", "\u202e")
HUGE = 1_000_000


def hostile_result() -> ScanResult:
    """Two hostile packages and findings, on top of nothing else; times fixed as in sample."""
    evil = package(f'ev{OSC_TITLE}il|"q\\{SCRIPT}-1.0', "9zz1sw2x3c4v5b6n7m8l9k0j1h2g3f4d")
    evil = dataclasses.replace(
        evil,
        pname=f'ev{OSC_TITLE}il|"q\\{SCRIPT}',
        version=f"1.0{CLEAR}",
        cpes=("cpe:2.3:a:evil:evil:1.0:*:*:*:*:*:*:*",),
    )
    other = package("quiet-2.0", "8yy1sw2x3c4v5b6n7m8l9k0j1h2g3f4d", Closure.BUILDTIME)
    huge = (f"{CLEAR}{SCRIPT}{BIDI}{C1_CSI}" + "A" * HUGE + OSC_TITLE)[: HUGE + 64]
    findings = (
        triaged(
            evil,
            AdvisoryDetails("CVE-2024-0001", huge, cvss_v3=9.8, severity="CRITICAL"),
            version_range=f"< 2.0{OSC_TITLE}",
        ),
        triaged(
            evil,
            AdvisoryDetails("CVE-2024-0002", f"{SCRIPT}\n{CLEAR}second", cvss_v2=4.3),
            TriageStatus.WHITELISTED,
            reason=f"accepted [bold]{SCRIPT}{OSC_TITLE}",
            issue_url=f"javascript:alert(1){CLEAR}",
        ),
        triaged(other, AdvisoryDetails("CVE-2024-0003", f"{BIDI}reversed{C1_CSI}")),
    )
    base = sample_result()
    return ScanResult(
        packages=(evil, other),
        findings=findings,
        index=base.index,
        warnings=(f"hostile warning {OSC_TITLE}{SCRIPT}",),
        scanned_at=SCANNED_AT,
    )
