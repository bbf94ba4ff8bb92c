"""Hand-made NVD JSON 2.0 feeds for end-to-end tests: small records, a complete mirror folder.

The records are written for these tests (their ids and ranges follow the real NVD records
they are named after, their texts are short); the real corpus lives in ``../shared/data``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["cpe_match", "record", "write_feed", "write_mirror"]

Record = dict[str, Any]


def cpe_match(criteria: str, *, vulnerable: bool = True, **bounds: str) -> dict[str, Any]:
    """A ``cpeMatch`` entry; ``bounds`` are versionStartIncluding= and friends."""
    return {"vulnerable": vulnerable, "criteria": criteria, **bounds}


def record(
    cve_id: str,
    matches: Sequence[Mapping[str, Any]],
    *,
    score: float | None = 7.5,
    description: str = "test record",
    last_modified: str = "2020-01-01T00:00:00.000",
    status: str = "Analyzed",
) -> Record:
    """One CVE record with a single OR configuration over ``matches``."""
    metrics: dict[str, Any] = {}
    if score is not None:
        metrics["cvssMetricV31"] = [
            {
                "source": "nvd@nist.gov",
                "type": "Primary",
                "cvssData": {
                    "version": "3.1",
                    "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                    "baseScore": score,
                    "baseSeverity": _severity(score),
                },
            }
        ]
    return {
        "cve": {
            "id": cve_id,
            "sourceIdentifier": "test@example.org",
            "published": "2014-04-07T22:55:03.893",
            "lastModified": last_modified,
            "vulnStatus": status,
            "cveTags": [],
            "descriptions": [{"lang": "en", "value": description}],
            "metrics": metrics,
            "configurations": [
                {"nodes": [{"operator": "OR", "negate": False, "cpeMatch": list(matches)}]}
            ],
        }
    }


def _severity(score: float) -> str:
    for bound, name in ((9.0, "CRITICAL"), (7.0, "HIGH"), (4.0, "MEDIUM"), (0.1, "LOW")):
        if score >= bound:
            return name
    return "NONE"


def write_feed(
    path: Path, records: Sequence[Record], timestamp: str = "2026-03-15T08:00:01"
) -> None:
    """A gzipped feed file shaped like the NVD's (header keys first, then the records)."""
    document = {
        "resultsPerPage": len(records),
        "startIndex": 0,
        "totalResults": len(records),
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": timestamp,
        "vulnerabilities": list(records),
    }
    path.write_bytes(gzip.compress(json.dumps(document, indent=2).encode(), mtime=0))


def write_mirror(
    folder: Path,
    records: Iterable[Record],
    *,
    modified: Sequence[Record] = (),
    last_year: int | None = None,
) -> Path:
    """A folder laid out like the NVD feed location: a feed per year 2002..last_year + modified.

    Each record goes to the feed of its CVE-ID year (1999..2001 go to 2002, as at the NVD).
    ``last_year`` defaults to the current year, the last feed an update asks for.
    """
    folder.mkdir(parents=True, exist_ok=True)
    last = last_year or datetime.now(UTC).year
    by_year: dict[int, list[Record]] = {year: [] for year in range(2002, last + 1)}
    for rec in records:
        year = max(2002, int(rec["cve"]["id"].split("-")[1]))
        by_year[year].append(rec)
    for year, recs in by_year.items():
        write_feed(folder / f"nvdcve-2.0-{year}.json.gz", recs)
    write_feed(folder / "nvdcve-2.0-modified.json.gz", list(modified))
    return folder
