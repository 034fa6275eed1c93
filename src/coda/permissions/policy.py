"""The permission policy: modes, rules, shell analysis and paths decide; the person settles "ask".

Order, as the design says: deny rules, then coda's own config (always asks), then ask rules,
then the mode, then allow rules and the built-in safe cases. Anything not allowed asks, and
an unattended run turns every "ask" into a refusal that names the rule that would allow it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from coda.messages import ToolUseBlock, compact_input
from coda.permissions.base import Decision, Mode, PermissionRequest, Prompter
from coda.permissions.paths import Workspace, is_protected, resolve
from coda.permissions.rules import (
    Rule,
    bash_rule_matches,
    covers_tool,
    domain_rule_matches,
    path_rule_matches,
    rule_matches_tool,
    suggest_rule,
)
from coda.tools.base import Tool, ToolContext

if TYPE_CHECKING:
    from coda.permissions.shell_analysis import ShellAnalysis

EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS"})
PATH_FIELD = {
    "Read": "file_path",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "Glob": "path",
    "Grep": "path",
    "LS": "path",
}
# Only coda's own bookkeeping: they change nothing in the workspace.
SESSION_TOOLS = frozenset({"TodoWrite", "BashOutput", "KillShell"})
# Variables that cannot make a program run other code; any other prefix asks.
SAFE_ENV = frozenset({"LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "NO_COLOR", "COLUMNS"})
# Pagers set to plain `cat` are the one common prefix that makes output safer, not riskier.
SAFE_ENV_VALUES = frozenset({("PAGER", "cat"), ("GIT_PAGER", "cat"), ("MANPAGER", "cat")})


@dataclass(frozen=True, slots=True)
class Verdict:
    behavior: Literal["allow", "ask", "deny"]
    reason: str
    rule: str | None = None
    suggested_rule: str = ""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One line of the permission record kept in the transcript."""

    tool: str
    input_summary: str
    decision: Literal["allow", "deny"]
    rule: str | None
    reason: str
    asked: bool


@dataclass(slots=True)
class PolicyConfig:
    mode: Mode
    workspace: Workspace
    allow: list[Rule] = field(default_factory=list)
    ask: list[Rule] = field(default_factory=list)
    deny: list[Rule] = field(default_factory=list)
    sandboxed: bool = False
    auto_allow_sandboxed_bash: bool = True
    memory_imports: list[Path] = field(default_factory=list)


class RulePolicy:
    def __init__(
        self,
        config: PolicyConfig,
        ctx: ToolContext,
        prompter: Prompter,
        *,
        record: Callable[[DecisionRecord], None] = lambda _: None,
        save_rule: Callable[[str], None] = lambda _: None,
        headless: bool = False,
    ) -> None:
        self.config = config
        self._ctx = ctx
        self.prompter = prompter
        self._record = record
        self._save_rule = save_rule
        self._headless = headless

    async def check(self, tool: Tool, call: ToolUseBlock) -> Decision:
        verdict = self.evaluate(tool, call)
        summary = input_summary(call)
        if verdict.behavior != "ask":
            decision = Decision(verdict.behavior, verdict.reason, verdict.rule)
            self._log(call, summary, decision, asked=False)
            return decision
        request = PermissionRequest(
            tool=call.name,
            summary=summary,
            detail=input_detail(call),
            reason=verdict.reason,
            suggested_rule=verdict.suggested_rule,
            input=call.input,
            tool_use_id=call.id,
        )
        answer = await self.prompter.ask(request)
        if answer.choice == "deny":
            decision = Decision("deny", self._refusal(verdict, answer.note))
        else:
            if answer.choice == "always" and verdict.suggested_rule:
                self._remember(verdict.suggested_rule)
            decision = Decision(
                "allow",
                f"the person allowed it ({answer.choice})",
                updated_input=answer.updated_input,
            )
            if answer.updated_input is not None:
                # A changed input is a new call: deny rules still hold for it.
                changed = replace(call, input=dict(answer.updated_input))
                again = self.evaluate(tool, changed)
                if again.behavior == "deny":
                    decision = Decision("deny", f"the changed input: {again.reason}", again.rule)
            if call.name == "ExitPlanMode":
                self.config.mode = "default"  # the approved plan is carried out, with asking
        self._log(call, summary, decision, asked=True)
        return decision

    # -- deciding ------------------------------------------------------------------

    def evaluate(self, tool: Tool, call: ToolUseBlock) -> Verdict:
        name, args = call.name, call.input
        cfg = self.config
        suggestion = self._suggest(name, args)
        if (rule := self._first_match(cfg.deny, name, args)) is not None:
            return Verdict("deny", f"denied by the rule {rule.text}", rule.text)
        if (reason := self._touches_protected(name, args)) and cfg.mode != "bypassPermissions":
            return Verdict("ask", reason, suggested_rule="")
        if (rule := self._first_match(cfg.ask, name, args)) is not None:
            return Verdict("ask", f"the rule {rule.text} asks first", suggested_rule=suggestion)
        if cfg.mode == "bypassPermissions":
            return Verdict("allow", "permissions are bypassed (--dangerously-skip-permissions)")
        if name == "ExitPlanMode":
            return Verdict("ask", "leaving plan mode needs the person's approval")
        if cfg.mode == "plan" and tool.is_mutating(args) and name not in SESSION_TOOLS:
            return Verdict(
                "deny",
                "plan mode is read-only: research, then present the plan with ExitPlanMode",
            )
        if (rule := self._first_match(cfg.allow, name, args, allow=True)) is not None:
            return Verdict("allow", f"allowed by the rule {rule.text}", rule.text)
        return self._by_mode(tool, name, args, suggestion)

    def _by_mode(self, tool: Tool, name: str, args: dict[str, object], suggestion: str) -> Verdict:
        cfg = self.config
        if name in READ_TOOLS:
            path = self._tool_path(name, args)
            if path is None or cfg.workspace.contains(path):
                return Verdict("allow", "reads inside the workspace are free")
            return Verdict("ask", f"{path} is outside the workspace", suggested_rule=suggestion)
        if name in EDIT_TOOLS:
            path = self._tool_path(name, args)
            inside = path is not None and cfg.workspace.contains(path)
            if cfg.mode == "acceptEdits" and inside:
                return Verdict("allow", "edits inside the workspace are accepted (acceptEdits)")
            where = "inside" if inside else "outside"
            return Verdict(
                "ask",
                f"edits {where} the workspace ask in {cfg.mode} mode",
                suggested_rule=suggestion,
            )
        if name == "Bash":
            return self._bash(args, suggestion)
        if name in SESSION_TOOLS:
            return Verdict("allow", "it only changes the session's own state")
        if not tool.is_mutating(args):
            return Verdict("allow", "the tool changes nothing")
        return Verdict("ask", f"{name} asks in {cfg.mode} mode", suggested_rule=suggestion)

    def _bash(self, args: dict[str, object], suggestion: str) -> Verdict:
        from coda.permissions.shell_analysis import path_arguments, read_only_reason

        cfg = self.config
        if cfg.sandboxed and cfg.auto_allow_sandboxed_bash:
            return Verdict("allow", "Bash runs in the sandbox (autoAllowBashIfSandboxed)")
        analysis = _analysis(args)
        if not analysis.fully_resolved:
            return Verdict("ask", "; ".join(analysis.problems), suggested_rule=suggestion)
        bases = self._bases(analysis.cd_targets)
        if bases is None:
            return Verdict(
                "ask", "it changes to a directory outside the workspace", suggested_rule=suggestion
            )
        used: list[str] = []
        for cmd in analysis.commands:
            unsafe_env = [
                k for k, v in cmd.env if k not in SAFE_ENV and (k, v) not in SAFE_ENV_VALUES
            ]
            if unsafe_env:
                return Verdict(
                    "ask",
                    f"it sets {', '.join(unsafe_env)} for {cmd.text!r}",
                    suggested_rule=suggestion,
                )
            for redirect in cmd.redirects:
                if not redirect.writes:
                    continue
                if redirect.target is None:
                    return Verdict(
                        "ask", "it writes to a file named at run time", suggested_rule=suggestion
                    )
                verdict = self._redirect_write(redirect.target, bases, suggestion)
                if verdict is not None:
                    return verdict
            why = read_only_reason(cmd)
            if (rule_text := self._allowed_by_bash_rule(cmd.argv, why)) is not None:
                used.append(rule_text)
                continue
            if why is not None:
                return Verdict("ask", f"{cmd.text!r}: {why}", suggested_rule=suggestion)
            for raw in path_arguments(cmd):
                for base in bases:
                    for path in _expand(raw, base):
                        if not cfg.workspace.contains(path):
                            return Verdict(
                                "ask",
                                f"{raw} reaches outside the workspace ({path})",
                                suggested_rule=suggestion,
                            )
        if used:
            rules = ", ".join(dict.fromkeys(used))
            return Verdict("allow", f"allowed by {rules}; the rest is read-only", rules)
        return Verdict("allow", "every command is read-only inside the workspace")

    def _redirect_write(self, target: str, bases: list[Path], suggestion: str) -> Verdict | None:
        """A redirect that writes is an edit: outside the workspace, or in default mode, ask."""
        cfg = self.config
        for base in bases:
            path = resolve(target, base)
            if is_protected(path, cfg.workspace, cfg.memory_imports):
                return Verdict("ask", f"it writes to coda's own config: {path}")
            if not cfg.workspace.contains(path):
                return Verdict(
                    "ask", f"it writes outside the workspace: {path}", suggested_rule=suggestion
                )
            edit_rule = next(
                (
                    r
                    for r in cfg.allow
                    if r.tool == "Edit" and r.spec and path_rule_matches(r, path, self._cwd())
                ),
                None,
            )
            if cfg.mode != "acceptEdits" and edit_rule is None:
                return Verdict(
                    "ask",
                    f"it writes {path} (an edit; edits ask in {cfg.mode} mode)",
                    suggested_rule=suggestion,
                )
        return None

    def _allowed_by_bash_rule(self, argv: tuple[str, ...], why: str | None) -> str | None:
        """A wildcard rule such as `Bash(find:*)` covers the command's ordinary uses, not the
        flags that make a read-only command run programs or write (`find -exec`,
        `git log --output`, `sed -i`): those need an exact rule. Peers' allowlists were
        bypassed through exactly these flags."""
        from coda.permissions.readonly import NOT_LISTED

        escalates = why is not None and NOT_LISTED not in why
        for rule in self.config.allow:
            if rule.tool != "Bash" or rule.spec is None or not bash_rule_matches(rule, argv):
                continue
            if not escalates or "*" not in rule.spec:
                return rule.text
        return None

    def _bases(self, cd_targets: tuple[str | None, ...]) -> list[Path] | None:
        """Directories relative paths may resolve against; None when a cd leaves the workspace."""
        cwd = self._shell_cwd()
        bases = [cwd]
        for target in cd_targets:
            if target is None:
                return None
            path = resolve(target, cwd)
            if not self.config.workspace.contains(path):
                return None
            bases.append(path)
        return bases

    def _first_match(
        self, rules: list[Rule], name: str, args: dict[str, object], *, allow: bool = False
    ) -> Rule | None:
        for rule in rules:
            if allow and rule.tool == "Bash" and rule.spec is not None:
                continue  # per simple command, in _bash: `ls && rm x` is not allowed by ls:*
            if rule.spec is None:
                if rule_matches_tool(rule, name):
                    return rule
            elif self._spec_matches(rule, name, args):
                return rule
        return None

    def _spec_matches(self, rule: Rule, name: str, args: dict[str, object]) -> bool:
        if rule.tool == "Bash" and name == "Bash":
            analysis = _analysis(args)
            # A deny or ask rule catches any one command; an allow rule is checked per
            # command in _bash, never for the line as a whole.
            return any(bash_rule_matches(rule, c.argv) for c in analysis.commands)
        if name in PATH_FIELD and covers_tool(rule, name):
            path = self._tool_path(name, args)
            return path is not None and path_rule_matches(rule, path, self._cwd())
        if rule.tool == "WebFetch" and name == "WebFetch":
            host = _host(str(args.get("url", "")))
            return host is not None and domain_rule_matches(rule, host)
        return False

    def _touches_protected(self, name: str, args: dict[str, object]) -> str | None:
        if name not in EDIT_TOOLS:
            return None
        path = self._tool_path(name, args)
        if path is not None and is_protected(
            path, self.config.workspace, self.config.memory_imports
        ):
            return f"{path} is coda's own configuration: changing it always needs approval"
        return None

    def _tool_path(self, name: str, args: dict[str, object]) -> Path | None:
        raw = args.get(PATH_FIELD.get(name, ""))
        if not isinstance(raw, str) or not raw:
            return self._cwd() if name in ("Glob", "Grep", "LS") else None
        return resolve(raw, self._cwd())

    def _suggest(self, name: str, args: dict[str, object]) -> str:
        cwd = self._cwd()
        if name == "Bash":
            analysis = _analysis(args)
            if (
                not analysis.fully_resolved
                or len(analysis.commands) != 1
                or not analysis.commands[0].argv
            ):
                return ""  # no single precise rule covers it
            return suggest_rule("Bash", argv=list(analysis.commands[0].argv))
        if name in PATH_FIELD:
            path = self._tool_path(name, args)
            return suggest_rule(name, path=path, cwd=cwd) if path is not None else ""
        if name == "WebFetch":
            host = _host(str(args.get("url", "")))
            return suggest_rule(name, host=host) if host else ""
        return suggest_rule(name)

    def _cwd(self) -> Path:
        return self._ctx.cwd

    def _shell_cwd(self) -> Path:
        shell = self._ctx.resources.get("shell")
        cwd = getattr(shell, "cwd", None)
        return Path(cwd) if cwd else self._ctx.cwd

    # -- after deciding -------------------------------------------------------------

    def _refusal(self, verdict: Verdict, note: str) -> str:
        text = f"{verdict.reason}."
        if note:
            text += f" The person says: {note}"
        if self._headless:
            if verdict.suggested_rule:
                text += (
                    f" This unattended run cannot ask. The person can allow it with "
                    f'--allowedTools "{verdict.suggested_rule}" or the rule '
                    f"{verdict.suggested_rule} in permissions.allow."
                )
            else:
                text += " This unattended run cannot ask, and no narrow rule covers it."
        return text

    def _remember(self, rule_text: str) -> None:
        from coda.permissions.rules import parse_rule

        self.config.allow.append(parse_rule(rule_text, source=None, base=self._cwd()))
        self._save_rule(rule_text)

    def _log(self, call: ToolUseBlock, summary: str, decision: Decision, *, asked: bool) -> None:
        self._record(
            DecisionRecord(
                call.name, summary, decision.behavior, decision.rule, decision.reason, asked
            )
        )


def _analysis(args: dict[str, object]) -> ShellAnalysis:
    return _analyse_cached(str(args.get("command", "")))


@functools.lru_cache(maxsize=64)
def _analyse_cached(command: str) -> ShellAnalysis:
    """One parse per command line: deny rules, ask rules, the suggestion and the checks
    all look at the same analysis, which is pure and immutable."""
    from coda.permissions.shell_analysis import analyse

    return analyse(command)


def input_summary(call: ToolUseBlock, limit: int = 200) -> str:
    args = call.input
    for key in ("command", "file_path", "notebook_path", "url", "pattern", "path", "plan"):
        value = args.get(key)
        if isinstance(value, str) and value:
            return value if len(value) <= limit else value[: limit - 1] + "…"
    return compact_input(args, limit)


def input_detail(call: ToolUseBlock) -> str:
    args = call.input
    if call.name == "Bash":
        return str(args.get("command", ""))
    if call.name == "Edit":
        return f"--- {args.get('old_string', '')}\n+++ {args.get('new_string', '')}"
    if call.name == "Write":
        return str(args.get("content", ""))[:4000]
    import json

    return json.dumps(args, ensure_ascii=False, indent=2)[:4000]


def _expand(raw: str, base: Path) -> list[Path]:
    """The paths a word can name: a glob is expanded now, because a match may be a symlink
    that leads out of the workspace even when the pattern's text does not."""
    path = resolve(raw, base)
    if not any(ch in raw for ch in "*?["):
        return [path]
    import glob

    pattern = raw if os.path.isabs(os.path.expanduser(raw)) else str(base / raw)
    matches = glob.glob(os.path.expanduser(pattern), recursive=True)
    return [path, *(resolve(m, base) for m in matches)]


def _host(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
