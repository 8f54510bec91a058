"""Chains and groups (wire-protocol.md §13.7), built only from task dependencies.

    await client.enqueue_workflow(chain(t1, t2, t3))            # t2 after t1, t3 after t2
    await client.enqueue_workflow(group([a, b, c]).then(done))  # done after a, b and c

Every task but the last of a chain, and every member of a group, is created with the
retention and header of a task others depend on, so its completion is noticed whoever runs
it and its result stays readable by the next step (`ctx.dependency_results()`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from kasynq.broker.dependencies import mark_dependency
from kasynq.client import PreparedTask
from kasynq.dependencies import Node, waiting_node
from kasynq.task import Task, message_headers


def _depended_on(prepared: PreparedTask) -> Node:
    """A task created ready to be depended upon: its info shows the added retention."""
    msg = prepared.write.msg
    mark_dependency(msg)
    info = dataclasses.replace(
        prepared.info, headers=message_headers(msg), retention=timedelta(seconds=msg.retention)
    )
    return Node(prepared.write, info)


def _waiting(prepared: PreparedTask, after: Sequence[Node], policy: str, *, last: bool) -> Node:
    if not last:
        mark_dependency(prepared.write.msg)
    return waiting_node(prepared.write, [n.ref for n in after], policy, check_cycles=False)


class Chain:
    """Tasks run one after the other; a step archived or deleted archives the rest."""

    def __init__(self, tasks: Sequence[Task], on_dependency_failure: str = "archive") -> None:
        if len(tasks) < 1:
            raise ValueError("chain needs at least one task: tasks=()")
        self.tasks = list(tasks)
        self.on_dependency_failure = on_dependency_failure

    def nodes(self, prepare: Callable[[Task], PreparedTask]) -> list[Node]:
        first, *rest = self.tasks
        head = prepare(first)
        nodes = [_depended_on(head) if rest else Node(head.write, head.info)]
        for index, task in enumerate(rest, start=1):
            last = index == len(self.tasks) - 1
            nodes.append(_waiting(prepare(task), nodes[-1:], self.on_dependency_failure, last=last))
        return nodes


class Group:
    """Tasks that run side by side; `then(callback)` runs the callback after all of them."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.tasks = list(tasks)
        if not self.tasks:
            raise ValueError("group needs at least one task: tasks=[]")

    def then(self, callback: Task, on_dependency_failure: str = "archive") -> Chord:
        return Chord(self.tasks, callback, on_dependency_failure)


class Chord:
    """A group and its callback (Celery's name): the callback waits for every member."""

    def __init__(self, tasks: Sequence[Task], callback: Task, on_dependency_failure: str) -> None:
        self.tasks = list(tasks)
        self.callback = callback
        self.on_dependency_failure = on_dependency_failure

    def nodes(self, prepare: Callable[[Task], PreparedTask]) -> list[Node]:
        members = [_depended_on(prepare(task)) for task in self.tasks]
        callback = _waiting(prepare(self.callback), members, self.on_dependency_failure, last=True)
        return [*members, callback]


def chain(*tasks: Task, on_dependency_failure: str = "archive") -> Chain:
    """`t1`, then `t2`, ...: each step waits for the previous one."""
    return Chain(tasks, on_dependency_failure)


def group(tasks: Iterable[Task]) -> Group:
    """Tasks side by side; add a callback with `.then(callback)`."""
    return Group(tasks)
