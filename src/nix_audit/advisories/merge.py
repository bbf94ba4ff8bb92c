"""Which source decides a CVE: the one place where the NVD and the CVE List meet (issue #12).

- A CVE whose CVE record is REJECTED is no CVE, whatever either source still holds.
- Where the NVD has analysed a CVE (its record has configurations), its configurations
  decide, as they did before the CVE List was read.
- Where it has not (no NVD record, or one without configurations), the CVE record decides
  (``cvelist``: CISA ADP entries with CPEs, else the CNA's).
- Details: the NVD's; where the NVD gives no score (or has no record), the CVE record's
  CVSS; where it gives no description, the CVE record's.
"""

from __future__ import annotations

import msgspec

from nix_audit.models import AdvisoryDetails, AdvisoryRecord

__all__ = ["cve_list_decides", "merged_details"]


def cve_list_decides(nvd: AdvisoryRecord | None) -> bool:
    """Whether the CVE List's record decides a CVE the NVD holds as ``nvd`` (None: absent)."""
    return nvd is None or not nvd.configurations


def merged_details(
    nvd: AdvisoryDetails | None, cve_list: AdvisoryDetails | None
) -> AdvisoryDetails | None:
    """The details reports show, from both sources' details of one CVE."""
    if nvd is None or cve_list is None:
        return nvd or cve_list
    fill: dict[str, object] = {}
    if nvd.score is None and cve_list.score is not None:
        fill.update(
            cvss_v2=cve_list.cvss_v2,
            cvss_v3=cve_list.cvss_v3,
            cvss_v4=cve_list.cvss_v4,
            cvss_v3_vector=cve_list.cvss_v3_vector,
            severity=cve_list.severity,
        )
    if not nvd.description:
        fill["description"] = cve_list.description
    return msgspec.structs.replace(nvd, **fill) if fill else nvd
