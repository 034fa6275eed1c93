"""`coda doctor`: what coda found (providers, model, tools, paths) and what to fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from coda.providers.catalog import DEFAULT_MODEL, ModelInfo, UnknownModel, resolve_model

ANTHROPIC_DEFAULT_URL = "https://api.anthropic.com"
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"

_OK, _BAD, _WARN, _SKIP = "✓", "✗", "!", "-"


@dataclass(frozen=True, slots=True)
class _Provider:
    name: str  # "anthropic" | "openai", as in model specs
    label: str
    configured: bool
    auth: str  # one line on the credentials, never the credential itself
    base_url: str
    explicit_url: bool  # set in env to something other than the public default


def run_doctor(
    env: Mapping[str, str], out: TextIO, *, timeout: float = 2.0, cwd: Path | None = None
) -> int:
    """Print what coda found and return 0 when coda can do its job, 1 otherwise.

    Nothing is sent to the public endpoints unless CODA_DOCTOR_PROBE_DEFAULTS=1: only base URLs
    set explicitly in `env` are probed.
    """
    problems: list[str] = []
    out.write("coda doctor\n")

    _section(out, "Providers")
    providers = [_anthropic(env), _openai(env)]
    probe_defaults = env.get("CODA_DOCTOR_PROBE_DEFAULTS") == "1"
    usable: list[str] = []
    for provider in providers:
        _line(out, _OK if provider.configured else _BAD, f"{provider.label}: {provider.auth}")
        if provider.explicit_url or probe_defaults:
            error = _probe(provider.base_url, timeout)
            if error is None:
                _line(out, _OK, f"{provider.base_url} reachable")
            else:
                _line(out, _BAD, f"{provider.base_url} unreachable: {error}")
                if provider.configured:
                    problems.append(f"{provider.label} endpoint {provider.base_url} is unreachable")
                    continue
        else:
            _line(out, _SKIP, f"{provider.base_url}: not checked (default endpoint)")
        if provider.configured:
            usable.append(provider.name)
    if not any(p.configured for p in providers):
        problems.append(
            "no model provider is configured: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN), "
            "or OPENAI_API_KEY, or OPENAI_BASE_URL for a local OpenAI-compatible server"
        )

    _section(out, "Model")
    _check_model(env, out, providers, problems)

    _section(out, "Tools")
    _check_tools(env, out, problems)

    _section(out, "Paths")
    _check_paths(env, out, cwd or Path.cwd())

    _section(out, "MCP servers")
    _check_mcp(env, out, cwd or Path.cwd())

    out.write("\n")
    if problems:
        out.write(f"{_BAD} coda cannot work yet. Fix: " + "; ".join(problems) + ".\n")
        return 1
    out.write(f"{_OK} coda is ready ({', '.join(usable)}).\n")
    return 0


# ---------------------------------------------------------------- providers


def _anthropic(env: Mapping[str, str]) -> _Provider:
    url, explicit = _base_url(env, "ANTHROPIC_BASE_URL", ANTHROPIC_DEFAULT_URL)
    if env.get("ANTHROPIC_API_KEY"):
        auth = f"ANTHROPIC_API_KEY {_masked(env['ANTHROPIC_API_KEY'])}, sent as x-api-key"
        if env.get("ANTHROPIC_AUTH_TOKEN"):
            auth += " (ANTHROPIC_AUTH_TOKEN is set too and unused)"
        configured = True
    elif env.get("ANTHROPIC_AUTH_TOKEN"):
        auth = (
            f"ANTHROPIC_AUTH_TOKEN {_masked(env['ANTHROPIC_AUTH_TOKEN'])}, sent as a bearer token"
        )
        configured = True
    elif explicit:
        # A local proxy or test server may need no key, as with the OpenAI-compatible case.
        auth = "no key; using ANTHROPIC_BASE_URL without credentials"
        configured = True
    else:
        auth = "not configured (ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN are unset)"
        configured = False
    return _Provider("anthropic", "Anthropic", configured, auth, url, explicit)


def _openai(env: Mapping[str, str]) -> _Provider:
    url, explicit = _base_url(env, "OPENAI_BASE_URL", OPENAI_DEFAULT_URL)
    if env.get("OPENAI_API_KEY"):
        auth = f"OPENAI_API_KEY {_masked(env['OPENAI_API_KEY'])}, sent as a bearer token"
        configured = True
    elif explicit:
        auth = "no key; OPENAI_BASE_URL is set (a local server such as Ollama needs none)"
        configured = True
    else:
        auth = "not configured (OPENAI_API_KEY and OPENAI_BASE_URL are unset)"
        configured = False
    return _Provider("openai", "OpenAI-compatible", configured, auth, url, explicit)


def _base_url(env: Mapping[str, str], name: str, default: str) -> tuple[str, bool]:
    value = env.get(name, "").strip().rstrip("/")
    if not value or value == default:
        return default, False
    return value, True


def _masked(secret: str) -> str:
    secret = secret.strip()
    # Showing the tail of a short secret would show most of it.
    return f"set (…{secret[-4:]})" if len(secret) >= 16 else "set"


def _probe(url: str, timeout: float) -> str | None:
    """None when something answered HTTP at `url` (any status), else why not."""
    import httpx2  # lazy: the doctor is the only caller, and rarely run

    try:
        # No proxies from the environment and no redirects: only `url` itself is contacted.
        with httpx2.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
            client.get(url)
    except httpx2.TimeoutException:
        return f"no answer within {timeout:g}s"
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        return str(exc) or type(exc).__name__
    return None


# ---------------------------------------------------------------- model


def _check_model(
    env: Mapping[str, str], out: TextIO, providers: list[_Provider], problems: list[str]
) -> None:
    spec = env.get("CODA_MODEL") or DEFAULT_MODEL
    source = "CODA_MODEL" if env.get("CODA_MODEL") else "default"
    try:
        choice = resolve_model(spec)
    except UnknownModel as exc:
        _line(out, _BAD, f"{spec} ({source}): {exc}")
        problems.append("set CODA_MODEL to a model coda can name (provider/id)")
        return
    details = (
        _describe(choice.info) if choice.info else "not in the catalog: limits and cost unknown"
    )
    _line(out, _OK, f"{spec} ({source}) -> {choice.provider}/{choice.model_id}: {details}")
    by_name = {p.name: p for p in providers}
    if not by_name[choice.provider].configured and any(p.configured for p in providers):
        other = next(p for p in providers if p.configured)
        _line(
            out,
            _WARN,
            f"{by_name[choice.provider].label} is not configured; "
            f"set CODA_MODEL={other.name}/<model> to use {other.label}",
        )


def _describe(info: ModelInfo) -> str:
    parts = [f"{_tokens(info.context_window)} context, {_tokens(info.max_output)} output"]
    if info.input_price is not None and info.output_price is not None:
        parts.append(f"${info.input_price:g}/${info.output_price:g} per MTok in/out")
    if info.thinking_mode != "none":
        parts.append(f"{info.thinking_mode} thinking")
    return ", ".join(parts)


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    return f"{n // 1000}K"


# ---------------------------------------------------------------- tools


def _check_tools(env: Mapping[str, str], out: TextIO, problems: list[str]) -> None:
    path = env.get("PATH")
    rg = _find_ripgrep(path)
    version = _version_line(rg) if rg else None
    if rg and version:
        _line(out, _OK, f"ripgrep {version.removeprefix('ripgrep ')} ({rg})")
    else:
        why = f"{rg} --version failed" if rg else "not found"
        _line(out, _BAD, f"ripgrep {why} — needed for Grep and Glob (pip install ripgrep)")
        problems.append("install ripgrep (pip install ripgrep)")

    git = shutil.which("git", path=path)
    git_version = _version_line(git) if git else None
    if git and git_version:
        _line(out, _OK, f"{git_version} ({git})")
    else:
        _line(out, _WARN, "git not found — needed for commits, diffs and checkpoints")

    bwrap = shutil.which("bwrap", path=path)
    bwrap_version = _version_line(bwrap) if bwrap else None
    if bwrap and bwrap_version:
        _line(out, _OK, f"{bwrap_version} ({bwrap})")
    else:
        _line(
            out, _WARN, "bubblewrap not found — needed for the sandbox (apt-get install bubblewrap)"
        )


def _find_ripgrep(path: str | None) -> str | None:
    # The `ripgrep` wheel puts rg beside this interpreter's scripts, which may not be on PATH.
    name = "rg.exe" if sys.platform == "win32" else "rg"
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rg", path=path)


def _version_line(executable: str) -> str | None:
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


# ---------------------------------------------------------------- paths


def _check_paths(env: Mapping[str, str], out: TextIO, cwd: Path) -> None:
    config_dir, data_dir = _dirs(env)
    out.write(f"  config  {config_dir}\n")
    out.write(f"  data    {data_dir}\n")
    out.write("  settings files:\n")
    settings = [
        (config_dir / "settings.json", "user"),
        (cwd / ".claude" / "settings.json", "project, Claude Code"),
        (cwd / ".coda" / "settings.json", "project"),
        (cwd / ".claude" / "settings.local.json", "personal, Claude Code"),
        (cwd / ".coda" / "settings.local.json", "personal"),
        (Path("/etc/coda/managed-settings.json"), "managed"),
    ]
    for file, role in settings:
        state = "present" if file.is_file() else "absent "
        out.write(f"    {state}  {file} ({role})\n")


def _dirs(env: Mapping[str, str]) -> tuple[Path, Path]:
    config = env.get("CODA_CONFIG_DIR")
    data = env.get("CODA_DATA_DIR")
    if config and data:
        return Path(config), Path(data)
    import platformdirs

    return (
        Path(config) if config else Path(platformdirs.user_config_dir("coda")),
        Path(data) if data else Path(platformdirs.user_data_dir("coda")),
    )


# ---------------------------------------------------------------- output


def _check_mcp(env: Mapping[str, str], out: TextIO, cwd: Path) -> None:
    """What is configured, without starting anything (`coda mcp list` checks them live).
    A broken server never stops coda, so nothing here is a problem for the verdict."""
    from coda.config import SettingsError
    from coda.mcp.config import load_servers

    try:
        found = load_servers(cwd, env)
    except SettingsError as exc:
        _line(out, _BAD, str(exc))
        return
    for warning in found.warnings:
        _line(out, _BAD, warning)
    if not found.servers:
        _line(out, _SKIP, "none configured (`coda mcp add`, or an .mcp.json in the project)")
        return
    for cfg in found.servers:
        target = cfg.url or " ".join([cfg.command, *cfg.args])
        if cfg.error is not None:
            _line(out, _BAD, f"{cfg.name} ({cfg.scope}): {cfg.error}")
        else:
            _line(out, _OK, f"{cfg.name} ({cfg.scope}, {cfg.transport}): {target}")
    _line(out, _SKIP, "not started here: `coda mcp list` starts each one to check it")


def _section(out: TextIO, title: str) -> None:
    out.write(f"\n{title}\n")


def _line(out: TextIO, mark: str, text: str) -> None:
    out.write(f"  {mark} {text}\n")
