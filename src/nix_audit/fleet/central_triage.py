"""Whitelists and VEX documents uploaded to the server, applied to every host or some (#7).

They are read by the scanner's own parsers, so an upload the command line would reject is
rejected here with the same one-line message, and they decide findings through the same
``triage`` function as ``scan -w ... --vex ...``.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from nix_audit.errors import TriageError
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.registry import aware, check_hostname
from nix_audit.fleet.tables import triage_documents
from nix_audit.triage.vex import VexDocument, parse_vex
from nix_audit.triage.whitelist import Whitelist, parse_whitelist

__all__ = [
    "DocumentKind",
    "TriageDocument",
    "TriageSet",
    "UnknownDocumentError",
    "delete_document",
    "load_documents",
    "put_document",
]

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


class UnknownDocumentError(TriageError):
    """No central triage document of that kind and name."""


class DocumentKind(enum.Enum):
    WHITELIST = "whitelist"
    VEX = "vex"


@dataclass(frozen=True, slots=True)
class TriageDocument:
    """One uploaded document; ``hosts`` None applies it to every host."""

    kind: DocumentKind
    name: str
    content: str
    hosts: tuple[str, ...] | None
    uploaded_at: datetime

    @property
    def origin(self) -> str:
        """How rules of this document are named in reasons and hygiene lists."""
        return f"server:{self.kind.value}/{self.name}"

    def applies_to(self, host: str) -> bool:
        return self.hosts is None or host in self.hosts


def put_document(
    database: FleetDatabase,
    kind: DocumentKind,
    name: str,
    content: str,
    hosts: Sequence[str] | None = None,
) -> TriageDocument:
    """Check and store (or replace) a document; raises ``TriageError`` for an invalid one."""
    if not name or len(name) > 200 or "/" in name:
        raise TriageError(f"{name!r}: a document name has 1 to 200 characters and no '/'")
    if len(content.encode()) > MAX_DOCUMENT_BYTES:
        raise TriageError(f"{name}: larger than {MAX_DOCUMENT_BYTES} bytes")
    for host in hosts or ():
        check_hostname(host)
    document = TriageDocument(
        kind, name, content, tuple(hosts) if hosts else None, datetime.now(UTC)
    )
    _parse(document)  # raises the scanner's own error for a bad document
    with database.writing() as c:
        c.execute(
            delete(triage_documents).where(
                triage_documents.c.kind == kind.value, triage_documents.c.name == name
            )
        )
        c.execute(
            insert(triage_documents).values(
                kind=kind.value,
                name=name,
                content=content,
                hosts=json.dumps(list(document.hosts)) if document.hosts else None,
                uploaded_at=document.uploaded_at,
            )
        )
    return document


def delete_document(database: FleetDatabase, kind: DocumentKind, name: str) -> bool:
    with database.writing() as c:
        done = c.execute(
            delete(triage_documents).where(
                triage_documents.c.kind == kind.value, triage_documents.c.name == name
            )
        )
    return bool(done.rowcount)


def load_documents(database: FleetDatabase) -> list[TriageDocument]:
    with database.reading() as c:
        rows = c.execute(select(triage_documents).order_by(triage_documents.c.id)).all()
    return [
        TriageDocument(
            DocumentKind(r.kind),
            r.name,
            r.content,
            tuple(json.loads(r.hosts)) if r.hosts else None,
            aware(r.uploaded_at),
        )
        for r in rows
    ]


def _parse(document: TriageDocument) -> Whitelist | VexDocument:
    if document.kind is DocumentKind.WHITELIST:
        # The name's extension (.toml, .yaml) picks the format, as a file's would.
        return parse_whitelist(document.content, document.origin)
    return parse_vex(document.content.encode(), document.origin)


class TriageSet:
    """The parsed central triage, and for each host the part that applies to it."""

    def __init__(self, documents: Sequence[TriageDocument]) -> None:
        self.documents = tuple(documents)
        self._parsed = [(d, _parse(d)) for d in documents]
        digest = hashlib.sha256()
        for d in self.documents:
            digest.update(f"{d.kind.value}\0{d.name}\0{d.hosts}\0{d.content}\0".encode())
        #: Changes whenever any document does: hosts are re-triaged then.
        self.generation = digest.hexdigest()[:16]

    def scope_of(self, host: str) -> tuple[int, ...]:
        """Which documents apply to the host (hosts with equal scopes share a triage)."""
        return tuple(i for i, (d, _) in enumerate(self._parsed) if d.applies_to(host))

    def for_scope(self, scope: Sequence[int]) -> tuple[Whitelist, list[VexDocument]]:
        whitelist = Whitelist()
        vex: list[VexDocument] = []
        for i in scope:
            parsed = self._parsed[i][1]
            if isinstance(parsed, Whitelist):
                whitelist = whitelist.merged(parsed)
            else:
                vex.append(parsed)
        return whitelist, vex
