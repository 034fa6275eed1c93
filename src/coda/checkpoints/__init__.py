"""Workspace checkpoints for rewind, kept in a shadow git repository beside the user's own.

A `Checkpoints` object snapshots the workspace into a bare repository in coda's data dir
(`store`, shared by every session of one project) and restores it byte for byte. Git runs with
GIT_DIR=store, GIT_WORK_TREE=workspace and a per-session GIT_INDEX_FILE, no system or global
config and no inherited GIT_* variables, so the user's `.git`, index and config are never
written (their `.git/info/exclude` is only read).

What a snapshot covers:

- every file git would show as tracked or untracked-and-not-ignored, using the workspace's
  `.gitignore` files, a copy of the user's `.git/info/exclude`, and the user's global excludes
  file (`core.excludesFile`, else `~/.config/git/ignore`), read once per object, so that a
  globally ignored `.venv/` or `*.iso` is treated as the user's own `git status` treats it;
- plus ignored files of at most `max_ignored_file_bytes` that are not inside an ignored
  directory: `.env` is kept, `node_modules/`, `.venv/` and a 2 GB `dump.log` are not.

Left out, and so left alone by `restore`: ignored directories, big ignored files, empty
directories, the workspace's `.git`, and nested repositories (a subdirectory with its own
`.git`, such as a submodule or a clone), which git would otherwise store as a bare commit id
and lose their content. Gitignore files of a parent repository (when coda runs in a subdirectory
of a repo) are not read. Files git cannot read keep their last snapshotted content.

Attributes are switched off (`info/attributes`: no eol conversion, filters or ident), so CRLF
and non-UTF-8 bytes round-trip exactly. The store is never garbage-collected (`gc.auto=0`);
refs `refs/coda/<session>/<n>` keep every snapshot's objects.

Files outside the workspace that coda's tools edit are kept separately: `preserve(path)` stores
their bytes (or absence) before an edit, in the latest snapshot's map
`<store>/external/<commit>.json`, once per snapshot. Such a record holds the file's content at
that snapshot, and a file first recorded in a later snapshot was unchanged until then, so
`restore(s)` takes, for each path, the record of the earliest snapshot from `s` on. Edits that
did not go through `preserve` (a Bash command writing outside the workspace) are not undone.

Everything here is synchronous and may take a while on a big tree; callers run it in a thread.
"""

from coda.checkpoints.core import Checkpoints
from coda.checkpoints.restore import RestoreReport
from coda.checkpoints.store import CheckpointError

__all__ = ["CheckpointError", "Checkpoints", "RestoreReport"]
