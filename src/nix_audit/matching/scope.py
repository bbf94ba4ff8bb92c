"""Which CPE entries are about a package, and which platforms a NixOS package runs on.

The vulnix-parity matcher takes every ``cpeMatch`` entry whose product name is one of the
package's names. The vendor-aware matcher (issue #4) narrows that per product with a
``ProductScope``: the vendors the identity mapping allows, the CPE parts (``o`` only where the
mapping says so: the kernel), and the ``target_sw`` a plugin or extension is for. The CPE
attributes are those of NISTIR 7695 §5.3.3: ``part``, ``vendor``, ``sw_edition``,
``target_sw``.

It also answers for the ``vulnerable: false`` entries that name a platform (NVD CVE API 2.0,
"configurations"): a NixOS package runs on Linux, so ``o:linux:linux_kernel`` holds, the
operating systems of Microsoft and Apple and Android never do, and any other platform is
unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from nix_audit.errors import AdvisoryError
from nix_audit.matching.cpe import ANY, parse_cpe

__all__ = [
    "APPLICATION",
    "FOREIGN_TARGETS",
    "ProductScope",
    "criteria_vendor",
    "entry_in_scope",
    "is_esr",
    "platform_value",
]

APPLICATION = frozenset({"a"})

# target_sw values that make an entry about something a Nix package is not: a plugin or
# extension of another program (the Jenkins Git plugin is ``a:jenkins:git`` with
# ``target_sw=jenkins``; the ShellCheck VS Code extension has ``visual_studio_code``), or an
# app built for a phone or desktop OS that nixpkgs does not target (Firefox for Android is
# ``a:mozilla:firefox`` with ``target_sw=android``).
FOREIGN_TARGETS = frozenset(
    {
        "android", "iphone_os", "ios", "ipados", "watchos", "tvos", "macos", "mac_os_x",
        "mac_os", "windows", "windows_phone", "blackberry",
        "wordpress", "jenkins", "visual_studio_code", "vscode", "joomla!", "joomla", "drupal",
        "moodle", "magento", "prestashop", "woocommerce", "typo3", "opencart", "mediawiki",
        "phpbb", "confluence", "jira", "bitbucket", "chrome", "firefox", "edge", "safari",
        "thunderbird", "outlook", "office", "excel", "sharepoint", "dynamics_365",
        "microsoft_teams", "teams", "slack", "nopcommerce", "shopware", "craft_cms", "grav",
        "gatsby", "strapi", "xwiki", "glpi", "vbulletin", "xoops", "e107", "joomla\\!",
    }
)  # fmt: skip

# Operating-system vendors whose systems a Nix package never runs on (Nix runs on Linux
# and on macOS, but nixpkgs' Darwin packages are out of scope of a NixOS scanner).
_FOREIGN_OS_VENDORS = frozenset({"microsoft", "apple"})
_FOREIGN_OS = frozenset({("google", "android"), ("google", "chrome_os"), ("google", "fuchsia")})
_LINUX = ("linux", "linux_kernel")
# Products Mozilla files apart from their ESR editions (``firefox_esr``, ``thunderbird_esr``;
# in CVE records "Firefox" beside "Firefox ESR"): without an ESR edition, an entry of one of
# these is about the rapid release, whose ranges an ESR build is not in (issue #13).
_RAPID_RELEASE = frozenset({"firefox", "thunderbird"})


@dataclass(frozen=True, slots=True)
class ProductScope:
    """Which entries of one CPE product are about the package.

    ``vendors`` None admits every vendor (the name heuristic, which then judges the vendor of
    each hit); ``parts`` are the CPE parts admitted (``a``; ``o`` for the kernel);
    ``target_sw`` None admits any target but a foreign one, a set admits only those targets
    (and ANY): a VS Code extension packaged in nixpkgs maps to exactly its target.
    """

    vendors: frozenset[str] | None = None
    parts: frozenset[str] = APPLICATION
    target_sw: frozenset[str] | None = None


@lru_cache(maxsize=1 << 17)
def _facts(criteria: str) -> tuple[str, str, str, str, str] | None:
    """(part, vendor, product, sw_edition, target_sw) of a criteria, None when malformed."""
    try:
        cpe = parse_cpe(criteria)
    except AdvisoryError:
        return None
    return cpe.part, cpe.vendor, cpe.product, cpe.sw_edition, cpe.target_sw


def is_esr(version: str) -> bool:
    """Whether a Nix version is an extended-support release (Firefox ``140.9.0esr``)."""
    return version.lower().endswith("esr")


def entry_in_scope(criteria: str, scope: ProductScope, esr: bool) -> bool:
    """Whether a ``vulnerable: true`` entry of the scoped product is about the package.

    ``esr``: the package is an ESR build; NVD marks ESR ranges with ``sw_edition=esr`` and
    rapid-release ranges with ``-`` (CVE-2026-2771), so each build admits only its own
    edition's entries (and ANY).
    """
    facts = _facts(criteria)
    if facts is None:
        return False
    part, vendor, product, edition, target = facts
    if part != ANY and part not in scope.parts:
        return False
    if scope.vendors is not None and vendor not in scope.vendors:
        return False
    if scope.target_sw is None:
        if target in FOREIGN_TARGETS:
            return False
    elif target != ANY and target not in scope.target_sw:
        return False
    if edition == ANY:
        return not (esr and product in _RAPID_RELEASE)
    return (edition == "esr") is esr


def platform_value(criteria: str) -> bool | None:
    """A ``vulnerable: false`` platform entry as seen from NixOS: Linux holds (TRUE), the
    systems of Microsoft, Apple and Google's Android never do (FALSE), others are UNKNOWN."""
    facts = _facts(criteria)
    if facts is None or facts[0] != "o":
        return None
    vendor, product = facts[1], facts[2]
    if (vendor, product) == _LINUX:
        return True
    if vendor in _FOREIGN_OS_VENDORS or (vendor, product) in _FOREIGN_OS:
        return False
    return None


def criteria_vendor(criteria: str) -> tuple[str, str] | None:
    """(vendor, target_sw) of a criteria, for judging a heuristic hit; None when malformed."""
    facts = _facts(criteria)
    return None if facts is None else (facts[1], facts[4])
