"""``scan --format vulnix-json`` through the installed command: vulnix's ``--json`` list."""

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


def entry(
    name: str,
    affected: list[str],
    whitelisted: list[str],
    scores: dict[str, float],
    descriptions: dict[str, str],
) -> dict[str, Any]:
    pname, _, version = name.rpartition("-")
    return {
        "name": name,
        "pname": pname,
        "version": version,
        "derivation": None,  # packages.json has no .drv, as vulnix's -f JSON input
        "affected_by": affected,
        "whitelisted": whitelisted,
        "cvssv3_basescore": scores,
        "description": descriptions,
    }


# CVE-2016-5419 has no CVSS v3 score: left out of cvssv3_basescore, as vulnix does.
CURL = entry(
    "curl-7.50.0",
    ["CVE-2016-5419"],
    [],
    {},
    {"CVE-2016-5419": "TLS session resumption client cert bypass"},
)
OPENSSL_F = entry(
    "openssl-1.0.1f",
    ["CVE-2014-0160", "CVE-2014-0224"],
    [],
    {"CVE-2014-0160": 7.5, "CVE-2014-0224": 7.4},
    {"CVE-2014-0160": "Heartbleed: TLS heartbeat read overrun", "CVE-2014-0224": "CCS injection"},
)
OPENSSL_G = entry(
    "openssl-1.0.1g",
    ["CVE-2014-0224"],
    [],
    {"CVE-2014-0224": 7.4},
    {"CVE-2014-0224": "CCS injection"},
)
ZLIB = entry(
    "zlib-1.2.8",
    [],
    ["CVE-2016-9840"],
    {"CVE-2016-9840": 8.8},
    {"CVE-2016-9840": "inffast.c pointer arithmetic"},
)


def test_vulnix_json_is_vulnix_document(db: Path, tmp_path: Path) -> None:
    packages = write_packages(tmp_path / "p.json", PACKAGES)
    whitelist = tmp_path / "wl.toml"
    whitelist.write_text('["zlib"]\ncve = ["CVE-2016-9840"]\n')
    args = ("scan", "--offline", "--db", str(db), "-f", str(packages), "-w", str(whitelist))

    run = run_cli(*args, "--format", "vulnix-json")
    assert run.returncode == 2, run.stderr
    assert run.stdout.startswith('[\n {\n  "name": ')  # vulnix: json.dumps(out, indent=1)
    assert json.loads(run.stdout) == [CURL, OPENSSL_F, OPENSSL_G]

    shown = run_cli(*args, "--format", "vulnix-json", "-s")  # vulnix's -s/--show-whitelisted
    assert shown.returncode == 2, shown.stderr
    assert json.loads(shown.stdout) == [CURL, OPENSSL_F, OPENSSL_G, ZLIB]

    only_zlib = write_packages(tmp_path / "zlib.json", PACKAGES[2:3])
    base = ("scan", "--offline", "--db", str(db), "-w", str(whitelist), "--format", "vulnix-json")
    quiet = run_cli(*base, "-f", str(only_zlib))
    assert (quiet.returncode, quiet.stdout) == (0, "[]\n")  # all whitelisted: an empty list
