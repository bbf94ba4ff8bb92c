"""The parts of a CVE JSON 5 record (CVE Record Format 5.0/5.1) that nix-audit reads.

Field names follow cve-schema's ``CVE_Record_Format.json``; msgspec skips every other field
inside its C decoder. Types are kept loose where real records are loose (CNAs write a
version as a JSON number now and then): a record must not fail to decode for that.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Cve5Affected",
    "Cve5Container",
    "Cve5Metric",
    "Cve5Record",
    "Cve5Version",
]

_Text = str | int | float | None


class _Change(msgspec.Struct, frozen=True):
    at: _Text = None
    status: str = ""


class Cve5Version(msgspec.Struct, frozen=True):
    """One ``versions`` entry: a version or range and its status."""

    version: _Text = None
    status: str = ""
    lessThan: _Text = None
    lessThanOrEqual: _Text = None
    versionType: str | None = None
    changes: list[_Change] = []


class Cve5Affected(msgspec.Struct, frozen=True):
    """One ``affected`` entry: a product and the status of its versions."""

    vendor: str = ""
    product: str = ""
    versions: list[Cve5Version] = []
    defaultStatus: str = "unknown"
    cpes: list[str] = []
    packageName: str = ""
    collectionURL: str = ""
    repo: str = ""


class _Cvss(msgspec.Struct, frozen=True):
    baseScore: float | None = None
    baseSeverity: str | None = None
    vectorString: str | None = None


class Cve5Metric(msgspec.Struct, frozen=True):
    """One ``metrics`` entry; the CVSS versions nix-audit scores by."""

    cvssV4_0: _Cvss | None = None
    cvssV3_1: _Cvss | None = None
    cvssV3_0: _Cvss | None = None
    cvssV2_0: _Cvss | None = None


class _Description(msgspec.Struct, frozen=True):
    lang: str = ""
    value: str = ""


class _Provider(msgspec.Struct, frozen=True):
    shortName: str = ""


class Cve5Container(msgspec.Struct, frozen=True):
    """The CNA container or one ADP container."""

    title: str = ""
    affected: list[Cve5Affected] = []
    descriptions: list[_Description] = []
    metrics: list[Cve5Metric] = []
    providerMetadata: _Provider = _Provider()

    def description(self) -> str:
        """The English description, else the first one."""
        for item in self.descriptions:
            if item.lang.lower().startswith("en"):
                return item.value
        return self.descriptions[0].value if self.descriptions else ""


class _Containers(msgspec.Struct, frozen=True):
    cna: Cve5Container = Cve5Container()
    adp: list[Cve5Container] = []


class _Metadata(msgspec.Struct, frozen=True):
    cveId: str
    state: str = "PUBLISHED"
    datePublished: str = ""
    dateUpdated: str = ""


class Cve5Record(msgspec.Struct, frozen=True):
    """A whole CVE record, trimmed."""

    cveMetadata: _Metadata
    dataType: str = ""
    containers: _Containers = _Containers()
