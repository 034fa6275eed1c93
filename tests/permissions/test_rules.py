"""Permission rules: Claude Code's syntax, parsed and matched on real paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coda.permissions.rules import (
    Rule,
    RuleError,
    bash_rule_matches,
    covers_tool,
    domain_rule_matches,
    parse_rule,
    path_rule_matches,
    rule_matches_tool,
    suggest_rule,
)


def rule(text: str, base: Path | None = None) -> Rule:
    return parse_rule(text, base=base)


# --- parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tool", "spec"),
    [
        ("Bash", "Bash", None),
        ("  Bash  ", "Bash", None),
        ("Bash(*)", "Bash", None),
        ("Bash(npm run build)", "Bash", "npm run build"),
        ("Bash(npm test:*)", "Bash", "npm test:*"),
        ("Bash(echo $(date))", "Bash", "echo $(date)"),
        ("Bash(echo ')')", "Bash", "echo ')'"),
        ("Read(./src/**)", "Read", "./src/**"),
        ("Read(*)", "Read", "*"),
        ("Edit(//etc/a\\(b\\).conf)", "Edit", "//etc/a\\(b\\).conf"),
        ("WebFetch(domain:example.com)", "WebFetch", "domain:example.com"),
        ("mcp__github", "mcp__github", None),
        ("mcp__github__create-pull-request", "mcp__github__create-pull-request", None),
        ("mcp__github__*", "mcp__github__*", None),
        ("FutureTool(anything at all)", "FutureTool", "anything at all"),
    ],
)
def test_parse(text: str, tool: str, spec: str | None) -> None:
    parsed = parse_rule(text, source=Path("/s.json"), base=Path("/b"))
    assert (parsed.tool, parsed.spec, parsed.text) == (tool, spec, text.strip())
    assert (parsed.source, parsed.base) == (Path("/s.json"), Path("/b"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty rule"),
        ("Bash(", "missing closing parenthesis"),
        ("Bash()", "empty ()"),
        ("Bash(  )", "empty ()"),
        ("Bash)", "unbalanced"),
        ("Bash(a))", "unbalanced"),
        ("Bash((a)", "unbalanced"),
        ("Bash(:*)", "no command before :*"),
        ("Bash(echo 'x)", "unterminated ' quote"),
        ("Bash(git * :*)", "not both"),
        ("Bash (ls)", "not a tool name"),
        ("*", "not a tool name"),
        ("Read(//)", "write //** for everything"),
        ("Read(~/)", "write ~/** for everything"),
        ("Edit(./)", "write ./** for everything"),
        ("Read(/)", "write /** for everything"),
        ("Read(src/../x)", "only at the start"),
        ("Read(!x)", "negations"),
        ("WebFetch(https://example.com)", "WebFetch(domain:HOST)"),
        ("WebFetch(domain:)", "not a host name"),
        ("WebFetch(domain:ex ample.com)", "not a host name"),
        ("WebFetch(domain:a.*.com)", "not a host name"),
        ("mcp__*", "a * only in the tool part"),
        ("mcp__srv__", "MCP rules are"),
        ("mcp__srv__tool(x)", "no (…) specifier"),
    ],
)
def test_malformed_rules(text: str, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    assert message in str(caught.value)


def test_rule_error_names_the_rule() -> None:
    with pytest.raises(RuleError, match=r"^'Read\(//\)': "):
        parse_rule("Read(//)")


# --- tools ---------------------------------------------------------------------------


def test_bare_rules_and_tool_families() -> None:
    assert rule_matches_tool(rule("Bash"), "Bash")
    assert not rule_matches_tool(rule("Bash"), "bash")  # case-sensitive
    assert not rule_matches_tool(rule("Bash(ls)"), "Bash")  # needs its spec checked
    for tool in ("Edit", "Write", "MultiEdit", "NotebookEdit"):
        assert rule_matches_tool(rule("Edit"), tool)
        assert covers_tool(rule("Edit(./x)"), tool)
    for tool in ("Read", "Glob", "Grep", "LS"):
        assert rule_matches_tool(rule("Read"), tool)
    assert not covers_tool(rule("Read"), "Edit")
    assert not covers_tool(rule("Edit"), "Read")
    assert rule_matches_tool(rule("Write"), "Write")
    assert not rule_matches_tool(rule("Write"), "Edit")
    assert rule_matches_tool(rule("FutureTool"), "FutureTool")


def test_mcp_rules() -> None:
    server = rule("mcp__github")
    assert rule_matches_tool(server, "mcp__github__create_issue")
    assert not rule_matches_tool(server, "mcp__githubber__x")
    assert not rule_matches_tool(server, "mcp__github")
    one = rule("mcp__github__create_issue")
    assert rule_matches_tool(one, "mcp__github__create_issue")
    assert not rule_matches_tool(one, "mcp__github__create_issue_comment")
    every = rule("mcp__github__*")
    assert rule_matches_tool(every, "mcp__github__anything")
    assert not rule_matches_tool(every, "mcp__gitlab__anything")
    some = rule("mcp__github__get_*")
    assert rule_matches_tool(some, "mcp__github__get_issue")
    assert not rule_matches_tool(some, "mcp__github__create_issue")
    assert not rule_matches_tool(rule("mcp__github"), "Bash")


# --- Bash ----------------------------------------------------------------------------


def test_bash_exact() -> None:
    exact = rule("Bash(npm run build)")
    assert bash_rule_matches(exact, ["npm", "run", "build"])
    assert not bash_rule_matches(exact, ["npm", "run", "build", "--prod"])
    assert not bash_rule_matches(exact, ["npm", "run"])
    quoted = rule("Bash(git commit -m 'fix it')")
    assert bash_rule_matches(quoted, ["git", "commit", "-m", "fix it"])
    assert not bash_rule_matches(quoted, ["git", "commit", "-m", "fix", "it"])


def test_bash_prefix_is_by_whole_words() -> None:
    prefix = rule("Bash(npm test:*)")
    assert bash_rule_matches(prefix, ["npm", "test"])
    assert bash_rule_matches(prefix, ["npm", "test", "--watch"])
    assert not bash_rule_matches(prefix, ["npm", "testevil"])
    assert not bash_rule_matches(prefix, ["npm"])
    assert not bash_rule_matches(prefix, ["npx", "test"])
    assert bash_rule_matches(rule("Bash(npm:*)"), ["npm", "install"])
    assert not bash_rule_matches(rule("Bash(npm:*)"), ["npmx"])


def test_bash_wildcards() -> None:
    ls = rule("Bash(ls *)")
    assert bash_rule_matches(ls, ["ls"])
    assert bash_rule_matches(ls, ["ls", "-la", "/tmp"])
    assert not bash_rule_matches(ls, ["lsof"])
    middle = rule("Bash(git * main)")
    assert bash_rule_matches(middle, ["git", "push", "origin", "main"])
    assert not bash_rule_matches(middle, ["git", "main"])
    glued = rule("Bash(npm run test*)")
    assert bash_rule_matches(glued, ["npm", "run", "test:unit"])
    literal = rule("Bash(echo '*')")
    assert bash_rule_matches(literal, ["echo", "*"])
    assert not bash_rule_matches(literal, ["echo", "hi"])
    escaped = rule("Bash(echo \\*)")
    assert bash_rule_matches(escaped, ["echo", "*"])
    assert not bash_rule_matches(escaped, ["echo", "hi"])


def test_bare_bash_matches_every_command_and_other_tools_never() -> None:
    assert bash_rule_matches(rule("Bash"), ["anything"])
    assert bash_rule_matches(rule("Bash(*)"), ["anything"])
    assert not bash_rule_matches(rule("Read"), ["ls"])
    assert not bash_rule_matches(rule("Bash(ls)"), [])


# --- paths ---------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = (tmp_path / "proj").resolve()
    for rel in ("src/app.py", "src/deep/x/y.py", ".env", "config/.env", "build/out.o", "a.env"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    return root


def test_relative_to_cwd_bare_and_dot(tree: Path) -> None:
    floating = rule("Read(*.env)")
    assert path_rule_matches(floating, tree / ".env", tree)
    assert path_rule_matches(floating, tree / "config" / ".env", tree)
    assert path_rule_matches(floating, tree / "a.env", tree)
    assert not path_rule_matches(floating, tree / "src" / "app.py", tree)
    anchored = rule("Read(./.env)")
    assert path_rule_matches(anchored, tree / ".env", tree)
    assert not path_rule_matches(anchored, tree / "config" / ".env", tree)
    # The same rule means a different file when coda runs in another directory.
    assert path_rule_matches(anchored, tree / "config" / ".env", tree / "config")


def test_gitignore_double_star_and_directories(tree: Path) -> None:
    src = rule("Edit(./src/**)")
    assert path_rule_matches(src, tree / "src" / "app.py", tree)
    assert path_rule_matches(src, tree / "src" / "deep" / "x" / "y.py", tree)
    assert path_rule_matches(src, tree / "src", tree)  # the directory itself, for LS
    assert not path_rule_matches(src, tree / "config" / ".env", tree)
    deep = rule("Edit(src/**/*.py)")
    assert path_rule_matches(deep, tree / "src" / "deep" / "x" / "y.py", tree)
    assert path_rule_matches(deep, tree / "src" / "app.py", tree)
    directory = rule("Read(build/)")
    assert path_rule_matches(directory, tree / "build", tree)
    assert path_rule_matches(directory, tree / "build" / "out.o", tree)
    (tree / "src" / "build").write_text("")  # a file named like the directory pattern
    assert not path_rule_matches(directory, tree / "src" / "build", tree)
    everything = rule("Read(./**)")
    assert path_rule_matches(everything, tree, tree)
    assert path_rule_matches(everything, tree / "src" / "app.py", tree)


def test_absolute_anchor(tree: Path) -> None:
    absolute = rule(f"Read(/{tree}/src/*.py)")
    assert absolute.spec is not None and absolute.spec.startswith("//")
    assert path_rule_matches(absolute, tree / "src" / "app.py", Path("/"))
    assert not path_rule_matches(absolute, tree / "src" / "deep" / "x" / "y.py", Path("/"))
    assert path_rule_matches(rule("Read(//etc/**)"), Path("/etc/passwd"), tree)


def test_home_anchor(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree / "src"))
    home_rule = rule("Read(~/deep/**)")
    assert path_rule_matches(home_rule, tree / "src" / "deep" / "x" / "y.py", tree)
    assert not path_rule_matches(home_rule, tree / "build" / "out.o", tree)


def test_settings_root_anchor(tree: Path) -> None:
    settings_root = rule("Edit(/src/*.py)", base=tree)
    sub = tree / "config"
    assert path_rule_matches(settings_root, tree / "src" / "app.py", sub)
    assert not path_rule_matches(settings_root, sub / "src" / "app.py", sub)
    # Without a base (a rule from inline JSON), `/` means the cwd.
    assert path_rule_matches(rule("Edit(/src/*.py)"), tree / "src" / "app.py", tree)


def test_paths_outside_the_anchor_never_match(tree: Path) -> None:
    cwd = tree / "src"
    everything_here = rule("Edit(**)")
    assert path_rule_matches(everything_here, cwd / "app.py", cwd)
    assert not path_rule_matches(everything_here, tree / ".env", cwd)
    assert not path_rule_matches(rule("Read(*.env)"), tree / ".env", cwd)
    # A sibling whose name starts like the root is not under it.
    evil = tree.parent / "proj-evil"
    evil.mkdir()
    assert not path_rule_matches(rule("Edit(./**)"), evil / "x", tree)


def test_parent_segments_move_the_root_up(tree: Path) -> None:
    cwd = tree / "src"
    up = rule("Read(../config/.env)")
    assert path_rule_matches(up, tree / "config" / ".env", cwd)
    assert not path_rule_matches(up, cwd / "config" / ".env", cwd)


def test_cwd_symlink_is_resolved(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tree)
    assert path_rule_matches(rule("Edit(./src/**)"), tree / "src" / "app.py", link)


def test_bare_path_tool_rule_matches_every_path(tree: Path) -> None:
    assert path_rule_matches(rule("Read"), Path("/etc/passwd"), tree)
    assert not path_rule_matches(rule("Bash(ls)"), tree / ".env", tree)


def test_escaped_specials_are_literal(tree: Path) -> None:
    weird = tree / "a (1)[x]*.py"
    weird.write_text("")
    text = suggest_rule("Edit", path=weird, cwd=tree)
    assert text == "Edit(./a \\(1\\)\\[x\\]\\*.py)"
    parsed = rule(text)
    assert path_rule_matches(parsed, weird, tree)
    assert not path_rule_matches(parsed, tree / "a (1)[x]zz.py", tree)


# --- WebFetch ------------------------------------------------------------------------


def test_domains() -> None:
    exact = rule("WebFetch(domain:example.com)")
    assert domain_rule_matches(exact, "example.com")
    assert domain_rule_matches(exact, "EXAMPLE.com.")
    assert not domain_rule_matches(exact, "docs.example.com")
    assert not domain_rule_matches(exact, "evilexample.com")
    wildcard = rule("WebFetch(domain:*.example.com)")
    assert domain_rule_matches(wildcard, "docs.example.com")
    assert domain_rule_matches(wildcard, "a.b.example.com")
    assert not domain_rule_matches(wildcard, "example.com")
    assert not domain_rule_matches(wildcard, "evilexample.com")
    assert domain_rule_matches(rule("WebFetch"), "anything.org")
    assert not domain_rule_matches(rule("Bash"), "example.com")


# --- suggestions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["npm", "test"], "Bash(npm test:*)"),
        (["npm", "test", "--", "--watch"], "Bash(npm test:*)"),
        (["git", "status"], "Bash(git status:*)"),
        (["cargo", "build", "--release"], "Bash(cargo build:*)"),
        (["npm", "run", "build"], "Bash(npm run build:*)"),
        (["uv", "run", "pytest", "-q"], "Bash(uv run pytest:*)"),
        (["make"], "Bash(make)"),
        (["ls", "-la"], "Bash(ls:*)"),
        (["python", "-m", "pytest"], "Bash(python -m pytest)"),
        (["python", "script.py"], "Bash(python script.py)"),
        (["rm", "-rf", "build"], "Bash(rm -rf build)"),
        (["rm", "build"], "Bash(rm build)"),
        (["git", "push", "origin", "main"], "Bash(git push origin main)"),
        (["git", "-C", "lib", "status"], "Bash(git -C lib status)"),
        (["sed", "-i", "s/a/b/", "f.txt"], "Bash(sed -i s/a/b/ f.txt)"),
        (["echo", "it's (x)"], "Bash(echo:*)"),
        (["grep", "-r", "TODO (x)", "src"], "Bash(grep:*)"),
        (["./configure", "--prefix=/opt"], "Bash(./configure --prefix=/opt)"),
        (["touch", "a b*.txt"], "Bash(touch 'a b*.txt')"),
    ],
)
def test_bash_suggestions(argv: list[str], expected: str) -> None:
    text = suggest_rule("Bash", argv=argv)
    assert text == expected
    assert bash_rule_matches(parse_rule(text), argv)  # the saved rule allows what was asked


def test_suggestions_are_never_whole_tools() -> None:
    for argv in (["bash"], ["sh", "-c", "x"], ["env"], ["*"], ["a", "*"]):
        text = suggest_rule("Bash", argv=argv)
        parsed = parse_rule(text)
        assert parsed.spec is not None, text
        assert not bash_rule_matches(parsed, ["rm", "-rf", "/"]), text


def test_path_suggestions(tree: Path, tmp_path: Path) -> None:
    app = tree / "src" / "app.py"
    assert suggest_rule("Edit", path=app, cwd=tree) == "Edit(./src/app.py)"
    assert suggest_rule("Write", path=tree / "new.py", cwd=tree) == "Edit(./new.py)"
    assert suggest_rule("MultiEdit", path=app, cwd=tree) == "Edit(./src/app.py)"
    outside = tmp_path / "elsewhere" / "notes.md"
    outside.parent.mkdir()
    outside.write_text("")
    assert suggest_rule("Edit", path=outside, cwd=tree) == f"Edit(/{outside})"
    read = suggest_rule("Read", path=outside, cwd=tree)
    assert read == f"Read(/{outside.parent}/**)"
    assert path_rule_matches(parse_rule(read), outside, tree)
    assert suggest_rule("LS", path=outside.parent, cwd=tree) == read
    assert path_rule_matches(parse_rule(read), outside.parent, tree)
    assert suggest_rule("Grep", path=app, cwd=tree) == "Read(./src/app.py)"
    assert path_rule_matches(parse_rule("Edit(./src/app.py)"), app, tree)


def test_other_suggestions() -> None:
    assert suggest_rule("WebFetch", host="Docs.Example.com") == "WebFetch(domain:docs.example.com)"
    assert suggest_rule("mcp__github__create_issue") == "mcp__github__create_issue"
    with pytest.raises(ValueError):
        suggest_rule("Bash")
    with pytest.raises(ValueError):
        suggest_rule("Edit", path=Path("/x"))


def test_matching_does_not_touch_cwd(tree: Path) -> None:
    before = os.getcwd()
    path_rule_matches(rule("Read(./src/**)"), tree / "src" / "app.py", tree)
    assert os.getcwd() == before


def test_relative_and_unresolved_paths_are_resolved_before_matching(
    tree: Path, tmp_path: Path
) -> None:
    deny = rule("Read(./.env)")
    assert path_rule_matches(deny, Path(".env"), tree)
    assert path_rule_matches(deny, tree / "src" / ".." / ".env", tree)
    link = tmp_path / "env-link"
    link.symlink_to(tree / ".env")
    assert path_rule_matches(rule(f"Read(/{tree}/.env)"), link, tree)
