"""The read-only list: which commands run without asking, their flag checks, and the corpus."""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import time

import pytest

from coda.permissions.readonly import path_arguments, read_only_reason, sed_script_reason
from coda.permissions.shell_analysis import ShellAnalysis, SimpleCommand, analyse
from tests.permissions.corpus import BENIGN, DANGEROUS

# Narrow rules the end-to-end test uses, as argv prefixes: Bash(ls:*), Bash(git status:*), ...
NARROW_RULES: tuple[tuple[str, ...], ...] = (
    ("ls",),
    ("echo",),
    ("pwd",),
    ("git", "status"),
)


def reason(line: str) -> str | None:
    """The read-only reason of the last command of `line` (the inner one, for a wrapper)."""
    return read_only_reason(analyse(line).commands[-1])


def paths(line: str) -> list[str]:
    return path_arguments(analyse(line).commands[-1])


def auto_allowable(analysis: ShellAnalysis, rules: tuple[tuple[str, ...], ...] = ()) -> bool:
    """What the policy does: no problems, no writing redirect, every command read-only or
    matched by a rule (a rule matches static words only)."""

    def allowed(cmd: SimpleCommand) -> bool:
        if read_only_reason(cmd) is None:
            return True
        return any(
            cmd.argv[: len(rule)] == rule and not any(i < len(rule) for i in cmd.dynamic)
            for rule in rules
        )

    return analysis.fully_resolved and all(
        allowed(cmd) and not any(r.writes for r in cmd.redirects) for cmd in analysis.commands
    )


# -- corpus ------------------------------------------------------------------------------------


def test_corpus_sizes() -> None:
    assert len(DANGEROUS) >= 170 and len(set(DANGEROUS)) == len(DANGEROUS)
    assert len(BENIGN) >= 110 and len(set(BENIGN)) == len(BENIGN)
    assert all("SENTINEL" not in line for line in BENIGN)
    for line in BENIGN:  # relative paths inside the workspace only
        assert all(not w.startswith(("/", "~", "..")) or w == "/dev/null" for w in line.split())


@pytest.mark.parametrize("line", DANGEROUS)
def test_dangerous_lines_are_never_auto_allowed(line: str) -> None:
    analysis = analyse(line)
    assert not auto_allowable(analysis)
    assert not auto_allowable(analysis, NARROW_RULES)


@pytest.mark.parametrize("line", BENIGN)
def test_benign_lines_run_without_asking(line: str) -> None:
    analysis = analyse(line)
    assert analysis.fully_resolved, analysis.problems
    for cmd in analysis.commands:
        assert not any(r.writes for r in cmd.redirects), cmd
        assert read_only_reason(cmd) is None, (cmd.argv, read_only_reason(cmd))


@pytest.mark.benchmark
def test_analysis_time_over_the_corpus() -> None:
    lines = DANGEROUS + BENIGN
    analyse("ls")  # load the grammar first
    samples = []
    for line in lines * 3:
        started = time.perf_counter()
        for cmd in analyse(line).commands:
            read_only_reason(cmd)
        samples.append(time.perf_counter() - started)
    median_ms = statistics.median(samples) * 1000
    print(f"median analyse()+read_only_reason(): {median_ms:.3f} ms over {len(samples)} lines")
    assert median_ms <= 5


# -- environment -------------------------------------------------------------------------------


def test_env_prefixes() -> None:
    assert reason("LC_ALL=C sort x") is None
    assert reason("TZ=UTC date") is None
    assert reason("GIT_PAGER=cat git log") is None
    assert reason("FOO=1 ls") == "FOO=… is set for the command"
    assert reason("PAGER=less git log") == "PAGER=less runs another program"


def test_bare_assignments() -> None:
    assert read_only_reason(SimpleCommand((), (("x", "1"),), (), "x=1")) is None
    assert read_only_reason(SimpleCommand((), (("X", "1"),), (), "X=1")) is not None
    assert read_only_reason(SimpleCommand((), (("path", "1"),), (), "path=1")) is None


# -- flag forms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sed -n '1,20p' x", None),
        ("sed -ni p x", "sed -i edits files in place"),
        ("sed -in p x", "sed -i edits files in place"),
        ("sed -i.bak p x", "sed -i edits files in place"),
        ("sed -E -i p x", "sed -i edits files in place"),
        ("sed --in-place p x", "sed -i edits files in place"),
        ("sed --in p x", "sed -i edits files in place"),
        ("sed --in-place=.bak p x", "sed -i edits files in place"),
        ("sort -ro out x", "sort -o writes its output to a file"),
        ("sort -oout x", "sort -o writes its output to a file"),
        ("sort --out=x y", "sort -o writes its output to a file"),
        ("sort --o x", "sort -o writes its output to a file"),
        ("sort -k2 -t: x", None),
        ("sort -t o x", None),
        ("grep -rnP x .", "grep -P is not auto-allowed (Perl regular expressions)"),
        ("grep --perl x", "grep -P is not auto-allowed (Perl regular expressions)"),
        ("grep -e -P x", None),
        ("rg --pr=x y", "rg --pre runs a program on every file it searches"),
        ("rg -uz x", "rg -z runs decompression programs"),
        ("rg -e-z x", None),
        ("rg x --pre=y", "rg --pre runs a program on every file it searches"),
        ("git log --outp=x", "git --output writes to a file"),
        ("git log --ext", "git --ext-diff runs an external diff program"),
    ],
)
def test_combined_flags_attached_values_and_long_prefixes(line: str, expected: str | None) -> None:
    assert reason(line) == expected


@pytest.mark.parametrize(
    "line",
    ["rg -- --pre=x file", "sort -- -o", "git log -- --output=x", "grep -- -P x", "sed -n -- p -i"],
)
def test_double_dash_ends_options(line: str) -> None:
    assert reason(line) is None


def test_words_only_known_at_run_time() -> None:
    assert reason('echo "$f" $(pwd)') is None  # echo reads no file
    assert reason('grep -n "$pattern" src') is None  # grep's options cannot do harm
    assert reason("wc -l src/*.py *.md") is None  # a glob's fixed part can be checked
    assert reason('cat "$f"') == "cat reads $f, a path only known when it runs"
    assert reason("grep -n x $f") == "grep reads $f, a path only known when it runs"
    assert reason("cat {/etc/passwd,x}") is not None
    assert reason("cat ~-/x") is not None
    assert reason("cat .*/x") is not None
    assert reason("cat src/../../x*") is not None
    assert reason("diff <(ls a) <(ls b)") is None
    assert reason("ls | xargs wc -l") == "wc reads {}, a path only known when it runs"
    assert reason('sort "$f"') == "sort: the argument $f is only known when it runs"
    assert reason("rg foo *") == "rg: the argument * is only known when it runs"
    assert reason("find $dir -name x") is not None
    assert reason("git log $range") is not None
    assert reason("git status $x") is None


# -- command by command ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("sed 's/a/b/g' x", True),
        ("sed -e 's/a/b/' -e '/x/d' x", True),
        ("sed --expression='1d' x", True),
        ("sed -n '$p' x", True),
        ("sed '/start/,/end/{s/a/b/;p}' x", True),
        ("sed 's|/|\\\\|g' x", True),
        ("sed 'y/abc/xyz/' x", True),
        ("sed '1a\\\nw out' x", True),  # text to append, not a command
        ("sed '1i hello; w x' x", True),
        ("sed -n '/x/r other' x", True),
        ("sed -n 'l 40' x", True),
        ("sed -n '0~3p' x", True),
        ("sed -n '2,+3p' x", True),
        ("sed 's/x/y/3' x", True),
        ("sed 's/a/b/w out' x", False),
        ("sed 's/a/b/gw out' x", False),
        ("sed 's/a/b/e' x", False),
        ("sed '1e id' x", False),
        ("sed -n 'w out' x", False),
        ("sed 'W out' x", False),
        ("sed -e p -e 'w out' x", False),
        ("sed 'b end; w out' x", False),
        ("sed ':a;w out' x", False),
        ("sed 's/[/]/x/w out' x", False),
        ("sed '/[/]/w out' x", False),
        ("sed '\\,x,w out' x", False),
        ("sed 's,a,b,w out' x", False),
        ("sed '/a/{\nw out\n}' x", False),
        ("sed -f script x", False),
        ("sed -s -u -z -E -r --posix --debug -l 5 p x", True),
        ("sed --unknown p x", False),
        ("sed 'q5' x", True),
        ("sed '1!G;h;$!d' x", True),
    ],
)
def test_sed(line: str, ok: bool) -> None:
    assert (reason(line) is None) == ok, reason(line)


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("awk '{print $1}' x", True),
        ("awk -F: -v n=1 'NR==n {print}' x", True),
        ("awk -e '{print}' x", True),
        ("awk 'BEGIN{system(\"id\")}'", False),
        ("awk '{print > \"out\"}' x", False),
        ("awk '{print | \"sh\"}' x", False),
        ("awk '{\"id\" | getline x}'", False),
        ("awk '$1 > 5' x", False),  # refused to be safe: > is also a redirect
        ("awk -f prog.awk x", False),
        ("gawk -i inc '{print}' x", False),
        ("awk -W exec x", False),
        ("awk '@load \"x\"' x", False),
        ('awk "$prog" x', False),
    ],
)
def test_awk(line: str, ok: bool) -> None:
    assert (reason(line) is None) == ok, reason(line)


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("git status --porcelain", True),
        ("git branch", True),
        ("git branch -a -vv", True),
        ("git branch --list 'f*'", True),
        ("git branch -l 'f*'", True),
        ("git branch --contains HEAD", True),
        ("git branch --show-current", True),
        ("git branch new-feature", False),
        ("git branch -d old", False),
        ("git branch -D old", False),
        ("git branch -m a b", False),
        ("git branch -c a b", False),
        ("git branch --set-upstream-to=origin/x", False),
        ("git branch --del x", False),
        ("git tag", True),
        ("git tag -l 'v*'", True),
        ("git tag -n5", True),
        ("git tag v1.0", False),
        ("git tag -d v1.0", False),
        ("git tag -a v1 -m x", False),
        ("git config --get user.name", True),
        ("git config --list --show-origin", True),
        ("git config get user.name", True),
        ("git config user.name", False),
        ("git config user.name alice", False),
        ("git config --unset user.name", False),
        ("git config -e", False),
        ("git remote", True),
        ("git remote -v", True),
        ("git remote show origin", True),
        ("git remote get-url origin", True),
        ("git remote add x y", False),
        ("git remote set-url x y", False),
        ("git stash list", True),
        ("git stash show -p", True),
        ("git stash", False),
        ("git stash pop", False),
        ("git reflog", True),
        ("git reflog show main", True),
        ("git reflog expire --all", False),
        ("git worktree list", True),
        ("git worktree add x", False),
        ("git grep -n x", True),
        ("git grep -O x", False),
        ("git grep -nO x", False),
        ("git --no-pager -C src log -3", True),
        ("git --version", True),
        ("git version", True),
        ("git help log", False),
        ("git log --help", False),
        ("git -c x=y log", False),
        ("git checkout main", False),
        ("git fetch", False),
        ("git ls-remote origin", False),
        ("git difftool", False),
        ("git diff --no-ext-diff", True),
    ],
)
def test_git(line: str, ok: bool) -> None:
    assert (reason(line) is None) == ok, reason(line)


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("find . -name '*.py' -type f", True),
        ("find -L src -maxdepth 2 -print0", True),
        ("find . \\( -name a -o -name b \\) -print", True),
        ("find . ! -path './.git/*'", True),
        ("find . -newermt 2024-01-01", True),
        ("find . -newerct ref", True),
        ("find . -newer ref", True),
        ("find . -exec ls {} \\;", False),
        ("find . -execdir ls {} +", False),
        ("find . -ok ls \\;", False),
        ("find . -delete", False),
        ("find . -fprint out", False),
        ("find . -fprint0 out", False),
        ("find . -fprintf out %p", False),
        ("find . -fls out", False),
        ("find . -frobnicate", False),
    ],
)
def test_find(line: str, ok: bool) -> None:
    find = analyse(line).commands[0]  # not the command -exec runs
    assert (read_only_reason(find) is None) == ok, read_only_reason(find)


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("xxd x", True),
        ("xxd -l 16 -c 8 x", True),
        ("xxd x out", False),
        ("xxd -r x out", False),
        ("xxd -ps x out", False),
        ("uniq -c x", True),
        ("uniq -f 1 x", True),
        ("uniq x out", False),
        ("date", True),
        ("date -u +%s", True),
        ("date -d yesterday", True),
        ("date 0101", False),
        ("date -s now", False),
        ("date --set=now", False),
        ("hostname", True),
        ("hostname -f", True),
        ("hostname evil", False),
        ("hostname -F file", False),
        ("printf '%s\\n' a", True),
        ("printf -v var x", False),
        ("tree -L 2 -a", True),
        ("tree -o out", False),
        ("tree -H . -R", False),
        ("file -b x", True),
        ("file -C -m m", False),
        ("sort -u x", True),
        ("sort --compress-program=gzip x", False),
        ("sort -T /tmp x", False),
        ("rg --search-zip x", False),
        ("rg --hostname-bin=x y", False),
        ("rg --pre-glob=x y", False),
        ("rg -n x src", True),
        ("rg -L x", False),
        ("rg --follow x", False),
        ("grep -R x .", False),
        ("grep -rn x .", True),
        ("jq -r .a x.json", True),
        ("set -euo pipefail", True),
        ("set -x", True),
        ("set -o vi", False),
        ("set -k", False),
        ("set -o", True),
        ("read -r line", True),
        ("read -r -a parts", True),
        ("read -r PATH", False),
        ("read -a IFS", False),
        ("read 'a[$(id)]'", False),
        ("cd src", True),
        ("cd", True),
        ("cd -", False),
        ("popd", False),
        ("pushd src", True),
        ("python3 --version", True),
        ("python3.12 -V", True),
        ("node -v", True),
        ("python3 -v", False),
        ("python3 x.py", False),
        ("go version", False),
        ("pytest --version", False),
        ("less x", False),
        ("more x", False),
        ("man ls", False),
        ("top", False),
        ("vim x", False),
        ("/bin/ls", False),
        ("./ls", False),
        ("tee x", False),
        ("echo -e 'a\\tb'", True),
        ("[ -f x ]", True),
        ("test -d x", True),
    ],
)
def test_other_commands(line: str, ok: bool) -> None:
    assert (reason(line) is None) == ok, reason(line)


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("timeout 5 ls", True),
        ("nice -n 5 ls", True),
        ("time -p ls", True),
        ("env", True),
        ("env -u X ls", True),
        ("env -i ls", True),
        ("env FOO=1 ls", False),
        ("stdbuf -oL ls", True),
        ("xargs -0 -n1 wc -l", True),
        ("command -v git", True),
        ("command ls", True),
        ("nohup ls", False),
        ("sudo ls", False),
        ("setsid ls", False),
        ("ionice ls", False),
        ("exec ls", False),
        ("timeout --bogus 5 ls", False),
    ],
)
def test_wrappers_are_judged_on_their_own_options(line: str, ok: bool) -> None:
    wrapper = analyse(line).commands[0]
    assert (read_only_reason(wrapper) is None) == ok, read_only_reason(wrapper)


def test_input_redirects_are_reads() -> None:
    assert reason('wc -l < "$f"') == "it reads a file named only when it runs"
    assert reason("wc -l < notes.txt") is None
    assert reason("cat <&0") is None


def test_a_command_not_on_the_list() -> None:
    assert reason("touch x") == "not on the read-only list"
    assert reason("git commit -m x") == "git commit is not on the read-only list"


# -- path arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ls -la src tests", ["src", "tests"]),
        ("cat -- -weird", ["-weird"]),
        ("head -n 5 x.py", ["5", "x.py"]),  # erring towards more
        ("rg -n pattern src lib", ["src", "lib"]),
        ("rg --file pats.txt src", ["pats.txt", "src"]),
        ("rg -f pats.txt src", ["pats.txt", "src"]),
        ("rg --files src", ["src"]),
        ("grep -f pats.txt -r . ", ["pats.txt", "."]),
        ("grep -e a -e b file", ["file"]),
        ("git -C sub log", ["sub"]),
        ("git --git-dir=../x/.git status", ["../x/.git"]),
        ("git diff HEAD -- src", ["HEAD", "src"]),
        ("git blame --contents tmp.txt f", ["tmp.txt", "f"]),
        ("git status", []),
        ("find src lib -newer ref -name x", ["src", "lib", "ref"]),
        ("find -name x", ["."]),
        ("sed -n p a b", ["a", "b"]),
        ("sed -n '1r /etc/passwd' a", ["a", "/etc/passwd"]),
        ("awk '{print}' n=1 a", ["a"]),
        ("jq . a.json", ["a.json"]),
        ("jq -f prog.jq a.json", ["prog.jq", "a.json"]),
        ("jq --rawfile v secret.txt . a.json", ["secret.txt", "a.json"]),
        ("wc --files0-from=list", ["list"]),
        ("sort --files0-from=list", ["list"]),
        ("du -X excl .", ["excl", "."]),
        ("cd ../elsewhere", ["../elsewhere"]),
        ("cd", ["~"]),
        ("echo /etc/passwd", []),
        ("date -r /etc/passwd", ["/etc/passwd"]),
        ('cat "$f" src/*.py', ["$f", "src/*.py"]),
        ("xargs -a list wc", ["list"]),
        ("wc -l < /etc/passwd", ["/etc/passwd"]),
        ("while read -r l; do echo $l; done < notes.txt", ["notes.txt"]),
        ("grep x <<< 'text'", []),
    ],
)
def test_path_arguments(line: str, expected: list[str]) -> None:
    cmd = analyse(line).commands[0]
    assert path_arguments(cmd) == expected


# -- sed against GNU sed's own sandbox ---------------------------------------------------------

_SED_PIECES = [
    "p",
    "d",
    "w out",
    "W out",
    "e id",
    "1e id",
    "s/a/b/",
    "s/a/b/w out",
    "s/a/b/e",
    "s/a/b/gpw out",
    "s/[/]/x/",
    "s/[/]/x/w out",
    "/[/]/w out",
    "s,a,b,",
    "s,a,b,w out",
    "y/ab/cd/",
    "a text; w out",
    "i\\\nw out",
    "c\\",
    "b l",
    "b l; w out",
    ": l",
    ":l;w out",
    "r in",
    "R in",
    "/x/!d",
    "$!N",
    "{",
    "}",
    "#c",
    "s/a\\/w/b/",
    "s/\\(a\\)/\\1w/",
    "l 5",
    "q",
    "=",
    "n;w out",
    "2,/x/p",
    "\\%x%w out",
    "s/[[:alpha:]/]/x/w out",
    "s/[]/]/x/w out",
    "s/a/[/w out",
    "v",
    "F",
    "z",
    "s/x/y/I",
    "s/x/y/Mw out",
    "0~2w out",
    "$w out",
]


@pytest.mark.skipif(shutil.which("sed") is None, reason="sed is not installed")
def test_sed_reader_agrees_with_gnu_sed_sandbox(tmp_path: object) -> None:
    version = subprocess.run(["sed", "--version"], capture_output=True, text=True)
    if "GNU" not in version.stdout:
        pytest.skip("needs GNU sed for --sandbox")
    rng = random.Random(4)
    scripts = [*_SED_PIECES]
    for _ in range(300):
        pieces = rng.sample(_SED_PIECES, rng.randint(2, 4))
        scripts.append("".join(p + rng.choice([";", "\n", " ; "]) for p in pieces))
    for script in scripts:
        run = subprocess.run(
            ["sed", "--sandbox", "-n", "-e", script],
            input="",
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
        )
        refused_by_sandbox = "disabled in sandbox mode" in run.stderr
        why, reads = sed_script_reason(script)
        if refused_by_sandbox and why is None:
            assert reads, f"GNU sed sees e/w in {script!r}, coda does not"
