"""Choosing one item from a short list: arrows or digits, Enter to take it, Esc to cancel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coda.ui.screen import Screen

_VISIBLE = 12  # rows shown at once; the list scrolls beyond that


async def choose(
    screen: Screen,
    title: str | None,
    options: Sequence[str],
    *,
    start: int = 0,
    keys: Mapping[str, int] | None = None,
    cancel: str = "cancel",
) -> int | None:
    """The index chosen, or None when the person pressed Esc or Ctrl+C. `keys` are extra
    single-key answers (y, n, …); `cancel` names what Esc does in the hint."""
    from prompt_toolkit.application import Application
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.layout import FormattedTextControl, Layout, Window
    from prompt_toolkit.styles import Style

    if not options:
        return None
    g = screen.glyphs
    selected = min(max(start, 0), len(options) - 1)

    def lines() -> StyleAndTextTuples:
        top = min(max(0, selected - _VISIBLE // 2), max(0, len(options) - _VISIBLE))
        out: StyleAndTextTuples = [("class:choice-title", f" {title}\n")] if title else []
        for i in range(top, min(len(options), top + _VISIBLE)):
            mark = g.prompt if i == selected else " "
            style = "class:choice-selected" if i == selected else ""
            out.append((style, f" {mark} {i + 1:>2}. {options[i]}\n"))
        if len(options) > _VISIBLE:
            out.append(("class:choice-hint", f"   ({len(options)} in all)\n"))
        out.append(("class:choice-hint", f"   enter to choose, esc to {cancel}"))
        return out

    kb = KeyBindings()

    def move(step: int) -> None:
        nonlocal selected
        selected = (selected + step) % len(options)

    kb.add("up")(lambda _: move(-1))
    kb.add("down")(lambda _: move(1))
    kb.add("tab")(lambda _: move(1))
    answers = {str(digit): digit - 1 for digit in range(1, min(9, len(options)) + 1)}
    for key, index in {**answers, **(keys or {})}.items():
        kb.add(key)(lambda event, i=index: event.app.exit(result=i))

    @kb.add("enter")
    def _accept(event: KeyPressEvent) -> None:
        event.app.exit(result=selected)

    for key in ("escape", "c-c", "<sigint>"):
        kb.add(key, eager=True)(lambda event: event.app.exit(result=None))

    style = Style.from_dict(
        {"choice-selected": "bold", "choice-title": "bold", "choice-hint": "italic"}
        if screen.color
        else {}
    )
    app: Application[int | None] = Application(
        layout=Layout(
            Window(
                FormattedTextControl(lines, focusable=True, show_cursor=False),
                dont_extend_height=True,
                wrap_lines=False,
            )
        ),
        key_bindings=kb,
        full_screen=False,
        erase_when_done=True,
        style=style,
        include_default_pygments_style=False,
    )
    app.ttimeoutlen = 0.05
    return await app.run_async(handle_sigint=False)
