"""VEX documents (OpenVEX 0.2.0 and CycloneDX VEX) read into typed statements.

A VEX statement says, for one vulnerability and some products, whether the products are
affected. Two formats are read:

- OpenVEX 0.2.0 (openvex/spec, OPENVEX-SPEC.md): ``statements[]`` with ``vulnerability``
  (``name``, ``@id``, ``aliases``), ``products[]`` (``@id`` or ``identifiers.purl``, with
  optional ``subcomponents``), ``status`` (not_affected, affected, fixed,
  under_investigation), ``justification``, ``impact_statement``, ``action_statement``,
  ``status_notes``. The 0.0.x shapes (a vulnerability and products as plain strings) are read
  too, since vexctl wrote them for a year.
- CycloneDX 1.4-1.6 VEX (``bomFormat: CycloneDX``): ``vulnerabilities[]`` with ``id``,
  ``references[].id`` (aliases), ``analysis`` (``state``, ``justification``, ``detail``,
  ``response``) and ``affects[].ref``, a component's ``bom-ref`` in the same document (or a
  purl, or a BOM-Link whose fragment is either), resolved to that component's purl. A
  vulnerability without ``analysis.state`` is a finding, not a statement, and is skipped.

Which packages a statement applies to: a product names a Nix package through a ``pkg:nix``
purl (the form sbomnix, bombon and nix-audit's own reports write). The purl's name must equal
the package's pname (or the name Nix's ``parseDrvName`` splits off); a purl with a version
applies to that exact version only, a purl without one to every version. The namespace and
qualifiers are not compared. Products of other purl types, CPE-only products and statements
without products apply to no Nix package. A CycloneDX ``affects[].versions`` list, when
given, narrows the statement to the versions it names explicitly (ranges are not read, so a
range-only list narrows it to nothing: better a finding shown than one wrongly hidden).

Several statements on one (package, vulnerability): the newest wins. OpenVEX: "VEX is
designed to be a sequence of statements, each overriding ... the previous ones"; a statement
without a timestamp inherits its document's. Equal or missing times: the later statement
(later in the file, or in a file given later) wins.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nix_audit.derivation.names import parse_drv_name
from nix_audit.errors import TriageError
from nix_audit.models import Package

__all__ = [
    "CYCLONEDX_JUSTIFICATIONS",
    "OPENVEX_JUSTIFICATIONS",
    "VexDocument",
    "VexProduct",
    "VexStatement",
    "VexStatus",
    "find_statement",
    "load_vex",
    "parse_vex",
]

# OpenVEX 0.2.0, "Status Justifications".
OPENVEX_JUSTIFICATIONS = frozenset({
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
})  # fmt: skip
# CycloneDX 1.6, vulnerabilities[].analysis.justification ("impactAnalysisJustification").
CYCLONEDX_JUSTIFICATIONS = frozenset({
    "code_not_present", "code_not_reachable", "requires_configuration",
    "requires_dependency", "requires_environment", "protected_by_compiler",
    "protected_at_runtime", "protected_at_perimeter", "protected_by_mitigating_control",
})  # fmt: skip

_EARLIEST = datetime.min.replace(tzinfo=UTC)


class VexStatus(enum.Enum):
    """The OpenVEX status labels; CycloneDX analysis states are mapped onto them."""

    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"


@dataclass(frozen=True, slots=True)
class VexProduct:
    """A Nix package a statement names: a ``pkg:nix`` purl's name and its version(s)."""

    name: str
    versions: frozenset[str] | None = None  # None: every version

    def matches(self, package: Package) -> bool:
        """Same pname, and the same version when the product names versions."""
        if self.versions is not None and package.version not in self.versions:
            return False
        return self.name in _package_names(package)


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One statement: vulnerability ids, products, status and why; ``origin`` says where."""

    vulnerabilities: frozenset[str]  # upper-case ids: the name, aliases, a CVE in the @id
    products: tuple[VexProduct, ...]
    status: VexStatus
    justification: str | None = None  # an OpenVEX or a CycloneDX label, as written
    detail: str = ""  # impact or action statement, status notes, CycloneDX analysis detail
    timestamp: datetime | None = None  # its own, else its document's
    origin: str = ""  # "<file>: statements[3]"

    def applies_to(self, package: Package) -> bool:
        return any(product.matches(package) for product in self.products)

    @property
    def reason(self) -> str:
        """What triage shows: ``VEX: <status> (<justification>): <detail> [<origin>]``."""
        text = f"VEX: {self.status.value}"
        if self.justification:
            text += f" ({self.justification})"
        if self.detail:
            text += f": {self.detail}"
        return f"{text} [{self.origin}]"


@dataclass(frozen=True, slots=True)
class VexDocument:
    """The statements of one VEX file, in file order, indexed by vulnerability id."""

    origin: str
    format: str  # "openvex" or "cyclonedx"
    statements: tuple[VexStatement, ...] = ()
    _by_id: dict[str, tuple[tuple[int, VexStatement], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[str, list[tuple[int, VexStatement]]] = {}
        for position, statement in enumerate(self.statements):
            for vulnerability in statement.vulnerabilities:
                index.setdefault(vulnerability, []).append((position, statement))
        # A cache derived from the frozen statements: setting it does not change the value.
        object.__setattr__(self, "_by_id", {k: tuple(v) for k, v in index.items()})

    def statements_for(self, cve_id: str) -> tuple[tuple[int, VexStatement], ...]:
        """(position, statement) for the statements about ``cve_id``, in file order."""
        return self._by_id.get(cve_id.upper(), ())


def find_statement(
    documents: Sequence[VexDocument], package: Package, cve_id: str
) -> VexStatement | None:
    """The statement that decides ``cve_id`` in ``package``: the newest applicable one."""
    best: tuple[tuple[datetime, int, int], VexStatement] | None = None
    for number, document in enumerate(documents):
        for position, statement in document.statements_for(cve_id):
            if statement.applies_to(package):
                key = (statement.timestamp or _EARLIEST, number, position)
                if best is None or key >= best[0]:
                    best = (key, statement)
    return None if best is None else best[1]


def load_vex(path: str | Path) -> VexDocument:
    """Read one VEX file; ``TriageError`` names the file and the first problem."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TriageError(f"{path}: cannot read VEX document: {e.strerror or e}") from e
    return parse_vex(data, str(path))


def parse_vex(data: bytes, origin: str) -> VexDocument:
    """A VEX document from its bytes; ``origin`` names it in errors and reasons."""
    # Imported here: the readers build the statements this module defines.
    from nix_audit.triage._vex_formats import cyclonedx_statements, openvex_statements

    document = _decode(data, origin)
    if not isinstance(document, Mapping):
        raise TriageError(f"{origin}: not a VEX document: expected a JSON object")
    if document.get("bomFormat") == "CycloneDX":
        statements = tuple(cyclonedx_statements(document, origin))
        return VexDocument(origin, "cyclonedx", statements)
    context = document.get("@context")
    if (isinstance(context, str) and "openvex" in context) or "statements" in document:
        return VexDocument(origin, "openvex", tuple(openvex_statements(document, origin)))
    raise TriageError(
        f"{origin}: not a VEX document: neither OpenVEX (@context, statements) "
        "nor CycloneDX (bomFormat)"
    )


def _decode(data: bytes, origin: str) -> object:
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise TriageError(f"{origin}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise TriageError(f"{origin}: not UTF-8 text (byte {e.start})") from e
    except (ValueError, RecursionError) as e:  # an over-long integer, absurd nesting
        raise TriageError(f"{origin}: invalid JSON: {' '.join(str(e).split())}") from e


def _package_names(package: Package) -> set[str]:
    """The pnames a package answers to: its own, and the one its full name splits into."""
    names = {package.pname, parse_drv_name(package.name)[0]}
    suffix = f"-{package.version}"
    if package.version and package.name.endswith(suffix):
        names.add(package.name[: -len(suffix)])
    names.discard("")
    return names
