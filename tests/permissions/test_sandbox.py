"""Bash in real bubblewrap: escapes tried and refused, normal work done, jobs, timeouts, proxy."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coda.permissions.proxy import DomainProxy, DomainRule, split_host_port
from coda.permissions.sandbox import BubblewrapSandbox
from coda.tools.base import ToolContext, ToolOutput
from coda.tools.bash import BashTool
from coda.tools.bash_output import BashOutputTool
from coda.tools.jobs import JobTable
from coda.tools.kill_shell import KillShellTool
from coda.tools.shell import ShellSession
from tests.tools.conftest import git_init, text_of

bash, bash_output, kill_shell = BashTool(), BashOutputTool(), KillShellTool()
PY = shlex.quote(sys.executable)


@functools.cache
def bwrap_problem() -> str | None:
    return BubblewrapSandbox.check()


needs_bwrap = pytest.mark.skipif(
    bwrap_problem() is not None, reason=f"no working bubblewrap: {bwrap_problem()}"
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host directory outside the workspace and outside /tmp, which the sandbox can see."""
    base = "/var/tmp" if os.path.isdir("/var/tmp") else str(Path.home())
    with tempfile.TemporaryDirectory(dir=base, prefix="coda-sandbox-test-") as path:
        yield Path(path)


async def make_ctx(ws: Path, **options: object) -> ToolContext:
    sandbox = BubblewrapSandbox([ws], **options)  # type: ignore[arg-type]
    ctx = ToolContext(cwd=ws, sandbox=sandbox)
    # The sandbox first: resources close last-in first-out, so it closes after the shell.
    ctx.resources["sandbox"] = sandbox
    ctx.resources["shell"] = ShellSession(ws, grace=0.5)
    ctx.resources["jobs"] = JobTable(grace=0.5)
    return ctx


@pytest.fixture
async def ctx(ws: Path) -> AsyncIterator[ToolContext]:
    context = await make_ctx(ws)
    yield context
    await context.aclose()


async def run(ctx: ToolContext, command: str, **more: object) -> ToolOutput:
    return await bash.run({"command": command, **more}, ctx)


async def ok(ctx: ToolContext, command: str) -> str:
    out = await run(ctx, command)
    text = text_of(out)
    assert not re.search(r"Exit code \d+$|Killed by signal", text), text
    return text


async def fails(ctx: ToolContext, command: str, why: str) -> str:
    text = text_of(await run(ctx, command))
    assert re.search(r"Exit code \d+$", text), text
    assert re.search(why, text), text
    return text


# -- what a sandboxed command may do --


@needs_bwrap
async def test_workspace_and_private_tmp_are_writable_and_state_carries(
    ctx: ToolContext, ws: Path
) -> None:
    assert await ok(ctx, "mkdir -p sub && echo hello > sub/f && cat sub/f") == "hello"
    assert (ws / "sub" / "f").read_text() == "hello\n"
    await ok(ctx, "cd sub && export CODA_X=42")
    assert await ok(ctx, "pwd; echo $CODA_X") == f"{ws / 'sub'}\n42"
    marker = Path(tempfile.gettempdir()) / f"coda-host-marker-{os.getpid()}"
    marker.write_text("host")
    try:
        text = await ok(ctx, f"echo private > /tmp/own && cat /tmp/own; ls {marker} || true")
        assert text.startswith("private\n") and "No such file" in text
        assert marker.read_text() == "host"
        assert not Path("/tmp/own").exists()
        # The session's /tmp lasts from one command to the next.
        assert await ok(ctx, "cat /tmp/own") == "private"
    finally:
        marker.unlink()


@needs_bwrap
async def test_a_build_and_a_test_run_work(ctx: ToolContext, ws: Path) -> None:
    (ws / "calc").mkdir()
    (ws / "calc" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_calc.py").write_text(
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    text = await ok(ctx, f"{PY} -m pytest -q -p no:cacheprovider tests 2>&1 | tail -1")
    assert "1 passed" in text
    (ws / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("built");return 0;}\n')
    (ws / "Makefile").write_text("hello: hello.c\n\tcc -o hello hello.c\n")
    if not os.path.exists("/usr/bin/make") or not os.path.exists("/usr/bin/cc"):
        pytest.skip("make or cc is not installed")
    assert (await ok(ctx, "make -s && ./hello")).endswith("built")
    assert (ws / "hello").exists()


@needs_bwrap
async def test_git_works_but_its_hooks_and_config_do_not_change(ws: Path) -> None:
    git_init(ws)
    ctx = await make_ctx(ws)
    try:
        config = (ws / ".git" / "config").read_text()
        await ok(ctx, "echo one > a && git add a")
        text = await ok(
            ctx,
            "git -c user.name=t -c user.email=t@example.com commit -qm one && git log --oneline",
        )
        assert text.endswith("one")
        await fails(ctx, "echo evil > .git/hooks/pre-commit", "Read-only file system")
        await fails(ctx, "git config core.hooksPath /tmp/evil", "could not (write|lock) config")
        await fails(ctx, "mv .git .git-old", "busy")
        await fails(ctx, "rm -rf .git/hooks", "busy|Read-only")
        assert not (ws / ".git" / "hooks" / "pre-commit").exists()
        assert (ws / ".git" / "config").read_text() == config
        assert not (ws / ".git-old").exists()
    finally:
        await ctx.aclose()


@needs_bwrap
async def test_missing_protected_paths_cannot_be_created_and_leave_nothing_behind(
    ctx: ToolContext, ws: Path
) -> None:
    await fails(ctx, "echo '{}' > .mcp.json", "Is a directory|Read-only")
    await fails(ctx, "mkdir -p .coda && echo '{}' > .coda/settings.json", "Read-only|exists")
    await fails(ctx, "mkdir -p .claude/commands", "Read-only|exists")
    await fails(ctx, "git init -q .", "Read-only|denied")
    await fails(ctx, "mv .mcp.json x", "busy|denied")
    # The mount points bwrap had to make are gone once the command ended.
    assert sorted(p.name for p in ws.iterdir()) == []
    await ok(ctx, "echo fine > ordinary")
    assert sorted(p.name for p in ws.iterdir()) == ["ordinary"]


@needs_bwrap
async def test_empty_protected_directories_of_ones_own_are_kept(ws: Path) -> None:
    (ws / ".claude").mkdir()
    ctx = await make_ctx(ws)
    try:
        await fails(ctx, "touch .claude/settings.json", "Read-only")
        assert (ws / ".claude").is_dir() and not any((ws / ".claude").iterdir())
    finally:
        await ctx.aclose()
    assert (ws / ".claude").is_dir()


@needs_bwrap
async def test_extra_read_only_paths(ws: Path) -> None:
    (ws / "deploy.yaml").write_text("prod\n")
    ctx = await make_ctx(ws, protected=[Path("deploy.yaml"), Path("ci/pipeline.yaml")])
    try:
        assert await ok(ctx, "cat deploy.yaml") == "prod"
        await fails(ctx, "echo x > deploy.yaml", "Read-only")
        await fails(ctx, "mkdir -p ci && echo x > ci/pipeline.yaml", "Read-only|exists")
        assert (ws / "deploy.yaml").read_text() == "prod\n"
        assert sorted(p.name for p in ws.iterdir()) == ["deploy.yaml"]
    finally:
        await ctx.aclose()


@needs_bwrap
async def test_writes_outside_the_workspace_fail(
    ctx: ToolContext, tmp_path: Path, host_dir: Path
) -> None:
    (host_dir / "readme").write_text("visible\n")
    assert await ok(ctx, f"cat {host_dir}/readme") == "visible"
    await fails(ctx, f"echo x > {host_dir}/escaped", "Read-only file system")
    await fails(ctx, f"touch {Path.home()}/.coda-escaped", "Read-only file system")
    # A sibling of the workspace under /tmp is not even there: /tmp is private.
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    await fails(ctx, f"echo x > {sibling}/escaped", "No such file")
    assert not (host_dir / "escaped").exists()
    assert not (sibling / "escaped").exists()
    assert not (Path.home() / ".coda-escaped").exists()


@needs_bwrap
async def test_denied_paths_cannot_be_read(ws: Path, host_dir: Path) -> None:
    (host_dir / "ssh").mkdir()
    (host_dir / "ssh" / "id_ed25519").write_text("PRIVATE KEY\n")
    (host_dir / "token").write_text("TOKEN\n")
    (ws / ".env").write_text("PASSWORD=1\n")
    deny = [host_dir / "ssh", host_dir / "token", ws / ".env"]
    ctx = await make_ctx(ws, deny_read=deny)
    try:
        await fails(ctx, f"cat {host_dir}/ssh/id_ed25519", "No such file")
        assert await ok(ctx, f"ls -A {host_dir}/ssh") == "(no output)"
        await fails(ctx, f"cat {host_dir}/token", "Permission denied")
        await fails(ctx, "cat .env", "Permission denied")
        await fails(ctx, "rm .env", "busy")
        await fails(ctx, f"touch {host_dir}/ssh/new", "Read-only")
        assert (ws / ".env").read_text() == "PASSWORD=1\n"
    finally:
        await ctx.aclose()


@needs_bwrap
async def test_no_network_not_even_the_hosts_loopback(ctx: ToolContext) -> None:
    seen: list[object] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.settimeout(0.2)

    def accept() -> None:
        while listener.fileno() >= 0:
            try:
                seen.append(listener.accept())
            except (TimeoutError, OSError):
                if stop.is_set():
                    return

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        probe = (
            f"{PY} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=2)'"
        )
        await fails(ctx, probe, "Connection refused")
        await fails(ctx, f"curl -sS --max-time 2 http://127.0.0.1:{port}/", "(Couldn't|Failed)")
        await fails(ctx, "getent hosts example.com", "")
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert seen == []


# -- processes: jobs, timeouts, signals --


@needs_bwrap
async def test_background_job_is_read_and_killed(ctx: ToolContext) -> None:
    command = "for i in $(seq 100); do echo tick $i; sleep 0.05; done"
    started = text_of(await run(ctx, command, run_in_background=True))
    job_id = re.search(r"bash_\d+", started)
    assert job_id
    await asyncio.sleep(0.5)
    first = text_of(await bash_output.run({"bash_id": job_id[0]}, ctx))
    assert "tick 1" in first and "running" in first
    killed = await kill_shell.run({"shell_id": job_id[0]}, ctx)
    assert not killed.is_error
    after = text_of(await bash_output.run({"bash_id": job_id[0]}, ctx))
    assert "killed" in after
    jobs = ctx.resources["jobs"]
    assert isinstance(jobs, JobTable)
    assert not jobs.get(job_id[0]).child.group.live()


@needs_bwrap
async def test_timeout_stops_a_sandboxed_sleep_in_time(ctx: ToolContext) -> None:
    started = time.monotonic()
    out = await run(ctx, "echo before; sleep 30", timeout=1000)
    assert time.monotonic() - started < 3
    assert out.is_error
    text = out.content[0].text  # type: ignore[union-attr]
    assert text.startswith("before") and "timed out after 1,000 ms" in text


@needs_bwrap
async def test_sigterm_reaches_the_command_with_its_grace_period(ctx: ToolContext) -> None:
    command = "trap 'echo cleaning up; exit 0' TERM; echo ready; sleep 30 & wait"
    out = await run(ctx, command, timeout=700)
    text = out.content[0].text  # type: ignore[union-attr]
    assert "ready" in text and "cleaning up" in text


@needs_bwrap
async def test_signals_and_exit_codes_read_as_without_a_sandbox(ctx: ToolContext) -> None:
    assert text_of(await run(ctx, "exit 3")) == "Exit code 3"
    assert text_of(await run(ctx, "kill -9 $$")) == "Killed by signal SIGKILL"
    # A daemon that left the group still ends with the command: the sandbox has its own pids.
    await ok(ctx, "setsid sleep 30 >/dev/null 2>&1 &")
    assert await ok(ctx, "ps -e -o comm= | grep -c sleep || true") == "0"


@needs_bwrap
async def test_placeholders_stay_while_another_sandbox_runs(ctx: ToolContext, ws: Path) -> None:
    # A job that keeps trying to create .mcp.json while foreground commands come and go, in
    # this session and another: their clean-up must not remove the mount point the job's
    # sandbox relies on (which would unmount its placeholder).
    loop = "for i in $(seq 30); do echo {} >.mcp.json 2>/dev/null && echo CREATED; sleep 0.05; done"
    started = text_of(await run(ctx, loop, run_in_background=True))
    job_id = re.search(r"bash_\d+", started)
    assert job_id
    other = await make_ctx(ws)  # another session on the same workspace
    try:
        for _ in range(5):
            await ok(ctx, "true")
            await ok(other, "true")
    finally:
        await other.aclose()
    jobs = ctx.resources["jobs"]
    assert isinstance(jobs, JobTable)
    job = jobs.get(job_id[0])
    async with asyncio.timeout(10):
        await job.child.group.proc.wait()
        await job.child.reader.wait(1)
    assert "CREATED" not in text_of(await bash_output.run({"bash_id": job_id[0]}, ctx))
    assert not (ws / ".mcp.json").is_file()
    await ok(ctx, "true")
    assert sorted(p.name for p in ws.iterdir()) == []


@needs_bwrap
async def test_a_sandbox_killed_hard_is_swept_after(ws: Path) -> None:
    ctx = await make_ctx(ws)
    out = await run(ctx, "trap '' TERM; sleep 30", timeout=300)
    assert out.is_error
    # SIGKILL took the launcher before it could clean up; closing the session sweeps.
    await ctx.aclose()
    assert sorted(p.name for p in ws.iterdir()) == []


# -- the network allowlist --


class _Recorder(BaseHTTPRequestHandler):
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b"hello from the host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.paths.append("POST " + self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[int, list[str]]]:
    paths: list[str] = []
    handler = type("Handler", (_Recorder,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


@needs_bwrap
async def test_allowed_domain_is_reached_through_the_proxy(
    ws: Path, http_server: tuple[int, list[str]]
) -> None:
    port, paths = http_server
    ctx = await make_ctx(ws, allowed_domains=[f"127.0.0.1:{port}"])
    try:
        url = f"http://127.0.0.1:{port}"
        assert await ok(ctx, f"curl -sS {url}/curl") == "hello from the host"
        urllib = f"import urllib.request as u; print(u.urlopen('{url}/urllib').read().decode())"
        assert await ok(ctx, f'{PY} -c "{urllib}"') == "hello from the host\n"
        # CONNECT, as HTTPS uses it, then plain HTTP through the tunnel.
        assert await ok(ctx, f"curl -sS -p {url}/tunnel") == "hello from the host"
        # Plain HTTP is GET and HEAD only.
        code = await ok(ctx, f"curl -s -o /dev/null -w '%{{http_code}}' -X POST {url}/post")
        assert code == "403"
        assert paths == ["/curl", "/urllib", "/tunnel"]
        # Not on the list: another port of the same host.
        other = await ok(ctx, f"curl -s -w ' %{{http_code}}' http://127.0.0.1:{port + 1}/")
        assert other.endswith(" 403") and "allowedDomains" in other
        env = await ok(ctx, "echo $HTTPS_PROXY $NO_PROXY")
        assert env == "http://127.0.0.1:3128 localhost,::1"
    finally:
        await ctx.aclose()


@needs_bwrap
async def test_hosts_off_the_list_get_a_403_from_the_proxy(
    ws: Path, http_server: tuple[int, list[str]]
) -> None:
    port, paths = http_server
    ctx = await make_ctx(ws, allowed_domains=["example.invalid"])
    try:
        text = await ok(
            ctx, f"NO_PROXY= no_proxy= curl -s -w ' %{{http_code}}' http://127.0.0.1:{port}/"
        )
        assert text.endswith(" 403")
        assert "127.0.0.1" in text and "sandbox.network.allowedDomains" in text
        # HTTPS: the CONNECT is refused before anything leaves this machine.
        await fails(ctx, "curl -sS https://example.com/", "403")
        # The proxy cannot be bypassed: there is no other way out.
        await fails(
            ctx, f"NO_PROXY='*' no_proxy='*' curl -sS --max-time 2 http://127.0.0.1:{port}/", ""
        )
        assert paths == []
    finally:
        await ctx.aclose()


# -- pieces that need no bubblewrap --


def test_check_says_how_to_install_bubblewrap() -> None:
    problem = BubblewrapSandbox.check(bwrap="/nonexistent/bwrap")
    assert problem is not None and problem.startswith("bubblewrap is missing: apt-get install")


def test_domain_rules() -> None:
    rule = DomainRule.parse("*.Example.com")
    assert rule == DomainRule("example.com", wildcard=True, port=None)
    assert rule.allows("api.example.com", 443) and rule.allows("a.b.example.com", 80)
    assert not rule.allows("example.com", 443) and not rule.allows("badexample.com", 443)
    assert not rule.allows("api.example.com", 8443)
    exact = DomainRule.parse("https://pypi.org/simple")
    assert exact.allows("pypi.org", 443) and not exact.allows("files.pypi.org", 443)
    assert DomainRule.parse("localhost:8080").allows("localhost", 8080)
    assert not DomainRule.parse("localhost:8080").allows("localhost", 80)
    assert DomainRule.parse("[::1]:9000") == DomainRule("::1", port=9000)
    assert split_host_port("Example.COM.:443") == ("example.com", 443)
    with pytest.raises(ValueError):
        DomainRule.parse("host:http")
    proxy = DomainProxy(["pypi.org", "*.pythonhosted.org"])
    assert proxy.allows("PyPI.org.", 443) and proxy.allows("files.pythonhosted.org", 443)
    assert not proxy.allows("evil.org", 443)
