"""Hand-made CVE List release assets (issue #12): CVE JSON 5 records packed as cvelistV5 packs
them, a baseline zip holding ``cves.zip`` and hourly delta zips, in a folder of assets."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["cve_record", "write_baseline", "write_delta", "write_zip"]


def cve_record(
    cve_id: str,
    affected: Sequence[Mapping[str, Any]] = (),
    *,
    state: str = "PUBLISHED",
    updated: str = "2024-10-01T00:00:00Z",
    adp: Sequence[Mapping[str, Any]] = (),
    metrics: Sequence[Mapping[str, Any]] = (),
    description: str = "",
) -> bytes:
    """One CVE JSON 5 record: the CNA's ``affected`` entries, and CISA ADP's when given."""
    document: dict[str, Any] = {
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {"cveId": cve_id, "state": state, "dateUpdated": updated},
        "containers": {
            "cna": {
                "affected": list(affected),
                "descriptions": [{"lang": "en", "value": description or f"{cve_id} (test)"}],
                "metrics": list(metrics),
            },
        },
    }
    if adp:
        document["containers"]["adp"] = [
            {
                "title": "CISA ADP Vulnrichment",
                "providerMetadata": {"shortName": "CISA-ADP"},
                "affected": list(adp),
            }
        ]
    return json.dumps(document).encode()


def _cve_id(record: bytes) -> str:
    cve_id: str = json.loads(record)["cveMetadata"]["cveId"]
    return cve_id


def write_zip(path: Path, members: Mapping[str, bytes]) -> Path:
    """A zip of ``members`` (name -> bytes) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_baseline(path: Path, records: Sequence[bytes]) -> Path:
    """``path`` (``YYYY-MM-DD_all_CVEs_at_midnight.zip.zip``) holding ``cves.zip``."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            _, year, number = _cve_id(record).split("-")
            archive.writestr(f"cves/{year}/{int(number) // 1000}xxx/{_cve_id(record)}.json", record)
    return write_zip(path, {"cves.zip": inner.getvalue()})


def write_delta(path: Path, records: Sequence[bytes]) -> Path:
    """``path`` (``YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip``): ``deltaCves/`` and ``delta.json``."""
    members = {f"deltaCves/{_cve_id(record)}.json": record for record in records}
    members["delta.json"] = json.dumps({"numberOfChanges": len(records)}).encode()
    return write_zip(path, members)
