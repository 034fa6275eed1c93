"""What a Bash command line will run, read with a real parser, and why it may never be auto-allowed.

`analyse()` parses with tree-sitter-bash and lists every simple command the line can run: the
parts of lists and pipelines, the bodies of if/for/while/case and functions, the commands inside
`$(…)`, backticks, `<(…)` and subshells, and the commands that wrappers (`timeout`, `env`,
`xargs`, `find -exec`, …) run. Anything the parser or this module cannot pin down becomes a
*problem*: a line with problems is never auto-allowed, whatever the rules say.

Wrappers are listed twice, consistently: the wrapper itself (`timeout 5 git log`) and, after
it, the command it runs (`git log`, with `wrapper="timeout"`). Both must be allowed. Redirects
stay on the command that carries them (the wrapper, for `timeout 5 ls > f`).

Words that depend on the run (variables, substitutions, unquoted globs and braces) keep their
source text (`$f`, `src/*.py`) in `argv`, and their indexes are in `SimpleCommand.dynamic`, so
no rule can match them as literals.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Parser


@dataclass(frozen=True, slots=True)
class Redirect:
    op: str  # ">", ">>", "<", "&>", ">|", "2>", "2>&", "<<", "<<<", ...
    # The target word after quote removal; None when it is only known at run time (> "$F").
    # For "<<" it is the heredoc delimiter and for "<<<" the string fed in: not files.
    target: str | None
    # Any output redirect except to /dev/null, /dev/stdout, /dev/stderr and fd duplications.
    writes: bool


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    argv: tuple[str, ...]  # words after quote removal; dynamic words keep their source text
    env: tuple[tuple[str, str], ...]  # NAME=value assignments before the command
    redirects: tuple[Redirect, ...]
    text: str  # the source text of this simple command
    # Set for a command found inside a wrapper: "timeout", "env", "xargs", "find -exec", ...
    wrapper: str | None = None
    # Indexes into argv of words only known at run time. xargs adds a last dynamic word "{}"
    # standing for the words it reads from its input.
    dynamic: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ShellAnalysis:
    # Every simple command, roughly in the order bash runs them: substitutions before the
    # command whose words hold them, a wrapper right before the command it runs.
    commands: tuple[SimpleCommand, ...]
    # Why this line can never be auto-allowed, one short sentence each, for the person.
    problems: tuple[str, ...]
    # cd/pushd/popd/env -C targets in order; None when only known at run time.
    cd_targets: tuple[str | None, ...]

    @property
    def fully_resolved(self) -> bool:
        return not self.problems


def analyse(command: str) -> ShellAnalysis:
    """Parse `command` as Bash and list what it runs; never raises on odd input."""
    walker = _Walker(command)
    try:
        walker.run()
    except RecursionError:
        walker.problems.append("the command is nested too deeply for coda to read")
    return ShellAnalysis(
        commands=tuple(walker.commands),
        problems=tuple(dict.fromkeys(walker.problems)),
        cd_targets=tuple(walker.cd_targets),
    )


def read_only_reason(cmd: SimpleCommand) -> str | None:
    """See `coda.permissions.readonly.read_only_reason` (here too, for one import)."""
    from coda.permissions.readonly import read_only_reason as reason

    return reason(cmd)


def path_arguments(cmd: SimpleCommand) -> list[str]:
    """See `coda.permissions.readonly.path_arguments` (here too, for one import)."""
    from coda.permissions.readonly import path_arguments as paths

    return paths(cmd)


def _parser() -> Parser:
    # A parser per call: parsers hold state, and policy checks may run in threads.
    import tree_sitter

    return tree_sitter.Parser(_language())


@functools.cache
def _language() -> Language:
    # Imported here so that `coda --version` never loads the grammar.
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Language(tree_sitter_bash.language())


# -- words -------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(slots=True)
class _Word:
    value: str
    dynamic: bool
    start: int  # byte offsets into the source
    end: int


_STATEMENTS = _words(
    "command redirected_statement pipeline list subshell compound_statement if_statement "
    "while_statement for_statement c_style_for_statement case_statement function_definition "
    "negated_command declaration_command unset_command test_command variable_assignment "
    "variable_assignments"
)
_CONTAINERS = frozenset({"program", "do_group", "else_clause", "elif_clause", "case_item"})
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})
_SAFE_SINKS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"})
_BRACE = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
_GLOB = re.compile(r"[*?]|\[.*\]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
# Text that bash evaluates again as an array subscript (test -v, arithmetic, unset, declare).
_SUBSCRIPT_CODE = re.compile(r"\[[^\]]*(\$[({]|`)")
_CODE_IN_VALUE = re.compile(r"\$[({]|`")
_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
# Variables that change how the shell itself reads or runs what follows.
_SHELL_VARIABLES = _words(
    "IFS PATH BASH_ENV ENV PS1 PS2 PS3 PS4 PROMPT_COMMAND SHELLOPTS BASHOPTS CDPATH HOME "
    "GLOBIGNORE BASH_XTRACEFD BASH_LOADABLES_PATH EXECIGNORE FUNCNEST BASH_COMPAT "
    "POSIXLY_CORRECT"
)
# Variables that make ordinary programs run other programs or load code.
_PROGRAM_VARIABLES = _words(
    "PAGER MANPAGER GIT_PAGER SYSTEMD_PAGER EDITOR VISUAL GIT_EDITOR GIT_SEQUENCE_EDITOR "
    "GIT_EXTERNAL_DIFF GIT_SSH GIT_SSH_COMMAND GIT_ASKPASS SSH_ASKPASS GIT_EXEC_PATH GIT_DIR "
    "GIT_WORK_TREE GIT_TEMPLATE_DIR GIT_PROXY_COMMAND GIT_CONFIG GIT_CONFIG_GLOBAL "
    "GIT_CONFIG_SYSTEM GIT_CONFIG_COUNT GIT_CONFIG_PARAMETERS LESSOPEN LESSCLOSE LESSKEYIN "
    "RIPGREP_CONFIG_PATH PYTHONSTARTUP PYTHONPATH PYTHONHOME NODE_OPTIONS NODE_PATH PERL5OPT "
    "PERL5LIB PERLLIB RUBYOPT RUBYLIB JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS "
    "BROWSER TERMINFO MAKEFLAGS SHELL"
)
_PROGRAM_VARIABLE_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")


_PAGERS = frozenset({"PAGER", "MANPAGER", "GIT_PAGER", "SYSTEMD_PAGER"})


def dangerous_assignment(name: str, value: str) -> bool:
    """True when NAME=value can change what the shell or the command runs (PAGER=cat cannot)."""
    if name in _PAGERS and value in ("cat", ""):
        return False
    return dangerous_variable(name)


def dangerous_variable(name: str) -> bool:
    """True when setting `name` can change what the shell or the command runs."""
    return (
        name.startswith("__coda")  # the shell tool's own variables (its state file, ...)
        or name in _SHELL_VARIABLES
        or name in _PROGRAM_VARIABLES
        or name.startswith(_PROGRAM_VARIABLE_PREFIXES)
    )


def _control_characters(text: str) -> str | None:
    for ch in text:
        if ch not in "\n\t" and unicodedata.category(ch) == "Cc":
            return f"U+{ord(ch):04X}"
    return None


def _lookalike(text: str) -> str | None:
    """A character that can pass for shell syntax or hide text, if `text` has one."""
    for ch in text:
        code = ord(ch)
        if code < 0x80:
            continue
        if (
            0xFF01 <= code <= 0xFF5E  # fullwidth ASCII: ； ｜ ＆ ＞
            or 0xFE50 <= code <= 0xFE6B  # small forms: ﹔ ﹠
            or code in (0x037E, 0x00A0, 0x3000, 0x2028, 0x2029, 0x2044, 0x2215, 0x2024)
            or 0x2000 <= code <= 0x200F  # odd spaces, zero-width and direction marks
            or 0x202A <= code <= 0x202E
            or 0x2060 <= code <= 0x2069
            or code == 0xFEFF
        ):
            return f"U+{code:04X} ({unicodedata.name(ch, 'unnamed')})"
    return None


# -- wrappers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrapperGrammar:
    """How a command that runs another command reads its own options."""

    flags: frozenset[str] = frozenset()  # options without a value
    valued: frozenset[str] = frozenset()  # options that take a value
    optional: frozenset[str] = frozenset()  # options whose value must be attached (-i{})
    operands: int = 0  # words between the options and the command (timeout's DURATION)
    assignments: bool = False  # NAME=value words before the command (env, sudo)
    numeric: bool = False  # -5 style options (nice)
    shell: frozenset[str] = frozenset()  # options that hand the command to a shell
    query: frozenset[str] = frozenset()  # options after which the words are not run (command -v)


def _g(
    flags: str = "",
    valued: str = "",
    optional: str = "",
    *,
    shell: str = "",
    query: str = "",
    operands: int = 0,
    assignments: bool = False,
    numeric: bool = False,
) -> WrapperGrammar:
    return WrapperGrammar(
        _words(flags),
        _words(valued),
        _words(optional),
        operands=operands,
        assignments=assignments,
        numeric=numeric,
        shell=_words(shell),
        query=_words(query),
    )


WRAPPERS: dict[str, WrapperGrammar] = {
    "timeout": _g(
        "--preserve-status --foreground -v --verbose", "-s --signal -k --kill-after", operands=1
    ),
    "nice": _g("", "-n --adjustment", numeric=True),
    "nohup": _g(),
    "time": _g("-p"),
    "env": _g(
        "- -i --ignore-environment -0 --null -v --debug --list-signal-handling",
        "-u --unset -C --chdir -a --argv0",
        "--block-signal --default-signal --ignore-signal",
        shell="-S --split-string",
        assignments=True,
    ),
    "stdbuf": _g("", "-i -o -e --input --output --error"),
    "ionice": _g("-t --ignore", "-c --class -n --classdata", query="-p --pid -P --pgid -u --uid"),
    "setsid": _g("-c --ctty -f --fork -w --wait"),
    "command": _g("-p", query="-v -V"),
    "exec": _g("-c -l", "-a"),
    "sudo": _g(
        "-A --askpass -b --background -E -H --set-home -k --reset-timestamp -n --non-interactive"
        " -P --preserve-groups -S --stdin -K --remove-timestamp -N --no-update",
        "-u --user -g --group -C --close-from -D --chdir -h --host -p --prompt -r --role"
        " -t --type -T --command-timeout -U --other-user",
        "--preserve-env",
        shell="-s --shell -i --login -e --edit",
        query="-l --list -v --validate -V --version",
        assignments=True,
    ),
    "doas": _g("-n", "-u -C", shell="-s"),
    "xargs": _g(
        "-0 --null -r --no-run-if-empty -t --verbose -p --interactive -x --exit -o --open-tty"
        " --show-limits",
        "-a --arg-file -d --delimiter -E -I -L -n --max-args -P --max-procs -s --max-chars"
        " --process-slot-var",
        "-e --eof -i --replace -l --max-lines",
    ),
    "busybox": _g(),
}


@dataclass(frozen=True, slots=True)
class Unwrapped:
    options: tuple[tuple[str, str | None], ...]  # the wrapper's own options, in order
    env: tuple[tuple[str, str], ...]  # NAME=value words the wrapper sets (env, sudo)
    command_index: int | None  # index into the argument list where the inner command starts


def unwrap(name: str, args: Sequence[str], dynamic: Sequence[bool] = ()) -> Unwrapped | str:
    """Split a wrapper's arguments into its options and the command it runs, or say why not.

    `args` are the words after the wrapper's name; `dynamic[i]` marks words known only at run
    time. Unknown options are refused: a wrapper we cannot read might run anything.
    """
    grammar = WRAPPERS[name]
    options: list[tuple[str, str | None]] = []
    env: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        word = args[i]
        if i < len(dynamic) and dynamic[i]:
            return f"the arguments of {name} are only known when it runs"
        if word == "--":
            i += 1
            break
        if word in grammar.flags:
            options.append((word, None))
            i += 1
            continue
        if word.startswith("--"):
            opt, eq, value = word.partition("=")
            if opt in grammar.shell:
                return f"{name} {opt} runs the command through a shell"
            if opt in grammar.valued:
                if not eq:
                    if i + 1 >= len(args):
                        return f"{name} {opt} needs a value"
                    value = args[i + 1]
                    i += 1
                options.append((opt, value))
            elif opt in grammar.optional or opt in grammar.flags or opt in grammar.query:
                options.append((opt, value if eq else None))
            else:
                return f"{name} has an option coda does not know: {opt}"
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            if grammar.numeric and word[1:].isdigit():
                options.append((word, None))
                i += 1
                continue
            j = 1
            while j < len(word):
                opt = "-" + word[j]
                rest = word[j + 1 :]
                if opt in grammar.shell:
                    return f"{name} {opt} runs the command through a shell"
                if opt in grammar.valued:
                    if not rest:
                        if i + 1 >= len(args):
                            return f"{name} {opt} needs a value"
                        rest = args[i + 1]
                        i += 1
                    options.append((opt, rest))
                    break
                if opt in grammar.optional:
                    options.append((opt, rest or None))
                    break
                if opt in grammar.flags or opt in grammar.query:
                    options.append((opt, None))
                    j += 1
                    continue
                return f"{name} has an option coda does not know: {opt}"
            i += 1
            continue
        if grammar.assignments and _ASSIGNMENT.match(word):
            key, _, value = word.partition("=")
            env.append((key.rstrip("+"), value))
            i += 1
            continue
        break
    if any(opt in grammar.query for opt, _ in options):
        return Unwrapped(tuple(options), tuple(env), None)
    i += grammar.operands
    return Unwrapped(tuple(options), tuple(env), i if i < len(args) else None)


# -- interpreters ------------------------------------------------------------------------------

_SHELLS = _words("sh bash zsh dash ksh mksh ash yash fish csh tcsh rbash pwsh")
_PYTHON = re.compile(r"(python|pypy)(\d+(\.\d+)*)?")


@dataclass(frozen=True, slots=True)
class _Interpreter:
    inline: str  # short options that take code on the command line
    inline_long: frozenset[str] = frozenset()  # long options that do, matched exactly
    takes_value: str = ""  # short options whose value is the rest of the word or the next word
    stdin_flags: str = ""  # short options that make it read code from its input
    permutes: bool = False  # options may follow operands (GNU getopt): read every word


def _i(
    inline: str, long: str = "", takes_value: str = "", stdin: str = "", permutes: bool = False
) -> _Interpreter:
    return _Interpreter(inline, frozenset(long.split()), takes_value, stdin, permutes)


_INTERPRETERS: dict[str, _Interpreter] = {
    "shell": _i("c", "--command", "oO", "s"),
    "python": _i("c", "", "WXm"),
    "perl": _i("eE", "", "MmIxV"),
    "ruby": _i("e", "", "IrECxFK"),
    "node": _i("ep", "--eval --print", "r"),
    "php": _i("rBRE", "", "cdfz"),
    "lua": _i("e", "", "l"),
    "Rscript": _i("e", "--expr"),
    "osascript": _i("e"),
    "expect": _i("c"),
    "su": _i("c", "--command --session-command", "gGsw", permutes=True),
    "script": _i("c", "--command", "IOBTEm", permutes=True),
    "flock": _i("c", "--command", "Ew", permutes=True),
    "gdb": _i(
        "", "-ex --ex -eval-command --eval-command -iex -x --command -batch-silent", permutes=True
    ),
    "vim": _i("c", "--cmd -S", permutes=True),
    "emacs": _i("", "--eval -eval --execute -execute -f --funcall -l --load", permutes=True),
}
_READS_STDIN = frozenset({"shell", "python", "perl", "ruby", "node", "php", "lua", "Rscript"})


def _interpreter_kind(name: str) -> str | None:
    if name in _SHELLS:
        return "shell"
    if _PYTHON.fullmatch(name):
        return "python"
    if name in ("node", "nodejs", "bun", "deno", "tsx", "ts-node"):
        return "node"
    if name in ("lua", "luajit"):
        return "lua"
    if name in ("R", "Rscript"):
        return "Rscript"
    if name in ("runuser",):
        return "su"
    if name in ("nvim", "vi", "ex", "view"):
        return "vim"
    return name if name in _INTERPRETERS else None


def _inline_code(
    name: str, args: Sequence[str], dynamic: Sequence[bool], stdin_code: bool
) -> str | None:
    """Why `name args` runs code written on the command line or fed to its input, if it does.

    Errs towards seeing code: a word that might be an option's value is still read as options
    when it starts with "-", and a word after a long option may be its value.
    """
    kind = _interpreter_kind(name)
    if kind is None:
        return None
    spec = _INTERPRETERS[kind]
    script: str | None = None
    from_stdin = False
    after_long = False
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if dynamic[i - 1]:
            # Until the script is known, a word known only at run time may be an option like -c.
            return f"the arguments of {name} are only known when it runs"
        if word == "--" and not spec.permutes:
            script = args[i] if i < len(args) else None
            break
        if kind == "vim" and word.startswith("+"):
            return f"{name} {word} runs an editor command"
        long_name = word.partition("=")[0]
        if long_name in spec.inline_long:
            return f"{name} {long_name} runs code given on the command line"
        if word.startswith("--") or (spec.permutes and not spec.inline and word.startswith("-")):
            after_long = "=" not in word
            continue
        if word.startswith(("-", "+")) and len(word) > 1:
            for j, letter in enumerate(word[1:], start=1):
                if letter in spec.inline:
                    return f"{name} -{letter} runs code given on the command line"
                if letter in spec.stdin_flags:
                    from_stdin = True
                if letter in spec.takes_value:
                    if kind == "python" and letter == "m":
                        script = "-m"  # runs a module; what follows are its arguments
                    elif j == len(word) - 1 and i < len(args) and not args[i].startswith("-"):
                        i += 1
                    break
            if script is not None:
                break
            after_long = False
            continue
        if after_long or spec.permutes:
            after_long = False
            continue
        script = word
        break
    if name == "deno" and script == "eval":
        return "deno eval runs code given on the command line"
    if stdin_code and kind in _READS_STDIN and (from_stdin or script in (None, "-")):
        return f"{name} reads code from its input"
    return None


# -- the walk ----------------------------------------------------------------------------------


class _Walker:
    def __init__(self, command: str) -> None:
        self.text = command
        self.source = command.encode("utf-8", "surrogatepass")
        self.commands: list[SimpleCommand] = []
        self.problems: list[str] = []
        self.cd_targets: list[str | None] = []

    def slice(self, start: int, end: int) -> str:
        return self.source[start:end].decode("utf-8", "replace")

    def node_text(self, node: Node) -> str:
        return self.slice(node.start_byte, node.end_byte)

    def run(self) -> None:
        self.check_characters()
        if not self.text.strip():
            return
        tree = _parser().parse(self.source)
        root = tree.root_node
        if root.has_error:
            self.problems.append(f"the command does not parse cleanly ({self.first_error(root)})")
        self.check_coverage(root)
        self.container(root, (), False)

    # -- whole-line checks

    def check_characters(self) -> None:
        control = _control_characters(self.text)
        if control:
            self.problems.append(f"the command contains the control character {control}")
        odd = _lookalike(self.text)
        if odd:
            self.problems.append(f"the command contains {odd}, which can pass for shell syntax")
        try:
            self.text.encode("utf-8")
        except UnicodeEncodeError:
            self.problems.append("the command is not valid Unicode text")

    def first_error(self, root: Node) -> str:
        stack = [root]
        while stack:
            node = stack.pop()
            if node.is_error or node.is_missing:
                line = node.start_point[0] + 1
                what = "missing text" if node.is_missing else "parse error"
                return f"{what} at line {line}"
            stack.extend(reversed(node.children))
        return "parse error"

    def check_coverage(self, root: Node) -> None:
        """Refuse lines where the parser silently skipped text (it drops a lone `-` at times)."""
        position = 0
        stack = [root]
        while stack:
            node = stack.pop()
            if node.child_count:
                stack.extend(reversed(node.children))
                continue
            gap = self.source[position : node.start_byte]
            if gap.replace(b"\\\n", b"").strip():
                skipped = gap.strip().decode(errors="replace")
                self.problems.append(f"the parser skipped part of the command ({skipped!r})")
                return
            position = max(position, node.end_byte)
        if self.source[position:].replace(b"\\\n", b"").strip():
            self.problems.append("the parser skipped the end of the command")
        # bash joins `a\<newline>b` into one word; the parser splits it.
        for match in re.finditer(rb"\\\n", self.source):
            before = self.source[match.start() - 1 : match.start()]
            after = self.source[match.end() : match.end() + 1]
            joins = before and after and not before.isspace() and not after.isspace()
            if joins and not self.inside_literal(root, match.start()):
                self.problems.append("a line continuation joins two words")
                return

    def inside_literal(self, root: Node, offset: int) -> bool:
        node = root.descendant_for_byte_range(offset, offset + 1)
        while node is not None:
            if node.type in ("raw_string", "heredoc_body", "comment", "string"):
                return True
            node = node.parent
        return False

    # -- statements

    def container(self, node: Node, redirects: tuple[Redirect, ...], piped: bool) -> None:
        for child in node.named_children:
            if child.type in _STATEMENTS:
                self.statement(child, redirects, piped)
            elif child.type in _CONTAINERS:
                self.container(child, redirects, piped)
            elif child.type in _REDIRECTS:
                # A redirect with no command, as in $(<file): it opens the file all the same.
                alone: list[Redirect] = []
                trailing = self.redirect(child, alone)
                self.commands.append(SimpleCommand((), (), tuple(alone), self.node_text(child)))
                for stmt, stmt_piped in trailing:
                    self.statement(stmt, (), stmt_piped)
            elif child.type != "comment":
                self.scan(child)

    def statement(self, node: Node, redirects: tuple[Redirect, ...], piped: bool) -> None:
        kind = node.type
        if kind == "command":
            self.command(node, redirects, piped)
        elif kind == "redirected_statement":
            self.redirected(node, redirects, piped)
        elif kind == "pipeline":
            first = True
            for child in node.named_children:
                if child.type in _STATEMENTS:
                    self.statement(child, redirects, piped if first else True)
                    first = False
                elif child.type != "comment":
                    self.scan(child)
        elif kind == "function_definition":
            name = node.child_by_field_name("name")
            label = self.node_text(name) if name is not None else "a function"
            self.problems.append(
                f"it defines the function {label}, which can stand in for a command"
            )
            self.container(node, redirects, piped)
        elif kind == "compound_statement" and node.child_count and node.children[0].type == "((":
            self.arithmetic(node)
        elif kind in ("variable_assignment", "variable_assignments"):
            self.assignments(node, redirects)
        elif kind == "declaration_command":
            self.declaration(node, redirects)
        elif kind == "unset_command":
            self.builtin_words(node, redirects)
        elif kind == "test_command":
            self.test(node, redirects)
        elif kind == "for_statement":
            variable = node.child_by_field_name("variable")
            if variable is not None and dangerous_variable(self.node_text(variable)):
                self.problems.append(f"the loop assigns {self.node_text(variable)}")
            for value in node.children_by_field_name("value"):
                word = self.word(value)
                if not word.dynamic and _CODE_IN_VALUE.search(word.value):
                    self.problems.append("a loop value contains shell code that may run later")
            body = node.child_by_field_name("body")
            if body is not None:
                self.container(body, redirects, piped)
        else:  # list, subshell, compound_statement, if, while, c-style for, case, negation
            self.container(node, redirects, piped)

    def redirected(self, node: Node, inherited: tuple[Redirect, ...], piped: bool) -> None:
        redirects: list[Redirect] = []
        trailing: list[tuple[Node, bool]] = []
        for child in node.children_by_field_name("redirect"):
            trailing.extend(self.redirect(child, redirects))
        body = node.child_by_field_name("body")
        all_redirects = (*inherited, *redirects)
        if body is None:  # "> file" alone truncates or creates the file
            self.commands.append(SimpleCommand((), (), all_redirects, self.node_text(node)))
        elif body.type == "command":
            self.command(body, all_redirects, piped)
        elif body.type in _STATEMENTS:
            self.statement(body, all_redirects, piped)
        else:
            self.problems.append(f"coda cannot read a redirected {body.type}")
        for stmt, stmt_piped in trailing:
            self.statement(stmt, (), stmt_piped)

    def redirect(self, node: Node, out: list[Redirect]) -> list[tuple[Node, bool]]:
        """Append the redirect(s) in `node` to `out`; return statements nested after a heredoc."""
        trailing: list[tuple[Node, bool]] = []
        if node.type == "heredoc_redirect":
            op = "<<-" if any(c.type == "<<-" for c in node.children) else "<<"
            delimiter = self.heredoc(node, op)
            out.append(Redirect(op, delimiter, False))
            piped = False
            for child in node.children:
                if child.type in ("|", "|&"):
                    piped = True
                elif child.type in _REDIRECTS:
                    trailing.extend(self.redirect(child, out))
                elif child.type == "heredoc_body":
                    self.scan(child)
                elif child.type in _STATEMENTS:
                    trailing.append((child, piped or child.type == "pipeline"))
            return trailing
        if node.type == "herestring_redirect":
            value = next((c for c in node.named_children), None)
            word = self.word(value) if value is not None else None
            text = word.value if word is not None and not word.dynamic else None
            out.append(Redirect("<<<", text, False))
            return trailing
        out.append(self.file_redirect(node))
        return trailing

    def file_redirect(self, node: Node) -> Redirect:
        descriptor = node.child_by_field_name("descriptor")
        destination = node.child_by_field_name("destination")
        operator = "".join(
            c.type for c in node.children if not c.is_named and c.type not in ("(", ")")
        )
        op = (self.node_text(descriptor) if descriptor is not None else "") + operator
        target: str | None = None
        if destination is not None:
            word = self.word(destination)
            target = None if word.dynamic else word.value
        base = operator.lstrip("0123456789")
        duplicate = (
            base in (">&", "<&") and target is not None and (target.isdigit() or target == "-")
        )
        if base in ("<", "<&", "<&-", ">&-") or duplicate:
            return Redirect(op, target, False)
        return Redirect(op, target, target not in _SAFE_SINKS)

    def heredoc(self, node: Node, op: str) -> str:
        """The delimiter, after checking that the parser ends the heredoc where bash does."""
        parts = {c.type: c for c in node.children}
        raw = self.node_text(parts["heredoc_start"]) if "heredoc_start" in parts else ""
        quoted = any(ch in raw for ch in "'\"\\")
        delimiter = re.sub(r"\\(.)", r"\1", raw).replace("'", "").replace('"', "")
        body_node = parts.get("heredoc_body")
        body = self.node_text(body_node) if body_node is not None else ""
        end_node = parts.get("heredoc_end")
        end = None
        if end_node is not None:
            # The whole line must be the delimiter: bash does not end at "EOF # note".
            line_start = self.source.rfind(b"\n", 0, end_node.start_byte) + 1
            line_end = self.source.find(b"\n", end_node.end_byte)
            end = self.slice(line_start, len(self.source) if line_end < 0 else line_end)
        if not quoted and body_node is not None:
            self.check_hidden(body_node, "the heredoc")

        def strip(line: str) -> str:
            return line.lstrip("\t") if op == "<<-" else line

        if end is not None and (
            strip(end) != delimiter or any(strip(line) == delimiter for line in body.split("\n"))
        ):
            self.problems.append("coda cannot tell where the heredoc ends")
        return delimiter

    def check_hidden(self, node: Node, where: str) -> None:
        """Refuse text holding more command substitutions than the parser found in it."""
        text = self.node_text(node)
        if "$" not in text and "`" not in text:
            return
        found = 0
        stack = list(node.children)
        while stack:
            n = stack.pop()
            found += n.type in ("command_substitution", "arithmetic_expansion")
            stack.extend(n.children)
        if _count_substitutions(text) > found or "$[" in text:
            self.problems.append(f"{where} runs commands that coda cannot see")

    # -- simple commands

    def command(self, node: Node, inherited: tuple[Redirect, ...], piped: bool) -> None:
        env: list[tuple[str, str]] = []
        words: list[_Word] = []
        redirects = list(inherited)
        trailing: list[tuple[Node, bool]] = []
        children = node.children
        i = 0
        while i < len(children):
            child = children[i]
            i += 1
            if child.type == "variable_assignment":
                name, value, _ = self.assignment(child)
                env.append((name, value))
            elif child.type in _REDIRECTS:
                trailing.extend(self.redirect(child, redirects))
            elif child.type == "command_name":
                for part in child.named_children:
                    words.append(self.word(part))
            elif child.type == "$" and i < len(children) and children[i].type == "string":
                # $"…" is a translated string: its text depends on the locale catalogs.
                self.scan(children[i])
                words.append(
                    _Word(
                        self.slice(child.start_byte, children[i].end_byte),
                        True,
                        child.start_byte,
                        children[i].end_byte,
                    )
                )
                i += 1
            elif child.is_named and child.type != "comment":
                words.append(self.word(child))
        for name, value in env:
            # IFS=… before a command only changes how that command splits (while IFS= read).
            if name != "IFS" and dangerous_assignment(name, value):
                self.problems.append(f"{name}=… can change what the command runs")
        stdin_code = (
            piped
            or any(r.op in ("<<", "<<-", "<<<") for r in redirects)
            or any(r.op.endswith("<") and r.target is None for r in redirects)
        )
        if words:
            self.simple(words, tuple(env), tuple(redirects), self.node_text(node), None, stdin_code)
        else:
            self.commands.append(
                SimpleCommand((), tuple(env), tuple(redirects), self.node_text(node))
            )
        for stmt, stmt_piped in trailing:
            self.statement(stmt, (), stmt_piped)

    def simple(
        self,
        words: list[_Word],
        env: tuple[tuple[str, str], ...],
        redirects: tuple[Redirect, ...],
        text: str,
        wrapper: str | None,
        stdin_code: bool,
    ) -> None:
        argv = tuple(w.value for w in words)
        dynamic = tuple(i for i, w in enumerate(words) if w.dynamic)
        self.commands.append(SimpleCommand(argv, env, redirects, text, wrapper, dynamic))
        head = words[0]
        name = head.value
        if head.dynamic:
            self.problems.append(f"the command name comes from an expansion ({name})")
            return
        if not name.isascii():
            self.problems.append(f"the command name {name!r} has non-ASCII characters")
            return
        if name in _RESERVED:
            # tree-sitter reads `time { …; }` and `! { …; }` as commands named "{".
            self.problems.append(f"coda cannot read the shell keyword {name!r} here")
            return
        args = argv[1:]
        problem = self.name_problem(name, args, words[1:], stdin_code)
        if problem:
            self.problems.append(problem)
        if name in ("cd", "pushd", "popd"):
            self.cd_targets.append(_cd_target(name, words[1:]))
        if name == "find":
            self.find_exec(words, env)
        elif name in WRAPPERS:
            self.unwrap(name, words, env, stdin_code)

    def name_problem(
        self, name: str, args: tuple[str, ...], words: list[_Word], stdin_code: bool
    ) -> str | None:
        static = [w.value for w in words if not w.dynamic]
        if name == "eval":
            return "eval runs a string as code"
        if name in ("source", "."):
            return f"{name} runs a file as shell code"
        if name == "trap":
            return "trap sets code to run later"
        if name in ("alias", "unalias"):
            return "aliases change what a command name runs"
        if name == "enable":
            return "enable switches shell builtins on and off"
        if name == "builtin":
            return "builtin calls a shell builtin by a name coda does not check"
        if name == "hash" and any(a.startswith("-") and "p" in a for a in args):
            return "hash -p changes what a command name runs"
        if name in ("fc", "coproc", "watch"):
            return f"{name} runs commands that coda cannot see"
        if name in ("mapfile", "readarray") and any(a.startswith("-") and "C" in a for a in args):
            return f"{name} -C runs a callback"
        if name == "set" and any(_set_keyword(a) for a in args):
            return "set -k turns later words into assignments"
        if name == "let" and any(w.dynamic or re.search(r"[$`\[]", w.value) for w in words):
            return "let evaluates its arguments as arithmetic, which can run code"
        if name == "git":
            return _git_problem(args)
        if name == "exec" and args:
            return "exec replaces the shell with another command"
        for value in static:
            if _SUBSCRIPT_CODE.search(value):
                return f"{value!r} holds code in an array subscript, which bash may evaluate"
        return _inline_code(name, [w.value for w in words], [w.dynamic for w in words], stdin_code)

    def unwrap(
        self,
        name: str,
        words: list[_Word],
        env: tuple[tuple[str, str], ...],
        stdin_code: bool,
    ) -> None:
        rest = words[1:]
        result = unwrap(name, [w.value for w in rest], [w.dynamic for w in rest])
        if isinstance(result, str):
            self.problems.append(result)
            return
        if name == "env":
            for key, value in result.options:
                if key in ("-C", "--chdir"):
                    self.cd_targets.append(value)
        for key, value in result.env:
            if dangerous_assignment(key, value):
                self.problems.append(f"{key}=… can change what the command runs")
        if result.command_index is None:
            if name == "xargs":  # xargs alone runs echo
                inner = [_Word("echo", False, words[0].end, words[0].end)]
            else:
                return
        else:
            inner = list(rest[result.command_index :])
        if name == "xargs":
            inner = self.xargs_inner(inner, result.options)
        text = self.slice(inner[0].start, inner[-1].end) if inner[-1].end > inner[0].start else ""
        self.simple(inner, (*env, *result.env), (), text or inner[0].value, name, stdin_code)

    def xargs_inner(
        self, inner: list[_Word], options: Iterable[tuple[str, str | None]]
    ) -> list[_Word]:
        replace: str | None = None
        for key, value in options:
            if key == "-I":
                replace = value
            elif key in ("-i", "--replace"):
                replace = value or "{}"
        if replace:
            return [_Word(w.value, w.dynamic or replace in w.value, w.start, w.end) for w in inner]
        end = inner[-1].end
        return [*inner, _Word("{}", True, end, end)]

    def find_exec(self, words: list[_Word], env: tuple[tuple[str, str], ...]) -> None:
        i = 1
        while i < len(words):
            action = words[i].value
            i += 1
            if words[i - 1].dynamic or action not in ("-exec", "-execdir", "-ok", "-okdir"):
                continue
            inner: list[_Word] = []
            while i < len(words):
                word = words[i]
                i += 1
                if not word.dynamic and (
                    word.value == ";" or (word.value == "+" and inner and inner[-1].value == "{}")
                ):
                    break
                inner.append(word)
            else:
                self.problems.append(f"find {action} has no ; or + at its end")
                return
            if not inner:
                self.problems.append(f"find {action} has no command")
                return
            inner = [_Word(w.value, w.dynamic or "{}" in w.value, w.start, w.end) for w in inner]
            text = self.slice(inner[0].start, inner[-1].end)
            self.simple(inner, env, (), text, f"find {action}", False)

    # -- assignments and builtins with their own grammar

    def assignment(self, node: Node) -> tuple[str, str, bool]:
        """NAME, value and whether the value is only known at run time."""
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        name = self.node_text(name_node) if name_node is not None else ""
        if name_node is not None and name_node.type == "subscript":
            self.scan(name_node)
        if value_node is None:
            return name, "", False
        if value_node.type == "array":
            self.scan(value_node)
            return name, self.node_text(value_node), True
        word = self.word(value_node)
        return name, word.value, word.dynamic

    def assignments(self, node: Node, redirects: tuple[Redirect, ...]) -> None:
        nodes = [node] if node.type == "variable_assignment" else node.named_children
        env = []
        for child in nodes:
            if child.type != "variable_assignment":
                continue
            name, value, dynamic = self.assignment(child)
            self.check_assignment(name, value, dynamic)
            env.append((name, value))
        self.commands.append(SimpleCommand((), tuple(env), redirects, self.node_text(node)))

    def check_assignment(self, name: str, value: str, dynamic: bool) -> None:
        base = name.split("[", 1)[0]
        if dangerous_assignment(base, value):
            self.problems.append(f"it assigns {base}, which changes what later commands run")
        # A literal like '$(rm x)' stored now can run later, in arithmetic or ${x@P}.
        if not dynamic and _CODE_IN_VALUE.search(value):
            self.problems.append(f"the value of {base} contains shell code that may run later")

    def declaration(self, node: Node, redirects: tuple[Redirect, ...]) -> None:
        flags = [c for c in node.named_children if c.type == "word"]
        if any(re.fullmatch(r"[-+]\w*n\w*", self.node_text(c)) for c in flags):
            self.problems.append("a name reference (-n) can assign any variable")
        keyword = node.children[0] if node.child_count else None
        words = (
            [_Word(self.node_text(keyword), False, keyword.start_byte, keyword.end_byte)]
            if (keyword is not None)
            else []
        )
        for child in node.named_children:
            if child.type == "variable_assignment":
                name, value, dynamic = self.assignment(child)
                self.check_assignment(name, value, dynamic)
                words.append(_Word(f"{name}={value}", dynamic, child.start_byte, child.end_byte))
            elif child.type == "variable_name":
                name = self.node_text(child)
                if dangerous_variable(name):
                    self.problems.append(f"it changes {name}")
                words.append(_Word(name, False, child.start_byte, child.end_byte))
            elif child.type != "comment":
                words.append(self.word(child))
        if words:
            self.simple(words, (), redirects, self.node_text(node), None, False)

    def builtin_words(self, node: Node, redirects: tuple[Redirect, ...]) -> None:
        keyword = node.children[0]
        words = [_Word(self.node_text(keyword), False, keyword.start_byte, keyword.end_byte)]
        words += [self.word(c) for c in node.named_children if c.type != "comment"]
        self.simple(words, (), redirects, self.node_text(node), None, False)

    def test(self, node: Node, redirects: tuple[Redirect, ...]) -> None:
        words: list[_Word] = []

        def collect(n: Node) -> None:
            if n.type in (
                "binary_expression",
                "unary_expression",
                "parenthesized_expression",
                "ternary_expression",
                "postfix_expression",
            ):
                for c in n.children:
                    collect(c)
            elif n.type == "test_operator" or not n.is_named:
                words.append(_Word(self.node_text(n), False, n.start_byte, n.end_byte))
            else:
                words.append(self.word(n))

        for child in node.children:
            collect(child)
        self.simple(
            words or [_Word("[[", False, node.start_byte, node.start_byte)],
            (),
            redirects,
            self.node_text(node),
            None,
            False,
        )

    def arithmetic(self, node: Node) -> None:
        for child in node.children:
            self.scan(child)
        stack = [node]
        while stack:
            n = stack.pop()
            if n.type == "variable_name" and dangerous_variable(self.node_text(n)):
                self.problems.append(f"the arithmetic uses {self.node_text(n)}")
            stack.extend(n.children)

    # -- words

    def scan(self, node: Node) -> None:
        """Walk the commands hidden in `node` and check its expansions."""
        stack = [node]
        while stack:
            n = stack.pop()
            kind = n.type
            if kind in _SUBSTITUTIONS:
                text = self.node_text(n)
                if text.startswith("`") and re.search(r"\\[$`\\]", text):
                    # Inside backticks bash removes these backslashes before parsing again.
                    self.problems.append("backslashes inside backticks change what runs")
                self.container(n, (), False)
                continue
            if kind in ("variable_name", "special_variable_name") and self.node_text(n) == "IFS":
                self.problems.append("the command uses $IFS, which changes how words split")
            elif kind == "expansion":
                text = self.node_text(n)
                if re.search(r"@P\}$", text):
                    self.problems.append("${…@P} expands its value as a prompt, running code in it")
                assigned = re.match(r"\$\{(\w+):?=", text)
                if assigned and dangerous_variable(assigned.group(1)):
                    self.problems.append(f"${{{assigned.group(1)}:=…}} assigns {assigned.group(1)}")
                self.check_hidden(n, "${…}")
            elif kind in _STATEMENTS:
                self.statement(n, (), False)
                continue
            stack.extend(reversed(n.children))

    def word(self, node: Node) -> _Word:
        out: list[str] = []
        mask: list[str] = []  # unquoted literal text, with quoted characters as "a"
        dynamic = self.collect(node, out, mask)
        self.scan(node)
        unquoted = "".join(mask)
        value = "".join(out)
        if _GLOB.search(unquoted) or _BRACE.search(unquoted):
            dynamic = True
        elif unquoted.startswith("~") and re.match(r"~[-+0-9]", value):
            dynamic = True  # ~- is $OLDPWD, ~+ is $PWD, ~2 the directory stack
        control = _control_characters(value)
        if control:
            self.problems.append(f"a word contains the control character {control}")
        return _Word(value, dynamic, node.start_byte, node.end_byte)

    def collect(self, node: Node, out: list[str], mask: list[str]) -> bool:
        kind = node.type
        text = self.node_text(node)
        if kind in ("word", "number"):
            i = 0
            while i < len(text):
                ch = text[i]
                if ch == "\\" and i + 1 < len(text):
                    if text[i + 1] != "\n":
                        out.append(text[i + 1])
                        mask.append("a")
                    i += 2
                    continue
                out.append(ch)
                mask.append(ch)
                i += 1
            return False
        if kind == "raw_string":
            out.append(text[1:-1])
            mask.append("a" * len(text[1:-1]))
            return False
        if kind == "string":
            return self.collect_string(node, out, mask)
        if kind == "ansi_c_string":
            decoded = _ansi_c(text[2:-1])
            if decoded is None:
                out.append(text)
                return True
            out.append(decoded)
            mask.append("a" * len(decoded))
            return False
        if kind == "concatenation":
            dynamic = False
            for child in node.children:
                if child.type == "$":  # $"…" inside a word
                    out.append("$")
                    dynamic = True
                    continue
                dynamic = self.collect(child, out, mask) or dynamic
            return dynamic
        out.append(text)
        mask.append("a" * len(text))
        return True

    def collect_string(self, node: Node, out: list[str], mask: list[str]) -> bool:
        dynamic = False
        position = node.start_byte + 1
        end = node.end_byte - 1
        for child in node.children:
            if child.type == '"':
                continue
            if child.start_byte > position:
                self.string_literal(self.slice(position, child.start_byte), out, mask)
            if child.type == "string_content":
                self.string_literal(self.node_text(child), out, mask)
            else:
                piece = self.node_text(child)
                out.append(piece)
                mask.append("a" * len(piece))
                dynamic = True
            position = child.end_byte
        if end > position:
            self.string_literal(self.slice(position, end), out, mask)
        return dynamic

    @staticmethod
    def string_literal(text: str, out: list[str], mask: list[str]) -> None:
        value = re.sub(r'\\([$`"\\\n])', lambda m: "" if m.group(1) == "\n" else m.group(1), text)
        out.append(value)
        mask.append("a" * len(value))


_RESERVED = _words(
    "{ } ! if then else elif fi do done case esac while until for in select function"
)


def _count_substitutions(text: str) -> int:
    """How many $(…), $((…)) and `…` are in `text` (erring towards more): bash reads
    `$(( x )…)` that is not arithmetic as a command substitution holding a subshell."""
    count = backticks = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            backticks += 1
        elif text.startswith("$(", i):
            count += 1
            i += 1 + text.startswith("$((", i)
        i += 1
    return count + (backticks + 1) // 2


def _ansi_c(body: str) -> str | None:
    """Decode the inside of $'…' as bash does, or None for escapes coda does not model."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            return None
        esc = body[i + 1]
        if esc in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[esc])
            i += 2
            continue
        spans = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
        if esc in spans:
            base, most = spans[esc]
            digits = re.match(f"[0-9a-fA-F]{{1,{most}}}", body[i + 2 :])
            if not digits:
                return None
            out.append(chr(int(digits.group(0), base)))
            i += 2 + len(digits.group(0))
            continue
        octal = re.match(r"[0-7]{1,3}", body[i + 1 :])
        if octal:
            out.append(chr(int(octal.group(0), 8) & 0xFF))
            i += 1 + len(octal.group(0))
            continue
        return None
    return "".join(out)


def _cd_target(name: str, words: list[_Word]) -> str | None:
    operands = [
        w for w in words if not (not w.dynamic and w.value.startswith("-") and len(w.value) > 1)
    ]
    if name == "popd":
        return None
    if not operands:
        return None if name == "pushd" else "~"
    target = operands[0]
    if target.dynamic or target.value == "-" or target.value.startswith("+"):
        return None
    return target.value


def _set_keyword(arg: str) -> bool:
    return (
        arg.startswith(("-", "+")) and not arg.startswith("--") and "k" in arg
    ) or arg == "keyword"


def _git_problem(args: Sequence[str]) -> str | None:
    """Problems in git's global options, before the subcommand."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "-c" or (word.startswith("-c") and not word.startswith("--")):
            return "git -c sets configuration, which can run programs"
        if word.startswith("--config-env"):
            return "git --config-env sets configuration, which can run programs"
        if word.startswith("--exec-path="):
            return "git --exec-path changes where git finds its programs"
        if word in ("-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix"):
            i += 2
            continue
        if not word.startswith("-"):
            return None
        i += 1
    return None


__all__ = [
    "WRAPPERS",
    "Redirect",
    "ShellAnalysis",
    "SimpleCommand",
    "Unwrapped",
    "WrapperGrammar",
    "analyse",
    "dangerous_assignment",
    "dangerous_variable",
    "path_arguments",
    "read_only_reason",
    "unwrap",
]
