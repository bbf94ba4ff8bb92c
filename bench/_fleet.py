"""Helpers of ``bench/fleet``: simulated closures, a PostgreSQL cluster, a served fleet.

Everything here runs in the benchmark's own interpreter (the project's virtualenv: it imports
``nix_audit`` and ``httpx``); the server under test is always a separate ``nix-audit serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import NIX_AUDIT, _children, _rss_kb, _TreeSampler
from _corpus import nixpkgs_records

from nix_audit.derivation.names import artifact_suffix, parse_drv_name, store_path_name
from nix_audit.fleet.protocol import (
    ClosureUpload,
    HostReport,
    ReportedPackage,
    closure_digest,
    encode,
    gzip_body,
)
from nix_audit.sources.store import strip_output

__all__ = [
    "ADMIN",
    "Closure",
    "ServedFleet",
    "build_closures",
    "closure_bodies",
    "free_port",
    "host_reports",
    "postgres_cluster",
    "py_spy",
    "serve",
    "tree_cpu",
]

ADMIN = ("bench", "bench-password-fleet")

#: Outputs a deployed system carries (docs, dev headers, debug info, wheels are left out).
_RUNTIME_OUTPUTS = frozenset({"out", "bin", "lib", "man"})
_SYSTEM = "x86_64-linux"
#: Packages every NixOS system has: the common base always holds them, so that the closures
#: have the findings a real system has (openssl, glibc, systemd, curl ...).
_CORE_PNAME_LIST = (
    "acl attr bash bash-interactive bzip2 coreutils cryptsetup curl dbus diffutils dosfstools "
    "e2fsprogs expat findutils gawk glib glibc gnugrep gnused gnutar gnutls gzip iproute2 "
    "iptables kbd kmod krb5 less libarchive libcap libffi libgcrypt libidn2 libseccomp libxml2 "
    "linux-pam lvm2 lz4 ncurses net-tools nghttp2 nix nss openssh openssl pcre2 perl python3 "
    "readline shadow sqlite sudo systemd tzdata util-linux xz zlib zstd"
)
_CORE_PNAMES = frozenset(_CORE_PNAME_LIST.split())


@dataclass(frozen=True, slots=True)
class Closure:
    """One simulated system: its packages (as a binary-cache host reports them), their
    ``closure_digest`` and the system's store path."""

    system: str
    packages: tuple[ReportedPackage, ...]
    digest: str


def _runtime_paths(shared: Path) -> tuple[dict[str, ReportedPackage], set[str]]:
    """Every versioned x86_64-linux runtime store path of the nixpkgs list as the package a
    host reports for it (no ``.drv``: named after the path, output suffix dropped, as
    ``sources/store`` does), and the core paths: of each core pname, its store path listed
    under its own attribute, else the one the most records list (what others depend on)."""
    packages: dict[str, ReportedPackage] = {}
    listed: Counter[str] = Counter()
    own: set[str] = set()  # paths listed under their own attribute (openssl under openssl)
    for record in nixpkgs_records(shared):
        origin = record["origin"]
        if origin["output"] not in _RUNTIME_OUTPUTS or origin["system"] != _SYSTEM:
            continue
        path = f"{record['store_dir']}/{record['hash']}-{record['name']}"
        listed[path] += 1
        name = strip_output(store_path_name(path))
        pname, version = parse_drv_name(name)
        if origin["attr"] == pname:
            own.add(path)
        if path in packages:
            continue
        if not version or artifact_suffix(name) is not None:
            continue  # the host's scanner skips these too
        packages[path] = ReportedPackage(
            name=name,
            pname=pname,
            version=version,
            store_path=path,
            identified_from="store-path-name",
        )
    core: dict[str, str] = {}
    for path, package in sorted(packages.items()):
        if package.pname not in _CORE_PNAMES or package.name.endswith("-env"):
            continue  # perl-5.42.0-env is an environment, not perl
        best = core.get(package.pname)
        if best is None or (path in own, listed[path]) > (best in own, listed[best]):
            core[package.pname] = path
    return packages, set(core.values())


def build_closures(
    shared: Path, count: int, *, base: int, varying: int, seed: int
) -> list[Closure]:
    """``count`` distinct closures of ``base + varying`` packages: a common base (the core
    attributes, then paths drawn at random) shared by all, plus ``varying`` paths drawn
    for each closure from the rest (closures may share some of those too)."""
    packages, core = _runtime_paths(shared)
    rng = random.Random(seed)  # noqa: S311 - a sample, not a secret
    paths = sorted(packages)
    common = sorted(core)[:base]
    rest = sorted(set(paths) - set(common))
    common += rng.sample(rest, base - len(common))
    others = sorted(set(rest) - set(common))
    closures = []
    for number in range(count):
        chosen = common + rng.sample(others, varying)
        listed = tuple(
            sorted((packages[p] for p in chosen), key=lambda p: (p.name, p.store_path or ""))
        )
        system = f"/nix/store/{secrets.token_hex(16)}-nixos-system-bench-{number}-26.05"
        closures.append(Closure(system, listed, closure_digest(listed)))
    return closures


def host_reports(names: list[str], closures: list[Closure]) -> list[bytes]:
    """The report each host posts (``POST /api/v1/reports``, plain JSON, as ``send_report``
    sends it): host i runs closure i % len(closures) and names it by its digest."""
    return [
        encode(
            HostReport(
                hostname=name,
                closure=closures[i % len(closures)].digest,
                system=closures[i % len(closures)].system,
                nixos_version="26.05.20260301.0000000",
            )
        )
        for i, name in enumerate(names)
    ]


def closure_bodies(closures: list[Closure]) -> list[bytes]:
    """Each closure's upload (``PUT /api/v1/closures/<digest>``): its gzip-compressed
    ``ClosureUpload``, as ``send_report`` sends it on a 409."""
    return [gzip_body(encode(ClosureUpload(packages=c.packages))) for c in closures]


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one live process (``/proc/PID/stat`` fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the process ``pid`` and of all its live descendants."""
    descendants, stack = 0.0, _children(pid)
    while stack:
        child = stack.pop()
        descendants += _cpu(child)
        stack += _children(child)
    return _cpu(pid), descendants


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class _ServerSampler(_TreeSampler):
    """Peak RSS of the server's process tree, less its children that are forks not yet
    exec'd: the server starts its forkserver and resource tracker by fork and exec, and a
    sample in between would count the server's pages twice (a 2.4 GB server then shows
    4.7 GB, depending on when the fork falls)."""

    def run(self) -> None:
        root = _cmdline(self.pid)
        while not self.done.is_set():
            children = [c for c in _children(self.pid) if _cmdline(c) != root]
            pids, stack = [self.pid], children
            while stack:
                pid = stack.pop()
                pids.append(pid)
                stack += _children(pid)
            self.peak_rss = max(self.peak_rss, sum(_rss_kb(pid) for pid in pids))
            self.done.wait(0.02)


@dataclass
class ServedFleet:
    """A running ``nix-audit serve``: its URL, process and peak-RSS sampler."""

    url: str
    process: subprocess.Popen[bytes]
    sampler: _ServerSampler
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _run(argv: list[str], input_text: str | None = None, cwd: Path | None = None) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, input=input_text, cwd=cwd, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")


@contextlib.contextmanager
def serve(database: str, index_dir: Path, workdir: Path) -> Iterator[ServedFleet]:
    """Set the admin, start ``nix-audit serve`` on a free port, wait for /healthz, stop it."""
    set_admin = [*NIX_AUDIT, "fleet", "set-admin", ADMIN[0], "--database", database]
    _run([*set_admin, "--password-file", "-"], input_text=ADMIN[1] + "\n")
    port = free_port()
    log = workdir / "serve.log"
    argv = [*NIX_AUDIT, "serve", "--database", database, "--db", str(index_dir)]
    argv += ["--listen", f"127.0.0.1:{port}", "--update-every", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    sampler = _ServerSampler(process.pid)
    sampler.start()
    fleet = ServedFleet(f"http://127.0.0.1:{port}", process, sampler, log)
    try:
        _wait_healthy(fleet)
        yield fleet
    finally:
        sampler.done.set()
        sampler.join()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(fleet: ServedFleet, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fleet.process.poll() is not None:
            raise SystemExit(f"nix-audit serve exited:\n{fleet.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{fleet.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"nix-audit serve did not answer within {timeout:.0f} s:\n{fleet.log_tail()}")


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """Sample ``pid`` and its children with ``py-spy record`` while inside (collapsed stacks:
    one ``frame;frame;... count`` line per stack); nothing when ``output`` is None."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    # --gil: only the thread that holds the interpreter lock, i.e. where the CPU time goes.
    argv = [spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking"]
    argv += ["--rate", "200", "--format", "raw", "--output", str(output)]
    recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)  # attached
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        _, errors = recorder.communicate(timeout=120)
        if not output.exists():
            print(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}")


# --- PostgreSQL -----------------------------------------------------------------------------

_PG_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True, slots=True)
class PostgresCluster:
    port: int

    def new_database(self) -> str:
        """A new empty database; its ``postgresql://`` URL."""
        import psycopg
        from psycopg import sql

        name = f"fleet_bench_{secrets.token_hex(6)}"
        admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's newest ``/usr/lib/postgresql/N``),
    run as the ``postgres`` user when we are root, with the default durability settings."""
    found = sorted(_PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SystemExit(f"PostgreSQL is not installed (no {_PG_ROOT}/*/bin/initdb)")
    bin_dir = found[-1].parent
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="nix-audit-bench-pg-"))
    if prefix:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
    data, port = base / "data", free_port()
    try:
        initdb = [*prefix, str(bin_dir / "initdb"), "-D", str(data), "--username=postgres"]
        _run([*initdb, "--auth=trust", "--encoding=UTF8", "--no-locale"], cwd=base)
        settings = f"listen_addresses = '127.0.0.1'\nport = {port}\n"
        settings += f"unix_socket_directories = '{base}'\n"
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(settings)
        pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
        _run([*pg_ctl, "start", "-l", str(base / "server.log")], cwd=base)
        try:
            yield PostgresCluster(port)
        finally:
            _run([*pg_ctl, "stop", "-m", "fast"], cwd=base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


class RawConnection:
    """A minimal HTTP/1.1 client on one keep-alive connection, for the load generator.

    httpx costs about 1 ms of CPU per request; with 1,000 hosts simulated in one process on
    the server's own two cores, the generator's CPU would show up as server latency. This one
    only writes a request and reads a ``Content-Length`` answer (what uvicorn sends).
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self._host, self._port = host, port
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._fixed}{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
