"""Untrusted text through the real command, in every output format (issue #6).

A feed record's description and the scanned package names carry terminal escapes (a
window-title OSC ending in BEL, a screen clear, a C1 CSI), a bidirectional override, HTML
that would run script, and enormous lengths (a 2 MB description, a 100,000-character
version). Terminal-facing formats (text, nagios, prometheus) must hold none of those control
characters raw, HTML must hold no markup from the data, JSON-family formats must stay valid
JSON that gives the text back. The command's output goes through a pipe here; click strips
CSI sequences (``ESC [``) from piped output by itself, so the checks rely on the sequences it
does not know (OSC, BEL, C1, bidi) to see what nix-audit itself lets through.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import nix_audit_exe
from tests.helpers.nvd_feeds import cpe_match, record, write_mirror
from tests.robustness.conftest import write_packages

SCRIPT = "<script>alert(1)</script>"
OSC_TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\x1b[H"
C1_CSI = "\x9b31m"
BIDI = "\u202e"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", BIDI)
HUGE = 2_000_000
LONG_VERSION = "1.0-" + "x" * 100_000
LONG_NUMBER = "1." + "9" * 100_000

DESCRIPTION = f"{CLEAR}{OSC_TITLE}{SCRIPT}{BIDI}{C1_CSI}" + "A" * HUGE + OSC_TITLE
NAMES = [
    f"evil-1.0{OSC_TITLE}",
    f"evil-2.0{SCRIPT}",
    f"evil-3.0{BIDI}{C1_CSI}{CLEAR}",
    f"evil-{LONG_VERSION}",
]
TERMINAL = ("text", "nagios", "prometheus")
JSON_FAMILY = ("json", "sarif", "cyclonedx", "openvex")


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    evil = record(
        "CVE-2024-66666",
        [cpe_match("cpe:2.3:a:evil:evil:*:*:*:*:*:*:*:*")],
        description=DESCRIPTION,
        score=9.8,
    )
    mirror = write_mirror(tmp_path_factory.mktemp("hostile-mirror"), [evil])
    db = tmp_path_factory.mktemp("hostile-db")
    argv = [nix_audit_exe(), "db", "update", "--db", str(db), "--mirror", str(mirror)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture(scope="module")
def hostile_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_packages(tmp_path_factory.mktemp("hostile") / "packages.json", NAMES)


def _report(db: Path, packages: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    argv = [nix_audit_exe(), "scan", "--offline", "--db", str(db), "-f", str(packages)]
    argv += ["--format", fmt, "-D", "-s", "-v"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1, 2), done.stderr[-2000:]
    if fmt != "nagios":
        assert done.returncode == 2, done.stderr[-2000:]
    return done


@pytest.mark.parametrize("fmt", TERMINAL)
def test_terminal_formats_hold_no_raw_control_characters(
    hostile_db: Path, hostile_packages: Path, fmt: str
) -> None:
    done = _report(hostile_db, hostile_packages, fmt)
    for bad in RAW_CONTROLS:
        assert bad not in done.stdout, (fmt, repr(bad))
        assert bad not in done.stderr, (fmt, repr(bad))
    assert "evil" in done.stdout
    assert len(done.stdout) < 3 * (HUGE + len(LONG_VERSION) * len(NAMES)), len(done.stdout)


def test_html_holds_no_markup_from_the_data(hostile_db: Path, hostile_packages: Path) -> None:
    done = _report(hostile_db, hostile_packages, "html")
    # The report's own sorting script is the one <script> element (reporters/html.py).
    assert len(re.findall(r"<script", done.stdout, re.IGNORECASE)) == 1
    assert "alert(1)" not in done.stdout.replace("&lt;script&gt;alert(1)", "")
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


@pytest.mark.parametrize("fmt", JSON_FAMILY)
def test_json_family_is_valid_json_carrying_the_text(
    hostile_db: Path, hostile_packages: Path, fmt: str
) -> None:
    done = _report(hostile_db, hostile_packages, fmt)
    document = json.loads(done.stdout)
    text = json.dumps(document, ensure_ascii=False)
    assert "CVE-2024-66666" in text
    # The data comes through as data: the version with its script is a JSON string value.
    assert "evil" in text


def test_json_keeps_names_exactly(hostile_db: Path, hostile_packages: Path) -> None:
    """Neutralising is the renderers' business: the JSON report keeps the names as they are."""
    report = json.loads(_report(hostile_db, hostile_packages, "json").stdout)
    names = {d["name"] for d in report["derivations"]}
    assert names == set(NAMES)


def test_version_with_a_huge_number_is_scanned(hostile_db: Path, tmp_path: Path) -> None:
    packages = write_packages(tmp_path / "p.json", [f"evil-{LONG_NUMBER}"])
    done = _report(hostile_db, packages, "json")
    assert json.loads(done.stdout)["derivations"][0]["name"] == f"evil-{LONG_NUMBER}"


def test_error_line_holds_no_raw_control_characters(hostile_db: Path, tmp_path: Path) -> None:
    hostile = tmp_path / f"evil{OSC_TITLE}{BIDI}"
    argv = [nix_audit_exe(), "scan", "--offline", "--db", str(hostile_db), str(hostile)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3
    for bad in RAW_CONTROLS:
        assert bad not in done.stderr, repr(bad)
