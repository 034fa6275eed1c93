"""The walk over a Bash parse tree that lists every simple command a line runs, and its problems."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from coda.permissions.shell.heredoc import heredoc, hidden_problem
from coda.permissions.shell.interpreters import command_problem
from coda.permissions.shell.line_checks import (
    character_problems,
    control_characters,
    coverage_problems,
    first_error,
)
from coda.permissions.shell.model import Redirect, SimpleCommand
from coda.permissions.shell.variables import dangerous_assignment, dangerous_variable
from coda.permissions.shell.words import Word, resolve, word_set
from coda.permissions.shell.wrappers import WRAPPERS, find_exec_commands, unwrap, xargs_command

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Parser

_STATEMENTS = word_set(
    "command redirected_statement pipeline list subshell compound_statement if_statement "
    "while_statement for_statement c_style_for_statement case_statement function_definition "
    "negated_command declaration_command unset_command test_command variable_assignment "
    "variable_assignments"
)
_CONTAINERS = frozenset({"program", "do_group", "else_clause", "elif_clause", "case_item"})
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})
_SAFE_SINKS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"})
_CODE_IN_VALUE = re.compile(r"\$[({]|`")
_RESERVED = word_set(
    "{ } ! if then else elif fi do done case esac while until for in select function"
)


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


class Walker:
    """One pass over one command line: `run()` fills `commands`, `problems` and `cd_targets`."""

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
        self.problems.extend(character_problems(self.text))
        if not self.text.strip():
            return
        tree = _parser().parse(self.source)
        root = tree.root_node
        if root.has_error:
            self.problems.append(f"the command does not parse cleanly ({first_error(root)})")
        self.problems.extend(coverage_problems(self.source, root))
        self.container(root, (), False)

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
            self.builtinword_set(node, redirects)
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
            delimiter, problems = heredoc(self.source, node, op)
            self.problems.extend(problems)
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

    # -- simple commands

    def command(self, node: Node, inherited: tuple[Redirect, ...], piped: bool) -> None:
        env: list[tuple[str, str]] = []
        words: list[Word] = []
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
                    Word(
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
        words: list[Word],
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
        problem = command_problem(name, words[1:], stdin_code)
        if problem:
            self.problems.append(problem)
        if name in ("cd", "pushd", "popd"):
            self.cd_targets.append(_cd_target(name, words[1:]))
        if name == "find":
            self.find_exec(words, env)
        elif name in WRAPPERS:
            self.unwrap(name, words, env, stdin_code)

    def unwrap(
        self,
        name: str,
        words: list[Word],
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
                inner = [Word("echo", False, words[0].end, words[0].end)]
            else:
                return
        else:
            inner = list(rest[result.command_index :])
        if name == "xargs":
            inner = xargs_command(inner, result.options)
        text = self.slice(inner[0].start, inner[-1].end) if inner[-1].end > inner[0].start else ""
        self.simple(inner, (*env, *result.env), (), text or inner[0].value, name, stdin_code)

    def find_exec(self, words: list[Word], env: tuple[tuple[str, str], ...]) -> None:
        found, problem = find_exec_commands(words)
        for action, inner in found:
            text = self.slice(inner[0].start, inner[-1].end)
            self.simple(inner, env, (), text, f"find {action}", False)
        if problem:
            self.problems.append(problem)

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
            [Word(self.node_text(keyword), False, keyword.start_byte, keyword.end_byte)]
            if (keyword is not None)
            else []
        )
        for child in node.named_children:
            if child.type == "variable_assignment":
                name, value, dynamic = self.assignment(child)
                self.check_assignment(name, value, dynamic)
                words.append(Word(f"{name}={value}", dynamic, child.start_byte, child.end_byte))
            elif child.type == "variable_name":
                name = self.node_text(child)
                if dangerous_variable(name):
                    self.problems.append(f"it changes {name}")
                words.append(Word(name, False, child.start_byte, child.end_byte))
            elif child.type != "comment":
                words.append(self.word(child))
        if words:
            self.simple(words, (), redirects, self.node_text(node), None, False)

    def builtinword_set(self, node: Node, redirects: tuple[Redirect, ...]) -> None:
        keyword = node.children[0]
        words = [Word(self.node_text(keyword), False, keyword.start_byte, keyword.end_byte)]
        words += [self.word(c) for c in node.named_children if c.type != "comment"]
        self.simple(words, (), redirects, self.node_text(node), None, False)

    def test(self, node: Node, redirects: tuple[Redirect, ...]) -> None:
        words: list[Word] = []

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
                words.append(Word(self.node_text(n), False, n.start_byte, n.end_byte))
            else:
                words.append(self.word(n))

        for child in node.children:
            collect(child)
        self.simple(
            words or [Word("[[", False, node.start_byte, node.start_byte)],
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
                hidden = hidden_problem(self.source, n, "${…}")
                if hidden:
                    self.problems.append(hidden)
            elif kind in _STATEMENTS:
                self.statement(n, (), False)
                continue
            stack.extend(reversed(n.children))

    def word(self, node: Node) -> Word:
        value, dynamic = resolve(self.source, node)
        self.scan(node)
        control = control_characters(value)
        if control:
            self.problems.append(f"a word contains the control character {control}")
        return Word(value, dynamic, node.start_byte, node.end_byte)


def _cd_target(name: str, words: list[Word]) -> str | None:
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
