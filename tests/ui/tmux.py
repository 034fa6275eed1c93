"""The real `coda` in a real terminal: tmux runs it, the test types keys and reads the screen."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "❯"
EXITED = "coda exited with status "
# SGR codes that set a colour: 30-37, 38;…, 39, 40-47, 48;…, 49, 90-97, 100-107.
_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


class Terminal:
    """One tmux server (its own socket) with one pane running `coda`."""

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        width: int = 100,
        height: int = 30,
    ) -> None:
        self.socket = f"coda-test-{uuid.uuid4().hex[:12]}"
        self.target = "coda:0"
        self.cwd = cwd
        conf = cwd.parent / f"{self.socket}.conf"
        conf.write_text("set -g history-limit 5000\n")
        # The package under test, whatever an editable install elsewhere points at.
        env = {**env, "PYTHONPATH": str(ROOT / "src")}
        coda = " ".join(
            [
                "env",
                "-i",
                *(shlex.quote(f"{k}={v}") for k, v in env.items()),
                shlex.quote(sys.executable),
                "-m",
                "coda",
                *(shlex.quote(a) for a in args),
            ]
        )
        # The shell reports the exit status on the screen (tmux notices a dead pane late).
        shell = f"{coda}; status=$?; echo; echo '{EXITED}'$status; sleep 3600"
        command = f"/bin/sh -c {shlex.quote(shell)}"
        self._tmux(
            "-f",
            str(conf),
            "new-session",
            "-d",
            "-s",
            "coda",
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(cwd),
            command,
        )

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def close(self) -> None:
        """Kill the tmux server and remove its socket file (tmux leaves it behind)."""
        try:
            socket_path = self._tmux("display", "-p", "#{socket_path}").strip()
        except RuntimeError:
            socket_path = ""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
        (self.cwd.parent / f"{self.socket}.conf").unlink(missing_ok=True)

    # -- reading

    def screen(self, *, escapes: bool = False) -> str:
        """The visible pane and its scrollback, wrapped lines joined."""
        flags = ["-p", "-J", "-S", "-"] + (["-e"] if escapes else [])
        return self._tmux("capture-pane", *flags, "-t", self.target)

    def visible(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.target)

    def wait_for(self, text: str | re.Pattern[str], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            found = text.search(screen) if isinstance(text, re.Pattern) else text in screen
            if found:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen after {timeout}s:\n{screen}")
            time.sleep(0.03)

    def wait_until(self, check: object, timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not check():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.screen()}")
            time.sleep(0.03)

    def count(self, text: str) -> int:
        return self.screen().count(text)

    def ready(self) -> bool:
        """Whether coda waits for input: the status line under the prompt is showing."""
        lines = [ln for ln in self.visible().splitlines() if ln.strip()]
        if not lines or "esc to interrupt" in "\n".join(lines):
            return False
        return bool(re.search(r"context|ctx |\$\d|\$\?|cost unknown", lines[-1]))

    def wait_ready(self, timeout: float = 10.0) -> float:
        """Seconds until coda waits for input."""
        started = time.monotonic()
        self.wait_until(self.ready, timeout, "the input prompt")
        return time.monotonic() - started

    def exit_status(self) -> int | None:
        """coda's exit status once it has exited, else None."""
        match = re.search(EXITED + r"(\d+)", self.screen())
        return int(match.group(1)) if match else None

    # -- typing

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.target, *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.target, "-l", text)

    def submit(self, text: str) -> None:
        self.type(text)
        self.send("Enter")

    def paste(self, text: str) -> None:
        """As a terminal pastes: bracketed, when the application asked for it."""
        self._tmux("set-buffer", "-b", "paste", text)
        self._tmux("paste-buffer", "-p", "-d", "-b", "paste", "-t", self.target)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", self.target, "-x", str(width), "-y", str(height))


def colour_codes(text: str) -> list[str]:
    return _COLOUR.findall(text)
