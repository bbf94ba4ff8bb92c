"""The two VEX formats read into ``vex.VexStatement``s: OpenVEX 0.2.0 and CycloneDX VEX.

Which fields are read, and how, is described in ``vex``'s module docstring; this module holds
the readers and their field checks, each error naming the document and the JSON path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import unquote

from packageurl import PackageURL

from nix_audit.errors import TriageError
from nix_audit.triage.vex import (
    CYCLONEDX_JUSTIFICATIONS,
    OPENVEX_JUSTIFICATIONS,
    VexProduct,
    VexStatement,
    VexStatus,
)

__all__ = ["cyclonedx_statements", "openvex_statements"]

# CycloneDX 1.6 "impactAnalysisState" -> status. false_positive is "not affected" with the
# reason that the product does not contain the component (the OpenVEX justification
# component_not_present); resolved_with_pedigree is a fix whose evidence is in the pedigree.
_CYCLONEDX_STATES = {
    "not_affected": (VexStatus.NOT_AFFECTED, None),
    "false_positive": (VexStatus.NOT_AFFECTED, "component_not_present"),
    "resolved": (VexStatus.FIXED, None),
    "resolved_with_pedigree": (VexStatus.FIXED, None),
    "exploitable": (VexStatus.AFFECTED, None),
    "in_triage": (VexStatus.UNDER_INVESTIGATION, None),
}

_CVE_IN_TEXT = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)

JsonObject = Mapping[str, object]


# --- OpenVEX -------------------------------------------------------------------------------


def openvex_statements(document: JsonObject, origin: str) -> Iterator[VexStatement]:
    statements = _list(document.get("statements"), f"{origin}: statements", required=True)
    issued = _time(document.get("last_updated") or document.get("timestamp"), origin)
    for index, raw in enumerate(statements):
        where = f"{origin}: statements[{index}]"
        statement = _object(raw, where)
        status = _status(statement.get("status"), where)
        justification = _label(
            statement.get("justification"), OPENVEX_JUSTIFICATIONS, f"{where}: justification"
        )
        own_time = statement.get("last_updated") or statement.get("timestamp")
        yield VexStatement(
            vulnerabilities=_openvex_ids(statement.get("vulnerability"), where),
            products=tuple(_openvex_products(statement.get("products"), where)),
            status=status,
            justification=justification,
            detail=_openvex_detail(statement, status, where),
            timestamp=_time(own_time, where) or issued,
            origin=where,
        )


def _status(value: object, where: str) -> VexStatus:
    if value is None:
        raise TriageError(f"{where}: missing status")
    for status in VexStatus:
        if value == status.value:
            return status
    expected = ", ".join(s.value for s in VexStatus)
    raise TriageError(f"{where}: unknown status {_show(value)} (expected one of: {expected})")


def _openvex_ids(value: object, where: str) -> frozenset[str]:
    """The vulnerability's name, aliases and any CVE id in its @id (an NVD URL, say)."""
    if isinstance(value, str) and value.strip():  # OpenVEX 0.0.x: the id as a string
        return frozenset({value.strip().upper()})
    if value is None:
        raise TriageError(f"{where}: missing vulnerability")
    vulnerability = _object(value, f"{where}: vulnerability")
    ids = {_string(vulnerability.get("name"), f"{where}: vulnerability.name")}
    aliases = _list(vulnerability.get("aliases"), f"{where}: vulnerability.aliases")
    ids.update(_string(a, f"{where}: vulnerability.aliases") for a in aliases)
    iri = _string(vulnerability.get("@id"), f"{where}: vulnerability.@id")
    ids.update(_CVE_IN_TEXT.findall(iri))
    found = frozenset(i.strip().upper() for i in ids if i.strip())
    if not found:
        raise TriageError(f"{where}: vulnerability has no name, @id or aliases")
    return found


def _openvex_products(value: object, where: str) -> Iterator[VexProduct]:
    """Products, or their subcomponents when listed (the components the statement is about)."""
    for index, raw in enumerate(_list(value, f"{where}: products")):
        here = f"{where}: products[{index}]"
        if isinstance(raw, str):  # OpenVEX 0.0.x: a product as a plain identifier
            yield from _purl_product(raw, here)
            continue
        product = _object(raw, here)
        subcomponents = _list(product.get("subcomponents"), f"{here}: subcomponents")
        parts = [_object(s, f"{here}: subcomponents") for s in subcomponents] or [product]
        for part in parts:
            identifiers = _object(part.get("identifiers", {}), f"{here}: identifiers")
            for key in ("@id", "purl"):
                holder = part if key == "@id" else identifiers
                yield from _purl_product(_string(holder.get(key), f"{here}: {key}"), here)


def _openvex_detail(statement: JsonObject, status: VexStatus, where: str) -> str:
    """The free text that explains this status (OpenVEX 0.2.0, "Statement" fields)."""
    keys = {
        VexStatus.NOT_AFFECTED: ("impact_statement", "status_notes"),
        VexStatus.AFFECTED: ("action_statement", "status_notes"),
    }.get(status, ("status_notes", "action_statement", "impact_statement"))
    for key in keys:
        if text := _string(statement.get(key), f"{where}: {key}").strip():
            return text
    return ""


# --- CycloneDX -----------------------------------------------------------------------------


def cyclonedx_statements(document: JsonObject, origin: str) -> Iterator[VexStatement]:
    purls = _bom_refs(document, origin)
    metadata = _object(document.get("metadata", {}), f"{origin}: metadata")
    issued = _time(metadata.get("timestamp"), f"{origin}: metadata.timestamp")
    vulnerabilities = _list(document.get("vulnerabilities"), f"{origin}: vulnerabilities")
    for index, raw in enumerate(vulnerabilities):
        where = f"{origin}: vulnerabilities[{index}]"
        vulnerability = _object(raw, where)
        analysis = _object(vulnerability.get("analysis", {}), f"{where}: analysis")
        state = analysis.get("state")
        if state is None:
            continue  # a vulnerability listing without a VEX analysis states nothing
        if not isinstance(state, str) or state not in _CYCLONEDX_STATES:
            expected = ", ".join(_CYCLONEDX_STATES)
            raise TriageError(
                f"{where}: unknown analysis.state {_show(state)} (expected one of: {expected})"
            )
        status, implied = _CYCLONEDX_STATES[state]
        justification = _label(
            analysis.get("justification"), CYCLONEDX_JUSTIFICATIONS, f"{where}: justification"
        )
        yield VexStatement(
            vulnerabilities=_cyclonedx_ids(vulnerability, where),
            products=tuple(_cyclonedx_products(vulnerability, purls, where)),
            status=status,
            justification=justification or implied,
            detail=_cyclonedx_detail(state, analysis, where),
            timestamp=_cyclonedx_time(vulnerability, analysis, where) or issued,
            origin=where,
        )


def _bom_refs(document: JsonObject, origin: str) -> dict[str, str]:
    """bom-ref -> purl of every component, nested ones and ``metadata.component`` included."""
    found: dict[str, str] = {}
    metadata = _object(document.get("metadata", {}), f"{origin}: metadata")
    pending: list[object] = [metadata.get("component", {})]
    pending += _list(document.get("components"), f"{origin}: components")
    while pending:
        component = _object(pending.pop(), f"{origin}: components")
        ref = _string(component.get("bom-ref"), f"{origin}: components: bom-ref")
        purl = _string(component.get("purl"), f"{origin}: components: purl")
        if ref and purl:
            found.setdefault(ref, purl)
        pending += _list(component.get("components"), f"{origin}: components")
    return found


def _cyclonedx_ids(vulnerability: JsonObject, where: str) -> frozenset[str]:
    """``id`` and the ids of ``references`` (the same vulnerability in other databases)."""
    ids = {_string(vulnerability.get("id"), f"{where}: id")}
    for raw in _list(vulnerability.get("references"), f"{where}: references"):
        ids.add(_string(_object(raw, f"{where}: references").get("id"), f"{where}: references"))
    found = frozenset(i.strip().upper() for i in ids if i.strip())
    if not found:
        raise TriageError(f"{where}: missing vulnerability id")
    return found


def _cyclonedx_products(
    vulnerability: JsonObject, purls: Mapping[str, str], where: str
) -> Iterator[VexProduct]:
    for index, raw in enumerate(_list(vulnerability.get("affects"), f"{where}: affects")):
        here = f"{where}: affects[{index}]"
        target = _object(raw, here)
        ref = _string(target.get("ref"), f"{here}: ref")
        # A BOM-Link (urn:cdx:<serial>/<version>#<bom-ref>) names a component of another BOM.
        fragment = unquote(ref.partition("#")[2]) if ref.startswith("urn:cdx:") else ref
        purl = purls.get(fragment) or purls.get(ref) or fragment
        versions = _affected_versions(target.get("versions"), here)
        for product in _purl_product(purl, here):
            yield product if versions is None else VexProduct(product.name, versions)


def _affected_versions(value: object, where: str) -> frozenset[str] | None:
    """Explicit ``versions[].version`` entries, or None when the list is absent or empty."""
    entries = _list(value, f"{where}: versions")
    if not entries:
        return None
    versions = (_object(e, f"{where}: versions").get("version") for e in entries)
    return frozenset(_string(v, f"{where}: versions") for v in versions if v is not None)


def _cyclonedx_detail(state: str, analysis: JsonObject, where: str) -> str:
    parts = [state] if state in ("false_positive", "resolved_with_pedigree") else []
    if detail := _string(analysis.get("detail"), f"{where}: analysis.detail").strip():
        parts.append(detail)
    responses = _list(analysis.get("response"), f"{where}: analysis.response")
    if responses:
        parts.append("response: " + ", ".join(_string(r, where) for r in responses))
    return "; ".join(parts)


def _cyclonedx_time(vulnerability: JsonObject, analysis: JsonObject, where: str) -> datetime | None:
    for holder, key in ((analysis, "lastUpdated"), (analysis, "firstIssued"),
                        (vulnerability, "updated"), (vulnerability, "published")):  # fmt: skip
        if (value := holder.get(key)) is not None:
            return _time(value, f"{where}: {key}")
    return None


# --- shared --------------------------------------------------------------------------------


def _purl_product(text: str, where: str) -> Iterator[VexProduct]:
    """A product for a ``pkg:nix`` purl; nothing for other identifiers (IRIs, other types)."""
    if not text.startswith("pkg:"):
        return
    try:
        purl = PackageURL.from_string(text)
    except ValueError as e:
        raise TriageError(f"{where}: invalid purl {_show(text)}: {e}") from e
    if purl.type == "nix" and purl.name:
        yield VexProduct(purl.name, frozenset({purl.version}) if purl.version else None)


def _label(value: object, allowed: frozenset[str], where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise TriageError(
            f"{where}: unknown justification {_show(value)} "
            f"(expected one of: {', '.join(sorted(allowed))})"
        )
    return value


def _time(value: object, where: str) -> datetime | None:
    """An RFC 3339 time (a naive one is taken as UTC), or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise TriageError(f"{where}: bad timestamp {_show(value)} (expected RFC 3339)")


def _object(value: object, where: str) -> JsonObject:
    if not isinstance(value, Mapping):
        raise TriageError(f"{where}: expected an object, found {_kind(value)}")
    return value


def _list(value: object, where: str, *, required: bool = False) -> list[object]:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise TriageError(f"{where}: expected a list, found {_kind(value)}")
    return value


def _string(value: object, where: str) -> str:
    """A string field; absent is ``""``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TriageError(f"{where}: expected a string, found {_kind(value)}")
    return value


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _show(value: object) -> str:
    """A value for a one-line message: repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
