"""What every benchmark script shares: compiling coda as an install would, and the report."""

from __future__ import annotations

import json
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
