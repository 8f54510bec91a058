"""`quick_init`: the enqueue path's frozen dataclasses keep every dataclass behaviour."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from datetime import timedelta

import pytest
from kasynq.frozen import quick_init
from kasynq.task import TaskInfo, TaskState


def _info(**changes: object) -> TaskInfo:
    fields: dict[str, object] = {
        "id": "a", "queue": "default", "type": "t", "payload": b"", "headers": {},
        "state": TaskState.PENDING, "max_retry": 25, "retried": 0, "last_err": "",
        "last_failed_at": None, "timeout": timedelta(seconds=1800), "deadline": None,
        "group": "", "next_process_at": None, "is_orphaned": False,
        "retention": timedelta(0), "completed_at": None,
    }  # fmt: skip
    return TaskInfo(**(fields | changes))  # type: ignore[arg-type]


def test_a_quick_init_dataclass_is_still_frozen_comparable_and_replaceable() -> None:
    info = _info()
    assert info.result is None  # the default
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.id = "b"  # type: ignore[misc]
    assert info == _info() and info != _info(id="b")
    assert dataclasses.replace(info, result=b"r").result == b"r"
    assert pickle.loads(pickle.dumps(info)) == info
    with pytest.raises(TypeError):
        _info(unknown=1)


def test_quick_init_refuses_what_it_cannot_reproduce() -> None:
    @dataclass
    class Mutable:
        x: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            raise AssertionError("never skipped silently")

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        x: int

    for cls in (Mutable, Checked, KeywordOnly):
        with pytest.raises(TypeError, match=cls.__name__):
            quick_init(cls)
