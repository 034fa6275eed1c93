"""Files outside the workspace that coda edits: their per-snapshot records and restoring them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from coda.checkpoints.restore import EXECUTABLE, BlobReader, RestoreReport, write_entry
from coda.checkpoints.store import CheckpointError, ShadowRepo, atomic_write


def _load(repo: ShadowRepo, commit: str) -> dict[str, str | None]:
    try:
        data = json.loads((repo.store / "external" / f"{commit}.json").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"the record of files outside the workspace is damaged: {exc}"
        ) from exc
    return {str(k): (str(v) if v is not None else None) for k, v in data.items()}


def record(repo: ShadowRepo, commit: str, paths: list[Path], deadline: float) -> None:
    """Keep the bytes (or absence) of `paths` in `commit`'s map, unless already there."""
    records = _load(repo, commit)
    fresh = [p for p in paths if str(p) not in records]
    if not fresh:
        return
    for path in fresh:
        if path.is_file():
            out = repo.git("hash-object", "-w", "--no-filters", "--", str(path), deadline=deadline)
            records[str(path)] = out.decode().strip()
        elif not os.path.lexists(path):
            records[str(path)] = None
    target = repo.store / "external" / f"{commit}.json"
    atomic_write(target, json.dumps(records, indent=1, sort_keys=True).encode())


def restore_external(
    repo: ShadowRepo, target: str, before: str, read_blob: BlobReader, deadline: float
) -> RestoreReport:
    """Put back every recorded file as of `target`: for each path, the record of the earliest
    snapshot from `target` on."""
    chain = repo.load_chain(deadline)
    later = chain[chain.index(target) :] if target in chain else [target]
    wanted: dict[str, str | None] = {}
    for commit in later:
        for path, blob in _load(repo, commit).items():
            wanted.setdefault(path, blob)
    # Keep what is there now in the "before" snapshot, so the rewind can be undone.
    record(repo, before, [Path(p) for p in wanted], deadline)
    report = RestoreReport()
    for name, blob in sorted(wanted.items()):
        try:
            done = _put_external(Path(name), blob, read_blob)
        except OSError:
            report.skipped.append(name)
            continue
        if done:
            (report.written if blob else report.deleted).append(name)
    return report


def _put_external(path: Path, blob: str | None, read_blob: BlobReader) -> bool:
    """Give a file outside the workspace its recorded bytes, or remove it; False if it
    already was that way."""
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    if blob is None:
        if st is None or stat.S_ISDIR(st.st_mode):
            return False
        path.unlink()
        return True
    data = read_blob(blob)
    if st is not None and stat.S_ISREG(st.st_mode) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = EXECUTABLE if st is not None and st.st_mode & 0o100 else "100644"
    write_entry(path, mode, data, st)
    return True
