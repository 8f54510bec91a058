"""A tiny HTML builder that escapes by default: text is escaped unless it is already `Markup`.

Every page of the console is built from `tag(...)` calls, so a task payload, a queue name or
an error message can only reach the page as text: escaping is the structure, not a habit.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

AttrValue = str | int | bool | None


class Markup(str):
    """HTML that is already safe to emit (built by `tag`, `join` or `esc`)."""

    __slots__ = ()


Child = Markup | str | int | float | None | Iterable["Child"]


def esc(value: object) -> Markup:
    """`value` as HTML text: Markup as it is, anything else escaped (quotes included)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(children: Iterable[Child]) -> Markup:
    """The children, each escaped unless Markup; None is left out, iterables are flattened."""
    parts: list[str] = []
    for child in children:
        if child is None:
            continue
        if isinstance(child, str | int | float):
            parts.append(esc(child))
        else:
            parts.append(join(child))
    return Markup("".join(parts))


def attributes(attrs: Mapping[str, AttrValue]) -> str:
    """` name="value"` pairs, values escaped; True is a bare attribute, None/False are left out.

    A trailing underscore is dropped from a name (`class_`), other underscores become dashes.
    """
    parts = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(f" {key}" if value is True else f' {key}="{esc(value)}"')
    return "".join(parts)


VOID_ELEMENTS = frozenset({"br", "hr", "img", "input", "link", "meta"})


def tag(name: str, attrs: Mapping[str, AttrValue] | None = None, *children: Child) -> Markup:
    """`<name attrs>children</name>`, every text child and attribute value escaped."""
    opening = f"<{name}{attributes(attrs or {})}>"
    if name in VOID_ELEMENTS:
        return Markup(opening)
    return Markup(f"{opening}{join(children)}</{name}>")
