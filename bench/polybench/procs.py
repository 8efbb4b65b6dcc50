"""Processes: start and stop what the bench runs, and read CPU time and RSS
of a process tree from /proc (Linux only).

Every process the bench starts gets its own session (process group), and
``Processes.stop_all`` ends each of those groups by id: SIGTERM, then SIGKILL
after a grace period. It runs on normal exit, on errors and on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc readings ------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return data[data.rindex(")") + 2:].split()


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0
    # After the name: state is fields[0], so utime (field 14) is fields[11], stime fields[12].
    return int(fields[11]) + int(fields[12])


def sys_ticks(pid: int) -> int:
    """stime alone: the kernel's share (on loopback a send does the receiver's work too)."""
    fields = _stat_fields(pid)
    return 0 if fields is None else int(fields[12])


def rss_kb(pid: int) -> int:
    """VmRSS of one process in kB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def process_tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants (uvicorn workers, nginx workers)."""
    tree = children_map()
    seen: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or not os.path.exists(f"/proc/{pid}"):
            continue
        seen.append(pid)
        todo.extend(tree.get(pid, []))
    return sorted(seen)


@dataclass
class Usage:
    """A reading of a process tree: summed CPU ticks and RSS."""

    when: float
    ticks: int
    rss_kb: int
    pids: int
    sys_ticks: int = 0


def read_usage(roots: list[int]) -> Usage:
    pids = process_tree(roots)
    return Usage(time.monotonic(), sum(cpu_ticks(p) for p in pids), sum(rss_kb(p) for p in pids), len(pids),
                 sum(sys_ticks(p) for p in pids))


def cpu_percent(before: Usage, after: Usage) -> float:
    """CPU used between two readings, as % of one core (200% = two cores busy)."""
    wall = after.when - before.when
    if wall <= 0:
        return 0.0
    return 100.0 * (after.ticks - before.ticks) / CLK_TCK / wall


def listening_pids(port: int, host: str = "127.0.0.1") -> list[int]:
    """Processes holding a listening TCP socket on ``port`` (to measure a
    gateway that someone else started). Needs permission to read their
    /proc/<pid>/fd, i.e. the same user or root; empty if not found."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            continue
    if not inodes:
        return []
    targets = {f"socket:[{i}]" for i in inodes}
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") in targets:
                        found.append(int(entry))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    # Keep the top of each tree: a worker whose parent also holds the socket is counted through it.
    tree_parent = {}
    for pid in found:
        fields = _stat_fields(pid)
        tree_parent[pid] = int(fields[1]) if fields else 0
    return sorted(p for p in found if tree_parent.get(p) not in found)


# --- ports -----------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_port(port: int, process: subprocess.Popen | None, name: str, seconds: float = 30.0,
              host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {host}:{port} within {seconds:.0f}s")


# --- started processes ---------------------------------------------------


class Processes:
    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen]] = []
        self.stoppers: list = []  # for servers that daemonise (pg_ctl): how to stop them

    def on_stop(self, stopper) -> None:
        self.stoppers.append(stopper)

    def start(self, name: str, argv: list[str], log_path: str, env: dict | None = None,
              cwd: str | None = None) -> subprocess.Popen:
        log = open(log_path, "ab")
        try:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, cwd=cwd, start_new_session=True)
        finally:
            log.close()
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, grace: float = 5.0) -> None:
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        # Workers the leader left behind, in its own group only.
        _signal_group(process.pid, signal.SIGKILL)
        self.started = [(n, p) for n, p in self.started if p is not process]

    def stop_all(self) -> None:
        for _name, process in reversed(list(self.started)):
            try:
                self.stop(process)
            except Exception:  # noqa: BLE001 - keep stopping the rest
                pass
        while self.stoppers:
            try:
                self.stoppers.pop()()
            except Exception:  # noqa: BLE001
                pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
