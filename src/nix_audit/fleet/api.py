"""The JSON API: reports from hosts, and the admin's operations (issue #7).

Read-only views of hosts, CVEs and packages are in ``api_views``; pages in ``pages``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from sqlalchemy import func, select

from nix_audit.errors import TriageError
from nix_audit.fleet.auth import hash_token
from nix_audit.fleet.central_triage import (
    MAX_DOCUMENT_BYTES,
    DocumentKind,
    TriageDocument,
    UnknownDocumentError,
    delete_document,
    load_documents,
    put_document,
)
from nix_audit.fleet.evaluation import index_generation
from nix_audit.fleet.protocol import (
    MAX_BODY_BYTES,
    MAX_REPORT_BYTES,
    ClosureUpload,
    HostReport,
    ReportTooLarge,
    decode_closure,
    decode_report,
)
from nix_audit.fleet.registry import DEFAULT_INTERVAL, SESSION_LIFETIME, Host
from nix_audit.fleet.reports import (
    Submission,
    UnknownClosureError,
    closure_known,
    store_closure,
)
from nix_audit.fleet.security import admin_for_api, bearer_token, registry_of, reporting_host
from nix_audit.fleet.tables import closures, host_status, hosts
from nix_audit.fleet.uploads import wait_for

__all__ = ["ERROR_RESPONSES", "accept_report", "router"]

#: The error answers of the API, documented once: each is ``{"detail": "<one line>"}``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed input; the detail names the problem"},
    401: {"description": "No valid admin login or host token"},
    403: {"description": "A host token used for another host"},
    404: {"description": "No such host, CVE, package or document"},
    409: {"description": "Conflict: host already registered, or closure to upload first"},
    413: {"description": "Body over the size limits"},
}

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
Admin = Annotated[str, Depends(admin_for_api)]


@dataclass(frozen=True, slots=True)
class ReportAccepted:
    report_id: int
    host: str
    closure: str  # sha256 of the closure's packages
    matched: bool  # already matched against the current index


@dataclass(frozen=True, slots=True)
class ClosureStored:
    closure: str
    stored: bool  # False: the server had it already (from another host, say)


def _inline_schema(kind: type) -> dict[str, Any]:
    """A message's JSON schema with its definitions inlined (OpenAPI cannot see ``$defs``)."""
    schema: dict[str, Any] = msgspec.json.schema(kind)
    definitions = schema.pop("$defs", {})
    text = json.dumps(schema)
    for name, definition in definitions.items():
        text = text.replace(json.dumps({"$ref": f"#/$defs/{name}"}), json.dumps(definition))
    result: dict[str, Any] = json.loads(text)
    return result


def _body(kind: type, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(kind)}},
            "description": description,
        }
    }


@router.post(
    "/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportAccepted,
    summary="Report which closure a host runs (its token as Authorization: Bearer)",
    openapi_extra=_body(HostReport, "Answered 409 when the closure must be uploaded first."),
)
async def submit_report(request: Request) -> Response:
    return await accept_report(request)


async def accept_report(request: Request) -> Response:
    """The report handler (also served by ``app.ReportFastPath``, without FastAPI's layers)."""
    token = bearer_token(request)
    report = decode_report(await _capped_body(request, MAX_REPORT_BYTES))
    state = request.app.state.fleet
    submission = Submission(hash_token(token), report)
    # Another host may be uploading this closure right now: wait for it (uploads.py).
    pending = state.uploads.pending(report.closure)
    if pending is not None:
        await wait_for(pending)
    try:
        receipt = await state.intake.submit(submission)
    except UnknownClosureError:
        pending = state.uploads.claim(report.closure)
        if pending is None or not await wait_for(pending):
            raise
        receipt = await state.intake.submit(submission)
    state.evaluator.wake()
    accepted = ReportAccepted(receipt.report_id, report.hostname, receipt.closure, receipt.matched)
    # Encoded here rather than by FastAPI's response model: the hot path of a fleet's burst.
    return Response(msgspec.json.encode(accepted), status.HTTP_202_ACCEPTED, media_type=_JSON)


_JSON = "application/json"


@router.put(
    "/closures/{digest}",
    summary="Upload a closure's packages (host token; gzip-compressed JSON welcome)",
    openapi_extra=_body(ClosureUpload, "Packages whose closure_digest is DIGEST."),
)
async def upload_closure(
    request: Request,
    digest: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    _host: Annotated[Host, Depends(reporting_host)],
) -> ClosureStored:
    state = request.app.state.fleet
    # One upload per digest at a time: hosts of one new closure reporting together send it
    # together, and all but the first find it stored and skip decoding (bench/fleet).
    async with state.uploads.gate(digest):
        if await run_in_threadpool(closure_known, state.database, digest):
            stored = False
        else:
            body = await _capped_body(request, MAX_BODY_BYTES)
            gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
            upload = decode_closure(body, gzipped=gzipped)
            stored = await run_in_threadpool(store_closure, state.database, digest, upload)
    state.uploads.stored(digest)
    return ClosureStored(digest, stored=stored)


async def _capped_body(request: Request, limit: int) -> bytes:
    """The body, refused once it passes ``limit`` (never read whole into memory first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ReportTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ReportTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    name: str
    password: str


@dataclass(frozen=True, slots=True)
class SessionToken:
    token: str
    expires_in: int  # seconds


@router.post("/session", summary="Log in; the token works as Authorization: Bearer")
def open_session(request: Request, credentials: Credentials) -> SessionToken:
    registry = registry_of(request)
    if not registry.check_admin(credentials.name, credentials.password):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong admin name or password")
    token = registry.open_session(credentials.name)
    return SessionToken(token, int(SESSION_LIFETIME.total_seconds()))


# --- status ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetStatus:
    index_generation: str | None
    index_update_at: datetime | None
    index_update_error: str | None
    hosts: int
    hosts_reported: int
    hosts_evaluated: int  # triaged with the current index and central triage
    closures: int
    closures_matched: int  # matched with the current index


@router.get("/status", summary="How far matching and triage have come")
def fleet_status(request: Request, _admin: Admin) -> FleetStatus:
    state = request.app.state.fleet
    generation = index_generation(state.index_path)
    stamp_prefix = f"{generation}/"
    with state.database.reading() as c:
        host_count, reported = c.execute(
            select(func.count(), func.count(hosts.c.current_report_id))
        ).one()
        evaluated = (
            c.execute(
                select(func.count())
                .select_from(host_status)
                .join(hosts, hosts.c.id == host_status.c.host_id)
                .where(host_status.c.report_id == hosts.c.current_report_id)
                .where(host_status.c.generation.startswith(stamp_prefix, autoescape=True))
            ).scalar_one()
            if generation
            else 0
        )
        closure_count, matched = c.execute(
            select(func.count(), func.count().filter(closures.c.matched_generation == generation))
        ).one()
    last = state.updater.last if state.updater is not None else None
    return FleetStatus(
        generation,
        last.at if last else None,
        last.error if last else None,
        host_count,
        reported,
        evaluated,
        closure_count,
        matched,
    )


@router.post("/index/update", status_code=status.HTTP_202_ACCEPTED, summary="Update the index now")
def update_index_now(request: Request, _admin: Admin) -> dict[str, str]:
    updater = request.app.state.fleet.updater
    if updater is None:
        return {"detail": "this server does not update its index (started without updates)"}
    updater.update_soon()
    return {"detail": "update started"}


# --- hosts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewHost:
    name: str
    # Seconds, from a minute to a year: bounded, so that no value overflows a date or column.
    report_interval: Annotated[int, Field(ge=60, le=366 * 86400)] = int(
        DEFAULT_INTERVAL.total_seconds()
    )


@dataclass(frozen=True, slots=True)
class HostToken:
    name: str
    token: str  # shown once; the server keeps only its hash


@router.post("/hosts", status_code=status.HTTP_201_CREATED, summary="Register a host")
def register_host(request: Request, host: NewHost, _admin: Admin) -> HostToken:
    interval = timedelta(seconds=host.report_interval)
    token = registry_of(request).add_host(host.name, interval=interval)
    return HostToken(host.name, token)


@router.post("/hosts/{name}/token", summary="Replace a host's token (the old one stops working)")
def replace_token(request: Request, name: str, _admin: Admin) -> HostToken:
    return HostToken(name, registry_of(request).new_token(name))


@router.delete(
    "/hosts/{name}/token",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a host's token",
)
def revoke_token(request: Request, name: str, _admin: Admin) -> None:
    registry_of(request).revoke(name)


# --- central triage -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriageDocumentInfo:
    kind: str
    name: str
    hosts: list[str] | None  # None: every host
    uploaded_at: datetime

    @classmethod
    def of(cls, document: TriageDocument) -> TriageDocumentInfo:
        hosts = list(document.hosts) if document.hosts else None
        return cls(document.kind.value, document.name, hosts, document.uploaded_at)


@router.get("/triage", summary="Central whitelists and VEX documents")
def list_triage(request: Request, _admin: Admin) -> list[TriageDocumentInfo]:
    return [TriageDocumentInfo.of(d) for d in load_documents(request.app.state.fleet.database)]


@router.put(
    "/triage/{kind}/{name}",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a whitelist (TOML/YAML, by the name's extension) or a VEX document",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def upload_triage(
    request: Request,
    kind: DocumentKind,
    name: str,
    _admin: Admin,
    host: Annotated[list[str] | None, Query(description="Apply only to these hosts")] = None,
) -> TriageDocumentInfo:
    body = await _capped_body(request, MAX_DOCUMENT_BYTES)
    try:
        content = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TriageError(f"{name}: not UTF-8 text (byte {e.start})") from e
    state = request.app.state.fleet
    document = await run_in_threadpool(put_document, state.database, kind, name, content, host)
    state.evaluator.wake()
    return TriageDocumentInfo.of(document)


@router.delete(
    "/triage/{kind}/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a document"
)
def remove_triage(request: Request, kind: DocumentKind, name: str, _admin: Admin) -> None:
    state = request.app.state.fleet
    if not delete_document(state.database, kind, name):
        raise UnknownDocumentError(f"no {kind.value} document named {name!r}")
    state.evaluator.wake()
