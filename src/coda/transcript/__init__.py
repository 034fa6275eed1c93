"""Session transcripts: an append-only JSONL file per session, read back for resume."""
