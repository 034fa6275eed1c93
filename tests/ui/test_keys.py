"""Keys during a turn: Esc and Ctrl+C interrupt, Ctrl+O shows thinking, the rest is kept."""

from __future__ import annotations

from coda.ui.glyphs import unicode_terminal
from coda.ui.keys import TurnKeys


class Seen:
    def __init__(self) -> None:
        self.interrupts = 0
        self.thinking = 0

    def keys(self) -> TurnKeys:
        return TurnKeys(None, on_interrupt=self.interrupt, on_show_thinking=self.show_thinking)

    def interrupt(self) -> None:
        self.interrupts += 1

    def show_thinking(self) -> None:
        self.thinking += 1


def test_a_lone_escape_or_ctrl_c_interrupts() -> None:
    seen = Seen()
    keys = seen.keys()
    keys.handle(b"\x1b")
    keys.handle(b"\x1b\x1b")
    keys.handle(b"ab\x03")
    assert seen.interrupts == 3


def test_escape_sequences_are_not_an_interrupt() -> None:
    seen = Seen()
    keys = seen.keys()
    keys.handle(b"\x1b[A")  # arrow up
    keys.handle(b"\x1bOP")  # F1
    keys.handle(b"\x1b[200~")  # the start of a paste
    assert seen.interrupts == 0


def test_typing_during_a_turn_is_kept_for_the_next_prompt() -> None:
    seen = Seen()
    keys = seen.keys()
    keys.handle(b"fix th")
    keys.handle(b"e tesx\x7ft")
    keys.handle("s ✓\r".encode())
    keys.handle(b"\x0f")
    assert keys.typeahead == "fix the tests ✓"
    assert seen.thinking == 1
    assert seen.interrupts == 0


def test_unicode_terminal_reads_the_locale_not_pythons_coercion() -> None:
    assert unicode_terminal({"LANG": "en_US.UTF-8"})
    assert unicode_terminal({"LC_ALL": "de_DE.utf8", "LANG": "C"})
    assert not unicode_terminal({"LANG": "C"})
    assert not unicode_terminal({})
    # Python sets LC_CTYPE=C.UTF-8 itself under LANG=C (PEP 538): still not a UTF-8 terminal.
    assert not unicode_terminal({"LANG": "C", "LC_CTYPE": "C.UTF-8"})
    assert unicode_terminal({"LANG": "en_US.UTF-8", "LC_CTYPE": "C.UTF-8"})
    assert not unicode_terminal({"LC_ALL": "POSIX", "LANG": "en_US.UTF-8"})
