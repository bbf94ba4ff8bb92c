"""Small builders of advisory records and a fake index for the matching tests."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from nix_audit.models import (
    AdvisoryDetails,
    AdvisoryRecord,
    ConfigNode,
    Configuration,
    CpeMatch,
    Package,
)

__all__ = ["FakeLookup", "cm", "config", "node", "package", "record", "records_from_feed_json"]


def cm(
    criteria: str,
    *,
    vulnerable: bool = True,
    si: str | None = None,
    se: str | None = None,
    ei: str | None = None,
    ee: str | None = None,
) -> CpeMatch:
    """A ``cpeMatch`` entry; ``si``/``se``/``ei``/``ee`` are the four range bounds."""
    return CpeMatch(criteria, vulnerable, si, se, ei, ee)


def node(*matches: CpeMatch, operator: str = "OR", negate: bool = False) -> ConfigNode:
    """A configuration node over ``matches``."""
    return ConfigNode(operator, negate, matches)


def config(*nodes: ConfigNode, operator: str = "OR", negate: bool = False) -> Configuration:
    """A configuration over ``nodes``."""
    return Configuration(operator, negate, nodes)


def record(cve_id: str, *configs: Configuration) -> AdvisoryRecord:
    """A CVE record with ``configs``."""
    return AdvisoryRecord(cve_id, configs)


def package(name: str, pname: str, version: str, drv: str | None = None) -> Package:
    """A package as a source would make it."""
    return Package(name=name, pname=pname, version=version, derivation=drv)


class FakeLookup:
    """An ``AdvisoryLookup`` over hand-made records, indexed like the real index.

    A record is listed under every product that one of its ``vulnerable: true`` entries
    names; calls are recorded so tests can check batching.
    """

    def __init__(self, records: Sequence[AdvisoryRecord]) -> None:
        self.by_product: dict[str, list[AdvisoryRecord]] = {}
        for rec in records:
            products = {
                m.criteria.split(":")[4].replace("\\", "").lower()
                for conf in rec.configurations
                for n in conf.nodes
                for m in n.matches
                if m.vulnerable
            }
            for product in sorted(products):
                self.by_product.setdefault(product, []).append(rec)
        self.calls: list[list[str]] = []

    def records_for_products(
        self, products: Collection[str]
    ) -> Mapping[str, Sequence[AdvisoryRecord]]:
        """Records per asked product that has any."""
        self.calls.append(sorted(products))
        return {p: self.by_product[p] for p in products if p in self.by_product}

    def records_for_versions(
        self, wanted: Mapping[str, Collection[str] | None]
    ) -> Mapping[str, Sequence[AdvisoryRecord]]:
        """Every record of each product: the fake keeps no version envelopes, so it narrows
        nothing (the real index's narrowing is tested in tests/advisories)."""
        return self.records_for_products(list(wanted))

    def details(self, cve_ids: Collection[str]) -> Mapping[str, AdvisoryDetails]:
        """No details are needed by the matcher."""
        return {}


def records_from_feed_json(data: Mapping[str, Any]) -> list[AdvisoryRecord]:
    """The records of a decoded NVD JSON 2.0 feed, trimmed to what matching reads."""
    out: list[AdvisoryRecord] = []
    for item in data["vulnerabilities"]:
        cve = item["cve"]
        configs = tuple(
            Configuration(
                conf.get("operator", "OR"),
                bool(conf.get("negate", False)),
                tuple(
                    ConfigNode(
                        n["operator"],
                        bool(n.get("negate", False)),
                        tuple(
                            CpeMatch(
                                m["criteria"],
                                bool(m["vulnerable"]),
                                m.get("versionStartIncluding"),
                                m.get("versionStartExcluding"),
                                m.get("versionEndIncluding"),
                                m.get("versionEndExcluding"),
                            )
                            for m in n["cpeMatch"]
                        ),
                    )
                    for n in conf["nodes"]
                ),
            )
            for conf in cve.get("configurations", ())
        )
        out.append(AdvisoryRecord(cve["id"], configs))
    return out
