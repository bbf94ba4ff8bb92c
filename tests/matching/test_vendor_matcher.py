"""The vendor-aware matcher on hand-made records: vendors, plugins, platforms, editions."""

from __future__ import annotations

from nix_audit.matching.name_matcher import NameMatcher
from nix_audit.matching.vendor_matcher import UNKNOWN_VERSION, VendorAwareMatcher
from nix_audit.models import Confidence, Finding, Package
from tests.matching.builders import FakeLookup, cm, config, node, record

JENKINS_GIT = record(
    "CVE-2020-2136", config(node(cm("cpe:2.3:a:jenkins:git:*:*:*:*:*:jenkins:*:*", ee="4.2.1")))
)
GIT = record(
    "CVE-2024-32002",
    config(node(cm("cpe:2.3:a:git-scm:git:*:*:*:*:*:*:*:*", si="2.45.0", ee="2.45.1"))),
)
WINDOWS_ONLY = record(
    "CVE-2024-47611",
    config(
        node(cm("cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*", ee="5.6.3")),
        node(cm("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", vulnerable=False)),
        operator="AND",
    ),
)
LINUX_PLATFORM = record(
    "CVE-2099-0001",
    config(
        node(cm("cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*", ee="5.6.3")),
        node(
            cm("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", vulnerable=False),
            cm("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", vulnerable=False),
        ),
        operator="AND",
    ),
)
ESR = record(
    "CVE-2026-2771",
    config(
        node(
            cm("cpe:2.3:a:mozilla:firefox:*:*:*:*:esr:*:*:*", si="128.0", ee="140.8.0"),
            cm("cpe:2.3:a:mozilla:firefox:*:*:*:*:-:*:*:*", ee="148.0"),
        )
    ),
)
SUDO = record(
    "CVE-2021-3156", config(node(cm("cpe:2.3:a:sudo_project:sudo:1.9.5:patch1:*:*:*:*:*:*")))
)
KERNEL_AS_PLATFORM = record(
    "CVE-2099-0002",
    config(
        node(cm("cpe:2.3:a:someone:driver:*:*:*:*:*:*:*:*", ee="2.0")),
        node(cm("cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*", vulnerable=False)),
        operator="AND",
    ),
)
KERNEL = record(
    "CVE-2099-0003", config(node(cm("cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*", ee="6.7")))
)
OTHER_VENDOR = record(
    "CVE-2099-0004", config(node(cm("cpe:2.3:a:themeton:dash:*:*:*:*:*:*:*:*", ee="9.0")))
)
SNAPSHOT = record(
    "CVE-2019-12900", config(node(cm("cpe:2.3:a:bzip:bzip2:*:*:*:*:*:*:*:*", ei="1.0.6")))
)

ALL = [
    JENKINS_GIT,
    GIT,
    WINDOWS_ONLY,
    LINUX_PLATFORM,
    ESR,
    SUDO,
    KERNEL_AS_PLATFORM,
    KERNEL,
    OTHER_VENDOR,
    SNAPSHOT,
]


def _pkg(pname: str, version: str) -> Package:
    return Package(f"{pname}-{version}", pname, version)


def _match(*packages: Package, unknown: bool = False) -> dict[tuple[str, str], Finding]:
    found = VendorAwareMatcher(unknown_versions=unknown).match(packages, FakeLookup(ALL))
    return {(f.package.name, f.cve_id): f for f in found}


def test_jenkins_plugin_is_not_git_but_git_scm_is() -> None:
    found = _match(_pkg("git", "2.45.0"))
    assert ("git-2.45.0", "CVE-2020-2136") not in found
    hit = found[("git-2.45.0", "CVE-2024-32002")]
    assert (hit.mapping, hit.confidence, hit.version_range) == (
        "table",
        Confidence.HIGH,
        ">= 2.45.0, < 2.45.1",
    )
    assert hit.criteria.startswith("cpe:2.3:a:git-scm:git:")
    # The name-only baseline still reports the plugin (vulnix parity).
    baseline = NameMatcher().match([_pkg("git", "2.45.0")], FakeLookup(ALL))
    assert "CVE-2020-2136" in {f.cve_id for f in baseline}


def test_windows_only_configuration_does_not_affect_nixos() -> None:
    found = _match(_pkg("xz", "5.6.2"))
    assert ("xz-5.6.2", "CVE-2024-47611") not in found
    assert ("xz-5.6.2", "CVE-2099-0001") in found  # Windows OR Linux: Linux holds


def test_esr_and_rapid_release_ranges_are_kept_apart() -> None:
    found = _match(
        _pkg("firefox", "140.7.0esr"), _pkg("firefox", "140.9.0esr"), _pkg("firefox", "147.0")
    )
    assert ("firefox-140.7.0esr", "CVE-2026-2771") in found
    assert ("firefox-140.9.0esr", "CVE-2026-2771") not in found
    assert found[("firefox-147.0", "CVE-2026-2771")].version_range == "< 148.0"


def test_nix_patch_level_is_the_cpe_update_patch() -> None:
    found = _match(_pkg("sudo", "1.9.5p1"), _pkg("sudo", "1.9.5p2"))
    assert ("sudo-1.9.5p1", "CVE-2021-3156") in found
    assert ("sudo-1.9.5p2", "CVE-2021-3156") not in found


def test_kernel_matches_as_os_part_only_when_vulnerable() -> None:
    found = _match(_pkg("linux", "6.6.1"))
    assert ("linux-6.6.1", "CVE-2099-0003") in found
    assert ("linux-6.6.1", "CVE-2099-0002") not in found


def test_unknown_vendor_is_low_confidence() -> None:
    hit = _match(_pkg("dash", "0.5.12"))[("dash-0.5.12", "CVE-2099-0004")]
    assert (hit.mapping, hit.confidence) == ("heuristic", Confidence.LOW)


def test_unorderable_versions_only_when_asked() -> None:
    pkg = _pkg("bzip2", "unstable-2020-08-11")
    assert ("bzip2-unstable-2020-08-11", "CVE-2019-12900") not in _match(pkg)
    hit = _match(pkg, unknown=True)[("bzip2-unstable-2020-08-11", "CVE-2019-12900")]
    assert hit.confidence is Confidence.LOW
    assert hit.version_range.startswith(UNKNOWN_VERSION) and "<= 1.0.6" in hit.version_range


def test_one_batched_lookup_and_findings_for_every_member() -> None:
    lookup = FakeLookup(ALL)
    a = Package("git-2.45.0", "git", "2.45.0", derivation="/nix/store/a-git-2.45.0.drv")
    b = Package("git-2.45.0", "git", "2.45.0", derivation="/nix/store/b-git-2.45.0.drv")
    found = VendorAwareMatcher().match([a, b, a], lookup)
    assert len(lookup.calls) == 1
    assert sorted(f.package.key for f in found) == [a.key, b.key]
    assert VendorAwareMatcher().match([], FakeLookup([])) == []
