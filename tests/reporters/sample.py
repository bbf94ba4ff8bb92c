"""Hand-made scan results for the reporter tests; volatile fields (times) are fixed here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from nix_audit.models import (
    AdvisoryDetails,
    Closure,
    Confidence,
    FeedState,
    Finding,
    HygieneRule,
    IdentifiedFrom,
    IndexStatus,
    Package,
    RestartNeeded,
    RunningProcess,
    RunningSummary,
    ScanResult,
    Skipped,
    TriagedFinding,
    TriageHygiene,
    TriageStatus,
)

__all__ = ["SCANNED_AT", "package", "running_result", "sample_result", "triaged", "vex_result"]

SCANNED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STORE = "/nix/store"


def package(name: str, hash_: str, closure: Closure = Closure.RUNTIME) -> Package:
    pname, _, version = name.rpartition("-")
    return Package(
        name=name,
        pname=pname,
        version=version,
        derivation=f"{STORE}/{hash_}-{name}.drv",
        store_path=f"{STORE}/{hash_.replace('d', 'o')}-{name}",
        closure=closure,
    )


def triaged(
    pkg: Package,
    details: AdvisoryDetails,
    status: TriageStatus = TriageStatus.AFFECTED,
    *,
    reason: str = "",
    issue_url: str | None = None,
    justification: str | None = None,
    version_range: str = "",
    confidence: Confidence = Confidence.HIGH,
    mapping: str = "heuristic",
) -> TriagedFinding:
    finding = Finding(
        package=pkg,
        cve_id=details.cve_id,
        criteria=f"cpe:2.3:a:{pkg.pname}:{pkg.pname}:*:*:*:*:*:*:*:*",
        version_range=version_range,
        mapping=mapping,
        confidence=confidence,
    )
    return TriagedFinding(
        finding, status, details, reason=reason, issue_url=issue_url, justification=justification
    )


OPENSSL = package("openssl-1.0.1f", "0aq7ldpzd3f4aq2ycvf1klbs2vzrp00h")
ZLIB = package("zlib-1.2.11", "1bz9i9j2a8d8q3gkqlnbdr1wyw2k1l0c")
GCC = package("gcc-12.2.0", "2cnxz1xk1b9pyzqsm5d9d8z2s5jc1h3v", Closure.BUILDTIME)
LIBXSLT = package("libxslt-1.1.29", "3dmcw0bw4bdnpvaxa8x3yh1d3k7mc2h4")
BZIP2 = package("bzip2-1.0.6", "4ep8xvm6ald6vyf5q2c4n6xw1i9d0qj1")
CURL = package("curl-8.0.1", "5fqk7y8n2m3d1a0z9x8w7v6u5t4s3r2p")
HELLO = package("hello-2.12", "6gr1sw2x3c4v5b6n7m8l9k0j1h2g3f4d")

HEARTBLEED = (
    "The (1) TLS and (2) DTLS implementations in OpenSSL 1.0.1 before 1.0.1g do not properly "
    "handle Heartbeat Extension packets, which allows remote attackers to obtain sensitive "
    "information from process memory via crafted packets that trigger a buffer over-read."
)


def sample_result() -> ScanResult:
    """Several packages: scores of each CVSS version or none, every status, a buildtime one."""
    findings = (
        triaged(
            OPENSSL,
            AdvisoryDetails("CVE-2014-0160", HEARTBLEED, cvss_v2=5.0, cvss_v3=7.5, severity="HIGH"),
            version_range="< 1.0.1g",
        ),
        triaged(
            OPENSSL,
            AdvisoryDetails("CVE-2014-0224", "CCS injection.", cvss_v3=7.4, severity="HIGH"),
            TriageStatus.WHITELISTED,
            reason="fix rolling out",
            issue_url="https://tracker.example.org/issues/7",
        ),
        triaged(
            OPENSSL,
            AdvisoryDetails("CVE-2016-2105", "EVP_EncodeUpdate overflow.", cvss_v2=5.0),
            TriageStatus.PATCHED,
            reason="patch named after CVE applied",
        ),
        triaged(
            ZLIB,
            AdvisoryDetails("CVE-2018-25032", "Memory corruption.", cvss_v3=7.5, severity="HIGH"),
            version_range="< 1.2.12",
        ),
        triaged(
            ZLIB,
            AdvisoryDetails(
                "CVE-2022-37434", "inflate overflow.", cvss_v3=9.8, severity="CRITICAL"
            ),
        ),
        triaged(GCC, AdvisoryDetails("CVE-2023-4039")),  # no details: unscored
        triaged(
            LIBXSLT,
            AdvisoryDetails("CVE-2019-11068", "Bypass.", cvss_v3=9.8, severity="CRITICAL"),
            TriageStatus.WHITELISTED,
            reason="whitelist rule [libxslt] at /etc/nix-audit/wl.toml:4",
        ),
        triaged(
            BZIP2,
            AdvisoryDetails("CVE-2016-3189", "Use after free.", cvss_v4=6.5, severity="MEDIUM"),
            TriageStatus.PATCHED,
            reason="patch named after CVE applied",
        ),
        triaged(
            CURL,
            AdvisoryDetails(
                "CVE-2023-28319", "Use after free in SSH.", cvss_v4=7.5, severity="HIGH"
            ),
            version_range=">= 7.81.0, < 8.1.0",
            confidence=Confidence.LOW,
            mapping="cpe-dictionary",
        ),
    )
    index = IndexStatus(
        path="/var/cache/nix-audit/index.sqlite",
        records=245123,
        feeds=(
            FeedState("modified", '"abc"', None, "2026-05-31T05:00:00", SCANNED_AT, 812),
            FeedState("2014", None, "Sat, 30 May 2026 03:00:00 GMT", None, None, 8842),
        ),
        last_update=datetime(2026, 5, 31, 6, 0, tzinfo=UTC),
        source="https://nvd.nist.gov/feeds/json/cve/2.0",
    )
    return ScanResult(
        packages=(OPENSSL, ZLIB, GCC, LIBXSLT, BZIP2, CURL, HELLO),
        findings=findings,
        index=index,
        skipped=(Skipped(f"{STORE}/7hs0-source", "not a package (no version in the name)"),),
        warnings=("advisory index is 30.0 hours old (limit 24 hours)",),
        scanned_at=SCANNED_AT,
    )


VEX_FILE = "/etc/nix-audit/vex.json"
WHITELIST_FILE = "/etc/nix-audit/wl.toml"


def vex_result() -> ScanResult:
    """VEX decisions of every kind and whitelist hygiene warnings, on top of one index."""
    findings = (
        triaged(
            OPENSSL,
            AdvisoryDetails("CVE-2014-0160", "Heartbleed.", cvss_v3=7.5, severity="HIGH"),
            reason=f"VEX: affected: Upgrade with the next channel bump [{VEX_FILE}: statements[2]]",
        ),
        triaged(
            OPENSSL,
            AdvisoryDetails("CVE-2014-0224", "CCS injection.", cvss_v3=7.4, severity="HIGH"),
            TriageStatus.NOT_AFFECTED,
            reason=(
                "VEX: not_affected (vulnerable_code_not_in_execute_path): only the client "
                f"library is used [{VEX_FILE}: statements[0]]"
            ),
            justification="vulnerable_code_not_in_execute_path",
        ),
        triaged(
            ZLIB,
            AdvisoryDetails("CVE-2018-25032", "Memory corruption.", cvss_v3=7.5, severity="HIGH"),
            TriageStatus.NOT_AFFECTED,
            reason=(
                "VEX: not_affected (code_not_reachable): deflate is never called with "
                "Z_FIXED [/etc/nix-audit/cdx-vex.json: vulnerabilities[0]]"
            ),
            justification="code_not_reachable",
        ),
        triaged(
            ZLIB,
            AdvisoryDetails(
                "CVE-2022-37434", "inflate overflow.", cvss_v3=9.8, severity="CRITICAL"
            ),
            TriageStatus.NOT_AFFECTED,
            reason=f"VEX: not_affected: inflateGetHeader is not used [{VEX_FILE}: statements[1]]",
        ),
        triaged(
            CURL,
            AdvisoryDetails(
                "CVE-2023-28319", "Use after free in SSH.", cvss_v4=7.5, severity="HIGH"
            ),
            TriageStatus.PATCHED,
            reason=f"VEX: fixed: backported in the overlay [{VEX_FILE}: statements[3]]",
        ),
        triaged(
            LIBXSLT,
            AdvisoryDetails("CVE-2019-11068", "Bypass.", cvss_v3=9.8, severity="CRITICAL"),
            TriageStatus.WHITELISTED,
            reason="false positive: another libxslt",
        ),
    )
    hygiene = TriageHygiene(
        unused=(HygieneRule("bzip2", f"{WHITELIST_FILE}:9", cves=("CVE-2016-3189",)),),
        expired=(
            HygieneRule("zlib", f"{WHITELIST_FILE}:6", until=date(2026, 1, 1), comment="wait"),
        ),
        broad=(
            HygieneRule(
                "libxslt", f"{WHITELIST_FILE}:1", comment="false positive: another libxslt"
            ),
        ),
    )
    base = sample_result()
    return ScanResult(
        packages=(OPENSSL, ZLIB, LIBXSLT, CURL, HELLO),
        findings=findings,
        index=base.index,
        scanned_at=SCANNED_AT,
        hygiene=hygiene,
    )


NGINX_MASTER = RunningProcess(1234, "nginx", "nginx.service")
NGINX_WORKER = RunningProcess(1240, "nginx", "nginx.service")
SHELL = RunningProcess(2001, "sqlite3")


def running_result() -> ScanResult:
    """``scan --running`` (issue #8): a loaded, superseded openssl; a derivation-less sqlite
    run from a shell; a rebuilt zlib; and processes that could not be inspected."""
    openssl = dataclasses.replace(OPENSSL, processes=(NGINX_MASTER, NGINX_WORKER))
    sqlite = Package(
        name="sqlite-3.8.10",
        pname="sqlite",
        version="3.8.10",
        store_path=f"{STORE}/8hj1kq2w3e4r5t6y7u8i9o0p1a2s3d4f-sqlite-3.8.10",
        identified_from=IdentifiedFrom.STORE_PATH_NAME,
        processes=(SHELL,),
    )
    zlib = dataclasses.replace(ZLIB, processes=(NGINX_MASTER, NGINX_WORKER, SHELL))
    findings = (
        triaged(
            openssl,
            AdvisoryDetails("CVE-2014-0160", HEARTBLEED, cvss_v3=7.5, severity="HIGH"),
            version_range="< 1.0.1g",
        ),
        triaged(
            sqlite,
            AdvisoryDetails(
                "CVE-2015-3414", "Dequoting overflow.", cvss_v3=9.8, severity="CRITICAL"
            ),
            version_range="< 3.8.9",
        ),
    )
    restarts = (
        RestartNeeded(
            "openssl-1.0.1f", "openssl", "1.0.1f", openssl.store_path or "", "1.0.1g",
            (NGINX_MASTER, NGINX_WORKER),
        ),
        RestartNeeded(
            "zlib-1.2.11", "zlib", "1.2.11", zlib.store_path or "", "1.2.11",
            (NGINX_MASTER, NGINX_WORKER, SHELL),
        ),
    )  # fmt: skip
    running = RunningSummary(
        processes=81,
        uninspectable=2,
        store_paths=14,
        needs_restart=restarts,
        current_roots=(f"{STORE}/9kl2mn3bv4cx5z6a7s8d9f0g1h2j3k4l-nixos-system-host-24.05",),
    )
    return ScanResult(
        packages=(openssl, sqlite, zlib, HELLO),
        findings=findings,
        index=sample_result().index,
        skipped=(Skipped("2 processes", "cannot be inspected: permission denied"),),
        scanned_at=SCANNED_AT,
        running=running,
    )
