import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coda.doctor import run_doctor

SECRET = "sk-ant-api03-SECRETSECRETSECRET-wxyz"


class _Server(ThreadingHTTPServer):
    """Answers every GET with 404 (any status means reachable) and records the paths."""

    seen: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        self.send_response(404)  # any status means reachable
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _url(httpd: _Server) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host!s}:{port}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "CODA_CONFIG_DIR": str(tmp_path / "config"),
        "CODA_DATA_DIR": str(tmp_path / "data"),
    }


def _run(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    out = io.StringIO()
    status = run_doctor(env, out, timeout=2.0, cwd=cwd)
    return status, out.getvalue()


def test_reachable_local_anthropic_endpoint(
    server: _Server, base_env: dict[str, str], tmp_path: Path
) -> None:
    env = base_env | {"ANTHROPIC_API_KEY": SECRET, "ANTHROPIC_BASE_URL": _url(server)}
    status, text = _run(env, tmp_path)
    assert status == 0, text
    assert f"{_url(server)} reachable" in text
    assert server.seen == ["/"]
    assert "x-api-key" in text
    assert "✓ ripgrep " in text
    assert text.rstrip().splitlines()[-1].startswith("✓ coda is ready")


def test_closed_port_is_unreachable(base_env: dict[str, str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = base_env | {"ANTHROPIC_API_KEY": SECRET, "ANTHROPIC_BASE_URL": url}
    status, text = _run(env, tmp_path)
    assert status == 1
    assert f"✗ {url} unreachable" in text
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("✗") and url in last


def test_no_provider_at_all(base_env: dict[str, str], tmp_path: Path) -> None:
    status, text = _run(base_env, tmp_path)
    assert status == 1
    last = text.rstrip().splitlines()[-1]
    assert "ANTHROPIC_API_KEY" in last and "OPENAI_BASE_URL" in last
    # The public endpoints are left alone unless asked.
    assert text.count("not checked (default endpoint)") == 2


def test_keys_are_never_printed_in_full(base_env: dict[str, str], tmp_path: Path) -> None:
    openai_key = "sk-proj-OPENAIOPENAIOPENAI-1234"
    token = "bearer-token-abcdefghijklmnop-5678"
    env = base_env | {
        "ANTHROPIC_API_KEY": SECRET,
        "ANTHROPIC_AUTH_TOKEN": token,
        "OPENAI_API_KEY": openai_key,
    }
    _, text = _run(env, tmp_path)
    for secret in (SECRET, openai_key, token):
        assert secret not in text
        assert secret[:-4] not in text
    assert "set (…wxyz)" in text and "set (…1234)" in text

    short = base_env | {"ANTHROPIC_AUTH_TOKEN": "abc12345"}
    status, text = _run(short, tmp_path)
    assert "abc12345" not in text and "…2345" not in text
    assert "bearer" in text
    assert status == 0  # configured, and the default endpoint is not probed


def test_local_openai_compatible_server_without_a_key(
    server: _Server, base_env: dict[str, str], tmp_path: Path
) -> None:
    env = base_env | {
        "OPENAI_BASE_URL": _url(server) + "/v1",
        "CODA_MODEL": "openai/qwen2.5-coder:7b",
    }
    status, text = _run(env, tmp_path)
    assert status == 0, text
    assert server.seen == ["/v1"]
    assert "openai/qwen2.5-coder:7b" in text
    assert "limits and cost unknown" in text


def test_model_provider_that_is_not_configured_is_flagged(
    server: _Server, base_env: dict[str, str], tmp_path: Path
) -> None:
    env = base_env | {"OPENAI_BASE_URL": _url(server)}
    _, text = _run(env, tmp_path)
    assert "anthropic/claude-sonnet-5-5" in text
    assert "set CODA_MODEL=openai/<model>" in text


def test_unknown_model_fails(base_env: dict[str, str], tmp_path: Path) -> None:
    env = base_env | {"ANTHROPIC_API_KEY": SECRET, "CODA_MODEL": "llama3"}
    status, text = _run(env, tmp_path)
    assert status == 1
    assert "provider/id" in text


def test_settings_files_and_directory_overrides(base_env: dict[str, str], tmp_path: Path) -> None:
    config = Path(base_env["CODA_CONFIG_DIR"])
    config.mkdir()
    (config / "settings.json").write_text("{}")
    (tmp_path / ".coda").mkdir()
    (tmp_path / ".coda" / "settings.json").write_text("{}")
    _, text = _run(base_env, tmp_path)
    assert f"config  {config}\n" in text
    assert f"data    {base_env['CODA_DATA_DIR']}\n" in text
    assert f"present  {config / 'settings.json'} (user)" in text
    assert f"present  {tmp_path / '.coda' / 'settings.json'} (project)" in text
    assert f"absent   {tmp_path / '.coda' / 'settings.local.json'} (personal)" in text
    assert "/etc/coda/managed-settings.json (managed)" in text


def test_output_is_plain_text(base_env: dict[str, str], tmp_path: Path) -> None:
    _, text = _run(base_env | {"NO_COLOR": "1"}, tmp_path)
    assert "\x1b[" not in text


def test_mcp_servers_are_listed_without_starting_them(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    _, text = _run(base_env, tmp_path)
    assert "none configured" in text
    marker = tmp_path / "started"
    (tmp_path / ".mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "probe": {"command": "sh", "args": ["-c", f"touch {marker}"]},
                    "needs": {"command": "x", "env": {"K": "${DOCTOR_MISSING_VAR}"}},
                }
            }
        )
    )
    _, text = _run(base_env, tmp_path)
    assert "probe (project, stdio): sh -c" in text
    assert "needs (project)" in text and "DOCTOR_MISSING_VAR" in text
    assert not marker.exists()
