"""Drawing finished markdown pieces: prose with inline styles, code line by line, highlighted.

Paragraphs, headings, lists and quotes are drawn here from markdown-it's inline tokens (one
shared parser; no full-document parse per piece); only tables go through rich's Markdown.
Lines are wrapped to the terminal with a hanging indent and carry no trailing padding.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from coda.ui.blocks import CodeEnd, CodeLine, CodeStart, Piece, Prose
from coda.ui.screen import Screen

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

_HEADING_MARKS = re.compile(r"^ {0,3}(#{1,6})\s*(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])(?:\s+|$)(.*)$")
_QUOTE_MARK = re.compile(r"^ {0,3}> ?")
# Inline text without any of these needs no parse.
_RULE_CELL = re.compile(r"^\s*:?-+:?\s*$")
_INLINE_MARKUP = re.compile(r"[*_`\[\]<>~\\&!]")
CODE_INDENT = "  "
_STYLES = {
    "strong": "bold",
    "em": "italic",
    "s": "strike",
    "link": "underline",
}


class MarkdownPrinter:
    """Prints the pieces of one answer in order, each once."""

    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._lexer: Any = None
        self._theme: Any = None
        self._parser: Any = None

    def pieces(self, pieces: list[Piece]) -> None:
        """Print pieces; consecutive code lines go out in one write."""
        code: list[CodeLine] = []
        for piece in pieces:
            if isinstance(piece, CodeLine):
                code.append(piece)
                continue
            if code:
                self._code_lines(code)
                code = []
            self.piece(piece)
        if code:
            self._code_lines(code)

    def piece(self, piece: Piece) -> None:
        screen = self._screen
        match piece:
            case Prose(gap=gap):
                if gap:
                    screen.blank()
                screen.print(self._prose(piece))
            case CodeStart(lang=lang, gap=gap):
                if gap:
                    screen.blank()
                self._lexer = _lexer_for(lang) if screen.color else None
            case CodeLine():
                self._code_lines([piece])
            case CodeEnd():
                self._lexer = None

    # -- prose

    def _prose(self, piece: Prose) -> RenderableType:
        from rich.text import Text

        color = self._screen.color
        if piece.kind == "heading":
            match = _HEADING_MARKS.match(piece.text)
            level, title = (len(match.group(1)), match.group(2)) if match else (1, piece.text)
            text = self.inline(title)
            if color:
                text.stylize("bold underline" if level == 1 else "bold")
            return text
        if piece.kind == "rule":
            rule = "─" if self._screen.glyphs.unicode else "-"
            return Text(rule * min(40, self._screen.width), style="dim" if color else "")
        if piece.kind == "list":
            return self._list(piece.text)
        if piece.kind == "quote":
            body = " ".join(_QUOTE_MARK.sub("", line).strip() for line in piece.text.splitlines())
            bar = "▌ " if self._screen.glyphs.unicode else "| "
            return self._hanging(bar, self.inline(body), "dim italic" if color else "")
        if piece.kind == "table":
            return self._table(piece.text)
        return self._hanging(
            "", self.inline(" ".join(ln.strip() for ln in piece.text.splitlines()))
        )

    def _list(self, text: str) -> Text:
        """One top-level item with its continuation lines and nested items."""
        from rich.text import Text

        items: list[tuple[int, str, list[str]]] = []  # (depth, marker, words)
        for line in text.splitlines():
            match = _ITEM.match(line)
            if match:
                depth = len(match.group(1).expandtabs(4)) // 2
                items.append((min(depth, 6), match.group(2), [match.group(3).strip()]))
            elif items:
                items[-1][2].append(line.strip())
            else:
                items.append((0, "", [line.strip()]))
        bullet = "•" if self._screen.glyphs.unicode else "-"
        out = Text()
        for i, (depth, marker, words) in enumerate(items):
            shown = bullet if marker in ("-", "*", "+") else marker
            prefix = "  " * depth + (f"{shown} " if shown else "  ")
            if i:
                out.append("\n")
            out.append_text(self._hanging(prefix, self.inline(" ".join(words))))
        return out

    def _hanging(self, prefix: str, body: Text, prefix_style: str = "") -> Text:
        """`prefix` on the first line, its width in spaces on the lines the body wraps to."""
        from rich.text import Text

        width = max(10, self._screen.width - len(prefix))
        lines = body.wrap(self._screen.console, width)
        out = Text(no_wrap=True)
        for i, line in enumerate(lines):
            if i:
                out.append("\n")
            out.append(prefix if i == 0 else " " * len(prefix), style=prefix_style)
            line.rstrip()
            out.append_text(line)
        return out

    def _table(self, source: str) -> RenderableType:
        """Columns padded to their widest cell; rich's wrapping table when they do not fit."""
        from rich.cells import cell_len
        from rich.text import Text

        rows = [_cells(line) for line in source.splitlines()]
        header_rule = len(rows) > 1 and all(_RULE_CELL.match(c) for c in rows[1])
        body = [r for i, r in enumerate(rows) if not (i == 1 and header_rule)]
        texts = [[self.inline(cell) for cell in row] for row in body]
        columns = max(len(row) for row in texts)
        widths = [
            max((cell_len(row[i].plain) for row in texts if i < len(row)), default=0)
            for i in range(columns)
        ]
        gap = "  "
        if sum(widths) + len(gap) * (columns - 1) > self._screen.width:
            from rich.markdown import Markdown

            return self._compact(Markdown(source, hyperlinks=False))
        rule = "─" if self._screen.glyphs.unicode else "-"
        color = self._screen.color
        out = Text(no_wrap=True)
        for n, row in enumerate(texts):
            if n:
                out.append("\n")
            for i, cell in enumerate(row):
                if i:
                    out.append(gap)
                if n == 0 and header_rule and color:
                    cell.stylize("bold")
                out.append_text(cell)
                if i < len(row) - 1:
                    out.append(" " * (widths[i] - cell_len(cell.plain)))
            if n == 0 and header_rule:
                out.append("\n" + gap.join(rule * w for w in widths), style="dim" if color else "")
        return out

    def _compact(self, renderable: RenderableType) -> Text:
        """A renderable drawn to lines, without the blank lines and padding rich adds."""
        from rich.text import Text

        console = self._screen.console
        options = console.options.update_width(self._screen.width)
        rendered = [
            Text.assemble(*((s.text, s.style or "") for s in line if not s.control))
            for line in console.render_lines(renderable, options, pad=False)
        ]
        for line in rendered:
            line.rstrip()
        while rendered and not rendered[0].plain:
            rendered.pop(0)
        while rendered and not rendered[-1].plain:
            rendered.pop()
        return Text("\n").join(rendered)

    def inline(self, source: str) -> Text:
        """Emphasis, strong, code spans, strikethrough and links, as styles."""
        from rich.text import Text

        if not _INLINE_MARKUP.search(source):
            return Text(source)
        if self._parser is None:
            from markdown_it import MarkdownIt

            self._parser = MarkdownIt("commonmark").enable("strikethrough")
        color = self._screen.color
        out = Text()
        stack: list[str] = []
        href = ""
        for token in self._parser.parseInline(source)[0].children or []:
            kind = token.type
            style = " ".join(stack) if color else ""
            if kind.endswith("_open"):
                name = kind[: -len("_open")]
                stack.append(_STYLES.get(name, ""))
                if name == "link":
                    href = str(token.attrs.get("href", ""))
                    if color:
                        stack[-1] = "underline blue"
            elif kind.endswith("_close"):
                if stack:
                    stack.pop()
                if kind == "link_close" and href and not out.plain.endswith(href):
                    out.append(f" ({href})", style="dim" if color else "")
                    href = ""
            elif kind == "code_inline":
                out.append(token.content, style="bold cyan" if color else "")
            elif kind in ("softbreak", "hardbreak"):
                out.append(" " if kind == "softbreak" else "\n", style=style)
            elif kind == "image":
                out.append(f"[image: {token.content or token.attrs.get('src', '')}]", style=style)
            else:
                out.append(token.content, style=style)
        return out

    # -- code

    def _code_lines(self, lines: list[CodeLine]) -> None:
        from rich.text import Text

        text = Text(no_wrap=False)
        for i, line in enumerate(lines):
            if i:
                text.append("\n")
            text.append_text(self._code(line.text))
        self._screen.print(text)

    def _code(self, line: str) -> Text:
        from rich.text import Text

        text = Text(CODE_INDENT)
        line = line.expandtabs(4)
        if self._lexer is None:
            text.append(line)
            return text
        if self._theme is None:
            from rich.syntax import ANSI_DARK, ANSISyntaxTheme

            self._theme = ANSISyntaxTheme(ANSI_DARK)
        for token_type, value in self._lexer.get_tokens(line):
            text.append(value.rstrip("\n"), style=self._theme.get_style_for_token(token_type))
        return text


def _cells(line: str) -> list[str]:
    """The cells of a `| a | b |` row; `\\|` is a pipe inside a cell."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    cells = re.split(r"(?<!\\)\|", inner)
    return [cell.strip().replace("\\|", "|") for cell in cells]


@functools.cache
def _lexer_for(lang: str) -> Any:
    if not lang:
        return None
    from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
    from pygments.util import ClassNotFound  # type: ignore[import-untyped]

    try:
        return get_lexer_by_name(lang.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None
