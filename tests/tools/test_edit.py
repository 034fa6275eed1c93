"""Edit: byte-exact round trips for every kind of text file, the read-first rule, matching rules."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from coda.tools.base import ToolContext, ToolError, ToolOutput
from coda.tools.edit import EditTool
from coda.tools.read import ReadTool
from tests.tools.conftest import text_of, write

read = ReadTool()
edit = EditTool()


async def read_then_edit(
    path: Path, ctx: ToolContext, old: str, new: str, **more: Any
) -> ToolOutput:
    await read.run({"file_path": str(path)}, ctx)
    args = {"file_path": str(path), "old_string": old, "new_string": new, **more}
    return await edit.run(args, ctx)


# (file bytes, old_string, new_string, the whole file expected after the edit)
ROUND_TRIPS: dict[str, tuple[bytes, str, str, bytes]] = {
    "crlf": (
        b"alpha\r\nbeta\r\ngamma\r\n",
        "beta\n",
        "BETA\nbeta two\n",
        b"alpha\r\nBETA\r\nbeta two\r\ngamma\r\n",
    ),
    "lf without final newline": (
        b"alpha\nbeta\ngamma",
        "gamma",
        "GAMMA",
        b"alpha\nbeta\nGAMMA",
    ),
    "mixed endings": (
        b"one\r\ntwo\nthree\r\nfour\r\nfive\n",
        "three",
        "three\nthree and a half",
        b"one\r\ntwo\nthree\r\nthree and a half\r\nfour\r\nfive\n",
    ),
    "utf-8 with bom": (
        b"\xef\xbb\xbfname = 'caf\xc3\xa9'\nx = 1\n",
        "x = 1",
        "x = 'ü'",
        b"\xef\xbb\xbfname = 'caf\xc3\xa9'\nx = '\xc3\xbc'\n",
    ),
    "utf-16 le with bom": (
        b"\xff\xfe" + "héllo\r\nwörld\r\n".encode("utf-16-le"),
        "wörld",
        "wörld → ✓",
        b"\xff\xfe" + "héllo\r\nwörld → ✓\r\n".encode("utf-16-le"),
    ),
    "latin-1": (
        "Grüße aus Köln\nStraße: é\nend\n".encode("latin-1"),
        "Straße: é",
        "Straße: ü, ß",
        "Grüße aus Köln\nStraße: ü, ß\nend\n".encode("latin-1"),
    ),
    "cp1252": (
        "“Quote” – dash € sign\r\nline two\r\n".encode("cp1252"),
        "line two",
        "line 2 – €",
        "“Quote” – dash € sign\r\nline 2 – €\r\n".encode("cp1252"),
    ),
    "utf-8 with invalid bytes, other line edited": (
        "# résumé → naïve ✓\n".encode() + b"ascii \xff\xfe middle\nlast line\n",
        "last line",
        "final line",
        "# résumé → naïve ✓\n".encode() + b"ascii \xff\xfe middle\nfinal line\n",
    ),
    "utf-8 with invalid bytes, their own line edited": (
        "# résumé → naïve ✓\n".encode() + b"ascii \xff\xfe middle\nlast line\n",
        "ascii \ufffd\ufffd middle",
        "ASCII \ufffd\ufffd MIDDLE",
        "# résumé → naïve ✓\n".encode() + b"ASCII \xff\xfe MIDDLE\nlast line\n",
    ),
    "ascii with stray high bytes": (
        b"hello \xff\xfe world\nbye\n",
        "bye",
        "ciao",
        b"hello \xff\xfe world\nciao\n",
    ),
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
async def test_read_edit_gives_exactly_the_expected_bytes(
    name: str, tmp_path: Path, ctx: ToolContext
) -> None:
    before, old, new, after = ROUND_TRIPS[name]
    path = write(tmp_path, "file.txt", before)
    out = await read_then_edit(path, ctx, old, new)
    assert not out.is_error
    assert path.read_bytes() == after
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


async def test_result_is_a_short_diff_for_model_and_person(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.py", "".join(f"line {i}\n" for i in range(1, 21)))
    out = await read_then_edit(path, ctx, "line 10\n", "line ten\nline ten and a bit\n")
    text = text_of(out)
    assert text.splitlines()[0] == f"Updated {path} (+2 −1)"
    assert "@@ -7,7 +7,8 @@\n line 7\n line 8\n line 9\n-line 10\n+line ten\n" in text
    assert out.display in text and out.display.startswith("@@")
    assert out.summary == "Updated a.py (+2 −1)"
    assert edit.is_mutating({})


async def test_edit_needs_a_read_first(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "hello\n")
    with pytest.raises(ToolError, match=r"has not been read.*Read it first"):
        await edit.run({"file_path": str(path), "old_string": "hello", "new_string": "bye"}, ctx)
    assert path.read_text() == "hello\n"


async def test_edit_refuses_a_file_changed_since_read_but_not_a_touched_one(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.txt", "hello\nworld\n")
    await read.run({"file_path": str(path)}, ctx)
    os.utime(path, ns=(1, 1))  # only the mtime moves
    args = {"file_path": str(path), "old_string": "hello", "new_string": "bye"}
    await edit.run(args, ctx)
    assert path.read_text() == "bye\nworld\n"

    path.write_text("bye\nsomeone else's line\n")
    args = {"file_path": str(path), "old_string": "bye", "new_string": "hi"}
    with pytest.raises(ToolError, match=r"changed on disk since it was last read.*Read it again"):
        await edit.run(args, ctx)
    assert path.read_text() == "bye\nsomeone else's line\n"


async def test_edits_in_a_row_need_no_new_read(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "a\nb\n")
    await read_then_edit(path, ctx, "a", "A")
    await edit.run({"file_path": str(path), "old_string": "b", "new_string": "B"}, ctx)
    assert path.read_text() == "A\nB\n"


async def test_edit_goes_through_a_symlink_and_keeps_it(tmp_path: Path, ctx: ToolContext) -> None:
    target = write(tmp_path, "real/target.txt", "value = 1\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    await read_then_edit(link, ctx, "value = 1", "value = 2")
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text() == "value = 2\n"


async def test_binary_files_are_refused_by_read_and_by_edit(
    tmp_path: Path, ctx: ToolContext
) -> None:
    data = b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256))
    path = write(tmp_path, "prog", data)
    with pytest.raises(ToolError, match="binary file"):
        await read.run({"file_path": str(path)}, ctx)
    with pytest.raises(ToolError, match="binary file; Edit changes only text"):
        await edit.run({"file_path": str(path), "old_string": "ELF", "new_string": "FLE"}, ctx)
    assert path.read_bytes() == data


async def test_mode_survives_an_edit(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "run.sh", "#!/bin/sh\necho hi\n")
    path.chmod(0o751)
    await read_then_edit(path, ctx, "echo hi", "echo bye")
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert path.read_text() == "#!/bin/sh\necho bye\n"


async def test_ambiguous_old_string_lists_the_lines(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.py", "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n")
    with pytest.raises(ToolError) as caught:
        await read_then_edit(path, ctx, "x = 1", "x = 9")
    message = str(caught.value)
    assert "matches 3 places" in message and "lines 1, 3, 5" in message
    assert "replace_all" in message
    assert path.read_text() == "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n"


async def test_replace_all_replaces_every_one_and_counts(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.py", "old_name()\nold_name()\nkeep\nold_name()\n")
    out = await read_then_edit(path, ctx, "old_name", "new_name", replace_all=True)
    assert path.read_text() == "new_name()\nnew_name()\nkeep\nnew_name()\n"
    assert "replaced 3 occurrences" in text_of(out)
    assert out.summary == "Updated a.py (+3 −3)"


async def test_no_match_shows_the_closest_region_with_line_numbers(
    tmp_path: Path, ctx: ToolContext
) -> None:
    body = "".join(f"def handler_{i}(request):\n    return {i}\n\n" for i in range(50))
    path = write(tmp_path, "views.py", body)
    with pytest.raises(ToolError) as caught:
        await read_then_edit(path, ctx, "def handler_17(requst):\n    return 17", "x")
    message = str(caught.value)
    assert "old_string was not found" in message
    assert "lines 52–53" in message
    assert "    52\tdef handler_17(request):\n    53\t    return 17" in message
    assert path.read_text() == body


async def test_line_number_prefixes_get_a_hint(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "alpha\nbeta\n")
    with pytest.raises(ToolError, match="line-number prefixes"):
        await read_then_edit(path, ctx, "     2\tbeta", "gamma")


async def test_typographic_quotes_match_and_the_result_says_so(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "doc.md", "He said “hello” — twice.\nEnd.\n")
    out = await read_then_edit(path, ctx, 'He said "hello" - twice.', "He said hi.")
    assert path.read_text() == "He said hi.\nEnd.\n"
    assert "matched after normalising quotes and dashes" in text_of(out)


async def test_indentation_difference_is_applied_and_new_string_reindented(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.py", "class A:\n    def f(self):\n        return 1\n")
    out = await read_then_edit(
        path, ctx, "def f(self):\n    return 1", "def f(self):\n    x = 2\n    return x"
    )
    assert path.read_text() == "class A:\n    def f(self):\n        x = 2\n        return x\n"
    assert "matched after normalising indentation" in text_of(out)


async def test_uneven_indentation_is_not_guessed(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.py", "if x:\n\ty = 1\n\tz = 2\n")
    with pytest.raises(ToolError, match="differs unevenly") as caught:
        await read_then_edit(path, ctx, "if x:\n    y = 1\n    z = 2", "if x:\n    y = 3")
    assert "     1\tif x:" in str(caught.value)
    assert path.read_text() == "if x:\n\ty = 1\n\tz = 2\n"


async def test_normalised_match_that_is_ambiguous_is_never_applied(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.py", "f(a,b)\ng()\nf(a,  b)\n")
    with pytest.raises(ToolError, match=r"2 places match it.*lines 1, 3"):
        await read_then_edit(path, ctx, "f(a, b)", "f(b, a)")
    assert path.read_text() == "f(a,b)\ng()\nf(a,  b)\n"


async def test_same_old_and_new_is_an_error(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "x\n")
    with pytest.raises(ToolError, match="the same"):
        await read_then_edit(path, ctx, "x", "x")


async def test_empty_old_string_creates_a_file_but_not_over_content(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = tmp_path / "new" / "file.py"
    out = await edit.run({"file_path": str(path), "old_string": "", "new_string": "a = 1\n"}, ctx)
    assert path.read_bytes() == b"a = 1\n"
    assert text_of(out) == f"Created {path} (1 line)"
    # Created by us, so editing on needs no Read.
    await edit.run({"file_path": str(path), "old_string": "1", "new_string": "2"}, ctx)
    assert path.read_text() == "a = 2\n"
    with pytest.raises(ToolError, match="old_string is empty, but the file is not"):
        await edit.run({"file_path": str(path), "old_string": "", "new_string": "b"}, ctx)
    empty = write(tmp_path, "empty.txt", "")
    await read_then_edit(empty, ctx, "", "filled\n")
    assert empty.read_text() == "filled\n"


async def test_missing_file_with_old_string_is_an_error(tmp_path: Path, ctx: ToolContext) -> None:
    args = {"file_path": str(tmp_path / "nope.txt"), "old_string": "a", "new_string": "b"}
    with pytest.raises(ToolError, match="File does not exist"):
        await edit.run(args, ctx)


async def test_one_line_edit_in_a_10_mb_file_is_quick(tmp_path: Path, ctx: ToolContext) -> None:
    line = "value_{0} = {0}  # some padding text for a realistic line length\n"
    path = write(tmp_path, "big.py", "".join(line.format(i) for i in range(160_000)))
    before = path.read_bytes()
    assert len(before) > 10_000_000
    await read.run({"file_path": str(path), "limit": 10}, ctx)
    args = {"file_path": str(path), "old_string": "value_80000 = 80000", "new_string": "v = -1"}
    started = time.perf_counter()
    out = await edit.run(args, ctx)
    elapsed = time.perf_counter() - started
    print(f"\n10 MB one-line edit: {elapsed:.3f} s")
    assert elapsed < 2.0
    assert out.summary == "Updated big.py (+1 −1)"
    assert path.read_bytes() == before.replace(b"value_80000 = 80000 ", b"v = -1 ")


async def test_files_too_big_to_hold_are_sent_to_bash(tmp_path: Path, ctx: ToolContext) -> None:
    path = tmp_path / "huge.log"
    with open(path, "wb") as f:
        f.write(b"first line\n" + b"more text\n" * 2000)
        f.truncate(200 << 20)
    await read.run({"file_path": str(path), "limit": 1}, ctx)
    args = {"file_path": str(path), "old_string": "first", "new_string": "1st"}
    with pytest.raises(ToolError, match=r"200 MiB, over the 128 MiB.*Bash"):
        await edit.run(args, ctx)


def apply_hunks(old: list[str], diff: str) -> list[str]:
    """Apply a unified diff's hunks to old lines, checking every context and removed line."""
    out: list[str] = []
    at = 0
    for line in diff.splitlines():
        if line.startswith("@@"):
            start = int(line.split()[1][1:].split(",")[0])
            count = line.split()[1].split(",")
            begin = start - 1 if len(count) == 1 or count[1] != "0" else start
            out += old[at:begin]
            at = begin
        elif line[:1] in (" ", "-"):
            assert old[at] == line[1:]
            at += 1
            if line[0] == " ":
                out.append(line[1:])
        elif line[:1] == "+":
            out.append(line[1:])
    return out + old[at:]


def test_diff_hunks_turn_the_old_text_into_the_new() -> None:
    import random

    from coda.tools.diff import unified_diff

    rng = random.Random(7)
    for _ in range(1000):
        old = [rng.choice("abcdef") for _ in range(rng.randint(0, 40))]
        new = list(old)
        for _ in range(rng.randint(1, 4)):
            where = rng.randint(0, len(new))
            new[where : where + rng.randint(0, 2)] = rng.choice([[], ["X"], ["Y", "Z"]])
        diff = unified_diff("".join(f"{x}\n" for x in old), "".join(f"{x}\n" for x in new))
        assert apply_hunks(old, diff.text) == new
        assert diff.added == diff.text.count("\n+") + diff.text.startswith("+")
        assert diff.removed == diff.text.count("\n-")


def test_diff_marks_a_missing_final_newline_and_cuts_long_output() -> None:
    from coda.tools.diff import unified_diff

    assert unified_diff("a\nb", "a\nc").text == (
        "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file"
    )
    long = unified_diff("", "".join(f"{i}\n" for i in range(100)))
    assert long.added == 100 and long.text.endswith("… 41 more diff lines not shown")
    assert len(long.text.splitlines()) == 61
