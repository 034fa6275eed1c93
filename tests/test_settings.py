"""Settings layers, merging, error locations, and saving "always allow" rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from coda.config import SettingsError
from coda.git_exclude import ensure_git_exclude
from coda.permissions.rules import RuleError, bash_rule_matches, path_rule_matches
from coda.settings import LOCAL_SETTINGS, Settings, load_settings, save_local_rule


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "CODA_CONFIG_DIR": str(tmp_path / "config"),
        "CODA_MANAGED_SETTINGS": str(tmp_path / "etc" / "managed-settings.json"),
        "HOME": str(tmp_path / "home"),
    }


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def layers(project: Path, env: dict[str, str]) -> dict[str, Path]:
    return {
        "user": Path(env["CODA_CONFIG_DIR"]) / "settings.json",
        "claude": project / ".claude" / "settings.json",
        "claude_local": project / ".claude" / "settings.local.json",
        "project": project / ".coda" / "settings.json",
        "local": project / ".coda" / "settings.local.json",
        "managed": Path(env["CODA_MANAGED_SETTINGS"]),
    }


def texts(rules: list[Any]) -> list[str]:
    return [r.text for r in rules]


def test_no_files_gives_defaults(project: Path, env: dict[str, str]) -> None:
    settings = load_settings(project, env)
    assert settings == Settings()
    assert settings.include_co_authored_by is True
    assert settings.sandbox.auto_allow_bash_if_sandboxed is True
    assert settings.files == []


def test_precedence_and_merging_across_all_layers(project: Path, env: dict[str, str]) -> None:
    paths = layers(project, env)
    names = ["user", "claude", "claude_local", "project", "local", "cli", "managed"]
    for name in names[:5] + names[6:]:
        write(
            paths[name],
            {
                "model": f"model-{name}",
                "env": {"LAYER": name, f"ONLY_{name.upper()}": "1"},
                "permissions": {
                    "allow": [f"Bash(echo {name})"],
                    "deny": [f"Bash(rm {name})"],
                    "additionalDirectories": [f"/dirs/{name}"],
                },
                "sandbox": {"network": {"allowedDomains": [f"{name}.example.com"]}},
            },
        )
    cli = json.dumps({"model": "model-cli", "permissions": {"allow": ["Bash(echo cli)"]}})

    settings = load_settings(project, env, cli_settings=cli)

    assert settings.model == "model-managed"
    assert settings.env["LAYER"] == "managed"
    assert {k for k in settings.env if k.startswith("ONLY_")} == {
        f"ONLY_{n.upper()}" for n in names if n != "cli"
    }
    assert texts(settings.permissions.allow) == [f"Bash(echo {n})" for n in names]
    assert texts(settings.permissions.deny) == [f"Bash(rm {n})" for n in names if n != "cli"]
    assert settings.permissions.additional_directories == [
        Path(f"/dirs/{n}") for n in names if n != "cli"
    ]
    assert settings.sandbox.allowed_domains == [f"{n}.example.com" for n in names if n != "cli"]
    assert settings.files == [paths[n] for n in names if n != "cli"]
    # Each rule remembers its file; inline --settings JSON has none.
    sources = [r.source for r in settings.permissions.allow]
    assert sources == [paths[n] for n in names[:5]] + [None, paths["managed"]]


def test_highest_layer_that_sets_a_scalar_wins(project: Path, env: dict[str, str]) -> None:
    paths = layers(project, env)
    write(paths["user"], {"model": "user-model", "includeCoAuthoredBy": False})
    write(paths["project"], {"permissions": {"defaultMode": "acceptEdits"}})
    write(paths["local"], {"sandbox": {"enabled": True}})
    settings = load_settings(project, env)
    assert settings.model == "user-model"
    assert settings.include_co_authored_by is False
    assert settings.permissions.default_mode == "acceptEdits"
    assert settings.sandbox.enabled is True
    assert settings.sandbox.auto_allow_bash_if_sandboxed is True


def test_claude_files_are_read_below_coda_files(project: Path, env: dict[str, str]) -> None:
    paths = layers(project, env)
    write(paths["claude"], {"model": "claude-project", "permissions": {"allow": ["Read"]}})
    write(paths["claude_local"], {"model": "claude-local"})
    assert load_settings(project, env).model == "claude-local"
    write(paths["project"], {"model": "coda-project"})
    settings = load_settings(project, env)
    assert settings.model == "coda-project"
    assert texts(settings.permissions.allow) == ["Read"]


def test_managed_settings_win_and_can_turn_off_bypass(project: Path, env: dict[str, str]) -> None:
    paths = layers(project, env)
    write(paths["local"], {"permissions": {"defaultMode": "bypassPermissions"}})
    write(
        paths["managed"],
        {"permissions": {"defaultMode": "default", "disableBypassPermissionsMode": "disable"}},
    )
    settings = load_settings(project, env, cli_settings='{"model": "x"}')
    assert settings.permissions.default_mode == "default"
    assert settings.permissions.disable_bypass_mode is True


def test_managed_path_parameter_overrides_env(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    write(Path(env["CODA_MANAGED_SETTINGS"]), {"model": "from-env"})
    other = write(tmp_path / "other-managed.json", {"model": "from-parameter"})
    assert load_settings(project, env).model == "from-env"
    assert load_settings(project, env, managed_path=other).model == "from-parameter"


def test_cli_settings_file(project: Path, env: dict[str, str], tmp_path: Path) -> None:
    write(layers(project, env)["local"], {"model": "local"})
    extra = write(tmp_path / "extra.json", {"model": "from-file"})
    settings = load_settings(project, env, cli_settings=str(extra))
    assert settings.model == "from-file"
    assert extra in settings.files
    relative = load_settings(project, env, cli_settings="../extra.json")
    assert relative.model == "from-file"


def test_missing_cli_settings_file_is_an_error(project: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"nope\.json: no such settings file"):
        load_settings(project, env, cli_settings="nope.json")


def test_hooks_kept_raw_and_lists_concatenate(project: Path, env: dict[str, str]) -> None:
    paths = layers(project, env)
    user_hook = {"matcher": "Bash", "hooks": [{"type": "command", "command": "a"}]}
    project_hook = {"matcher": "Edit", "hooks": [{"type": "command", "command": "b"}]}
    write(paths["user"], {"hooks": {"PreToolUse": [user_hook]}})
    write(paths["project"], {"hooks": {"PreToolUse": [project_hook], "Stop": []}})
    hooks = load_settings(project, env).hooks
    assert hooks == {"PreToolUse": [user_hook, project_hook], "Stop": []}


def test_unknown_keys_warn_but_are_kept(project: Path, env: dict[str, str]) -> None:
    path = write(
        layers(project, env)["claude"],
        '{\n  "statusLine": {"type": "command"},\n  "apiKeyHelper": "x",\n'
        '  "permissions": {"allow": [], "future": 1},\n'
        '  "sandbox": {"excludedCommands": ["docker"]}\n}\n',
    )
    settings = load_settings(project, env)
    assert settings.extra == {"statusLine": {"type": "command"}, "apiKeyHelper": "x"}
    assert f"{path}:2:3: statusLine: unknown setting, kept but not used by coda" in (
        settings.warnings
    )
    assert any(w.startswith(f"{path}:3:3: apiKeyHelper") for w in settings.warnings)
    assert any(f"{path}:4:" in w and "permissions.future" in w for w in settings.warnings)


def test_relative_additional_directories_and_tilde(project: Path, env: dict[str, str]) -> None:
    write(
        layers(project, env)["project"],
        {"permissions": {"additionalDirectories": ["../lib", "~/notes", "/abs"]}},
    )
    dirs = load_settings(project, env).permissions.additional_directories
    assert dirs[0] == project / ".." / "lib"
    assert dirs[1] == Path.home() / "notes"
    assert dirs[2] == Path("/abs")


def test_rules_anchor_at_their_files_project_root(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    paths = layers(project, env)
    write(paths["project"], {"permissions": {"deny": ["Edit(/secrets/**)"]}})
    write(paths["user"], {"permissions": {"deny": ["Edit(/local.json)"]}})
    user_rule, project_rule = load_settings(project, env).permissions.deny
    assert project_rule.base == project
    assert user_rule.base == Path(env["CODA_CONFIG_DIR"])
    sub = project / "sub"
    sub.mkdir()
    (project / "secrets").mkdir()
    assert path_rule_matches(project_rule, (project / "secrets" / "k").resolve(), sub)
    assert not path_rule_matches(project_rule, (sub / "secrets" / "k").resolve(), sub)


# --- errors --------------------------------------------------------------------------


def test_json_syntax_error_names_file_line_and_column(project: Path, env: dict[str, str]) -> None:
    path = write(layers(project, env)["project"], '{\n  "model": "x",\n  "env": {,}\n}\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(project, env)
    assert str(caught.value).startswith(f"{path}:3:11: invalid JSON")


def test_wrong_type_names_the_key_and_its_line(project: Path, env: dict[str, str]) -> None:
    path = write(
        layers(project, env)["local"],
        '{\n  "permissions": {\n    "allow": [\n      "Read",\n      "Bash(ls)",\n'
        "      42\n    ]\n  }\n}\n",
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(project, env)
    assert str(caught.value) == f"{path}:6:7: permissions.allow[2] must be a string"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"model": 3}, "1:2: model must be a string"),
        ({"includeCoAuthoredBy": "no"}, "1:2: includeCoAuthoredBy must be true or false"),
        ({"env": {"A": 1}}, "1:10: env.A must be a string"),
        ({"permissions": []}, "1:2: permissions must be an object"),
        ({"permissions": {"deny": "Bash"}}, "1:18: permissions.deny must be a list"),
        ({"permissions": {"defaultMode": "yolo"}}, "permissions.defaultMode must be one of"),
        (
            {"permissions": {"disableBypassPermissionsMode": True}},
            "permissions.disableBypassPermissionsMode must be a string",
        ),
        ({"sandbox": {"enabled": "yes"}}, "1:14: sandbox.enabled must be true or false"),
        (
            {"sandbox": {"network": {"allowedDomains": [1]}}},
            "1:45: sandbox.network.allowedDomains[0] must be a string",
        ),
        ({"hooks": []}, "1:2: hooks must be an object"),
        ([], "1:1: settings must be a JSON object"),
    ],
)
def test_type_errors(project: Path, env: dict[str, str], data: Any, expected: str) -> None:
    path = write(layers(project, env)["project"], json.dumps(data))
    with pytest.raises(SettingsError) as caught:
        load_settings(project, env)
    assert str(caught.value).startswith(f"{path}:")
    assert expected in str(caught.value)


def test_bad_rule_names_file_line_and_rule(project: Path, env: dict[str, str]) -> None:
    path = write(
        layers(project, env)["claude"],
        '{\n  "permissions": {\n    "deny": ["Read(./.env)",\n             "Bash("]\n  }\n}\n',
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(project, env)
    message = str(caught.value)
    assert message.startswith(f"{path}:4:14: permissions.deny[1] invalid rule 'Bash('")
    assert "missing closing parenthesis" in message


def test_inline_cli_json_errors_are_labelled(project: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"^--settings \(inline JSON\):1:\d+: invalid JSON"):
        load_settings(project, env, cli_settings='{"model": }')


def test_one_bad_file_means_no_settings_at_all(project: Path, env: dict[str, str]) -> None:
    paths = layers(project, env)
    write(paths["project"], {"permissions": {"deny": ["Bash(rm:*)"]}})
    write(paths["managed"], {"permissions": {"allow": ["Bash()"]}})
    with pytest.raises(SettingsError, match=r"managed-settings\.json"):
        load_settings(project, env)


def test_unreadable_file_is_an_error(project: Path, env: dict[str, str]) -> None:
    (project / ".coda" / "settings.json").mkdir(parents=True)
    with pytest.raises(SettingsError, match="cannot read settings"):
        load_settings(project, env)


# --- saving --------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def test_save_local_rule_creates_file_and_excludes_it_from_git(
    project: Path, env: dict[str, str]
) -> None:
    git(project, "init", "-q")
    path = save_local_rule(project, "Bash(npm test:*)")
    assert path == project / ".coda" / "settings.local.json"
    assert json.loads(path.read_text()) == {"permissions": {"allow": ["Bash(npm test:*)"]}}
    exclude = project / ".git" / "info" / "exclude"
    assert exclude.read_text().splitlines().count(".coda/settings.local.json") == 1
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""

    save_local_rule(project, "Bash(npm test:*)")
    save_local_rule(project, "Read(//etc/**)", "deny")
    assert json.loads(path.read_text()) == {
        "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(//etc/**)"]}
    }
    assert exclude.read_text().splitlines().count(".coda/settings.local.json") == 1

    fresh = load_settings(project, env)
    (rule,) = fresh.permissions.allow
    assert rule.text == "Bash(npm test:*)" and rule.source == path
    assert bash_rule_matches(rule, ["npm", "test", "--watch"])
    assert texts(fresh.permissions.deny) == ["Read(//etc/**)"]


def test_save_local_rule_keeps_other_keys(project: Path) -> None:
    path = write(
        project / ".coda" / "settings.local.json",
        {"model": "m", "statusLine": {"x": 1}, "permissions": {"allow": ["Read"], "ask": []}},
    )
    save_local_rule(project, "Edit(./src/app.py)")
    assert json.loads(path.read_text()) == {
        "model": "m",
        "statusLine": {"x": 1},
        "permissions": {"allow": ["Read", "Edit(./src/app.py)"], "ask": []},
    }
    assert path.read_text().startswith('{\n  "model": "m",')
    assert [p.name for p in path.parent.iterdir()] == ["settings.local.json"]  # no temp left


def test_save_local_rule_refuses_bad_rules_and_broken_files(project: Path) -> None:
    with pytest.raises(RuleError):
        save_local_rule(project, "Bash(")
    assert not (project / ".coda").exists()
    broken = write(project / ".coda" / "settings.local.json", '{"permissions": ')
    with pytest.raises(SettingsError):
        save_local_rule(project, "Bash(ls)")
    assert broken.read_text() == '{"permissions": '


def test_save_local_rule_outside_git(project: Path) -> None:
    path = save_local_rule(project, "WebFetch(domain:example.com)")
    assert path.exists()
    assert not (project / ".git").exists()


def test_loading_a_local_file_adds_the_exclude_entry(project: Path, env: dict[str, str]) -> None:
    git(project, "init", "-q")
    write(project / ".coda" / "settings.local.json", {"model": "m"})
    load_settings(project, env)
    exclude = (project / ".git" / "info" / "exclude").read_text()
    assert ".coda/settings.local.json" in exclude.splitlines()


def test_exclude_from_a_subdirectory_and_a_worktree(project: Path, tmp_path: Path) -> None:
    git(project, "init", "-q")
    git(
        project,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    sub = project / "pkg"
    sub.mkdir()
    save_local_rule(sub, "Bash(make)")
    exclude = project / ".git" / "info" / "exclude"
    assert "pkg/.coda/settings.local.json" in exclude.read_text().splitlines()
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""

    worktree = tmp_path / "wt"
    git(project, "worktree", "add", "-q", str(worktree))
    save_local_rule(worktree, "Bash(make)")
    # Worktrees share the main repository's info/exclude.
    assert exclude.read_text().splitlines().count(".coda/settings.local.json") == 1
    assert git(worktree, "status", "--porcelain", "--untracked-files=all") == ""
    assert ensure_git_exclude(worktree, LOCAL_SETTINGS) is None
