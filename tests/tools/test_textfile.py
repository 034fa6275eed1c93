"""The codec under Read, Write and Edit: detection, exact round trips, endings, atomic writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from coda.tools.base import ToolError
from coda.tools.textfile import Encoding, TextDoc, atomic_write, decode, new_doc, sniff

SAMPLES: dict[str, bytes] = {
    "lf": b"one\ntwo\n",
    "crlf": b"one\r\ntwo\r\n",
    "cr": b"one\rtwo\r",
    "mixed": b"one\r\ntwo\nthree\r\n",
    "no final newline": b"one\ntwo",
    "cr inside a line": b"progress 10%\rprogress 20%\nnext\n",
    "stray cr before crlf": b"a\r\r\nb\r\n",
    "utf-8 bom": b"\xef\xbb\xbfname = 'caf\xc3\xa9'\r\n",
    "utf-16 le bom": "héllo\r\nwörld\r\n".encode("utf-16-le").join([b"\xff\xfe", b""]),
    "utf-16 be bom": b"\xfe\xff" + "héllo\nwörld\n".encode("utf-16-be"),
    "utf-32 bom": "hi ✓\n".encode("utf-32"),
    "utf-16 le no bom": "plain ascii text\nin utf-16\n".encode("utf-16-le"),
    "latin-1": "Grüße aus Köln\nStraße: é\n".encode("latin-1"),
    "cp1252": "“Quote” – dash € sign\n".encode("cp1252"),
    "shift-jis": "日本語のテキストです。\nこんにちは世界\n".encode("shift_jis"),
    "cp1251": "Привет мир, это тест\nвторая строка\n".encode("cp1251"),
    "utf-8 with bad bytes": "résumé → naïve ✓\n".encode() + b"ascii \xff\xfe middle\n",
    "ascii with bad bytes": b"hello \xff\xfe world\n",
    "lone surrogate utf-16": b"\xff\xfe" + "a".encode("utf-16-le") + b"\x00\xd8" + b"\n\x00",
    "empty": b"",
}


@pytest.mark.parametrize("name", SAMPLES)
def test_decode_then_encode_gives_the_same_bytes(name: str) -> None:
    data = SAMPLES[name]
    doc = decode(data)
    assert doc is not None
    assert doc.encode() == data
    # Touching nothing through replace() must not change a byte either.
    assert doc.replace([(0, 0)], [""]).encode() == data


def test_detection_order_and_names() -> None:
    def name(data: bytes) -> str | None:
        found = sniff(data, complete=True)
        return found and found.name

    assert sniff(b"\xef\xbb\xbfx", complete=True) == Encoding("utf-8", b"\xef\xbb\xbf")
    assert sniff(b"\xff\xfe\x00\x00x\x00\x00\x00", complete=True) == Encoding(
        "utf-32-le", b"\xff\xfe\x00\x00"
    )
    assert name("ok é".encode()) == "utf-8"
    assert name("text in utf-16\n".encode("utf-16-be")) == "utf-16-be"
    assert name("Grüße aus Köln, é ü ß\n".encode("latin-1")) == "cp1252"
    assert name("日本語のテキストです。\nこんにちは世界\n".encode("shift_jis")) == "cp932"
    assert name(SAMPLES["utf-8 with bad bytes"]) == "utf-8"
    assert name(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256))) is None
    assert name(bytes(range(1, 32)) * 20) is None


def test_a_cut_multibyte_character_at_the_sample_end_is_still_utf8() -> None:
    data = ("x" * 100 + "é").encode()
    assert sniff(data[:-1], complete=False) == Encoding("utf-8")


def test_line_styles_are_recognised() -> None:
    def style(data: bytes) -> str:
        doc = decode(data)
        assert doc is not None
        return doc.style

    assert style(SAMPLES["lf"]) == "LF"
    assert style(SAMPLES["crlf"]) == "CRLF"
    assert style(SAMPLES["cr"]) == "CR"
    assert style(SAMPLES["mixed"]) == "mixed"
    assert style(b"no newline at all") == "LF"
    # A lone CR among LF lines is content, not a line break.
    assert style(SAMPLES["cr inside a line"]) == "LF"


def test_mixed_endings_untouched_lines_keep_theirs() -> None:
    doc = decode(b"a\r\nb\nc\r\nd\r\n")
    assert doc is not None and doc.text == "a\nb\nc\nd\n" and doc.newline == "\r\n"
    start = doc.text.index("b")
    # Same number of lines: each keeps its ending.
    same = doc.replace([(start, start + 3)], ["B\nC"])
    assert same.encode() == b"a\r\nB\nC\r\nd\r\n"
    # More lines: the new ones take the main ending (CRLF here); the rest are untouched.
    more = doc.replace([(start, start + 1)], ["b1\nb2"])
    assert more.encode() == b"a\r\nb1\r\nb2\nc\r\nd\r\n"
    # Several spans in one call.
    both = doc.replace([(0, 1), (doc.text.index("d"), len(doc.text))], ["A", "D\nE\n"])
    assert both.encode() == b"A\r\nb\nc\r\nD\r\nE\r\n"


def test_replacement_character_puts_back_the_byte_it_stood_for() -> None:
    doc = decode(SAMPLES["utf-8 with bad bytes"])
    assert doc is not None and doc.escaped
    assert "ascii \ufffd\ufffd middle" in doc.view
    start = doc.view.index("ascii")
    end = doc.view.index("middle") + len("middle")
    changed = doc.replace([(start, end)], ["ASCII \ufffd\ufffd MIDDLE"])
    assert changed.encode().endswith(b"ASCII \xff\xfe MIDDLE\n")
    # A different count of U+FFFD means the model meant the character itself.
    real = doc.replace([(start, end)], ["one \ufffd"])
    assert real.encode().endswith("one \ufffd\n".encode())


def test_unencodable_character_is_refused_with_its_line() -> None:
    doc = decode(SAMPLES["latin-1"])
    assert doc is not None
    changed = doc.replace([(0, 0)], ["ok\narrow → here\n"])
    with pytest.raises(ToolError, match=r"cp1252.*'→'.*U\+2192, line 2"):
        changed.encode()


def test_new_files_keep_the_endings_their_text_has() -> None:
    assert new_doc("a\nb\n").encode() == b"a\nb\n"
    assert new_doc("a\r\nb\r\n").encode() == b"a\r\nb\r\n"
    assert new_doc("é").encoding == Encoding("utf-8")


def test_atomic_write_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_bytes(b"old\n")
    path.chmod(0o751)
    stamp = atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert stamp.size == 4 and stamp.mtime_ns == path.stat().st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["script.sh"]


def test_atomic_write_makes_folders_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "new.txt"
    atomic_write(path, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


_FAILING_WRITE = """
import resource, sys
from pathlib import Path
from coda.tools.base import ToolError
from coda.tools.textfile import atomic_write
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))  # Python ignores SIGXFSZ
try:
    atomic_write(Path(sys.argv[1]), b"y" * 5000)
except ToolError as e:
    print(e)
"""


def test_a_write_failing_midway_leaves_the_original_intact(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"original\n")
    done = subprocess.run(
        [sys.executable, "-c", _FAILING_WRITE, str(path)], capture_output=True, text=True
    )
    assert "Could not write" in done.stdout and "left unchanged" in done.stdout, done
    assert path.read_bytes() == b"original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


_UNWRITABLE_DIR = """
import os, sys
from pathlib import Path
from coda.tools.base import ToolError
from coda.tools.textfile import atomic_write
if os.geteuid() == 0:  # root writes anywhere; become nobody, the imports already done
    os.setgid(65534)
    os.setuid(65534)
try:
    atomic_write(Path(sys.argv[1]), b"new\\n")
except ToolError as e:
    print(e)
"""


def run_in_unwritable_dir(script: str) -> tuple[str, Path, Path]:
    """Run script on a file in a read-only folder; the folder is made and cleaned here."""
    top = Path(tempfile.mkdtemp())
    folder = top / "locked"
    folder.mkdir()
    path = folder / "file.txt"
    path.write_bytes(b"old\n")
    path.chmod(0o644)
    top.chmod(0o755)
    folder.chmod(0o555)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=top
        )
        return done.stdout + done.stderr, path, folder
    finally:
        folder.chmod(0o755)


def test_an_unwritable_folder_gives_a_clear_error_and_no_change() -> None:
    out, path, folder = run_in_unwritable_dir(_UNWRITABLE_DIR)
    try:
        assert "cannot create a temporary file" in out and "left unchanged" in out, out
        assert path.read_bytes() == b"old\n"
        assert [p.name for p in folder.iterdir()] == ["file.txt"]
    finally:
        path.unlink()
        folder.rmdir()
        folder.parent.rmdir()


def test_text_doc_view_shows_escapes_as_replacement_characters() -> None:
    doc = TextDoc("a\udcffb", Encoding("utf-8"), escaped=True)
    assert doc.view == "a\ufffdb"
    assert doc.encode() == b"a\xffb"
