"""Text files as bytes and back: encoding, BOM and line endings found, kept and restored exactly."""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from coda.tools.base import FileStamp, ToolError

# Read and the editing tools look at the same head of a file, so they agree on its encoding.
SAMPLE_BYTES = 64 * 1024
# Write and Edit hold the whole file, decoded, in memory, several copies at a time.
MAX_EDIT_BYTES = 128 * 1024 * 1024
_BINARY_SNIFF = 8192
_UTF = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control bytes that text almost never holds (tab, newlines, form feed and escape are allowed).
_CONTROL = bytes([*range(0, 8), *range(14, 27), *range(28, 32)])
_TEXT_BYTES = bytes(b for b in range(256) if b not in _CONTROL)
# Lone surrogates stand for bytes the codec could not decode (surrogateescape/surrogatepass).
_HIDDEN = re.compile("[\ud800-\udfff]")
_HIDDEN_OR_REPLACEMENT = re.compile("[\ufffd\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Encoding:
    name: str  # a Python codec name: "utf-8", "utf-16-le", "cp1252", "cp932"…
    bom: bytes = b""

    @property
    def errors(self) -> str:
        # UTF-16/32 keep bad units as lone surrogates; byte codecs escape each bad byte.
        return "surrogatepass" if self.name.startswith(("utf-16", "utf-32")) else "surrogateescape"

    @property
    def splits_on_bytes(self) -> bool:
        """Line breaks are the ASCII bytes, so lines can be found without decoding."""
        return not self.name.startswith(("utf-16", "utf-32"))


UTF8 = Encoding("utf-8")


def sniff(sample: bytes, *, complete: bool) -> Encoding | None:
    """The encoding of a file from its head, or None for a binary file.

    BOM, then strict UTF-8, then UTF-16 without a BOM (by where the NULs fall), then
    charset-normalizer for legacy encodings. UTF-8 is the fallback: bytes it cannot
    decode are carried as escapes, so they still come back unchanged.
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return Encoding(name, bom)
    head = sample[:_BINARY_SNIFF]
    if b"\0" in head:
        return _utf16_without_bom(head)
    if len(head.translate(None, _TEXT_BYTES)) * 10 > len(head):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    text = decoder.decode(sample, final=complete)
    bad = len(_HIDDEN.findall(text))
    if bad == 0:
        return UTF8
    # Real multi-byte characters outnumber the bad bytes: UTF-8 with some damage.
    if len(text) - len(text.encode("ascii", "ignore")) - bad <= bad:
        return _legacy(sample) or UTF8
    return UTF8


def _utf16_without_bom(head: bytes) -> Encoding | None:
    half = len(head) // 2
    zeros_even, zeros_odd = head[0::2].count(0), head[1::2].count(0)
    if zeros_odd * 10 > half * 3 and zeros_even * 20 < half:
        name = "utf-16-le"
    elif zeros_even * 10 > half * 3 and zeros_odd * 20 < half:
        name = "utf-16-be"
    else:
        return None
    try:
        text = codecs.getincrementaldecoder(name)().decode(head[: half * 2], final=False)
    except UnicodeDecodeError:
        return None
    return Encoding(name) if _mostly_text(text) else None


def _mostly_text(text: str) -> bool:
    odd = sum(1 for c in text if not c.isprintable() and c not in "\t\n\r\f\x1b")
    return odd * 10 <= len(text)


def _legacy(sample: bytes) -> Encoding | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - it comes with requests, but may be absent
        return None
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    # On short samples many code pages tie; Western European is far the most likely.
    tied = [m for m in matches if m.chaos <= best.chaos + 0.01]
    name = best.encoding
    for preferred in ("cp1252", "latin_1"):
        if any(preferred in m.could_be_from_charset for m in tied):
            name = preferred
            break
    name = codecs.lookup(name).name
    if name in ("utf-8", "ascii") or "\n".encode(name) != b"\n":
        return None
    return Encoding(name)


@dataclass(slots=True)
class TextDoc:
    """A decoded text file that can be changed and encoded back to the same kind of bytes."""

    # The content with every line ending as "\n" and without the BOM.
    text: str
    encoding: Encoding
    # The file's main line ending, given to new lines: "\n", "\r\n" or "\r".
    newline: str = "\n"
    # Files mixing CRLF and LF: the ending of each "\n" in `text`, in order.
    endings: list[str] | None = None
    # `text` holds lone surrogates standing for bytes that did not decode.
    escaped: bool = False

    @property
    def style(self) -> str:
        if self.endings is not None:
            return "mixed"
        return {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}[self.newline]

    @property
    def view(self) -> str:
        """The text as Read showed it: undecodable bytes as U+FFFD, one character each."""
        return _HIDDEN.sub("\ufffd", self.text) if self.escaped else self.text

    def replace(self, spans: list[tuple[int, int]], news: list[str]) -> TextDoc:
        """A copy with each text[start:end] (sorted, apart) replaced by the matching string.

        Line endings outside the spans are kept exactly. A span whose replacement has as
        many lines keeps its endings too; otherwise its new lines get the main ending. A
        U+FFFD in a replacement puts back the undecodable byte it stood for.
        """
        pieces: list[str] = []
        endings: list[str] = []
        pos = taken = 0  # taken: how many of self.endings are accounted for
        for (start, end), new in zip(spans, news, strict=True):
            old = self.text[start:end]
            if self.escaped:
                new = _restore_hidden(old, new)
            if self.endings is not None:
                before = taken + self.text.count("\n", pos, start)
                kept = self.endings[before : before + old.count("\n")]
                endings += self.endings[taken:before]
                added = new.count("\n")
                endings += kept if added == len(kept) else [self.newline] * added
                taken = before + len(kept)
            pieces += (self.text[pos:start], new)
            pos = end
        pieces.append(self.text[pos:])
        text = "".join(pieces)
        escaped = self.escaped or _HIDDEN.search("".join(news)) is not None
        if self.endings is None:
            return TextDoc(text, self.encoding, self.newline, None, escaped)
        endings += self.endings[taken:]
        return TextDoc(text, self.encoding, self.newline, endings, escaped)

    def encode(self) -> bytes:
        if self.endings is not None:
            parts = self.text.split("\n")
            raw = "".join([p + e for p, e in zip(parts, self.endings, strict=False)] + parts[-1:])
        elif self.newline != "\n":
            raw = self.text.replace("\n", self.newline)
        else:
            raw = self.text
        try:
            return self.encoding.bom + raw.encode(self.encoding.name, self.encoding.errors)
        except UnicodeEncodeError as e:
            char = raw[e.start]
            line = raw.count("\n", 0, e.start) + 1
            raise ToolError(
                f"The file is encoded as {self.encoding.name}, which cannot hold {char!r} "
                f"(U+{ord(char):04X}, line {line} of the new text). Use characters that "
                f"{self.encoding.name} has, or convert the file to UTF-8 first."
            ) from None


def _restore_hidden(old: str, new: str) -> str:
    hidden = _HIDDEN_OR_REPLACEMENT.findall(old)
    parts = new.split("\ufffd")
    if len(parts) - 1 != len(hidden) or not _HIDDEN.search(old):
        return new
    return "".join(p + h for p, h in zip(parts, hidden, strict=False)) + parts[-1]


def normalize_newlines(text: str) -> str:
    """The model's text with CRLF as LF, to match and splice into a TextDoc."""
    return text.replace("\r\n", "\n")


def decode(data: bytes) -> TextDoc | None:
    """The file's bytes as a TextDoc that encodes back to exactly these bytes; None if binary."""
    encoding = sniff(data[:SAMPLE_BYTES], complete=len(data) <= SAMPLE_BYTES)
    if encoding is None:
        return None
    body = data[len(encoding.bom) :]
    raw, escaped = _decode_exactly(body, encoding)
    if raw is None and encoding.name not in _UTF:
        # Some code pages map two byte sequences to one character: UTF-8 with escapes
        # shows less, but always gives the bytes back.
        encoding = UTF8
        raw, escaped = _decode_exactly(body, encoding)
    if raw is None:
        return None
    return _split_endings(raw, encoding, escaped)


def _decode_exactly(body: bytes, encoding: Encoding) -> tuple[str | None, bool]:
    escaped = False
    try:
        raw = body.decode(encoding.name)
    except UnicodeDecodeError:
        try:
            raw = body.decode(encoding.name, encoding.errors)
        except UnicodeDecodeError:  # an odd trailing byte of UTF-16, or a CJK codec refusing
            return None, False
        escaped = True
    if encoding.name != "utf-8" and raw.encode(encoding.name, encoding.errors) != body:
        return None, False
    return raw, escaped


def _split_endings(raw: str, encoding: Encoding, escaped: bool) -> TextDoc:
    # A lone CR inside a file that has LFs is content, not a line break.
    lf = raw.count("\n")
    if lf == 0:
        if "\r" in raw:
            return TextDoc(raw.replace("\r", "\n"), encoding, "\r", None, escaped)
        return TextDoc(raw, encoding, "\n", None, escaped)
    crlf = raw.count("\r\n")
    if crlf == 0:
        return TextDoc(raw, encoding, "\n", None, escaped)
    text = raw.replace("\r\n", "\n")
    if crlf == lf:
        return TextDoc(text, encoding, "\r\n", None, escaped)
    newline = "\r\n" if crlf > lf - crlf else "\n"
    return TextDoc(text, encoding, newline, re.findall("\r?\n", raw), escaped)


def new_doc(text: str) -> TextDoc:
    """A file that does not exist yet: UTF-8, with the line endings the text itself uses."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ToolError(f"The text holds an unpaired surrogate at character {e.start}.") from None
    return _split_endings(data.decode("utf-8"), UTF8, False)


@dataclass(frozen=True, slots=True)
class Existing:
    data: bytes
    stamp: FileStamp


def load(path: Path) -> Existing | None:
    """The current bytes of a regular file and their stamp; None when there is no file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ToolError(f"Cannot read {path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"{path} is a directory, not a file.")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{path} is not a regular file (a device, pipe or socket).")
    if st.st_size > MAX_EDIT_BYTES:
        raise ToolError(
            f"{path} is {st.st_size / 2**20:,.0f} MiB, over the "
            f"{MAX_EDIT_BYTES // 2**20} MiB that Write and Edit handle; change it with a "
            "streaming command in Bash (sed, awk) instead."
        )
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError as e:
        raise ToolError(f"Cannot read {path}: {e.strerror}") from None
    return Existing(data, FileStamp(st.st_mtime_ns, len(data), hashlib.sha256(data).hexdigest()))


def check_fresh(path: Path, current: FileStamp, read_files: dict[Path, FileStamp]) -> None:
    """Refuse to change a file the model has not read, or that changed since it read it.

    The content hash decides, not the mtime: a `touch` or a checkout of the same bytes
    is no reason to make the model read again.
    """
    seen = read_files.get(path)
    if seen is None:
        raise ToolError(f"{path} has not been read in this session. Read it first, then change it.")
    if seen.sha256 != current.sha256:
        raise ToolError(
            f"{path} has changed on disk since it was last read (by the user, a formatter or "
            "another tool). Read it again, then make the change."
        )


def atomic_write(path: Path, data: bytes) -> FileStamp:
    """Replace a file all at once: a crash leaves either the old file or the new one.

    The new file keeps the old one's mode (and owner, as far as we may). Missing parent
    folders are made. Returns the stamp of what was written.
    """
    try:
        old: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        old = None
    if old is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ToolError(f"Cannot create the folder {path.parent}: {e.strerror}") from None
    tmp, fd = _create_temp(path)
    try:
        with open(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            if old is not None:
                _keep_owner_and_mode(f.fileno(), old)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ToolError(
            f"Could not write {path}: {e.strerror}. The file was left unchanged."
        ) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    st = os.stat(path)
    return FileStamp(st.st_mtime_ns, st.st_size, hashlib.sha256(data).hexdigest())


def _create_temp(path: Path) -> tuple[Path, int]:
    # Same folder, so os.replace is a rename on one file system; created with 0o666 so a
    # new file gets the mode the umask gives, as any editor's would.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(16):
        tmp = path.parent / f".{path.name[:200]}.{secrets.token_hex(4)}.coda-tmp"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise ToolError(
                f"Could not write {path}: cannot create a temporary file in {path.parent} "
                f"({e.strerror}). The file was left unchanged."
            ) from None
    raise ToolError(f"Could not write {path}: no free temporary name in {path.parent}.")


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except OSError as e:  # only root may give a file away; the group may still fail
            if e.errno not in (errno.EPERM, errno.EINVAL):
                raise
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some file systems refuse, which costs only that.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
