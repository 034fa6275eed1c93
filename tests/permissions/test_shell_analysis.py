"""analyse(): every command a Bash line runs, its redirects, and why it may never be allowed."""

from __future__ import annotations

import random
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coda.permissions.shell_analysis import Redirect, ShellAnalysis, SimpleCommand, analyse, unwrap


def argvs(analysis: ShellAnalysis) -> list[tuple[str, ...]]:
    return [c.argv for c in analysis.commands]


def only(analysis: ShellAnalysis) -> SimpleCommand:
    assert len(analysis.commands) == 1, analysis.commands
    return analysis.commands[0]


def problem(command: str) -> str:
    problems = analyse(command).problems
    assert problems, f"expected a problem for {command!r}"
    return " | ".join(problems)


# -- lists, pipelines, substitutions -----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "ls && touch x",
        "ls; touch x",
        "ls || touch x",
        "ls | touch x",
        "ls |& touch x",
        "ls & touch x",
        "ls\ntouch x",
        "! ls && touch x",
    ],
)
def test_every_part_of_a_list_or_pipeline_is_listed(line: str) -> None:
    analysis = analyse(line)
    assert analysis.fully_resolved
    assert argvs(analysis) == [("ls",), ("touch", "x")]


def test_substitutions_are_listed_but_are_not_problems() -> None:
    analysis = analyse('echo $(pwd) `id` <(cat a) >(wc -l) "$(date)"')
    assert analysis.fully_resolved
    assert sorted(argvs(analysis)) == sorted(
        [
            ("pwd",),
            ("id",),
            ("cat", "a"),
            ("wc", "-l"),
            ("date",),
            ("echo", "$(pwd)", "`id`", "<(cat a)", ">(wc -l)", "$(date)"),
        ]
    )
    echo = analysis.commands[-1]
    assert echo.dynamic == (1, 2, 3, 4, 5)


def test_nested_substitutions_are_all_listed() -> None:
    analysis = analyse("echo $(echo $(echo `touch deep`))")
    assert ("touch", "deep") in argvs(analysis)
    assert len(analysis.commands) == 4


def test_substitutions_hidden_in_expansions_and_arithmetic() -> None:
    for line in (
        "echo ${x:-$(touch a)}",
        "echo $((1 + $(touch a)))",
        "a[$(touch a)]=1",
        "cat <<< $(touch a)",
        "[[ -n $(touch a) ]]",
        "case $(touch a) in *) ;; esac",
        "for f in $(touch a); do :; done",
        "x=$(touch a) ls",
    ):
        assert ("touch", "a") in argvs(analyse(line)), line


def test_heredoc_body_runs_substitutions_unless_the_delimiter_is_quoted() -> None:
    assert ("touch", "a") in argvs(analyse("cat <<EOF\n$(touch a)\nEOF"))
    quoted = analyse("cat <<'EOF'\n$(touch a)\nEOF")
    assert argvs(quoted) == [("cat",)]
    assert quoted.fully_resolved


def test_subshells_groups_and_control_flow_bodies() -> None:
    line = (
        "(cd src && ls); { pwd; }; if true; then a; elif b; then c; else d; fi; "
        "while e; do f; done; until g; do h; done; for x in 1; do i; done; "
        "for ((n=0; n<2; n++)); do j; done; case y in y) k;; esac"
    )
    names = [c.argv[0] for c in analyse(line).commands if c.argv]  # n=0 is an assignment
    assert names == [
        "cd",
        "ls",
        "pwd",
        "true",
        "a",
        "b",
        "c",
        "d",
        "e",
        "f",
        "g",
        "h",
        "i",
        "j",
        "k",
    ]


def test_function_bodies_are_listed_and_the_definition_is_a_problem() -> None:
    analysis = analyse("ls(){ touch x; }; ls")
    assert ("touch", "x") in argvs(analysis)
    assert "function ls" in " ".join(analysis.problems)


# -- quoting and words -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["l's' x", '"ls" x', "\\ls x", "$'\\x6cs' x", "$'\\154s' x", "l\\s x", "'l'\"s\" x"],
)
def test_quote_removal_gives_the_real_command_name(line: str) -> None:
    assert only(analyse(line)).argv == ("ls", "x")


def test_static_words_are_not_dynamic_but_globs_braces_and_variables_are() -> None:
    cmd = only(analyse("echo '*.py' \"$HOME\" *.py {a,b} x{1..3} [ab] a\\*b '{a,b}' ~/x {}"))
    assert cmd.argv == (
        "echo",
        "*.py",
        "$HOME",
        "*.py",
        "{a,b}",
        "x{1..3}",
        "[ab]",
        "a*b",
        "{a,b}",
        "~/x",
        "{}",
    )
    assert cmd.dynamic == (2, 3, 4, 5, 6)


def test_double_quoted_escapes_and_line_continuations_inside_quotes() -> None:
    cmd = only(analyse('echo "a\\"b \\$x c\\\nd"'))
    assert cmd.argv == ("echo", 'a"b $x cd')
    assert cmd.dynamic == ()


def test_text_of_each_command_is_its_source() -> None:
    analysis = analyse("ls -la  src && git   status")
    assert [c.text for c in analysis.commands] == ["ls -la  src", "git   status"]


# -- redirects ---------------------------------------------------------------------------------


def test_redirect_ops_targets_and_writes() -> None:
    cmd = only(analyse("ls > out 2>&1 >> app 2> err &> both >| clob < in 3> three >&2 >/dev/null"))
    assert cmd.redirects == (
        Redirect(">", "out", True),
        Redirect("2>&", "1", False),
        Redirect(">>", "app", True),
        Redirect("2>", "err", True),
        Redirect("&>", "both", True),
        Redirect(">|", "clob", True),
        Redirect("<", "in", False),
        Redirect("3>", "three", True),
        Redirect(">&", "2", False),
        Redirect(">", "/dev/null", False),
    )


def test_dynamic_redirect_target_is_none_and_counts_as_a_write() -> None:
    assert only(analyse('ls > "$F"')).redirects == (Redirect(">", None, True),)
    assert only(analyse("echo x >& file")).redirects == (Redirect(">&", "file", True),)


def test_heredoc_and_herestring_do_not_write() -> None:
    cmd = only(analyse("cat <<'EOF' > out\nbody\nEOF"))
    assert cmd.redirects == (Redirect("<<", "EOF", False), Redirect(">", "out", True))
    assert only(analyse("grep x <<< 'text'")).redirects == (Redirect("<<<", "text", False),)


def test_a_redirect_on_a_group_or_loop_reaches_every_command_inside() -> None:
    for line in ("{ ls; pwd; } > out", "(ls; pwd) > out", "for f in a; do ls; pwd; done > out"):
        analysis = analyse(line)
        assert [c.redirects for c in analysis.commands] == [(Redirect(">", "out", True),)] * 2


def test_redirect_alone_is_a_command_that_writes() -> None:
    cmd = only(analyse("> out"))
    assert cmd.argv == () and cmd.redirects == (Redirect(">", "out", True),)


# -- environment and assignments ---------------------------------------------------------------


def test_env_prefix_is_captured() -> None:
    cmd = only(analyse("LC_ALL=C FOO='a b' sort x"))
    assert cmd.env == (("LC_ALL", "C"), ("FOO", "a b"))
    assert cmd.argv == ("sort", "x")


@pytest.mark.parametrize(
    "line",
    [
        "PAGER='touch x' git log",
        "GIT_PAGER=evil git log",
        "LD_PRELOAD=./x.so ls",
        "GIT_EXTERNAL_DIFF=evil git diff",
        "EDITOR=evil git commit",
        "PATH=.:$PATH ls",
        "env PAGER=evil git log",
        "sudo LD_PRELOAD=x ls",
        "RIPGREP_CONFIG_PATH=x rg a",
    ],
)
def test_env_that_changes_what_runs_is_a_problem(line: str) -> None:
    assert "can change what the command runs" in problem(line)


def test_pager_set_to_cat_and_ifs_for_one_command_are_not_problems() -> None:
    assert analyse("GIT_PAGER=cat git log").fully_resolved
    assert analyse("while IFS= read -r line; do echo $line; done < f").fully_resolved
    assert not analyse("IFS=,; echo $x").fully_resolved


def test_bare_assignments_are_commands_with_env_only() -> None:
    analysis = analyse("x=1; echo $x")
    assert analysis.commands[0] == SimpleCommand((), (("x", "1"),), (), "x=1")
    assert analysis.fully_resolved


@pytest.mark.parametrize(
    "line",
    [
        "IFS=,",
        "PATH=/tmp",
        "export PAGER=evil",
        "PROMPT_COMMAND=x",
        "declare -x BASH_ENV=x",
        "x='$(touch a)'",
        "for IFS in a; do :; done",
        "((PATH=1))",
    ],
)
def test_assignments_that_change_later_commands_are_problems(line: str) -> None:
    problem(line)


# -- wrappers ----------------------------------------------------------------------------------


def test_wrappers_are_listed_then_the_command_they_run() -> None:
    analysis = analyse("timeout -s KILL 5 nice -n 3 env A=1 stdbuf -o0 nohup git log")
    assert [(c.argv[0], c.wrapper) for c in analysis.commands] == [
        ("timeout", None),
        ("nice", "timeout"),
        ("env", "nice"),
        ("stdbuf", "env"),
        ("nohup", "stdbuf"),
        ("git", "nohup"),
    ]
    inner = analysis.commands[-1]
    assert inner.argv == ("git", "log") and inner.env == (("A", "1"),)
    assert inner.text == "git log"


def test_redirects_stay_on_the_wrapper() -> None:
    analysis = analyse("timeout 5 ls > out")
    assert analysis.commands[0].redirects == (Redirect(">", "out", True),)
    assert analysis.commands[1].redirects == ()


def test_wrappers_without_a_command() -> None:
    assert argvs(analyse("env")) == [("env",)]
    assert argvs(analyse("command -v git")) == [("command", "-v", "git")]
    assert argvs(analyse("nice")) == [("nice",)]


def test_time_and_command_and_sudo_unwrap() -> None:
    for line, wrapper in (
        ("time ls", "time"),
        ("command ls", "command"),
        ("sudo -u x ls", "sudo"),
        ("busybox ls", "busybox"),
        ("setsid ls", "setsid"),
    ):
        analysis = analyse(line)
        assert analysis.commands[-1].argv == ("ls",), line
        assert analysis.commands[-1].wrapper == wrapper


def test_xargs_inner_command_gets_a_dynamic_placeholder_for_its_input() -> None:
    analysis = analyse("find . -name '*.py' | xargs -0 -n 5 wc -l")
    inner = analysis.commands[-1]
    assert inner.argv == ("wc", "-l", "{}") and inner.wrapper == "xargs"
    assert inner.dynamic == (2,)


def test_xargs_replace_marks_the_words_that_hold_the_input() -> None:
    inner = analyse("xargs -I{} cp {} dest/{}.bak").commands[-1]
    assert inner.argv == ("cp", "{}", "dest/{}.bak") and inner.dynamic == (1, 2)
    assert analyse("xargs").commands[-1].argv == ("echo", "{}")


def test_find_exec_commands_are_extracted() -> None:
    analysis = analyse("find . -name x -exec grep -l foo {} + -o -execdir rm -f {} \\; -print")
    assert [(c.argv, c.wrapper) for c in analysis.commands[1:]] == [
        (("grep", "-l", "foo", "{}"), "find -exec"),
        (("rm", "-f", "{}"), "find -execdir"),
    ]
    assert analysis.fully_resolved


@pytest.mark.parametrize(
    "line",
    [
        "find . -exec touch x",  # no terminator
        "find . -exec \\;",
        "find . -exec $CMD {} \\;",
        "xargs $CMD",
        "xargs --bogus ls",
        "timeout --bogus 5 ls",
        "env -S 'touch x'",
        "env --split-string='a b'",
        "sudo -s ls",
        "timeout 5 $CMD",
        "nice $(echo touch) x",
        "watch ls",
        "exec ls",
    ],
)
def test_wrappers_that_cannot_be_read_are_problems(line: str) -> None:
    problem(line)


def test_unwrap_reads_wrapper_options() -> None:
    result = unwrap("timeout", ["-k", "1", "--signal=KILL", "5", "ls", "-la"])
    assert not isinstance(result, str)
    assert result.options == (("-k", "1"), ("--signal", "KILL")) and result.command_index == 4
    env = unwrap("env", ["-u", "X", "A=1", "--", "ls"])
    assert not isinstance(env, str)
    assert env.env == (("A", "1"),) and env.command_index == 4
    assert unwrap("nice", ["-5", "ls"]) == unwrap("nice", ["-n", "5", "ls"]).__class__(
        (("-5", None),), (), 1
    )


# -- cd ----------------------------------------------------------------------------------------


def test_cd_targets_in_order() -> None:
    analysis = analyse('cd src && ls; cd; cd -; cd "$X"; pushd lib; popd; env -C docs ls')
    assert analysis.cd_targets == ("src", "~", None, None, "lib", None, "docs")


# -- problems ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("ls (", "parse"),
        ("echo 'unterminated", "parse"),
        ("eval ls", "eval"),
        ("source x.sh", "source"),
        (". x.sh", "runs a file"),
        ("sh -c 'ls'", "-c"),
        ("bash -lc 'ls'", "-c"),
        ("bash -o errexit -c ls", "-c"),
        ("zsh -c ls", "-c"),
        ("python3 -c 'print(1)'", "-c"),
        ("python3 -Ic 'print(1)'", "-c"),
        ("perl -ne 'print'", "-e"),
        ("ruby -e 1", "-e"),
        ("node --eval 1", "--eval"),
        ("node -p 1", "-p"),
        ("$CMD x", "expansion"),
        ("${X} x", "expansion"),
        ("$(echo ls) x", "expansion"),
        ('"$a"b x', "expansion"),
        ("ls${IFS}x", "IFS"),
        ("echo $IFS", "IFS"),
        ("alias ll='ls -l'", "aliases"),
        ("unalias ll", "aliases"),
        ("trap 'rm x' EXIT", "trap"),
        ("exec bash", "exec"),
        ("builtin cd x", "builtin"),
        ("enable -n echo", "enable"),
        ("hash -p /bin/rm ls", "hash"),
        ("git -c core.pager=x log", "git -c"),
        ("git -ccore.pager=x log", "git -c"),
        ("git --config-env=core.pager=X log", "config-env"),
        ("git --exec-path=/tmp status", "exec-path"),
        ("ls\r", "control character"),
        ("echo $'a\\rb'", "control character"),
        ("ls ；rm x", "FULLWIDTH SEMICOLON"),
        ("l\u0455 x", "non-ASCII"),
        ("ls \u200b", "ZERO WIDTH"),
        ("bash <<EOF\nls\nEOF", "input"),
        ("python3 <<< 'print(1)'", "input"),
        ("echo ls | sh", "input"),
        ("cat x | python3 -", "input"),
        ("python3 - <<EOF\nprint(1)\nEOF", "skipped"),
        ("echo ok; t\\\nouch x", "line continuation"),
        ("set -k", "set -k"),
        ("let 'a[$(id)]'", "let"),
        ("[[ -v 'a[$(id)]' ]]", "subscript"),
        ("echo ${x@P}", "@P"),
        ("f() { :; }", "function"),
        ("coproc ls", "coproc"),
        ("mapfile -C cb x", "callback"),
        ("echo ${PATH:=/tmp}", "assigns PATH"),
        ("declare -n ref=PATH", "name reference"),
        ("select PATH in a; do :; done", "PATH"),
        ("time { touch x; }", "keyword"),
        ("echo ${x:-`touch b`}", "cannot see"),
        ("cat <<-EOF\n\t$(touch b)\n\tEOF", "cannot see"),
        ('cat <<E"O"F\nx\nEOF\ntouch y\nE"O"F', "heredoc ends"),
        ("echo `echo \\`touch x\\``", "backticks"),
        ("__coda_state=x", "__coda_state"),
    ],
)
def test_problems(line: str, why: str) -> None:
    assert why in problem(line)


@pytest.mark.parametrize(
    "line",
    [
        "git -C src status",
        "python3 script.py -c config",
        "python3 -m json.tool < x.json",
        "echo x | python3 -m json.tool",
        "bash script.sh",
        "ls -la \\\n  src",
        "echo 'a\\\nb'",
        "cat <<'EOF' | grep x\nx\nEOF",
        "echo $(pwd)",
        "(ls)",
        "diff <(ls a) <(ls b)",
        "echo 日本語 café",
        "grep 'x[$]' f",
    ],
)
def test_not_problems(line: str) -> None:
    assert analyse(line).fully_resolved, analyse(line).problems


def test_empty_and_comment_only_lines() -> None:
    assert analyse("") == ShellAnalysis((), (), ())
    assert analyse("   # just a note").commands == ()


def test_never_raises_on_odd_input() -> None:
    for line in ("\x00", "\udcff", "$(" * 200, "'" * 3, "a" * 100_000, "<<", "}{", ";;;"):
        assert isinstance(analyse(line), ShellAnalysis)


def test_importing_the_module_does_not_load_tree_sitter() -> None:
    code = (
        "import sys, coda.permissions.shell_analysis, coda.permissions.readonly;"
        "print('tree_sitter' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- bash itself as the oracle -----------------------------------------------------------------

# Lines where tree-sitter and bash once disagreed, and shapes near them.
TRICKY = [
    "echo ${x:-`touch b`}",
    "echo \"${x-'$(touch b)'}\"",
    "time { touch b; }",
    "! { touch b; }",
    "cat <<-EOF\n\t$(touch b)\n\tEOF",
    "cat <<EOF\n`touch b`\nEOF",
    'cat <<E"O"F\nx\nEOF\ntouch b\nE"O"F',
    "echo `echo \\`touch b\\``",
    "echo `echo \\$(touch b)`",
    "python3 - <<EOF\nx\nEOF\ntouch b",
    "echo ok; t\\\nouch b",
    "echo \"${v-'$(( touch b )\n; ls)'}\"",
    "echo $[$(touch b)]",
    "echo a#$(touch b)",
    "echo a\\ #$(touch b)",
    "ls a#$(touch b)",
    "$(: ) touch b",
    "echo $(case a in a) touch b;; esac)",
    "echo ${x[$(touch b)]}",
    "for ((i=$(touch b); i<1; i++)); do :; done",
    "cat <<EOF\n${x:-$(touch b)}\nEOF",
    "cat <<EOF && touch b\nx\nEOF",
    "cat <<EOF\nEOF \nEOF\ntouch b",
    "cat <<EOF\n EOF\nEOF\ntouch b",
    "cat <<EOF\n$(echo x)\nEOF # $(touch b)",
]


def _random_lines(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    atoms = ["touch b", "ls", "echo x", "cat f", "t'ouch' b", "\\touch b", '"touch" b', "pwd"]

    def gen(depth: int) -> str:
        if depth > 3 or rng.random() < 0.3:
            return rng.choice(atoms)
        x, y = gen(depth + 1), gen(depth + 1)
        return rng.choice(
            [
                f"echo $( {x} )",
                f"echo `{x}`",
                f'echo "$({x})"',
                f"cat <({x})",
                f"{{ {x}; }}",
                f"( {x} )",
                f"echo ${{v:-$({x})}}",
                f'echo "${{v:-$({x})}}"',
                f"echo $((1+$({x})))",
                f"[[ -n $({x}) ]]",
                f"if {x}; then {y}; fi",
                f"{x} && {y}",
                f"{x} | {y}",
                f"{x}; {y}",
                f"time {x}",
                f"! {x}",
                f"timeout 1 {x}",
                f"env {x}",
                f"{x} 2>&1",
                f"cat <<EOF\n$({x})\nEOF",
                f"case a in a) {x};; esac",
                f"for i in 1; do {x}; done",
                f"{x} &\n{y}",
                f"x=$({x}) {y}",
                f"echo ${{v:+`{x}`}}",
                f'echo "`{x}`"',
                f"nice {x}",
                f"echo a#$({x})",
                f"{x} # $({y})",
                f"{x}\\\n; {y}",
                f"cat <<< $({x})",
                f"{x} || {y}",
                f"echo {{a,$({x})}}",
                f"command {x}",
                f"echo $[$({x})]",
                f"cat <<'EOF'\n$({x})\nEOF\n{y}",
                f"cat <<-EOF\n\t$({x})\n\tEOF",
                f"echo \"${{v-'$({x})'}}\"",
            ]
        )

    return [gen(0) for _ in range(count)]


def _bash_runs(line: str, root: Path) -> list[str] | None:
    """The command names bash runs for `line`, read from its xtrace, run with an empty PATH."""
    empty, work, trace = root / "empty", root / "work", root / "trace"
    empty.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    script = (
        f"exec 3>{shlex.quote(str(trace))}; BASH_XTRACEFD=3; PS4=$'\\001 '; set -x\n"
        + line.replace("SENTINEL", str(root / "SENTINEL"))
    )
    env = {"PATH": str(empty), "HOME": str(root), "LANG": "C.UTF-8"}
    try:
        subprocess.run(
            [shutil.which("bash") or "bash", "-c", script],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=5,
        )
    except subprocess.TimeoutExpired:
        return None
    names = []
    for raw in trace.read_text(errors="replace").split("\n"):
        entry = raw.lstrip("\x01")
        if entry == raw or not entry.startswith(" "):
            continue  # not a trace line, or the rest of a multi-line one
        words = entry[1:].split()
        while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", words[0]):
            words = words[1:]
        if words and re.fullmatch(r"[A-Za-z_/.][\w./-]*", words[0]):
            names.append(words[0])
    return names


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_runs_nothing_the_analysis_misses(tmp_path: Path) -> None:
    from tests.permissions.corpus import BENIGN, DANGEROUS

    checked = 0
    for n, line in enumerate(DANGEROUS + BENIGN + TRICKY + _random_lines(7, 150)):
        analysis = analyse(line)
        if analysis.problems:
            continue  # never auto-allowed: what bash would run does not matter
        root = tmp_path / str(n)
        root.mkdir()
        ran = _bash_runs(line, root)
        if ran is None:
            continue
        listed = {c.argv[0] for c in analysis.commands if c.argv}
        missing = [
            name
            for name in ran
            if name not in listed and name not in ("[[", "((", "for", "case", "select")
        ]
        assert not missing, f"bash ran {missing} for {line!r}; coda listed {sorted(listed)}"
        checked += 1
    assert checked > 250


def test_the_policy_api_is_importable_from_one_module() -> None:
    from coda.permissions import readonly, shell_analysis

    cmd = analyse("sort -o out x").commands[0]
    assert shell_analysis.read_only_reason(cmd) == readonly.read_only_reason(cmd)
    assert shell_analysis.path_arguments(cmd) == readonly.path_arguments(cmd) == ["out", "x"]
