"""A bug in coda during a turn: its traceback kept in the data dir, for a bug report."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping

from coda import __version__
from coda.config import data_dir


def record_crash(env: Mapping[str, str], error: BaseException) -> str:
    """Append the traceback to `<data dir>/crash.log`; " (details in …)" for the message,
    or "" when the log cannot be written."""
    log = data_dir(env) / "crash.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} coda {__version__}\n")
            f.write("".join(traceback.format_exception(error)))
    except OSError:
        return ""
    return f" (details in {log})"
