"""MCP: configuring, connecting to and serving Model Context Protocol servers."""
