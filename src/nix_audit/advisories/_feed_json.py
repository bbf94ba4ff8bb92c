"""msgspec Structs for the parts of an NVD JSON 2.0 feed that nix-audit reads.

Only the fields used are declared; msgspec skips the rest (references, weaknesses, CVSS
sub-scores) without building Python objects for them, which is most of the decoding speed.
Field names follow the NVD CVE API 2.0 schema (``rename="camel"``); the configuration Structs
carry the attribute names of the model Structs (``CpeMatch``, ``ConfigNode``,
``Configuration``) so that ``msgspec.convert(..., from_attributes=True)`` maps them in C.
"""

from __future__ import annotations

from msgspec import Struct, field

from nix_audit.models import AdvisoryDetails

__all__ = [
    "FeedHeaderJson",
    "JsonCve",
    "JsonElement",
    "JsonTail",
    "details_of",
]


class FeedHeaderJson(Struct):
    """Top level of a feed file, without the ``vulnerabilities`` array."""

    format: str = ""
    version: str = ""
    timestamp: str | None = None
    totalResults: int | None = None


class JsonCpeMatch(Struct, rename="camel"):
    """``cpeMatch`` entry; ``vulnerable`` is required by the schema, default kept lenient."""

    criteria: str
    vulnerable: bool = True
    version_start_including: str | None = None
    version_start_excluding: str | None = None
    version_end_including: str | None = None
    version_end_excluding: str | None = None


class JsonNode(Struct):
    """Configuration node: ``operator`` and ``negate`` are required in NVD 2.0 nodes."""

    operator: str = "OR"
    negate: bool = False
    matches: list[JsonCpeMatch] = field(name="cpeMatch", default_factory=list)


class JsonConfiguration(Struct):
    """Configuration: ``operator`` is present only for "AND"; absent means OR (NVD 2.0)."""

    operator: str = "OR"
    negate: bool = False
    nodes: list[JsonNode] = field(default_factory=list)


class JsonDescription(Struct):
    """One ``descriptions`` entry."""

    lang: str = ""
    value: str = ""


class JsonCvssData(Struct, rename="camel"):
    """``cvssData``: for v3.x and v4.0 ``baseSeverity`` is here."""

    base_score: float | None = None
    vector_string: str | None = None
    base_severity: str | None = None


class JsonMetric(Struct, rename="camel"):
    """One metric entry; for CVSS v2 ``baseSeverity`` sits beside ``cvssData``."""

    type: str = ""
    cvss_data: JsonCvssData | None = None
    base_severity: str | None = None


class JsonMetrics(Struct):
    """``metrics``: one list per CVSS version, each with NVD's and the CNA's entries."""

    cvssMetricV40: list[JsonMetric] = field(default_factory=list)
    cvssMetricV31: list[JsonMetric] = field(default_factory=list)
    cvssMetricV30: list[JsonMetric] = field(default_factory=list)
    cvssMetricV2: list[JsonMetric] = field(default_factory=list)


class JsonCve(Struct, rename="camel"):
    """The ``cve`` object of one element; ``id`` is the only field the schema requires here."""

    id: str
    vuln_status: str = ""
    published: str = ""
    last_modified: str = ""
    descriptions: list[JsonDescription] = field(default_factory=list)
    metrics: JsonMetrics | None = None
    configurations: list[JsonConfiguration] = field(default_factory=list)


class JsonElement(Struct):
    """One element of ``vulnerabilities``."""

    cve: JsonCve


class JsonTail(Struct):
    """The end of a feed: the last elements, then the end of the top-level object."""

    vulnerabilities: list[JsonElement]


def _pick(metrics: list[JsonMetric]) -> JsonMetric | None:
    """NVD's own ("Primary") entry when there is one, else the first (a CNA's)."""
    for metric in metrics:
        if metric.type == "Primary" and metric.cvss_data is not None:
            return metric
    for metric in metrics:
        if metric.cvss_data is not None:
            return metric
    return None


def _score(metric: JsonMetric | None) -> float | None:
    return metric.cvss_data.base_score if metric and metric.cvss_data else None


def _severity(metric: JsonMetric) -> str | None:
    data = metric.cvss_data
    return (data.base_severity if data else None) or metric.base_severity


def details_of(cve: JsonCve) -> AdvisoryDetails:
    """Description (English), dates, status and scores of one record."""
    description = next((d.value for d in cve.descriptions if d.lang == "en"), "")
    metrics = cve.metrics or JsonMetrics()
    v4 = _pick(metrics.cvssMetricV40)
    v3 = _pick(metrics.cvssMetricV31) or _pick(metrics.cvssMetricV30)
    v2 = _pick(metrics.cvssMetricV2)
    # The severity of the metric whose score reports show (AdvisoryDetails.score: v3, else
    # v4, else v2), so that a 9.8 never reads MEDIUM because a v4 vector rates it so.
    shown = v3 or v4 or v2
    return AdvisoryDetails(
        cve_id=cve.id,
        description=description,
        published=cve.published,
        last_modified=cve.last_modified,
        status=cve.vuln_status,
        cvss_v2=_score(v2),
        cvss_v3=_score(v3),
        cvss_v4=_score(v4),
        cvss_v3_vector=v3.cvss_data.vector_string if v3 and v3.cvss_data else None,
        severity=_severity(shown) if shown else None,
    )
