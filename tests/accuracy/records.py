"""The raw records of chosen CVEs, read from ``../shared/data`` for judging drawn cases (#13).

NVD: the yearly feed of the CVE's year (the 2002 feed holds 1999-2001 too), then ``modified``
and ``recent``; the version with the newest ``lastModified`` wins. CVE List: the baseline,
then the hourly deltas; the newest ``dateUpdated`` wins. Each CVE's pair of records is
written as ``<dir>/<CVE>.json`` (``{"nvd": ..., "cve5": ...}``, null where a source lacks it).
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["BASELINE", "cve5_records", "nvd_feeds", "nvd_records", "write_records"]

BASELINE = "2024-10-24_all_CVEs_at_midnight.zip.zip"
Record = dict[str, Any]


def nvd_feeds(shared: Path, cves: Iterable[str]) -> list[Path]:
    """The feeds that can hold these CVEs: their years' (2002 holds 1999-2001 too), then
    ``modified`` and ``recent``; those present only."""
    years = sorted({max(int(cve.split("-")[1]), 2002) for cve in cves})
    names = [f"nvdcve-2.0-{year}.json.gz" for year in years]
    names += ["nvdcve-2.0-modified.json.gz", "nvdcve-2.0-recent.json.gz"]
    return [shared / "nvd" / name for name in names if (shared / "nvd" / name).is_file()]


def nvd_records(shared: Path, cves: set[str]) -> dict[str, Record]:
    """CVE id -> its newest NVD record (the ``cve`` object of the feed)."""
    found: dict[str, Record] = {}
    for feed in nvd_feeds(shared, cves):
        with gzip.open(feed) as stream:
            for item in json.load(stream)["vulnerabilities"]:
                record = item["cve"]
                old = found.get(record["id"])
                if record["id"] in cves and (
                    old is None or record["lastModified"] >= old["lastModified"]
                ):
                    found[record["id"]] = record
    return found


def _cve5_members(folder: Path, cves: set[str]) -> Iterator[bytes]:
    """The record files of these CVEs, baseline first, then each delta in order."""
    with zipfile.ZipFile(folder / BASELINE) as outer:
        inner = io.BytesIO(outer.read("cves.zip"))
    with zipfile.ZipFile(inner) as baseline:
        yield from (baseline.read(n) for n in baseline.namelist() if Path(n).stem in cves)
    for delta in sorted((folder / "deltas").glob("*.zip")):
        with zipfile.ZipFile(delta) as zf:
            yield from (
                zf.read(n) for n in zf.namelist() if n.endswith(".json") and Path(n).stem in cves
            )


def cve5_records(shared: Path, cves: set[str]) -> dict[str, Record]:
    """CVE id -> its newest CVE JSON 5 record (the newest ``dateUpdated`` wins)."""
    found: dict[str, Record] = {}
    for data in _cve5_members(shared / "cve5", cves):
        record = json.loads(data)
        meta = record["cveMetadata"]
        old = found.get(meta["cveId"])
        updated = meta.get("dateUpdated") or ""
        if old is None or updated >= (old["cveMetadata"].get("dateUpdated") or ""):
            found[meta["cveId"]] = record
    return found


def write_records(shared: Path, cves: set[str], folder: Path) -> None:
    """``folder/<CVE>.json`` for each CVE: its NVD and CVE List records."""
    folder.mkdir(parents=True, exist_ok=True)
    nvd, cve5 = nvd_records(shared, cves), cve5_records(shared, cves)
    for cve in sorted(cves):
        pair = {"nvd": nvd.get(cve), "cve5": cve5.get(cve)}
        (folder / f"{cve}.json").write_text(json.dumps(pair, indent=1))
