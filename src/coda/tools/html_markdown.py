"""HTML to markdown for WebFetch: a page's readable text without scripts, styles and navigation.

Built on the stdlib parser on purpose: markdownify needs 18 s for a 4 MB page, html2text is
GPL, and the Rust-backed converters are 20 MB native wheels. The model needs the text and its
shape (headings, links, lists, code, tables), not a faithful rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

# Deeper markup is flattened into its ancestor, which keeps rendering's recursion bounded.
MAX_DEPTH = 120

# fmt: off
VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})
# Dropped with everything inside them.
SKIP = frozenset({
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "video", "audio", "nav", "head", "button", "select", "option", "textarea",
    "input", "dialog",
})
# Site chrome when outside the page's main content; the article's own header when inside.
CHROME = frozenset({"header", "footer", "aside"})
CONTENT_ROOTS = frozenset({"main", "article"})
HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "body", "center", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
    "hgroup", "hr", "html", "legend", "li", "main", "menu", "ol", "p", "pre", "search",
    "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption",
    "ul", *HEADINGS,
})
# fmt: on
# Opening one of these ends a paragraph left open (`<p>a<div>b`).
CLOSES_P = BLOCK - {"html", "body", "td", "th", "tr", "tbody", "thead", "tfoot", "caption"}
CODE_CLASS = re.compile(r"(?:^|\s)(?:language|lang|highlight(?:-source)?)-([\w+#.-]+)")
SPACES = re.compile(r"[ \t\r\n\f]+")


@dataclass(slots=True)
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    # Set while parsing: some descendant is a block element (`<a><div>…</div></a>`), so
    # this element is laid out as a block. Kept here so rendering stays linear.
    holds_block: bool = False


@dataclass(slots=True)
class Converted:
    title: str
    markdown: str


def html_to_markdown(html: str, base_url: str = "") -> Converted:
    """Convert a page; relative links and image sources are resolved against base_url."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    renderer = _Renderer(base_url)
    blocks = renderer.blocks(builder.root, in_content=False)
    return Converted(_title(builder.root), "\n\n".join(blocks))


class _TreeBuilder(HTMLParser):
    """A forgiving tree: unknown end tags are ignored, common implicit ends are applied."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._close_implied_by(tag)
        if len(self.stack) > MAX_DEPTH:
            return
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag in BLOCK:
            for ancestor in reversed(self.stack):
                if ancestor.holds_block:
                    break
                ancestor.holds_block = True
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def _close_implied_by(self, tag: str) -> None:
        if tag == "li":
            self._close_open({"li"}, until={"ul", "ol", "menu"})
        elif tag in ("dt", "dd"):
            self._close_open({"dt", "dd"}, until={"dl"})
        elif tag in ("td", "th"):
            self._close_open({"td", "th"}, until={"tr", "table"})
        elif tag == "tr":
            self._close_open({"tr"}, until={"table", "thead", "tbody", "tfoot"})
        elif tag in ("thead", "tbody", "tfoot"):
            self._close_open({"thead", "tbody", "tfoot"}, until={"table"})
        elif tag == "option":
            self._close_open({"option"}, until={"select"})
        if tag in CLOSES_P and self.stack[-1].tag == "p":
            self.stack.pop()

    def _close_open(self, tags: set[str], until: set[str]) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            name = self.stack[i].tag
            if name in tags:
                del self.stack[i:]
                return
            if name in until:
                return


def _title(root: Node) -> str:
    pending: list[Node] = [root]
    while pending:
        node = pending.pop()
        if node.tag == "title":
            return _collapse(_raw_text(node)).strip()
        if node.tag != "svg":
            pending.extend(c for c in reversed(node.children) if isinstance(c, Node))
    return ""


class _Renderer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def blocks(self, node: Node, in_content: bool) -> list[str]:
        """The node's children as markdown blocks, to be joined by blank lines."""
        out: list[str] = []
        run: list[str] = []
        for child in node.children:
            if isinstance(child, str):
                run.append(_collapse(child))
            elif _hidden(child, in_content):
                continue
            elif child.tag in BLOCK or child.holds_block:
                out.extend(_paragraph(run))
                run = []
                out.extend(self.block(child, in_content or child.tag in CONTENT_ROOTS))
            else:
                run.append(self.inline(child))
        out.extend(_paragraph(run))
        return out

    def block(self, node: Node, in_content: bool) -> list[str]:
        tag = node.tag
        if tag in HEADINGS:
            text = _one_line(self.inline_children(node))
            return [f"{'#' * HEADINGS[tag]} {text}"] if text else []
        if tag == "pre":
            return [_fence(node)] if _raw_text(node).strip() else []
        if tag == "hr":
            return ["---"]
        if tag in ("ul", "ol", "menu"):
            return self.list_block(node, in_content)
        if tag == "table":
            return self.table(node, in_content)
        if tag == "blockquote":
            inner = "\n\n".join(self.blocks(node, in_content))
            return [_prefix_lines(inner, "> ", ">")] if inner else []
        return self.blocks(node, in_content)

    def list_block(self, node: Node, in_content: bool) -> list[str]:
        ordered = node.tag == "ol"
        number = _int(node.attrs.get("start"), 1)
        items: list[str] = []
        for child in node.children:
            if isinstance(child, str) or _hidden(child, in_content):
                continue
            body = "\n".join(self.blocks(child, in_content)).strip()
            if not body:
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            items.append(marker + _prefix_lines(body, " " * len(marker), "")[len(marker) :])
        return ["\n".join(items)] if items else []

    def table(self, node: Node, in_content: bool) -> list[str]:
        rows = list(_rows(node))
        cells = [c for row in rows for c in row]
        # A table used for page layout holds blocks, not data: show its cells in order.
        if any(_has_layout(c) for c in cells) or not cells:
            return [b for c in cells for b in self.blocks(c, in_content)]
        grid = [[_cell_text(" ".join(self.blocks(c, in_content))) for c in row] for row in rows]
        width = max(len(r) for r in grid)
        grid = [r + [""] * (width - len(r)) for r in grid]
        lines = ["| " + " | ".join(r) + " |" for r in grid]
        lines.insert(1, "|" + " --- |" * width)
        caption = [c for c in node.children if isinstance(c, Node) and c.tag == "caption"]
        title = [_one_line(self.inline_children(c)) for c in caption[:1]]
        return [t for t in title if t] + ["\n".join(lines)]

    def inline_children(self, node: Node) -> str:
        return "".join(
            _collapse(c) if isinstance(c, str) else self.inline(c)
            for c in node.children
            if isinstance(c, str) or not _hidden(c, True)
        )

    def inline(self, node: Node) -> str:
        tag = node.tag
        if tag == "br":
            return "\n"
        if tag == "img":
            return self.image(node)
        if tag in ("code", "kbd", "samp", "tt"):
            return _code_span(_collapse(_raw_text(node)))
        text = self.inline_children(node)
        if tag in BLOCK:  # a block where only inline content fits (inside a heading)
            return f" {text} "
        if tag in ("b", "strong"):
            return _wrap(text, "**")
        if tag in ("i", "em"):
            return _wrap(text, "*")
        if tag in ("s", "del", "strike"):
            return _wrap(text, "~~")
        if tag == "a":
            return self.link(node, text)
        return text

    def link(self, node: Node, text: str) -> str:
        href = node.attrs.get("href", "").strip()
        label = _one_line(text)
        if not href or href.startswith(("#", "javascript:")) or not label:
            return text
        return f"[{label}]({self.resolve(href)})"

    def image(self, node: Node) -> str:
        alt = _one_line(node.attrs.get("alt", ""))
        src = node.attrs.get("src", "").strip()
        if not src or src.startswith("data:"):
            return alt
        return f"![{alt}]({self.resolve(src)})"

    def resolve(self, url: str) -> str:
        url = url.replace(" ", "%20")
        return urljoin(self.base_url, url) if self.base_url else url


def _hidden(node: Node, in_content: bool) -> bool:
    if node.tag in SKIP or (node.tag in CHROME and not in_content):
        return True
    attrs = node.attrs
    return (
        "hidden" in attrs or attrs.get("aria-hidden") == "true" or attrs.get("role") == "navigation"
    )


def _has_layout(cell: Node) -> bool:
    layout = {"table", "ul", "ol", "pre", "blockquote", *HEADINGS}
    return any(isinstance(c, Node) and (c.tag in layout or _has_layout(c)) for c in cell.children)


def _rows(table: Node) -> list[list[Node]]:
    """Rows of this table, not of tables nested inside its cells."""
    rows: list[list[Node]] = []
    for child in table.children:
        if not isinstance(child, Node):
            continue
        if child.tag == "tr":
            row = [c for c in child.children if isinstance(c, Node) and c.tag in ("td", "th")]
            if row:
                rows.append(row)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(_rows(child))
    return rows


def _fence(pre: Node) -> str:
    text = _raw_text(pre).strip("\n").rstrip()
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{_code_language(pre)}\n{text}\n{ticks}"


def _code_language(pre: Node) -> str:
    candidates = [pre] + [c for c in pre.children if isinstance(c, Node) and c.tag == "code"]
    for node in candidates:
        match = CODE_CLASS.search(node.attrs.get("class", ""))
        if match:
            return match.group(1)
    return ""


def _raw_text(node: Node) -> str:
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag not in SKIP:
            parts.append(_raw_text(child))
    return "".join(parts)


def _collapse(text: str) -> str:
    return SPACES.sub(" ", text).replace("\xa0", " ")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _paragraph(run: list[str]) -> list[str]:
    text = "".join(run)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    joined = "\n".join(lines).strip("\n")
    return [joined] if joined.strip() else []


def _wrap(text: str, mark: str) -> str:
    """`**bold**` with the spaces outside the marks, where markdown wants them."""
    core = text.strip()
    if not core:
        return text
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    return f"{lead}{mark}{core}{mark}{trail}"


def _code_span(text: str) -> str:
    if not text.strip():
        return text
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _cell_text(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _prefix_lines(text: str, prefix: str, empty_prefix: str) -> str:
    return "\n".join(prefix + line if line else empty_prefix for line in text.split("\n"))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
