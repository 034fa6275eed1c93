"""The rule policy: precedence, modes, protected paths, asking, and remembering answers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from coda.messages import ToolUseBlock
from coda.permissions.base import PermissionRequest, PromptAnswer
from coda.permissions.paths import Workspace
from coda.permissions.policy import DecisionRecord, PolicyConfig, RulePolicy
from coda.permissions.prompter import NeverAsk, PlainTerminalPrompter
from coda.permissions.rules import parse_rule
from coda.settings import load_settings, save_local_rule
from coda.tools.base import Tool, ToolContext
from coda.tools.registry import builtin_tools

TOOLS: dict[str, Tool] = {t.name: t for t in builtin_tools()}


class Answers:
    """A Prompter that answers from a list, and keeps what it was asked."""

    def __init__(self, *answers: PromptAnswer) -> None:
        self.answers = list(answers)
        self.asked: list[PermissionRequest] = []

    async def ask(self, request: PermissionRequest) -> PromptAnswer:
        self.asked.append(request)
        return self.answers.pop(0)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("x = 1\n")
    return root


def policy(
    repo: Path,
    *,
    mode: str = "default",
    allow: tuple[str, ...] = (),
    ask: tuple[str, ...] = (),
    deny: tuple[str, ...] = (),
    prompter: object | None = None,
    records: list[DecisionRecord] | None = None,
) -> RulePolicy:
    config = PolicyConfig(
        mode=mode,  # type: ignore[arg-type]
        workspace=Workspace([repo]),
        allow=[parse_rule(r, base=repo) for r in allow],
        ask=[parse_rule(r, base=repo) for r in ask],
        deny=[parse_rule(r, base=repo) for r in deny],
    )
    return RulePolicy(
        config,
        ToolContext(cwd=repo),
        prompter or NeverAsk(),  # type: ignore[arg-type]
        record=(records.append if records is not None else lambda _: None),
        save_rule=lambda rule: save_local_rule(repo, rule) and None,
        headless=prompter is None,
    )


async def decide(p: RulePolicy, name: str, **args: object) -> str:
    return (await p.check(TOOLS[name], ToolUseBlock("t1", name, dict(args)))).behavior


async def test_reads_free_inside_ask_outside(repo: Path, tmp_path: Path) -> None:
    p = policy(repo)
    assert await decide(p, "Read", file_path=str(repo / "src" / "app.py")) == "allow"
    assert await decide(p, "Grep", pattern="x") == "allow"
    assert await decide(p, "Read", file_path="/etc/hostname") == "deny"
    assert await decide(p, "Read", file_path=str(tmp_path / "proj-evil" / "x")) == "deny"


async def test_modes_for_edits(repo: Path) -> None:
    target = str(repo / "src" / "app.py")
    assert await decide(policy(repo), "Edit", file_path=target) == "deny"
    assert await decide(policy(repo, mode="acceptEdits"), "Edit", file_path=target) == "allow"
    assert await decide(policy(repo, mode="acceptEdits"), "Write", file_path="/tmp/x") == "deny"
    assert await decide(policy(repo, mode="plan"), "Edit", file_path=target) == "deny"
    assert await decide(policy(repo, mode="plan"), "Read", file_path=target) == "allow"
    bypass = policy(repo, mode="bypassPermissions")
    assert await decide(bypass, "Bash", command="touch anything") == "allow"


async def test_precedence_deny_then_ask_then_allow(repo: Path) -> None:
    both = policy(repo, allow=("Bash(npm test:*)",), deny=("Bash(npm test:*)",))
    assert await decide(both, "Bash", command="npm test") == "deny"
    asked = Answers(PromptAnswer("once"))
    ask_first = policy(repo, allow=("Bash(npm test:*)",), ask=("Bash(npm:*)",), prompter=asked)
    assert await decide(ask_first, "Bash", command="npm test") == "allow"
    assert len(asked.asked) == 1
    allowed = policy(repo, allow=("Bash(npm test:*)",))
    assert await decide(allowed, "Bash", command="npm test -- --watch") == "allow"
    assert await decide(allowed, "Bash", command="npm testevil") == "deny"
    assert await decide(allowed, "Bash", command="npm test && rm -rf src") == "deny"


async def test_protected_config_always_asks(repo: Path) -> None:
    accept = policy(repo, mode="acceptEdits", allow=("Edit",))
    for rel in (".coda/settings.json", ".claude/settings.json", ".mcp.json",
                ".git/hooks/pre-commit", ".git/config"):  # fmt: skip
        assert await decide(accept, "Write", file_path=str(repo / rel)) == "deny", rel
    assert await decide(accept, "Bash", command="echo x > .mcp.json") == "deny"
    assert not (repo / ".mcp.json").exists()


async def test_redirect_writes_are_edits(repo: Path) -> None:
    assert await decide(policy(repo), "Bash", command="echo hi > notes.txt") == "deny"
    accept = policy(repo, mode="acceptEdits")
    assert await decide(accept, "Bash", command="echo hi > notes.txt") == "allow"
    assert await decide(accept, "Bash", command="echo hi > /tmp/outside.txt") == "deny"
    assert await decide(accept, "Bash", command="cd .. && echo hi > x.txt") == "deny"


async def test_symlink_escape_is_outside(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    os.symlink(secret, repo / "link.txt")
    p = policy(repo)
    assert await decide(p, "Read", file_path=str(repo / "link.txt")) == "deny"
    assert await decide(p, "Bash", command="cat link.txt") == "deny"
    assert await decide(p, "Bash", command="cat *.txt") == "deny"
    assert await decide(p, "Bash", command="cat src/app.py") == "allow"


async def test_wildcard_rule_does_not_cover_escalating_flags(repo: Path) -> None:
    p = policy(repo, allow=("Bash(find:*)", "Bash(git log:*)"))
    assert await decide(p, "Bash", command="find . -name '*.py'") == "allow"
    assert await decide(p, "Bash", command="find . -delete") == "deny"
    assert await decide(p, "Bash", command="git log --output=x.txt") == "deny"
    exact = policy(repo, allow=("Bash(find . -delete)",))
    assert await decide(exact, "Bash", command="find . -delete") == "allow"


async def test_headless_refusal_names_the_rule(repo: Path) -> None:
    p = policy(repo)
    call = ToolUseBlock("t1", "Bash", {"command": "npm test"})
    decision = await p.check(TOOLS["Bash"], call)
    assert decision.behavior == "deny"
    assert '--allowedTools "Bash(npm test:*)"' in decision.reason


async def test_always_saves_a_rule_that_holds_next_session(repo: Path) -> None:
    records: list[DecisionRecord] = []
    asked = Answers(PromptAnswer("always"))
    first = policy(repo, prompter=asked, records=records)
    assert await decide(first, "Bash", command="npm test --watch") == "allow"
    assert asked.asked[0].suggested_rule == "Bash(npm test:*)"
    assert records[-1].asked and records[-1].decision == "allow"
    # Within the session, the rule holds without asking again.
    assert await decide(first, "Bash", command="npm test") == "allow"
    assert len(asked.asked) == 1
    # And in the next session, read back from .coda/settings.local.json.
    settings = load_settings(repo, {"CODA_CONFIG_DIR": str(repo / "no-user")})
    assert [r.text for r in settings.permissions.allow] == ["Bash(npm test:*)"]
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert ".coda/settings.local.json" in exclude
    second = policy(repo)
    second.config.allow.extend(settings.permissions.allow)
    assert await decide(second, "Bash", command="npm test") == "allow"
    assert await decide(second, "Bash", command="npm publish") == "deny"


async def test_deny_with_a_note_reaches_the_model(repo: Path) -> None:
    asked = Answers(PromptAnswer("deny", "use the Makefile target instead"))
    p = policy(repo, prompter=asked)
    decision = await p.check(TOOLS["Bash"], ToolUseBlock("t1", "Bash", {"command": "npm test"}))
    assert decision.behavior == "deny" and "use the Makefile target instead" in decision.reason


async def test_plan_mode_exit_needs_approval(repo: Path) -> None:
    from coda.tools.exit_plan_mode import ExitPlanModeTool

    asked = Answers(PromptAnswer("once"))
    p = policy(repo, mode="plan", prompter=asked)
    tool = ExitPlanModeTool()
    decision = await p.check(tool, ToolUseBlock("t1", "ExitPlanMode", {"plan": "1. edit"}))
    assert decision.behavior == "allow" and p.config.mode == "default"
    refused = policy(repo, mode="plan")
    decision = await refused.check(tool, ToolUseBlock("t1", "ExitPlanMode", {"plan": "x"}))
    assert decision.behavior == "deny" and refused.config.mode == "plan"


async def test_plain_terminal_prompter_reads_the_answer(tmp_path: Path) -> None:
    answers = tmp_path / "tty"
    answers.write_text("3\nrun make instead\n")
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        prompter = PlainTerminalPrompter(out=stream, tty_path=str(answers))
        request = PermissionRequest("Bash", "npm test", "npm test", "why", "Bash(npm test:*)")
        answer = await prompter.ask(request)
    assert answer == PromptAnswer("deny", "run make instead")
    shown = out.read_text()
    assert "npm test" in shown and "Bash(npm test:*)" in shown
    answers.write_text("2\n")
    with out.open("w") as stream:
        answer = await PlainTerminalPrompter(out=stream, tty_path=str(answers)).ask(request)
    assert answer.choice == "always"
    missing = PlainTerminalPrompter(out=open(os.devnull, "w"), tty_path=str(tmp_path / "none"))  # noqa: SIM115
    assert (await missing.ask(request)).choice == "deny"
