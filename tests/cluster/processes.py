"""Processes and their listening sockets, read from /proc: what the cluster tests started, and where it listens."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import struct
import time
from pathlib import Path

LISTEN_STATE = "0A"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its last ")".
    return text[text.rindex(")") + 2 :].split()


def parent_of(pid: int) -> int | None:
    """The parent's process id, or None if pid is gone."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def start_time_of(pid: int) -> int | None:
    """When pid started (clock ticks since boot): with the pid, names one process even if pids are reused."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int) -> bool:
    """Whether pid exists and has not exited (zombies count as exited)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def descendants(root: int) -> set[int]:
    """Every live process below root in the process tree."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def stop_processes(pids: dict[int, int | None], timeout_s: float = 20.0) -> None:
    """SIGTERM each (pid, start time) that is still the same process, then SIGKILL what is left after timeout_s."""

    def same(pid: int, started: int | None) -> bool:
        return is_alive(pid) and (started is None or start_time_of(pid) == started)

    for signal_number, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        alive = {pid: started for pid, started in pids.items() if same(pid, started)}
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(same(pid, started) for pid, started in alive.items()):
            time.sleep(0.1)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp{,6} print each 32-bit word in the host's byte order.
    words = struct.unpack(f"={len(raw) // 4}I", raw)
    packed = struct.pack(f"!{len(words)}I", *words)
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return ipaddress.ip_address(socket.inet_ntop(family, packed))


def listeners(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket listening in one of pids."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN_STATE and inode in owner:
                host, port = local.rsplit(":", 1)
                found.append((owner[inode], str(_address(host)), int(port, 16)))
    return found


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback address (::ffff:127.0.0.1)."""
    parsed = ipaddress.ip_address(address)
    mapped = getattr(parsed, "ipv4_mapped", None)
    return parsed.is_loopback or (mapped is not None and mapped.is_loopback)


def not_on_loopback(pids: set[int]) -> list[tuple[int, str, int]]:
    """The listeners of pids that are reachable from beyond this machine."""
    return [listener for listener in listeners(pids) if not is_loopback(listener[1])]
