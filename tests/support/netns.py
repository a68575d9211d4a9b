"""Hosts that share nothing but a wire: Linux network namespaces on one bridge.

Each `Host` is a network namespace with its own loopback and one veth whose other end sits
on a bridge in the root namespace. The bridge holds the subnet's first address, so the test
(which runs in the root namespace) reaches every host, and `Host.cut()` unplugs a host's cable.
Only names this module created are ever deleted: they are recorded as they are made.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
# Probe port: nothing listens there, so an answer is a RST and silence means "no path".
PROBE_PORT = 1
# Serialises choosing a free 10.231.X.0/24 between Networks built at the same moment.
LOCK_PATH = Path("/run/lock/vf-netns.lock")
# A bridge with br_netfilter on sends host-to-host frames through iptables FORWARD, where a
# DROP policy (Docker sets one) or an nftables rule may drop them.
BRIDGE_SYSCTLS = ("bridge-nf-call-iptables", "bridge-nf-call-arptables")
# Run in a namespace, per address: "open", "refused" (the peer answered) or why no path.
_PROBE = """
import socket, sys
port, timeout = int(sys.argv[1]), float(sys.argv[2])
for address in sys.argv[3:]:
    try:
        socket.create_connection((address, port), timeout).close()
        print("open")
    except OSError as e:
        print("refused" if isinstance(e, ConnectionRefusedError) else type(e).__name__)
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30,
                          check=check)


@functools.cache
def namespaces_available() -> str | None:
    """None when namespaces, veths and bridges can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's `ip`"
    probe = f"vf-probe-{secrets.token_hex(4)}"
    bridge = f"vfbr{secrets.token_hex(2)}"
    try:
        for args in (("netns", "add", probe),
                     ("-n", probe, "link", "add", "name", "vfa", "type", "veth", "peer",
                      "name", "vfb"),
                     ("link", "add", "name", bridge, "type", "bridge")):
            done = _ip(*args, check=False)
            if done.returncode != 0:
                return f"`ip {' '.join(args)}` failed: {done.stderr.strip()}"
        return None
    finally:
        _ip("link", "del", bridge, check=False)
        _ip("netns", "del", probe, check=False)


def services_available() -> str | None:
    """None when Postgres, runuser and redis-server are installed, else what is missing."""
    missing = [name for name, found in (("PostgreSQL binaries", PG_BIN),
                                        ("runuser", shutil.which("runuser")),
                                        ("redis-server", shutil.which("redis-server")))
               if found is None]
    return f"needs {', '.join(missing)}" if missing else None


def reachable(address: str, port: int = PROBE_PORT, timeout: float = 0.5) -> bool:
    """Whether a TCP SYN from the root namespace to address gets an answer (SYN-ACK or RST)."""
    try:
        socket.create_connection((address, port), timeout).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return True


def wait_tcp(address: str, port: int, timeout: float = 30.0,
             process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until address:port accepts a TCP connection; fail early if process exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), 1).close()
            return
        except OSError as error:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode} before "
                                   f"{address}:{port} answered") from error
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address}:{port} not accepting after {timeout}s") from error
            time.sleep(0.1)


class Host:
    """One namespace on the network: its own loopback, one veth, one address."""

    def __init__(self, network: Network, name: str, netns: str, veth: str, address: str):
        self.network, self.name, self.netns, self.veth = network, name, netns, veth
        self.address = address

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address}, netns={self.netns!r})"

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def popen(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
              log_path: Path | None = None, **kw: Any) -> subprocess.Popen[bytes]:
        """Start argv in this host; its own process group, so the network can kill the tree."""
        log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL
        try:
            process = subprocess.Popen(self.command(argv), env=None if env is None else dict(env),
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       **kw)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.network._processes.append(process)
        return process

    def run(self, argv: Sequence[str], timeout: float = 60, **kw: Any
            ) -> subprocess.CompletedProcess[str]:
        """Run argv in this host to completion, capturing text output."""
        return subprocess.run(self.command(argv), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def probe(self, *addresses: str, port: int = PROBE_PORT, timeout: float = 0.5
              ) -> list[str]:
        """From inside this host, per address: "open", "refused", or the error of no path."""
        done = self.run([sys.executable, "-I", "-S", "-c", _PROBE, str(port), str(timeout),
                         *addresses], timeout=timeout * len(addresses) + 30)
        return done.stdout.split() or [done.stderr.strip()]

    def answers(self, *addresses: str, timeout: float = 0.5) -> bool:
        """Whether every address answers a TCP SYN sent from this host."""
        return all(r in ("open", "refused") for r in self.probe(*addresses, timeout=timeout))

    def cut(self) -> None:
        """Unplug: the bridge-side end goes down, so nothing reaches or leaves this host."""
        _ip("link", "set", self.veth, "down")
        # Both directions must be silent: a RST still means a path exists.
        if reachable(self.address):
            raise RuntimeError(f"{self.name} still answers from the root namespace after cut")
        if any(r in ("open", "refused") for r in self.probe(self.network.gateway)):
            raise RuntimeError(f"{self.name} still reaches the bridge after cut")

    def restore(self) -> None:
        """Plug the cable back in and wait until this host and every other answer each other."""
        _ip("link", "set", self.veth, "up")
        # ARP lookups that were under way during the cut fail a second or so later and take
        # the first new connection with them (EHOSTUNREACH); forget them on both sides.
        _ip("-n", self.netns, "neigh", "flush", "dev", "eth0")
        _ip("neigh", "flush", "to", self.address, "dev", self.network.bridge)
        for other in self.network.hosts:
            if other is not self:
                _ip("-n", other.netns, "neigh", "flush", "to", self.address, "dev", "eth0")
        self._wait_reachable([self.network.gateway,
                              *(h.address for h in self.network.hosts if h is not self)])

    def _wait_reachable(self, peers: Sequence[str], timeout: float = 10) -> None:
        # Carrier and the bridge port come up asynchronously (linkwatch), so poll.
        deadline = time.monotonic() + timeout
        while not (reachable(self.address) and self.answers(*peers)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} ({self.address}) unreachable after {timeout}s")
            time.sleep(0.1)


class Network:
    """A bridge with hosts on it; everything it made is removed on exit, even after errors."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self._own_log_dir = log_dir is None
        self.log_dir = Path(tempfile.mkdtemp(prefix="vf-netns-")) if log_dir is None else log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(2)
        self.bridge = f"vfbr{self.token}"
        self.prefix = ""            # "10.231.X", chosen on enter
        self.hosts: list[Host] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._stoppers: list[Callable[[], None]] = []
        self._bridge_made = False
        self._sysctls: dict[str, str] = {}
        self._forwarding_checked = False
        self._closed = False

    @property
    def gateway(self) -> str:
        """The bridge's own address, the root namespace's face on this network."""
        return f"{self.prefix}.1"

    @property
    def cidr(self) -> str:
        """The network's subnet, for pg_hba.conf and the like."""
        return f"{self.prefix}.0/24"

    def __enter__(self) -> Network:
        atexit.register(self.close)  # a fixture that is never finalised still cleans up
        try:
            self._make_bridge()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: types.TracebackType | None) -> None:
        self.close()

    def _make_bridge(self) -> None:
        for _ in range(20):  # another run may hold the same random name
            made = _ip("link", "add", "name", self.bridge, "type", "bridge", check=False)
            if made.returncode == 0:
                break
            self.token = secrets.token_hex(2)
            self.bridge = f"vfbr{self.token}"
        else:
            raise RuntimeError("could not create a bridge with a fresh name")
        self._bridge_made = True
        LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
        with open(LOCK_PATH, "w") as lock:
            # Parallel Networks in one root namespace need different subnets, or the root's
            # route to 10.231.0.0/24 would lead to one bridge only.
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _ip("-4", "-o", "addr", "show").stdout
            third = next(n for n in range(256) if f" 10.231.{n}." not in used)
            self.prefix = f"10.231.{third}"
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> Host:
        """A new namespace wired to the bridge, with the next free address."""
        index = len(self.hosts) + 2
        if index > 254 or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", name):
            raise ValueError(f"no room for host {name!r}, or not a [a-z0-9-] name")
        netns = f"vf-{name}-{secrets.token_hex(3)}"
        _ip("netns", "add", netns)
        host = Host(self, name, netns, f"vfh{self.token}{index:03d}", f"{self.prefix}.{index}")
        self.hosts.append(host)  # recorded before anything else can fail
        inner = f"vfp{self.token}{index:03d}"
        _ip("link", "add", "name", host.veth, "type", "veth", "peer", "name", inner,
            "netns", netns)
        _ip("link", "set", host.veth, "master", self.bridge, "up")
        _ip("-n", netns, "link", "set", inner, "name", "eth0")
        _ip("-n", netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        host._wait_reachable([self.gateway])  # host-to-host waits for _ensure_forwarding
        if not self._forwarding_checked and len(self.hosts) >= 2:
            self._ensure_forwarding(self.hosts[0], host)
        return host

    def _ensure_forwarding(self, a: Host, b: Host) -> None:
        # Host-to-root traffic is INPUT/OUTPUT; only host-to-host crosses FORWARD, so test
        # that path, and turn br_netfilter off for bridges only if it actually drops frames.
        # These sysctls belong to the whole root namespace (Docker's bridges too): change
        # one at a time, only while needed, and put them back in close(). A Network that
        # finds them already off leaves them be, so overlapping runs behind a dropping
        # FORWARD chain break when the one that switched them off leaves first.
        def crosses() -> bool:
            return b.answers(a.address, timeout=2)

        for key in BRIDGE_SYSCTLS:
            if crosses():
                break
            path = Path("/proc/sys/net/bridge") / key
            if path.exists() and (value := path.read_text().strip()) != "0":
                self._sysctls[key] = value
                path.write_text("0")
        else:
            if not crosses():
                raise RuntimeError(f"{b.name} cannot reach {a.name} across {self.bridge}, "
                                   "even with br_netfilter off for bridges")
        self._forwarding_checked = True

    def close(self) -> None:
        """Stop services, kill every process, delete veths, namespaces and bridge."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        errors: list[str] = []

        def attempt(what: str, action: Callable[[], object]) -> None:
            try:
                action()
            except Exception as error:  # keep going: every later step must still run
                errors.append(f"{what}: {error}")

        for stop in reversed(self._stoppers):
            attempt("stop service", stop)
        for process in self._processes:
            attempt("kill process group", functools.partial(_kill_group, process))
        for host in self.hosts:
            # Daemons (pg_ctl's postmaster) leave our process groups; the namespace lists them.
            attempt(f"kill processes in {host.netns}", functools.partial(_kill_netns, host.netns))
        for host in self.hosts:
            attempt(f"delete {host.veth}", functools.partial(_ip_gone, "link", "del", host.veth))
            attempt(f"delete {host.netns}", functools.partial(_ip_gone, "netns", "del",
                                                             host.netns))
        if self._bridge_made:
            attempt(f"delete {self.bridge}", functools.partial(_ip_gone, "link", "del",
                                                              self.bridge))
        for key, value in self._sysctls.items():
            attempt(f"restore {key}", functools.partial(
                (Path("/proc/sys/net/bridge") / key).write_text, value))
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        if errors:
            raise RuntimeError("network cleanup incomplete: " + "; ".join(errors))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _kill_netns(netns: str) -> None:
    deadline = time.monotonic() + 10
    while pids := _ip("netns", "pids", netns, check=False).stdout.split():
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} survive SIGKILL")
        time.sleep(0.05)


def _ip_gone(*args: str) -> None:
    """`ip ... del`, where "already gone" (a veth dies with its namespace) is success."""
    done = _ip(*args, check=False)
    if done.returncode != 0 and not any(
            text in done.stderr for text in ("Cannot find device", "No such file")):
        raise RuntimeError(done.stderr.strip())


class PrivateService:
    """A server on one host: where to reach it, and how to stop it (once)."""

    def __init__(self, url: str, host: Host, port: int, stop: Callable[[], None]) -> None:
        self.url, self.host, self.port, self._stop = url, host, port, stop
        self._stopped = False
        host.network._stoppers.append(self.stop)

    def stop(self) -> None:
        """Stop the server; later calls do nothing."""
        if not self._stopped:
            self._stopped = True
            self._stop()


def _started(process: subprocess.Popen[bytes], host: Host, port: int, log: Path,
             timeout: float = 60) -> None:
    try:
        wait_tcp(host.address, port, timeout, process)
    except (RuntimeError, TimeoutError) as error:
        raise RuntimeError(f"{error}\n--- {log}\n{log.read_text(errors='replace')[-3000:]}"
                           ) from None


def _terminate(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        _kill_group(process)


def start_postgres(host: Host, folder: Path) -> PrivateService:
    """A fresh cluster in folder (which the postgres user must be able to reach), on host."""
    if PG_BIN is None:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
    folder.mkdir(parents=True)
    shutil.chown(folder, "postgres", "postgres")
    data, log = folder / "data", folder / "postgres.log"

    def as_postgres(*argv: str, in_host: bool = False) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(host.command(command) if in_host else command,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {done.stderr}{done.stdout}\n{tail}")

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {host.network.cidr} trust\n")
    # The socket goes into folder: the system cluster owns /var/run/postgresql/.s.PGSQL.5432.
    # pg_ctl setsid()s the postmaster away from our process group; Network.close() still
    # finds it through `ip netns pids`, but a clean stop leaves no shared memory behind.
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(log),
                "-o", f"-p 5432 -k {folder} -c listen_addresses={host.address}", "start",
                in_host=True)
    service = PrivateService(f"postgresql+psycopg://postgres@{host.address}:5432/postgres",
                             host, 5432, lambda: as_postgres(
                                 str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast",
                                 "stop"))
    wait_tcp(host.address, 5432, 30)  # from the root namespace: it is on host's address
    return service


def start_redis(host: Host, log_path: Path | None = None) -> PrivateService:
    """redis-server bound to host's address only, with no persistence."""
    # Protected mode refuses every non-loopback client when no password is set.
    log = log_path or host.network.log_dir / f"{host.name}-redis.log"
    process = host.popen(["redis-server", "--bind", host.address, "--port", "6379",
                          "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                         log_path=log)
    _started(process, host, 6379, log)
    return PrivateService(f"redis://{host.address}:6379/0", host, 6379,
                          functools.partial(_terminate, process))


def start_s3(host: Host, log_path: Path | None = None) -> PrivateService:
    """moto's standalone S3 server on host, state in memory."""
    log = log_path or host.network.log_dir / f"{host.name}-s3.log"
    process = host.popen([sys.executable, "-m", "moto.server", "-H", host.address,
                          "-p", "9000"], log_path=log)
    _started(process, host, 9000, log)
    return PrivateService(f"http://{host.address}:9000", host, 9000,
                          functools.partial(_terminate, process))
