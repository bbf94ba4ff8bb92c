"""Print the records of one drawn CVE, trimmed to what a judge reads (issue #13).

Usage: ``python -m tests.accuracy.show_record RECORDS_DIR CVE-YYYY-NNNN``, where RECORDS_DIR
is what ``tests.accuracy.draw`` wrote beside its skeleton.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _short(text: str, limit: int = 1500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + " [...]"


def _range(match: dict[str, Any]) -> str:
    bounds = [
        (">=", match.get("versionStartIncluding")),
        (">", match.get("versionStartExcluding")),
        ("<=", match.get("versionEndIncluding")),
        ("<", match.get("versionEndExcluding")),
    ]
    return " ".join(f"{op}{value}" for op, value in bounds if value)


def nvd_lines(record: dict[str, Any]) -> list[str]:
    lines = [f"NVD {record['id']} lastModified {record['lastModified']} {record.get('vulnStatus')}"]
    lines += [f"  description: {_short(d['value'])}" for d in record.get("descriptions", [])[:1]]
    for n, config in enumerate(record.get("configurations", [])):
        lines.append(f"  configuration {n} operator {config.get('operator', 'OR')}")
        for node in config["nodes"]:
            negate = " negate" if node.get("negate") else ""
            lines.append(f"    node {node['operator']}{negate}")
            for match in node["cpeMatch"]:
                flag = "vulnerable" if match["vulnerable"] else "NOT vulnerable (platform)"
                lines.append(f"      {match['criteria']} {_range(match)} [{flag}]")
    if not record.get("configurations"):
        lines.append("  (no configurations: the NVD has not analysed it)")
    lines += [f"  reference: {r['url']}" for r in record.get("references", [])[:8]]
    return lines


def _affected_lines(affected: list[dict[str, Any]]) -> list[str]:
    lines = []
    for entry in affected:
        keys = ("vendor", "product", "packageName", "collectionURL", "repo", "defaultStatus")
        head = ", ".join(f"{k}={entry[k]!r}" for k in keys if k in entry)
        lines.append(f"    affected {head}")
        lines += [f"      cpe {cpe}" for cpe in entry.get("cpes", [])]
        lines += [f"      version {json.dumps(v)}" for v in entry.get("versions", [])]
    return lines


def cve5_lines(record: dict[str, Any]) -> list[str]:
    meta = record["cveMetadata"]
    lines = [f"CVE5 {meta['cveId']} {meta['state']} updated {meta.get('dateUpdated')}"]
    cna = record["containers"].get("cna", {})
    lines += [f"  description: {_short(d['value'])}" for d in cna.get("descriptions", [])[:1]]
    lines.append("  cna:")
    lines += _affected_lines(cna.get("affected", []))
    for adp in record["containers"].get("adp", []):
        if adp.get("affected"):
            lines.append(f"  adp {adp.get('providerMetadata', {}).get('shortName')}:")
            lines += _affected_lines(adp["affected"])
    return lines


def main() -> None:
    folder, cve = Path(sys.argv[1]), sys.argv[2]
    pair = json.loads((folder / f"{cve}.json").read_text())
    lines = nvd_lines(pair["nvd"]) if pair["nvd"] else ["NVD: no record"]
    lines += cve5_lines(pair["cve5"]) if pair["cve5"] else ["CVE5: no record in the snapshot"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
