"""``scan --running`` (issue #8): ``/proc`` read from fake trees of real files and from the
real ``/proc`` with real processes started from a real Nix store; hosts without ``.drv``
files; the needs-restart check after a profile switch.

``build_running_store`` is shared with ``tests/e2e/test_running.py``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from nix_audit.models import IdentifiedFrom, Package, RunningProcess
from nix_audit.sources.interface import SourceResult
from nix_audit.sources.nix import NixStore
from nix_audit.sources.profiles import ProfileSource
from nix_audit.sources.running import (
    RunningSource,
    read_processes,
    store_path_in,
    systemd_unit,
)
from nix_audit.sources.store import StorePathSource
from nix_audit.sources.system import SYSTEM_ROOTS
from tests.helpers.nix_store import NixFixtureStore

# An executable that runs from the store: a copy of the host's sleep(1), named like a real
# package whose CVE the e2e feeds hold (CVE-2016-5419: curl 7.50.0); it refers to an
# openssl output, so the closure holds a package the process does not load itself.
RUNNING_NIX = r"""
{ salt }:
let
  mk = attrs: derivation ({
    system = builtins.currentSystem;
    builder = "/bin/sh";
    PATH = "/usr/bin:/bin";
    inherit salt;
  } // attrs);
  sleeper = version: mk {
    name = "curl-${version}";
    args = [ "-c" "mkdir -p $out/bin; cp /bin/sleep $out/bin/curl; echo ${openssl} > $out/deps" ];
  };
  openssl = mk {
    name = "openssl-1.0.1f";
    args = [ "-c" "mkdir -p $out/lib; echo ${salt} > $out/lib/libssl.so" ];
  };
in {
  inherit openssl;
  curl_old = sleeper "7.50.0";
  curl_new = sleeper "7.51.0";
}
"""
ATTRS = ("openssl", "curl_old", "curl_new")


@dataclass(frozen=True)
class RunningStore:
    """Realised outputs (``.drv`` files kept, or deleted when ``drvless``) and a profile."""

    root: Path
    drvs: Mapping[str, str]
    outs: Mapping[str, str]
    profile: Path  # a nix-env profile with curl 7.50.0 installed


def nix(*argv: str, config: str = "") -> str:
    env = dict(os.environ)
    if config:
        env["NIX_CONFIG"] = env.get("NIX_CONFIG", "") + "\n" + config
    done = subprocess.run(list(argv), capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def build_running_store(root: Path, *, drvless: bool = False) -> RunningStore:
    """Realise ``RUNNING_NIX`` under ``root`` (outputs held by indirect GC roots).

    ``drvless``: then delete every ``.drv`` (their roots removed, ``keep-derivations =
    false``), as on a host whose closures were copied from a binary cache.
    """
    roots = root / "roots"
    roots.mkdir(parents=True)
    expr = root / "running.nix"
    expr.write_text(RUNNING_NIX)
    salt = secrets.token_hex(8)
    drvs, outs = {}, {}
    for attr in ATTRS:
        drv_root = roots / f"drv-{attr}"
        args = ["--argstr", "salt", salt, "-A", attr, "--add-root", str(drv_root), "--indirect"]
        drvs[attr] = os.path.realpath(nix("nix-instantiate", str(expr), *args))
        link = roots / attr  # --add-root prints the link, not the store path
        nix("nix-store", "--realise", drvs[attr], "--add-root", str(link), "--indirect")
        outs[attr] = os.path.realpath(link)
    profile = root / "profile"
    nix("nix-env", "-p", str(profile), "-i", outs["curl_old"])
    if drvless:
        # Dependents first: a .drv refers to the .drv files of its inputs.
        for attr in ("curl_old", "curl_new", "openssl"):
            (roots / f"drv-{attr}").unlink()
            nix("nix-store", "--delete", drvs[attr], config="keep-derivations = false")
    return RunningStore(root, drvs, outs, profile)


@pytest.fixture(scope="module")
def running_store(nix_config: str, tmp_path_factory: pytest.TempPathFactory) -> RunningStore:
    return build_running_store(tmp_path_factory.mktemp("running-store"))


@pytest.fixture(scope="module")
def drvless_store(nix_config: str, tmp_path_factory: pytest.TempPathFactory) -> RunningStore:
    return build_running_store(tmp_path_factory.mktemp("drvless-store"), drvless=True)


@pytest.fixture
def sleeping(running_store: RunningStore) -> Iterator[subprocess.Popen[bytes]]:
    """curl 7.50.0 (a copy of sleep) started through the profile, killed afterwards."""
    proc = subprocess.Popen([str(running_store.profile / "bin" / "curl"), "300"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def by_name(packages: tuple[Package, ...], name: str) -> Package:
    [package] = [p for p in packages if p.name == name]
    return package


# --- parsing helpers ----------------------------------------------------------------------

HASH = "0" * 32


def test_store_path_in_cuts_to_the_top_level_path() -> None:
    top = f"/nix/store/{HASH}-glibc-2.37"
    assert store_path_in(f"{top}/lib/libc.so.6", "/nix/store") == top
    assert store_path_in(f"{top}/lib/libc.so.6 (deleted)", "/nix/store") == top
    assert store_path_in(top, "/nix/store/") == top
    assert store_path_in("/usr/lib/libc.so.6", "/nix/store") is None
    assert store_path_in("/nix/store/.links/abc", "/nix/store") is None
    assert store_path_in("/nix/storehouse/x", "/nix/store") is None


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("0::/system.slice/nginx.service\n", "nginx.service"),
        ("12:pids:/\n1:name=systemd:/system.slice/sshd.service\n0::/\n", "sshd.service"),
        ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", "foo.service"),
        ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
        ("0::/\n", None),
        ("", None),
    ],
)
def test_systemd_unit_from_cgroup(text: str, unit: str | None) -> None:
    assert systemd_unit(text) == unit


# --- a fake /proc of real files -----------------------------------------------------------


def fake_process(
    proc: Path, pid: int, comm: str, exe: str | None, maps: list[str], cgroup: str = "0::/\n"
) -> None:
    """``proc/<pid>`` as the kernel lays it out: comm, cgroup, an ``exe`` link, maps."""
    d = proc / str(pid)
    d.mkdir(parents=True)
    (d / "comm").write_text(comm + "\n")
    (d / "cgroup").write_text(cgroup)
    if exe is not None:
        (d / "exe").symlink_to(exe)
    lines = [
        f"7f00{i:08x}-7f01{i:08x} r-xp 00000000 08:01 {1000 + i}                    {path}"
        for i, path in enumerate(maps)
    ]
    (d / "maps").write_text("".join(f"{line}\n" for line in lines))


def test_read_processes_from_a_fake_tree(tmp_path: Path) -> None:
    glibc = f"/nix/store/{HASH}-glibc-2.37"
    app = f"/nix/store/{'1' * 32}-nginx-1.24.0"
    fake_process(
        tmp_path, 42, "nginx", f"{app}/bin/nginx",
        [f"{glibc}/lib/libc.so.6", f"{glibc}/lib/libc.so.6", "[heap]", "/usr/lib/x.so", ""],
        cgroup="0::/system.slice/nginx.service\n",
    )  # fmt: skip
    fake_process(tmp_path, 7, "bash", "/usr/bin/bash", [f"{glibc}/lib/libc.so.6 (deleted)"])
    fake_process(tmp_path, 2, "kthreadd", None, [])  # a kernel thread: nothing to read
    (tmp_path / "99").symlink_to(tmp_path / "gone")  # listed, then exited
    (tmp_path / "self").symlink_to(tmp_path / "42")  # not a pid: ignored
    table = read_processes(str(tmp_path), "/nix/store")
    nginx = RunningProcess(42, "nginx", "nginx.service")
    bash = RunningProcess(7, "bash", None)
    assert table.processes == (bash, nginx)
    assert dict(table.paths) == {glibc: (bash, nginx), app: (nginx,)}
    assert (table.denied, table.vanished, table.uninspectable) == (0, 1, 1)


def test_missing_proc_root_is_a_source_error(tmp_path: Path) -> None:
    from nix_audit.errors import SourceError

    with pytest.raises(SourceError, match="cannot list processes"):
        read_processes(str(tmp_path / "nope"))


def test_another_users_processes_are_counted_not_fatal() -> None:
    """Read the real /proc as ``nobody`` in a forked child: root's processes are denied."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, read, report, exit without pytest's cleanup
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            table = read_processes()
            os.write(write_end, f"{len(table.processes)} {table.denied}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    inspected, denied = map(int, report.split())
    assert denied >= 1  # at least this test's own parent, a root process
    assert inspected >= 1  # the child itself


def test_fake_tree_against_a_real_store(nix_fixture_store: NixFixtureStore, tmp_path: Path) -> None:
    """Own outputs are annotated (another output of the same derivation too), the rest of
    the closure is scanned unannotated; a deleted path is named and needs a restart."""
    store = nix_fixture_store
    gone = f"/nix/store/{HASH}-openssl-1.0.1a"
    fake_process(
        tmp_path, 300, "curl", f"{store.out('curl')}/bin/curl",
        [f"{store.out('openssl', 'dev')}/include/ssl.h", f"{gone}/lib/libssl.so (deleted)"],
        cgroup="0::/system.slice/fetch.service\n",
    )  # fmt: skip
    source = RunningSource(proc_root=str(tmp_path), current=[str(store.links["system"])])
    scan = source.scan()
    process = RunningProcess(300, "curl", "fetch.service")
    curl = by_name(scan.packages, "curl-7.50.0")
    assert curl.processes == (process,)
    assert by_name(scan.packages, "openssl-1.0.1f").processes == (process,)  # via its dev
    assert by_name(scan.packages, "zlib-1.2.11").processes == ()  # in the closure only
    old = by_name(scan.packages, "openssl-1.0.1a")
    assert old.identified_from is IdentifiedFrom.STORE_PATH_NAME and old.processes == (process,)
    assert any(s.what == gone and "deleted" in s.reason for s in scan.skipped)
    summary = scan.summary
    assert (summary.processes, summary.uninspectable, summary.store_paths) == (1, 0, 3)
    assert summary.current_roots == (store.out("system"),)
    [restart] = summary.needs_restart  # curl and openssl-1.0.1f are in the current system
    assert (restart.name, restart.store_path, restart.current_version) == (
        "openssl-1.0.1a", gone, "1.0.1f"
    )  # fmt: skip
    assert restart.processes == (process,)
    assert source.collect() == SourceResult(scan.packages, scan.skipped)


def test_no_current_system_means_no_restart_check(
    nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    if any(os.path.lexists(p) for p in SYSTEM_ROOTS):
        pytest.skip("this host has a current NixOS system")
    fake_process(tmp_path, 5, "sqlite3", f"{nix_fixture_store.out('sqlite')}/bin/sqlite3", [])
    scan = RunningSource(proc_root=str(tmp_path)).scan()
    assert scan.summary.current_roots == () and scan.summary.needs_restart == ()
    assert any(s.what == "needs-restart check" for s in scan.skipped)
    [sqlite] = scan.packages  # its .drv is deleted in the fixture store: named by its path
    assert sqlite.identified_from is IdentifiedFrom.STORE_PATH_NAME
    assert sqlite.processes == (RunningProcess(5, "sqlite3", None),)


# --- the real /proc, real processes --------------------------------------------------------


def test_real_process_is_found_with_its_pid_and_command(
    running_store: RunningStore, sleeping: subprocess.Popen[bytes]
) -> None:
    table = read_processes()
    curl_out = running_store.outs["curl_old"]
    # comm is the executable's name; the unit is whatever service runs this test.
    assert [p.command for p in table.paths[curl_out] if p.pid == sleeping.pid] == ["curl"]
    scan = RunningSource(current=[str(running_store.profile)]).scan()
    curl = by_name(scan.packages, "curl-7.50.0")
    assert curl.derivation == running_store.drvs["curl_old"]
    assert [(p.pid, p.command) for p in curl.processes if p.pid == sleeping.pid] == [
        (sleeping.pid, "curl")
    ]
    assert by_name(scan.packages, "openssl-1.0.1f").processes == ()  # referenced, not loaded
    assert scan.summary.needs_restart == ()  # the profile still has 7.50.0


def test_profile_switch_while_running_needs_restart(
    running_store: RunningStore, sleeping: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # A profile of its own, so that the shared one stays at 7.50.0 for the other tests.
    profile = tmp_path / "profile"
    nix("nix-env", "-p", str(profile), "-i", running_store.outs["curl_old"])
    nix("nix-env", "-p", str(profile), "-i", running_store.outs["curl_new"])  # an upgrade
    assert os.path.realpath(profile / "bin" / "curl").startswith(running_store.outs["curl_new"])
    scan = RunningSource(current=[str(profile)]).scan()
    [restart] = [r for r in scan.summary.needs_restart if r.pname == "curl"]
    assert (restart.name, restart.version, restart.current_version) == (
        "curl-7.50.0", "7.50.0", "7.51.0"
    )  # fmt: skip
    assert restart.store_path == running_store.outs["curl_old"]
    assert sleeping.pid in [p.pid for p in restart.processes]
    assert scan.summary.current_roots == (os.path.realpath(profile),)


# --- hosts without derivations ------------------------------------------------------------


def test_closure_without_any_drv_scans_by_output_path(drvless_store: RunningStore) -> None:
    store = drvless_store
    assert not any(Path(d).exists() for d in store.drvs.values())
    result = StorePathSource([store.outs["curl_old"]], nix=NixStore()).collect()
    assert {(p.name, p.identified_from) for p in result.packages} == {
        ("curl-7.50.0", IdentifiedFrom.STORE_PATH_NAME),
        ("openssl-1.0.1f", IdentifiedFrom.STORE_PATH_NAME),
    }
    assert all(p.derivation is None for p in result.packages)
    assert any(s.what == "2 store paths" and "store path name" in s.reason for s in result.skipped)


def test_closure_without_any_drv_scans_as_a_profile(drvless_store: RunningStore) -> None:
    result = ProfileSource(str(drvless_store.profile), nix=NixStore()).collect()
    curl = by_name(result.packages, "curl-7.50.0")
    assert curl.identified_from is IdentifiedFrom.STORE_PATH_NAME
    assert curl.store_path == drvless_store.outs["curl_old"]
    assert by_name(result.packages, "openssl-1.0.1f").identified_from is (
        IdentifiedFrom.STORE_PATH_NAME
    )


def test_packages_with_a_drv_keep_the_default_marker(running_store: RunningStore) -> None:
    result = StorePathSource([running_store.outs["curl_old"]], nix=NixStore()).collect()
    assert {p.identified_from for p in result.packages} == {IdentifiedFrom.DERIVATION}
