"""What every benchmark script shares: compiling coda as an install would, the fake model
server in its own process, and the report."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def compile_coda() -> None:
    """Byte-compile coda, as `pip install .` does. This machine sets PYTHONDONTWRITEBYTECODE,
    so an editable install would otherwise recompile every module on every start."""
    import compileall

    compileall.compile_dir(str(ROOT / "src" / "coda"), quiet=1)


def report(figures: dict[str, Any], json_path: Path | None) -> None:
    """Print the figures as an aligned table, and write them as JSON when asked."""
    width = max(map(len, figures))
    for key, value in figures.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")


@contextlib.contextmanager
def scripted_server(items: list[Any], script: Path) -> Iterator[str]:
    """The fake model server answering `items` over and over, in its own process (so it
    does not compete with the measured one for the GIL); yields its base URL."""
    script.write_text(json.dumps(items))
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--script", str(script), "--repeat"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait()
