"""The CVE List (CVE JSON 5 records) as an advisory source beside the NVD (issue #12).

The NVD analyses CVEs late or never; the CVE record itself carries the assigner's (CNA's)
``affected`` entries, and CISA's ADP container adds CPEs and version ranges to many records
the NVD has not analysed. This module turns one record into what the index stores for the
NVD too (``decode.FeedRecord``): configurations, details and postings, so that matching
reads both sources alike. Which source decides a CVE is ``merge``'s rule, not this one's.

Within a record (issue #12, "Merging per CVE"): the CISA ADP's ``affected`` entries that
carry ``cpes`` decide when they place any version, else the CNA's; except where the CNA wrote
an affected default with unaffected carve-outs, which the ADP's copies lose
(``_has_carve_outs``). Each entry becomes one configuration of one OR node
with an entry per affected or unknown interval (``cve5_versions``) and per CPE (the ADP's
``cpes``; for the CNA its vendor and product in CPE words, ``cve5_names``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from nix_audit.advisories._cve5_json import Cve5Affected, Cve5Container, Cve5Metric, Cve5Record
from nix_audit.advisories.cve5_names import cna_name
from nix_audit.advisories.cve5_versions import UNKNOWN, StatusInterval, affected_intervals
from nix_audit.advisories.decode import FeedRecord, cpe_fields, vulnerable_products
from nix_audit.advisories.platform_text import foreign_platform
from nix_audit.errors import FeedError
from nix_audit.models import AdvisoryDetails, AdvisoryRecord, ConfigNode, Configuration, CpeMatch

__all__ = ["ADP_SOURCE", "CNA_SOURCE", "REJECTED", "decode_cve_record", "record_of"]

CNA_SOURCE = "cve-list:cna"
ADP_SOURCE = "cve-list:adp"
# FeedRecord.rejected reads the NVD's "Rejected"; a REJECTED CVE record says the same.
REJECTED = "Rejected"
_CISA_ADP = "cisa-adp"
_DECODER = msgspec.json.Decoder(Cve5Record)


def decode_cve_record(name: str, data: bytes) -> FeedRecord | None:
    """One record file as a ``FeedRecord``; None for a file that is no CVE record.

    ``name`` is the file or zip member, for the error of a record that is not JSON.
    """
    try:
        record = _DECODER.decode(data)
    except msgspec.ValidationError:
        return None  # JSON, but not shaped as a CVE record (delta.json, a stray file)
    except msgspec.DecodeError as e:
        raise FeedError(f"{name}: not a JSON CVE record: {e}") from e
    if record.dataType not in ("", "CVE_RECORD"):
        return None
    return record_of(record)


def _adp_with_cpes(record: Cve5Record) -> list[Cve5Affected]:
    return [
        entry
        for adp in record.containers.adp
        if adp.providerMetadata.shortName.lower() == _CISA_ADP or "CISA" in adp.title
        for entry in adp.affected
        if entry.cpes
    ]


def record_of(record: Cve5Record) -> FeedRecord:
    """A decoded CVE record as the index stores it (see the module docstring)."""
    meta = record.cveMetadata
    cna = record.containers.cna
    configurations: tuple[Configuration, ...] = ()
    source = CNA_SOURCE
    if meta.state.upper() != "REJECTED":
        if not _has_carve_outs(cna.affected):
            configurations = _configurations(_adp_with_cpes(record), use_cpes=True)
        if configurations:
            source = ADP_SOURCE
        else:
            configurations = _configurations(cna.affected, use_cpes=False)
    details = _details(record)
    return FeedRecord(
        record=AdvisoryRecord(
            meta.cveId,
            configurations,
            source,
            foreign_platform(details.description, configurations),
        ),
        details=details,
        products=vulnerable_products(configurations),
    )


def _has_carve_outs(entries: Sequence[Cve5Affected]) -> bool:
    """Whether the CNA wrote an affected default with unaffected carve-outs (kernel.org).

    CISA's ADP copies of such records keep the affected items and drop the carve-outs
    (CVE-2024-26592: "5.15" affected, every fixed branch gone), which would report every
    fixed kernel; the CNA's own entries then decide.
    """
    return any(
        entry.defaultStatus.lower() == "affected"
        and any(
            v.status.lower() == "unaffected" and (v.versionType or "") != "git"
            for v in entry.versions
        )
        for entry in entries
    )


def _configurations(
    entries: Sequence[Cve5Affected], *, use_cpes: bool
) -> tuple[Configuration, ...]:
    found: list[Configuration] = []
    for entry in entries:
        criteria = _entry_criteria(entry, use_cpes)
        if not criteria:
            continue
        matches = tuple(
            _match(text, interval) for interval in affected_intervals(entry) for text in criteria
        )
        if matches:
            found.append(Configuration("OR", False, (ConfigNode("OR", False, matches),)))
    return tuple(found)


def _entry_criteria(entry: Cve5Affected, use_cpes: bool) -> list[str]:
    """The CPE criteria an entry names, each with ANY version (its versions say which)."""
    if use_cpes:
        criteria: list[str] = []
        for cpe in entry.cpes:
            fields = cpe_fields(cpe)
            if len(fields) == 13 and fields[:2] == ["cpe", "2.3"] and fields[4]:
                fields[5:7] = ["*", "*"]
                criteria.append(":".join(fields))
        return list(dict.fromkeys(criteria))
    name = cna_name(
        entry.vendor,
        entry.product,
        package_name=entry.packageName,
        collection_url=entry.collectionURL,
        repo=entry.repo,
    )
    return [] if name is None else [name.criteria()]


def _match(criteria: str, interval: StatusInterval) -> CpeMatch:
    low, high = interval.low, interval.high
    return CpeMatch(
        criteria,
        True,
        version_start_including=low.text if low is not None and low.included else None,
        version_start_excluding=low.text if low is not None and not low.included else None,
        version_end_including=high.text if high is not None and high.included else None,
        version_end_excluding=high.text if high is not None and not high.included else None,
        status=UNKNOWN if interval.status == UNKNOWN else None,
    )


def _details(record: Cve5Record) -> AdvisoryDetails:
    meta = record.cveMetadata
    cna = record.containers.cna
    containers: list[Cve5Container] = [cna, *record.containers.adp]
    scores = _scores([metric for c in containers for metric in c.metrics])
    return AdvisoryDetails(
        cve_id=meta.cveId,
        description=cna.description() or cna.title,
        published=meta.datePublished.rstrip("Z"),
        last_modified=meta.dateUpdated.rstrip("Z"),
        status=REJECTED if meta.state.upper() == "REJECTED" else meta.state.title(),
        **scores,
    )


def _scores(metrics: Sequence[Cve5Metric]) -> dict[str, Any]:
    """The first CVSS of v4.0, v3.1, v3.0, v2 that any container gives (issue #12); only
    that one, so that a report's score and severity are of one CVSS version."""
    for field, target in (
        ("cvssV4_0", "cvss_v4"),
        ("cvssV3_1", "cvss_v3"),
        ("cvssV3_0", "cvss_v3"),
        ("cvssV2_0", "cvss_v2"),
    ):
        for metric in metrics:
            cvss = getattr(metric, field)
            if cvss is not None and cvss.baseScore is not None:
                found: dict[str, Any] = {target: float(cvss.baseScore)}
                if cvss.baseSeverity:
                    found["severity"] = cvss.baseSeverity.upper()
                if target == "cvss_v3" and cvss.vectorString:
                    found["cvss_v3_vector"] = cvss.vectorString
                return found
    return {}
