"""The last tool list each server gave, so a run can send its first request without waiting.

Keyed by a hash of everything that launches the server (command, args, env, url, headers),
so a changed configuration never reuses an old list. The live list replaces the cached one
as soon as the server answers; a call made before that waits for the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coda.config import data_dir, write_atomically
from coda.mcp.config import ServerConfig


def cache_path(cfg: ServerConfig, env: Mapping[str, str], cwd: Path) -> Path:
    identity = json.dumps(
        [
            cfg.transport,
            cfg.command,
            list(cfg.args),
            dict(cfg.env),
            cfg.url,
            dict(cfg.headers),
            str(cwd),
        ],
        sort_keys=True,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:24]
    return data_dir(env) / "mcp-cache" / f"{cfg.name}-{digest}.json"


def load_tools(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tools = data.get("tools") if isinstance(data, dict) else None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        return None
    return tools


def save_tools(path: Path, tools: list[dict[str, Any]]) -> None:
    """Atomically; a failure to cache only costs the next run a wait."""
    with contextlib.suppress(OSError):
        write_atomically(path, json.dumps({"tools": tools}))
