"""The server's live task tree, from ``trio.lowlevel`` introspection (the admin ``tasks`` command).

Where the thread-per-client original could only list threads (``threading.enumerate()``), a Trio
program has a tree: every task is a child of a nursery of its parent. Walking it from the root task
shows what the server is doing: the listeners' accept loops, the flusher, one task per
connection (with its nick, address, outbox depth and age), and a writer beside a connection only
while that client's output is backlogged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import trio

from ..drivers._connection import Connection

__all__ = ["task_tree"]

#: Children listed under one nursery before the rest are summed up in one line.
MAX_CHILDREN: Final = 200


def _short(name: str) -> str:
    """``triochat.drivers._connection.Connection.run`` -> ``Connection.run``."""
    parts = name.split(".")
    if parts[0] != "triochat":
        return name
    modules = [i for i, part in enumerate(parts[:-1]) if part.startswith("_")]
    return ".".join(parts[modules[0] + 1 :]) if modules else name


def _locals(task: trio.lowlevel.Task) -> dict[str, Any]:
    frame = getattr(task.coro, "cr_frame", None)
    return frame.f_locals if frame is not None else {}


def _describe(task: trio.lowlevel.Task, now: float) -> str:
    name = _short(task.name)
    where = _locals(task)
    owner = where.get("self")
    if isinstance(owner, Connection):
        member = owner.member
        nick = member.nick if member is not None else "-"
        queued = member.queued_events if member is not None else 0
        age = now - owner.opened_at
        role = "writer" if task.name.endswith("_writer_task") else owner.codec.name
        return (
            f"{name}  conn {owner.id} {nick} {owner.peer} [{role}] outbox {queued} age {age:.1f} s"
        )
    listening = where.get("listening")
    if listening is not None and hasattr(listening, "endpoint"):
        return f"{name}  {listening.endpoint}"
    return name


def task_tree(describe: Callable[[trio.lowlevel.Task, float], str] = _describe) -> str:
    """The tree of every task of this run, one line each, from the root task down."""
    root = trio.lowlevel.current_root_task()
    if root is None:
        return "(not in a trio run)"
    now = trio.current_time()
    lines: list[str] = []

    def walk(task: trio.lowlevel.Task, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(prefix + branch + describe(task, now))
        children = [child for nursery in task.child_nurseries for child in nursery.child_tasks]
        inner = prefix + ("" if top else ("   " if last else "│  "))
        shown = children[:MAX_CHILDREN]
        for i, child in enumerate(shown):
            walk(child, inner, i == len(shown) - 1 and len(children) == len(shown), False)
        if len(children) > len(shown):
            lines.append(f"{inner}└─ ... {len(children) - len(shown)} more tasks")

    walk(root, "", True, True)
    return "\n".join(lines)
