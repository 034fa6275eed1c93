"""Settings: every layer read, validated and merged into one typed `Settings`, or an error.

Layers, lowest to highest precedence:

1. user      `<config_dir>/settings.json` (CODA_CONFIG_DIR, default ~/.config/coda)
2. Claude    `.claude/settings.json`, then `.claude/settings.local.json`
3. project   `.coda/settings.json`
4. local     `.coda/settings.local.json` (personal; kept out of git via .git/info/exclude)
5. CLI       `--settings FILE` or `--settings '{"inline": "json"}'`
6. managed   `/etc/coda/managed-settings.json` (CODA_MANAGED_SETTINGS in tests)

Project files are looked up in the cwd only, the directory coda was started in, as Claude
Code does with its project root; a parent git root is not searched.

Rule lists, additionalDirectories, allowedDomains and hook lists concatenate across layers;
`env` merges per key; every other value is taken from the highest layer that sets it. Deny
beats ask beats allow at decision time, so no layer can lift a managed deny.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from coda.config import SettingsError, config_dir, write_atomically
from coda.git_exclude import ensure_git_exclude
from coda.permissions.base import MODES, Behavior, Mode
from coda.permissions.rules import Rule, RuleError, parse_rule

DEFAULT_MANAGED = Path("/etc/coda/managed-settings.json")
LOCAL_SETTINGS = Path(".coda") / "settings.local.json"

_BEHAVIORS: tuple[Behavior, ...] = ("allow", "ask", "deny")
_KNOWN_TOP = frozenset(
    {
        "permissions",
        "env",
        "model",
        "sandbox",
        "includeCoAuthoredBy",
        "hooks",
        "autoCompact",
        "autoCompactThreshold",
        "checkpoints",
        "enableAllProjectMcpServers",
        "enabledMcpjsonServers",
        "disabledMcpjsonServers",
    }
)
_KNOWN_PERMISSIONS = frozenset(
    {*_BEHAVIORS, "defaultMode", "additionalDirectories", "disableBypassPermissionsMode"}
)


@dataclass(slots=True)
class PermissionSettings:
    allow: list[Rule] = field(default_factory=list)
    ask: list[Rule] = field(default_factory=list)
    deny: list[Rule] = field(default_factory=list)
    default_mode: Mode | None = None
    additional_directories: list[Path] = field(default_factory=list)
    # permissions.disableBypassPermissionsMode: "disable" in any layer.
    disable_bypass_mode: bool = False


@dataclass(slots=True)
class SandboxSettings:
    enabled: bool = False
    auto_allow_bash_if_sandboxed: bool = True
    allowed_domains: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Settings:
    permissions: PermissionSettings = field(default_factory=PermissionSettings)
    env: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    include_co_authored_by: bool = True
    hooks: dict[str, Any] = field(default_factory=dict)
    auto_compact: bool = True
    # Compact when a request would pass this share of the model's context window.
    auto_compact_threshold: float = 0.85
    # Snapshot the workspace before each prompt so /rewind can restore files.
    checkpoints: bool = True
    # Claude Code's answers for the project's .mcp.json servers, decided in settings.
    mcp_approval: McpApproval = field(default_factory=lambda: McpApproval())
    # Top-level keys coda does not use (Claude Code's statusLine, apiKeyHelper, …), kept.
    extra: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class McpApproval:
    enable_all: bool = False
    enabled: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)

    def decide(self, name: str) -> bool | None:
        """Settings' word on one .mcp.json server: a refusal wins; None if they are silent."""
        if name in self.disabled:
            return False
        if self.enable_all or name in self.enabled:
            return True
        return None


@dataclass(frozen=True, slots=True)
class _Source:
    label: str  # the file path, or "--settings (inline JSON)", for messages
    path: Path | None  # the file, if it is one
    base: Path  # where `/`-anchored rules and relative directories resolve
    text: str


# --- loading -------------------------------------------------------------------------


def load_settings(
    cwd: Path,
    env: Mapping[str, str],
    *,
    cli_settings: str | None = None,
    managed_path: Path | None = None,
) -> Settings:
    """Read every layer and merge them; raise SettingsError naming the file, line and key."""
    cwd = Path(cwd)
    settings = Settings()
    for source in _sources(cwd, env, cli_settings, managed_path):
        if source.path is not None:
            settings.files.append(source.path)
        _merge(settings, _Layer(source).read())
    if (cwd / LOCAL_SETTINGS).is_file():
        warning = ensure_git_exclude(cwd, LOCAL_SETTINGS)
        if warning:
            settings.warnings.append(warning)
    return settings


def managed_settings_path(env: Mapping[str, str], override: Path | None = None) -> Path:
    if override is not None:
        return override
    return (
        Path(env["CODA_MANAGED_SETTINGS"]) if env.get("CODA_MANAGED_SETTINGS") else DEFAULT_MANAGED
    )


def _sources(
    cwd: Path, env: Mapping[str, str], cli: str | None, managed: Path | None
) -> list[_Source]:
    user_dir = config_dir(env)
    files = [
        (user_dir / "settings.json", user_dir),
        (cwd / ".claude" / "settings.json", cwd),
        (cwd / ".claude" / "settings.local.json", cwd),
        (cwd / ".coda" / "settings.json", cwd),
        (cwd / LOCAL_SETTINGS, cwd),
    ]
    sources = [s for path, base in files if (s := _read_file(path, base)) is not None]
    if cli is not None:
        sources.append(_cli_source(cli, cwd))
    managed_file = managed_settings_path(env, managed)
    if (found := _read_file(managed_file, managed_file.parent)) is not None:
        sources.append(found)
    return sources


def _read_file(path: Path, base: Path, *, required: bool = False) -> _Source | None:
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        if required:
            raise SettingsError(f"{path}: no such settings file") from None
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc}") from exc
    return _Source(str(path), path, base, text)


def _cli_source(value: str, cwd: Path) -> _Source:
    if value.lstrip().startswith("{"):
        return _Source("--settings (inline JSON)", None, cwd, value)
    path = cwd / Path(value).expanduser()
    # A file given on the command line anchors `/` rules like a project file would.
    base = path.parent.parent if path.parent.name in (".coda", ".claude") else path.parent
    found = _read_file(path, base, required=True)
    assert found is not None
    return found


# --- one layer -----------------------------------------------------------------------


@dataclass(slots=True)
class _Parsed:
    rules: dict[Behavior, list[Rule]] = field(default_factory=dict)
    default_mode: Mode | None = None
    additional_directories: list[Path] = field(default_factory=list)
    disable_bypass_mode: bool = False
    env: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    sandbox_enabled: bool | None = None
    auto_allow_bash: bool | None = None
    allowed_domains: list[str] = field(default_factory=list)
    include_co_authored_by: bool | None = None
    hooks: dict[str, Any] = field(default_factory=dict)
    auto_compact: bool | None = None
    auto_compact_threshold: float | None = None
    checkpoints: bool | None = None
    mcp_enable_all: bool | None = None
    mcp_enabled: list[str] = field(default_factory=list)
    mcp_disabled: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_Key = tuple[str | int, ...]


class _Layer:
    """One source's JSON, checked key by key; errors carry file:line:col and the key."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.positions: dict[_Key, int] = {}
        self.out = _Parsed()

    def read(self) -> _Parsed:
        text = self.source.text
        if not text.strip():
            return self.out
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(
                f"{self.source.label}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
            ) from exc
        if not isinstance(data, dict):
            raise SettingsError(f"{self.source.label}:1:1: settings must be a JSON object")
        self.positions = _key_positions(text)
        for key, value in data.items():
            if key not in _KNOWN_TOP:
                self._warn((key,), "unknown setting, kept but not used by coda")
                self.out.extra[key] = value
        self._permissions(data)
        self.out.env = self._mapping_of_str(data, ("env",))
        self.out.model = self._typed(data, ("model",), str)
        self.out.include_co_authored_by = self._typed(data, ("includeCoAuthoredBy",), bool)
        self.out.auto_compact = self._typed(data, ("autoCompact",), bool)
        self.out.checkpoints = self._typed(data, ("checkpoints",), bool)
        self.out.mcp_enable_all = self._typed(data, ("enableAllProjectMcpServers",), bool)
        self.out.mcp_enabled = self._list_of_str(data, ("enabledMcpjsonServers",))
        self.out.mcp_disabled = self._list_of_str(data, ("disabledMcpjsonServers",))
        self._threshold(data)
        self._sandbox(data)
        hooks = self._typed(data, ("hooks",), dict)
        self.out.hooks = hooks if hooks is not None else {}
        return self.out

    def _threshold(self, data: dict[str, Any]) -> None:
        key: _Key = ("autoCompactThreshold",)
        value = data.get("autoCompactThreshold")
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            self._fail(key, "must be a number above 0 and at most 1 (0.85 is 85%)")
        self.out.auto_compact_threshold = float(value)

    def _permissions(self, data: dict[str, Any]) -> None:
        perms = self._typed(data, ("permissions",), dict)
        if perms is None:
            return
        for key in perms:
            if key not in _KNOWN_PERMISSIONS:
                self._warn(("permissions", key), "unknown permissions setting, ignored")
        for behavior in _BEHAVIORS:
            texts = self._list_of_str(perms, ("permissions", behavior))
            self.out.rules[behavior] = [
                self._rule(text, ("permissions", behavior, i)) for i, text in enumerate(texts)
            ]
        mode = self._typed(perms, ("permissions", "defaultMode"), str)
        if mode is not None:
            if mode not in MODES:
                self._fail(
                    ("permissions", "defaultMode"),
                    f"must be one of {', '.join(MODES)}, not {mode!r}",
                )
            self.out.default_mode = _as_mode(mode)
        for raw in self._list_of_str(perms, ("permissions", "additionalDirectories")):
            self.out.additional_directories.append(self.source.base / Path(raw).expanduser())
        disable = self._typed(perms, ("permissions", "disableBypassPermissionsMode"), str)
        if disable is not None and disable != "disable":
            self._fail(("permissions", "disableBypassPermissionsMode"), 'must be "disable"')
        self.out.disable_bypass_mode = disable == "disable"

    def _sandbox(self, data: dict[str, Any]) -> None:
        sandbox = self._typed(data, ("sandbox",), dict)
        if sandbox is None:
            return
        self.out.sandbox_enabled = self._typed(sandbox, ("sandbox", "enabled"), bool)
        self.out.auto_allow_bash = self._typed(
            sandbox, ("sandbox", "autoAllowBashIfSandboxed"), bool
        )
        network = self._typed(sandbox, ("sandbox", "network"), dict)
        if network is not None:
            key = ("sandbox", "network", "allowedDomains")
            self.out.allowed_domains = self._list_of_str(network, key)

    def _rule(self, text: str, key: _Key) -> Rule:
        try:
            return parse_rule(text, source=self.source.path, base=self.source.base)
        except RuleError as exc:
            self._fail(key, f"invalid rule {text!r}: {exc}")

    # Typed access. `key` is the full path from the document root; its last part is looked
    # up in `container`, the object that holds it.

    def _typed(self, container: dict[str, Any], key: _Key, kind: type) -> Any:
        value = container.get(str(key[-1]))
        if value is None:
            return None
        if not isinstance(value, kind):
            self._fail(key, f"must be {_KIND_NAMES.get(kind, kind.__name__)}")
        return value

    def _list_of_str(self, container: dict[str, Any], key: _Key) -> list[str]:
        items = self._typed(container, key, list)
        if items is None:
            return []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self._fail((*key, i), "must be a string")
        return list(items)

    def _mapping_of_str(self, container: dict[str, Any], key: _Key) -> dict[str, str]:
        mapping = self._typed(container, key, dict)
        if mapping is None:
            return {}
        for name, value in mapping.items():
            if not isinstance(value, str):
                self._fail((*key, name), "must be a string")
        return dict(mapping)

    def _where(self, key: _Key) -> str:
        for end in range(len(key), 0, -1):
            offset = self.positions.get(key[:end])
            if offset is not None:
                text = self.source.text
                line = text.count("\n", 0, offset) + 1
                column = offset - (text.rfind("\n", 0, offset) + 1) + 1
                return f"{self.source.label}:{line}:{column}"
        return self.source.label

    def _fail(self, key: _Key, message: str) -> NoReturn:
        raise SettingsError(f"{self._where(key)}: {_key_name(key)} {message}")

    def _warn(self, key: _Key, message: str) -> None:
        self.out.warnings.append(f"{self._where(key)}: {_key_name(key)}: {message}")


_KIND_NAMES: dict[type, str] = {
    str: "a string",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def _as_mode(value: str) -> Mode:
    for mode in MODES:
        if mode == value:
            return mode
    raise AssertionError(value)


def _key_name(key: _Key) -> str:
    name = ""
    for part in key:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def _key_positions(text: str) -> dict[_Key, int]:
    """Offsets of every object key and array element in a valid JSON text, by key path."""
    decoder = json.JSONDecoder()
    positions: dict[_Key, int] = {}

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def walk(i: int, key: _Key) -> int:
        i = skip(i)
        opening = text[i]
        if opening not in "{[":
            return int(decoder.raw_decode(text, i)[1])
        closing = "}" if opening == "{" else "]"
        i = skip(i + 1)
        index = 0
        while text[i] != closing:
            if opening == "{":
                name, end = decoder.raw_decode(text, i)
                positions[(*key, name)] = i
                i = walk(skip(end) + 1, (*key, name))  # past the colon
            else:
                positions[(*key, index)] = i
                i = walk(i, (*key, index))
            index += 1
            i = skip(i)
            if text[i] == ",":
                i = skip(i + 1)
        return i + 1

    walk(0, ())
    return positions


# --- merging -------------------------------------------------------------------------


def _merge(settings: Settings, layer: _Parsed) -> None:
    perms = settings.permissions
    perms.allow += layer.rules.get("allow", [])
    perms.ask += layer.rules.get("ask", [])
    perms.deny += layer.rules.get("deny", [])
    perms.default_mode = layer.default_mode or perms.default_mode
    for directory in layer.additional_directories:
        if directory not in perms.additional_directories:
            perms.additional_directories.append(directory)
    perms.disable_bypass_mode = perms.disable_bypass_mode or layer.disable_bypass_mode
    settings.env.update(layer.env)
    settings.model = layer.model if layer.model is not None else settings.model
    if layer.include_co_authored_by is not None:
        settings.include_co_authored_by = layer.include_co_authored_by
    if layer.auto_compact is not None:
        settings.auto_compact = layer.auto_compact
    if layer.auto_compact_threshold is not None:
        settings.auto_compact_threshold = layer.auto_compact_threshold
    if layer.checkpoints is not None:
        settings.checkpoints = layer.checkpoints
    mcp = settings.mcp_approval
    if layer.mcp_enable_all is not None:
        mcp.enable_all = layer.mcp_enable_all
    mcp.enabled += layer.mcp_enabled
    mcp.disabled += layer.mcp_disabled
    sandbox = settings.sandbox
    if layer.sandbox_enabled is not None:
        sandbox.enabled = layer.sandbox_enabled
    if layer.auto_allow_bash is not None:
        sandbox.auto_allow_bash_if_sandboxed = layer.auto_allow_bash
    sandbox.allowed_domains += [
        d for d in layer.allowed_domains if d not in sandbox.allowed_domains
    ]
    for event, value in layer.hooks.items():
        before = settings.hooks.get(event)
        if isinstance(before, list) and isinstance(value, list):
            value = [*before, *value]  # every layer's hooks run, as in Claude Code
        settings.hooks[event] = value
    settings.extra.update(layer.extra)
    settings.warnings += layer.warnings


# --- saving --------------------------------------------------------------------------


def save_local_rule(cwd: Path, rule_text: str, behavior: Behavior = "allow") -> Path:
    """Add one rule to `.coda/settings.local.json`, keeping everything else in it.

    The rule is checked first (RuleError if it is malformed); a rule already there is not
    added twice; the file is replaced atomically; and the file is kept out of git.
    """
    if behavior not in _BEHAVIORS:
        raise ValueError(f"behavior must be one of {_BEHAVIORS}, not {behavior!r}")
    rule = parse_rule(rule_text)
    path = Path(cwd) / LOCAL_SETTINGS
    data: dict[str, Any] = {}
    source = _read_file(path, Path(cwd))
    if source is not None and source.text.strip():
        # Refuse to rewrite a file coda cannot read: the person's other settings are in it.
        _Layer(source).read()
        data = json.loads(source.text)
    perms = data.setdefault("permissions", {})
    rules = perms.setdefault(behavior, [])
    if rule.text not in rules:
        rules.append(rule.text)
        write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    ensure_git_exclude(Path(cwd), LOCAL_SETTINGS)
    return path
