"""Value objects passed between the stages: sources -> matching -> triage -> reporters.

Everything here is immutable. Package, Finding and ScanResult are frozen dataclasses. The
advisory records (CpeMatch ... AdvisoryDetails) are frozen ``msgspec.Struct`` types instead:
the index stores them as msgpack blobs and a scan decodes tens of thousands of them, which
msgspec does straight into these types at a fraction of the cost of building dataclasses
(issue #3: a 3,000-derivation scan within 0.5 s). They are trees of strings that cannot form
reference cycles, so they opt out of the cyclic garbage collector (``gc=False``): decoding 30,000
records then takes 47 ms instead of 344 ms.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

import msgspec

__all__ = [
    "AdvisoryDetails",
    "AdvisoryRecord",
    "Closure",
    "Confidence",
    "ConfigNode",
    "Configuration",
    "CpeMatch",
    "CveListStatus",
    "FeedState",
    "Finding",
    "HygieneRule",
    "IdentifiedFrom",
    "IndexStatus",
    "Package",
    "RestartNeeded",
    "RunningProcess",
    "RunningSummary",
    "ScanResult",
    "Skipped",
    "TriageHygiene",
    "TriageStatus",
    "TriagedFinding",
]


class Closure(enum.Enum):
    """Where a package was found: deployed (runtime closure) or needed only to build."""

    RUNTIME = "runtime"
    BUILDTIME = "buildtime"


class IdentifiedFrom(enum.Enum):
    """Where a package's name and version came from (issue #8).

    A host deployed from a binary cache has output paths whose ``.drv`` was never copied:
    such a package is named after its store path (the part after the hash, with Nix's
    ``parseDrvName`` rule), and nothing the derivation would tell (applied patches, source
    URLs, ``pname``/``version`` attributes) is known.
    """

    DERIVATION = "derivation"  # the .drv file was read
    STORE_PATH_NAME = "store-path-name"  # no .drv on this host: the store path's name
    METADATA = "metadata"  # the input's own record (packages.json, an SBOM): no Nix involved


@dataclass(frozen=True, slots=True, order=True)
class RunningProcess:
    """A running process that executes or maps a package's store path (``scan --running``).

    ``command`` is ``/proc/<pid>/comm``; ``unit`` the systemd unit (``nginx.service``) from
    ``/proc/<pid>/cgroup``, None when the process runs outside a service.
    """

    pid: int
    command: str
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Package:
    """One Nix package to check, whatever input it came from.

    ``name`` is the full Nix name (``openssl-1.0.1f``); ``pname`` and ``version`` follow the
    derivation's attributes or Nix's ``parseDrvName`` rule. ``patched_cves`` are CVE ids found
    in the names of applied patches; ``cpes`` are exact CPE 2.3 names when the input carried
    them (packages.json ``meta.identifiers.cpe``, an SBOM).
    """

    name: str
    pname: str
    version: str
    derivation: str | None = None
    store_path: str | None = None
    closure: Closure = Closure.RUNTIME
    patched_cves: frozenset[str] = frozenset()
    known_vulnerabilities: tuple[str, ...] = ()
    cpes: tuple[str, ...] = ()
    source_urls: tuple[str, ...] = ()
    identified_from: IdentifiedFrom = IdentifiedFrom.DERIVATION
    # The nixpkgs attribute path (``haskellPackages.mysql``: the key of packages.json) and
    # ``meta.homepage``, when the input names them: evidence of which project the package is
    # and of which language's package set it belongs to (issue #13).
    attribute: str | None = None
    homepages: tuple[str, ...] = ()
    # Processes that execute or map one of the package's outputs; only ``scan --running``
    # fills it, sorted by pid.
    processes: tuple[RunningProcess, ...] = ()
    # Keys of the scanned packages this one's outputs refer to at run time (the store's
    # references, one level deep); known for runtime closures only, sorted.
    depends_on: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The identity reports group by: the derivation path, else the store path or name."""
        return self.derivation or self.store_path or self.name


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was looked at and deliberately not scanned, with the reason (shown with -v)."""

    what: str
    reason: str


# --- advisory records (NVD JSON 2.0 "configurations", trimmed to what matching needs) -------


class CpeMatch(msgspec.Struct, frozen=True, array_like=True, gc=False, omit_defaults=True):
    """One ``cpeMatch`` entry: a CPE 2.3 criteria string and an optional version range.

    ``vulnerable: false`` entries describe a platform the vulnerable product runs on, not an
    affected product (NVD CVE API 2.0, "configurations").
    """

    criteria: str
    vulnerable: bool = True
    version_start_including: str | None = None
    version_start_excluding: str | None = None
    version_end_including: str | None = None
    version_end_excluding: str | None = None
    # CVE List entries only (issue #12): "unknown" when the record says it does not know
    # whether these versions are affected (cve-schema ``status``); such a hit is never
    # reported as affected, only shown as uncertain. Omitted from NVD blobs (None).
    status: str | None = None


class ConfigNode(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A node: its ``cpeMatch`` entries combined by ``operator`` (OR/AND), maybe negated."""

    operator: str
    negate: bool
    matches: tuple[CpeMatch, ...]


class Configuration(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A configuration: nodes combined by ``operator`` (OR when the feed omits it)."""

    operator: str
    negate: bool
    nodes: tuple[ConfigNode, ...]


class AdvisoryRecord(msgspec.Struct, frozen=True, array_like=True, gc=False, omit_defaults=True):
    """What the matcher needs of one CVE: its id, its configurations, and who said so.

    ``source`` is the data that decided the CVE (issue #12): ``nvd`` (the NVD's
    configurations), ``cve-list:adp`` or ``cve-list:cna`` (a CVE record's ``affected``
    entries, turned into configurations by ``advisories.cve5_versions``).
    """

    cve_id: str
    configurations: tuple[Configuration, ...]
    source: str = "nvd"
    # The one foreign system the description limits the flaw to, where no configuration names
    # a platform (``advisories.platform_text``, issue #13): its hits are uncertain.
    platform: str | None = None


class AdvisoryDetails(msgspec.Struct, frozen=True, gc=False):
    """What reports need of one CVE; loaded only for CVEs that produced a finding."""

    cve_id: str
    description: str = ""
    published: str = ""
    last_modified: str = ""
    status: str = ""
    cvss_v2: float | None = None
    cvss_v3: float | None = None
    cvss_v4: float | None = None
    cvss_v3_vector: str | None = None
    severity: str | None = None  # LOW..CRITICAL, of the same CVSS version as ``score``

    @property
    def score(self) -> float | None:
        """The score to sort and threshold by: CVSS v3, else v4, else v2."""
        for value in (self.cvss_v3, self.cvss_v4, self.cvss_v2):
            if value is not None:
                return value
        return None


@dataclass(frozen=True, slots=True)
class FeedState:
    """One feed as last fetched: its name (``2014``, ``modified``) and HTTP validators."""

    name: str
    etag: str | None
    last_modified: str | None
    feed_timestamp: str | None
    fetched_at: datetime | None
    records: int


@dataclass(frozen=True, slots=True)
class CveListStatus:
    """The CVE List part of the index (issue #12): where from, how many records, which
    baseline and newest delta are applied, and when it was last updated."""

    location: str
    records: int
    last_update: datetime | None
    baseline: str | None
    last_delta: str | None


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """What ``db status`` shows and reports carry: where the data came from and how old it is."""

    path: str
    records: int
    feeds: tuple[FeedState, ...]
    last_update: datetime | None
    source: str | None
    cve_list: CveListStatus | None = None  # None: the index holds the NVD only

    def age_hours(self, now: datetime) -> float | None:
        """Hours since the last successful update, or None for a never-updated index."""
        if self.last_update is None:
            return None
        return (now - self.last_update).total_seconds() / 3600.0


# --- matching and triage -------------------------------------------------------------------


class Confidence(enum.Enum):
    """How sure the matcher is that the CPE product is this package (issue #4)."""

    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Finding:
    """A package matched by a CVE, with the evidence: which criteria and which range matched."""

    package: Package
    cve_id: str
    criteria: str
    version_range: str
    mapping: str = "heuristic"
    confidence: Confidence = Confidence.HIGH
    # Which data decided the CVE (``AdvisoryRecord.source``): nvd, cve-list:adp, cve-list:cna.
    source: str = "nvd"


class TriageStatus(enum.Enum):
    """What triage decided about a finding."""

    AFFECTED = "affected"
    WHITELISTED = "whitelisted"
    PATCHED = "patched"  # a patch named after the CVE is applied to the derivation
    NOT_AFFECTED = "not_affected"  # a VEX statement says the product is not affected


@dataclass(frozen=True, slots=True)
class TriagedFinding:
    """A finding after triage, with the advisory details reports show."""

    finding: Finding
    status: TriageStatus
    details: AdvisoryDetails
    reason: str = ""
    issue_url: str | None = None
    # NOT_AFFECTED only: the VEX justification label as the statement gave it, an OpenVEX
    # 0.2.0 "justification" or a CycloneDX 1.6 "analysis.justification" (the two label sets
    # are disjoint); None when the statement had only free text (kept in ``reason``).
    justification: str | None = None


@dataclass(frozen=True, slots=True)
class HygieneRule:
    """A whitelist rule a triage hygiene check flagged: which rule, where, and what it covers."""

    key: str  # the rule's header: "openssl-1.0.1f", "zlib" or "*"
    origin: str  # "<file or URL>:<line>"
    cves: tuple[str, ...] | None = None  # None: every CVE
    until: date | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class TriageHygiene:
    """Whitelist rules worth a second look after a scan (issue #5, "Triage hygiene").

    ``unused``: active rules that decided no finding; ``expired``: rules whose ``until`` has
    passed (not also listed as unused); ``broad``: active bare ``["name"]`` rules without a
    ``cve`` list, which hide every version and every future CVE of the package;
    ``vulnix_quirks``: rules loaded with a vulnix meaning that likely differs from the author's
    (``["discourse-*"]``, ``cve = "*"``: vulnix never applies them), each with the note saying
    so (issue #13); such a rule is not also listed as unused.
    """

    unused: tuple[HygieneRule, ...] = ()
    expired: tuple[HygieneRule, ...] = ()
    broad: tuple[HygieneRule, ...] = ()
    vulnix_quirks: tuple[tuple[HygieneRule, str], ...] = ()

    @property
    def count(self) -> int:
        """How many warnings the checks raised (a rule may be flagged twice)."""
        return len(self.unused) + len(self.expired) + len(self.broad) + len(self.vulnix_quirks)


@dataclass(frozen=True, slots=True)
class RestartNeeded:
    """A package loaded by running processes but superseded in the current closure (issue #8).

    ``current_version`` is the newest version of the same ``pname`` in the current closure
    (newer than ``version``: an update; equal: a rebuild, for example with a patched
    dependency); None when the current closure has no package of that name any more.
    """

    name: str
    pname: str
    version: str
    store_path: str
    current_version: str | None
    processes: tuple[RunningProcess, ...]


@dataclass(frozen=True, slots=True)
class RunningSummary:
    """What ``scan --running`` looked at: processes read from ``/proc`` and what needs restart.

    ``uninspectable`` counts processes whose executable or memory maps could not be read
    (another user's process without root, or one that exited while being read).
    ``current_roots`` are the store paths whose runtime closure counted as "current"; empty
    when no current system was found, and then no restart check was made.
    """

    processes: int
    uninspectable: int = 0
    store_paths: int = 0
    needs_restart: tuple[RestartNeeded, ...] = ()
    current_roots: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything one scan produced; every reporter reads only this."""

    packages: tuple[Package, ...]
    findings: tuple[TriagedFinding, ...]
    index: IndexStatus | None
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    scanned_at: datetime | None = None
    hygiene: TriageHygiene | None = None  # None: no whitelist was checked
    running: RunningSummary | None = None  # None: running processes were not scanned
