"""Permission policies: the loop asks one of these before every tool call."""
