"""A loopback HTTP server for tests: serves a folder, answers conditional requests, fails on cue.

It stands in for the NVD feed location (or any mirror, or a whitelist URL) on 127.0.0.1, on
a free port, in a background thread. It gives every file a strong ETag (the sha256 of its
content) and a Last-Modified date (its mtime), answers ``304 Not Modified`` to a matching
``If-None-Match`` or, when that header is absent, to a satisfied ``If-Modified-Since``
(RFC 9110, 13.1.2 / 13.1.3 / 13.2.2), keeps a log of every request, and can be told to
misbehave per path with a :class:`Fault`.

Example::

    from tests.helpers.feed_server import Fault, FeedServer

    def test_unchanged_feed_costs_one_request(tmp_path: Path) -> None:
        (tmp_path / "nvdcve-2.0-2014.json.gz").write_bytes(gzip.compress(b"{}"))
        with FeedServer(tmp_path) as server:
            source = HttpFeedSource(server.url)
            first = source.fetch("2014", None, tmp_path / "out")
            server.clear_log()
            again = source.fetch("2014", first.validators, tmp_path / "out")
            assert again.path is None
            assert [r.status for r in server.requests] == [304]

            server.set_fault("/nvdcve-2.0-2014.json.gz", Fault(status=403))
            server.set_fault("/nvdcve-2.0-2015.json.gz", Fault(drop_after=100))
            server.set_fault("/nvdcve-2.0-2016.json.gz", Fault(stall_before=5.0))
            server.set_fault("/nvdcve-2.0-2017.json.gz", Fault(body=b"<html>blocked</html>"))

Faults apply to every request of their path until cleared, or to the next ``times`` requests
only. Stalls wake up early when the server stops, so a test never waits for them.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.helpers.loopback import LoopbackServer

__all__ = ["Fault", "FeedServer", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class Fault:
    """How to misbehave for one path. Fields combine; unset fields mean "behave".

    - ``status``: answer with this status (403, 404, 500, 301 ...) and ``body`` or a short
      text body, instead of the file.
    - ``body``: serve these bytes with status 200 instead of the file (an HTML error page),
      without validators, as ``content_type`` (default: text/html when it looks like HTML).
    - ``headers``: extra response headers (``{"Location": ...}`` for a redirect).
    - ``stall_before``: seconds to wait before sending anything.
    - ``stall_after`` / ``stall_for``: send the first ``stall_after`` body bytes, then wait
      ``stall_for`` seconds, then send the rest.
    - ``drop_after``: announce the full ``Content-Length``, send only that many body bytes,
      then close the connection.
    - ``truncate``: serve only the first N bytes, with a matching ``Content-Length`` (a
      complete-looking but short file).
    - ``times``: apply to the next N requests of the path only (None: until cleared).
    """

    status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stall_before: float = 0.0
    stall_after: int | None = None
    stall_for: float = 0.0
    drop_after: int | None = None
    truncate: int | None = None
    times: int | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it; ``headers`` keys are lower case."""

    method: str
    path: str
    status: int
    headers: Mapping[str, str]
    client_port: int  # equal ports for two requests mean one kept-alive connection


@dataclass(frozen=True, slots=True)
class _Plan:
    """The response decided for one request, before anything is sent."""

    status: int
    headers: dict[str, str]
    body: bytes


class FaultsAndLog:
    """Per-path faults (each for ``Fault.times`` requests, or for good) and a log of the
    requests, as the loopback servers keep them; ``_path_key`` says how paths are compared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, tuple[Fault, int | None]] = {}
        self._log: list[RequestRecord] = []
        super().__init__()

    def _path_key(self, path: str) -> str:
        return path

    def set_fault(self, path: str, fault: Fault) -> None:
        """Misbehave for URL path ``path`` as ``fault`` says."""
        with self._lock:
            self._faults[self._path_key(path)] = (fault, fault.times)

    def clear_faults(self) -> None:
        """Behave again for every path."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            entry = self._faults.get(path)
            if entry is None:
                return None
            fault, remaining = entry
            if remaining is not None:
                if remaining <= 1:
                    del self._faults[path]
                else:
                    self._faults[path] = (fault, remaining - 1)
            return fault

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def requests_for(self, path: str) -> list[RequestRecord]:
        """The logged requests of one URL path."""
        wanted = self._path_key(path)
        return [record for record in self.requests if record.path == wanted]

    def clear_log(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._log.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)


class FeedServer(FaultsAndLog, LoopbackServer):
    """Serve ``root`` on ``http://127.0.0.1:<port>/`` in a daemon thread.

    ``etag`` / ``last_modified`` switch the validators off (a Last-Modified-only server is
    ``FeedServer(root, etag=False)``); ``gzip_encoding`` sends files not ending in ``.gz``
    with ``Content-Encoding: gzip`` to clients that accept it. All three may be changed while
    the server runs. Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        root: Path,
        *,
        etag: bool = True,
        last_modified: bool = True,
        gzip_encoding: bool = False,
    ) -> None:
        self.root = Path(root)
        self.etag = etag
        self.last_modified = last_modified
        self.gzip_encoding = gzip_encoding
        super().__init__()

    def _make_server(self) -> ThreadingHTTPServer:
        return _Server(("127.0.0.1", 0), _Handler, self)

    @property
    def url(self) -> str:
        """The base URL, with a trailing slash: ``http://127.0.0.1:<port>/``."""
        return f"http://127.0.0.1:{self.port}/"

    def url_for(self, path: str) -> str:
        """The URL of ``path`` (with or without a leading slash)."""
        return self.url + path.lstrip("/")

    def _path_key(self, path: str) -> str:
        return _normal_path(path)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when cut short because the server is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler never keeps the test process alive
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], owner: FeedServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that time out or hang up are what the tests provoke."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be observed
    server: _Server

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence stderr logging; the owner keeps its own request log."""

    def _respond(self, *, send_body: bool) -> None:
        owner = self.server.owner
        path = _normal_path(urlsplit(self.path).path)
        fault = owner._take_fault(path)
        plan = self._plan(owner, path, fault)
        headers = {key.lower(): value for key, value in self.headers.items()}
        owner._record(RequestRecord(self.command, path, plan.status, headers, self._port()))
        try:
            if fault is not None and owner._wait(fault.stall_before):
                self.close_connection = True
                return
            self._send(owner, plan, fault, send_body)
        except OSError:  # the client gave up (timeout, reset): nothing left to answer
            self.close_connection = True

    def _port(self) -> int:
        return int(self.client_address[1])

    def _plan(self, owner: FeedServer, path: str, fault: Fault | None) -> _Plan:
        if fault is not None and fault.status is not None:
            return _status_plan(fault)
        if fault is not None and fault.body is not None:
            body = fault.body
            plan = _Plan(200, {"Content-Type": _guess_type(body, fault.content_type)}, body)
        else:
            file = _resolve(owner.root, path)
            if file is None:
                return _status_plan(Fault(status=404))
            plan = _file_plan(
                owner,
                file,
                self.headers.get("If-None-Match"),
                self.headers.get("If-Modified-Since"),
            )
            if plan.status == 304:
                return plan
            plan = self._maybe_gzip(owner, path, plan)
        if fault is not None:
            plan.headers.update(fault.headers)
            if fault.truncate is not None:
                plan = _Plan(plan.status, plan.headers, plan.body[: fault.truncate])
        return plan

    def _maybe_gzip(self, owner: FeedServer, path: str, plan: _Plan) -> _Plan:
        accepts = self.headers.get("Accept-Encoding", "")
        if not owner.gzip_encoding or path.endswith(".gz") or "gzip" not in accepts:
            return plan
        headers = dict(plan.headers, **{"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        if "ETag" in headers:  # another representation, another strong ETag (RFC 9110, 8.8.3)
            headers["ETag"] = headers["ETag"][:-1] + '-gzip"'
        return _Plan(plan.status, headers, gzip.compress(plan.body, mtime=0))

    def _send(self, owner: FeedServer, plan: _Plan, fault: Fault | None, send_body: bool) -> None:
        self.send_response(plan.status)
        for key, value in plan.headers.items():
            self.send_header(key, value)
        if plan.status != 304:
            self.send_header("Content-Length", str(len(plan.body)))
        self.end_headers()
        if not send_body or plan.status == 304:
            return
        body = plan.body
        if fault is not None and fault.drop_after is not None:
            self.wfile.write(body[: fault.drop_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
            return
        if fault is not None and fault.stall_after is not None:
            self.wfile.write(body[: fault.stall_after])
            self.wfile.flush()
            if owner._wait(fault.stall_for):
                self.close_connection = True
                return
            body = body[fault.stall_after :]
        self.wfile.write(body)


def _normal_path(path: str) -> str:
    """A URL path, percent-decoded, with exactly one leading slash."""
    return "/" + unquote(path).lstrip("/")


def _resolve(root: Path, path: str) -> Path | None:
    """The file under ``root`` that URL ``path`` names, or None (missing, or outside root)."""
    base = root.resolve()
    candidate = (base / path.lstrip("/")).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def _status_plan(fault: Fault) -> _Plan:
    status = fault.status if fault.status is not None else 500
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    body = fault.body if fault.body is not None else f"{status} {phrase}\n".encode()
    content_type = fault.content_type or "text/plain; charset=utf-8"
    headers = {"Content-Type": content_type, **fault.headers}
    return _Plan(status, headers, body)


def _file_plan(
    owner: FeedServer, file: Path, if_none_match: str | None, if_modified_since: str | None
) -> _Plan:
    body = file.read_bytes()
    mtime = file.stat().st_mtime
    headers = {"Content-Type": _file_type(file)}
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"' if owner.etag else None
    modified = email.utils.formatdate(mtime, usegmt=True) if owner.last_modified else None
    if etag is not None:
        headers["ETag"] = etag
    if modified is not None:
        headers["Last-Modified"] = modified
    if _not_modified(etag, int(mtime) if modified else None, if_none_match, if_modified_since):
        return _Plan(304, headers, b"")
    return _Plan(200, headers, body)


def _not_modified(
    etag: str | None, mtime: int | None, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """RFC 9110, 13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if if_none_match is not None:
        if etag is None:
            return if_none_match.strip() == "*"
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags  # weak comparison (8.8.3.2)
    if if_modified_since is None or mtime is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (RFC 9110, 13.1.3)
    return mtime <= since.timestamp()


def _file_type(file: Path) -> str:
    if file.name.endswith(".gz"):
        return "application/gzip"
    if file.suffix == ".json":
        return "application/json"
    if file.suffix in (".html", ".htm"):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


def _guess_type(body: bytes, given: str | None) -> str:
    if given is not None:
        return given
    if body.lstrip()[:1] == b"<":
        return "text/html; charset=utf-8"
    return "application/octet-stream"
