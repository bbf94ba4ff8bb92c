"""Roundup-style vulnix whitelists through the installed command (issue #13).

The files are shaped after the NixOS vulnerability roundup's: several sections, comments,
``until``, ``issue_url``, a ``["discourse-*"]`` header and ``cve = "*"``. They must load, and
whitelist exactly what vulnix would (nix-community/vulnix ``src/vulnix/whitelist.py``):
``["openssl-*"]`` and ``cve = "*"`` hide nothing there, since vulnix has no globs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import run_cli, write_packages

PACKAGES = [
    {"name": "openssl-1.0.1f", "pname": "openssl", "version": "1.0.1f"},
    {"name": "openssl-1.0.1g", "pname": "openssl", "version": "1.0.1g"},
    {"name": "zlib-1.2.8", "pname": "zlib", "version": "1.2.8"},
    {"name": "curl-7.50.0", "pname": "curl", "version": "7.50.0"},
]

ROUNDUP = """\
# Whitelist for the NixOS vulnerability roundup (vulnix -w)
# https://github.com/NixOS/nixpkgs/issues?q=label%3A%221.severity%3A+security%22

["openssl-1.0.1f"]
cve = ["CVE-2014-0160"]  # heartbleed: backport applied downstream
comment = "patched in our overlay, see the issue"
issue_url = "https://github.com/NixOS/nixpkgs/issues/88417"
until = "2999-01-01"

["openssl-*"]
comment = "roundup 108: all openssl versions reviewed"

["discourse-*"]
comment = "discourse ships its own security releases"
issue_url = ["https://github.com/NixOS/nixpkgs/issues/147867"]

["curl"]
cve = "*"
comment = "false positives, upstream disputes"

["zlib"]
cve = "CVE-2016-9840"
until = 2999-06-30
status = "ignore"
"""


def _scan(db: Path, tmp_path: Path, whitelist: str) -> tuple[int, dict[str, Any]]:
    packages = write_packages(tmp_path / "packages.json", PACKAGES)
    path = tmp_path / "roundup.toml"
    path.write_text(whitelist)
    run = run_cli(
        "scan", "--offline", "--json", "-s", "--db", str(db), "-f", str(packages), "-w", str(path)
    )
    assert run.returncode in (0, 1, 2), run.stderr
    return run.returncode, json.loads(run.stdout)


def test_roundup_whitelist_loads_and_whitelists_what_vulnix_would(
    db: Path, mirror: Path, tmp_path: Path
) -> None:
    code, report = _scan(db, tmp_path, ROUNDUP)
    by_name = {d["name"]: d for d in report["derivations"]}
    # A versioned rule with one CVE: only that CVE is hidden.
    assert by_name["openssl-1.0.1f"]["whitelisted"] == ["CVE-2014-0160"]
    assert by_name["openssl-1.0.1f"]["affected_by"] == ["CVE-2014-0224"]
    # ["openssl-*"] is the pname "openssl-*" in vulnix: it hides no openssl version.
    assert by_name["openssl-1.0.1g"]["affected_by"] == ["CVE-2014-0224"]
    assert by_name["openssl-1.0.1g"]["whitelisted"] == []
    # cve = "*" is the literal id "*" in vulnix: it hides nothing.
    assert by_name["curl-7.50.0"]["affected_by"] == ["CVE-2016-5419"]
    # A lone string is one id.
    assert by_name["zlib-1.2.8"]["whitelisted"] == ["CVE-2016-9840"]
    assert by_name["zlib-1.2.8"]["affected_by"] == []
    assert code == 2
    # The rules that never apply are explained by hygiene warnings, not listed as unused.
    hygiene = report["triage_hygiene"]
    unused = {rule["rule"] for rule in hygiene["unused"]}
    assert unused.isdisjoint({"openssl-*", "discourse-*", "curl"})
    quirks = {rule["rule"]: rule["note"] for rule in hygiene["vulnix_quirks"]}
    assert {"openssl-*", "discourse-*", "curl"} <= set(quirks), quirks
    assert '["discourse"]' in quirks["discourse-*"]


def test_the_same_file_without_globs_whitelists_what_its_author_meant(
    db: Path, mirror: Path, tmp_path: Path
) -> None:
    fixed = ROUNDUP.replace('["openssl-*"]', '["openssl"]').replace('cve = "*"\n', "")
    code, report = _scan(db, tmp_path, fixed)
    by_name = {d["name"]: d for d in report["derivations"]}
    assert all(not d["affected_by"] for d in by_name.values())
    assert by_name["curl-7.50.0"]["whitelisted"] == ["CVE-2016-5419"]
    assert code == 1  # only whitelisted findings, shown with -s
