"""Joining ZFS_IOC_LOG_HISTORY to the operations it describes.

The `zfs` and `zpool` commands log their own command line (libzfs's zpool_log_history(), the
`zpool history` entries) with one more ioctl right after the command's last operation succeeded,
from the same process. So each call is held for a short while (`wait_ns`) and leaves with the
command line attached when that process logs one:

- a history message attaches to every held call of its process made before it that has none
  yet (a `zfs rollback -r` makes several calls, then logs once);
- one that finds no call (perf buffers can deliver it first, or the message was logged before the
  call) waits as well, and attaches to the next call of its process within `wait_ns`;
- a call is released at once when its process has logged or has exited (no message can follow),
  else after `wait_ns`; a message that attached to nothing is released on its own then.

Output keeps the order of the calls (by time stamp): a call waits behind an earlier one that is
still held, at most `wait_ns`. With `wait_ns == 0` nothing is held and messages are separate.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Item:
    __slots__ = ("attached", "done", "message", "pid", "rec", "ts")

    def __init__(self, ts: int, pid: int, rec: dict[str, Any], message: str | None) -> None:
        self.ts, self.pid, self.rec = ts, pid, rec
        self.message = message  # a history item's message; None for a call
        self.attached = 0       # history: calls it was attached to
        self.done = False       # call: no message can come any more


class HistoryJoin:
    def __init__(self, wait_ns: int) -> None:
        self.wait = wait_ns
        self.held: list[Item] = []       # in time-stamp order
        self.logged: dict[int, tuple[int, str]] = {}  # pid -> (ts, message) of its last message

    def _insert(self, item: Item) -> None:
        held = self.held
        i = len(held)
        while i and held[i - 1].ts > item.ts:  # almost always appended: the ring keeps order
            i -= 1
        held.insert(i, item)

    def call(self, ts: int, pid: int, rec: dict[str, Any]) -> None:
        """A call; rec["zfs_command"] is filled when its process logs a command line."""
        rec.setdefault("zfs_command", None)
        item = Item(ts, pid, rec, None)
        if self.wait <= 0:
            item.done = True
        else:
            for h in self.held:  # a message of this process that found no call yet
                if h.message is not None and h.pid == pid and abs(ts - h.ts) <= self.wait:
                    rec["zfs_command"] = h.message
                    h.attached += 1
                    item.done = True
                    break
            else:
                last = self.logged.get(pid)
                if last is not None and last[0] >= ts and last[0] - ts <= self.wait:
                    rec["zfs_command"] = last[1]  # logged after this call, delivered before it
                    item.done = True
        self._insert(item)

    def history(self, ts: int, pid: int, rec: dict[str, Any]) -> None:
        """A LOG_HISTORY call (rec["message"]): attached to the calls before it, or held."""
        message = rec.get("message") or ""
        item = Item(ts, pid, rec, message)
        if self.wait > 0:
            for c in self.held:
                if (c.message is None and c.pid == pid and c.rec.get("zfs_command") is None
                        and c.ts <= ts and ts - c.ts <= self.wait):
                    c.rec["zfs_command"] = message
                    c.done = True
                    item.attached += 1
            self.logged[pid] = (ts, message)
        if not item.attached:
            self._insert(item)

    def exited(self, pid: int) -> None:
        """The process is gone: nothing more will be attached to its calls."""
        for c in self.held:
            if c.pid == pid:
                c.done = True
        self.logged.pop(pid, None)

    def ready(self, now_ns: int, final: bool = False) -> list[Item]:
        """The items that can go now, in order; a history item that attached is never among them."""
        out = []
        held = self.held
        k = 0
        while k < len(held):
            it = held[k]
            if it.message is not None and it.attached:
                k += 1  # attached later (a call delivered after it): drop
                continue
            if not (final or it.done or now_ns - it.ts >= self.wait):
                break
            out.append(it)
            k += 1
        del held[:k]
        # Forget old messages: a call made long before cannot take them.
        if self.logged:
            stale = [p for p, (ts, _) in self.logged.items() if now_ns - ts > 2 * self.wait]
            for p in stale:
                del self.logged[p]
        return out

    def __len__(self) -> int:
        return len(self.held)


__all__ = ["HistoryJoin", "Item"]
