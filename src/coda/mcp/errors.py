"""Finding the failure inside what anyio raises: exception groups, causes and contexts."""

from __future__ import annotations

from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


def innermost(exc: BaseException) -> BaseException:
    """The first failure inside nested exception groups (anyio wraps one in each)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def find_error(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first `kind` in `exc`, its exception groups and its causes."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return None
