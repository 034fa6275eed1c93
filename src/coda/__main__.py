"""Lets `python -m coda` behave exactly like the `coda` script."""

from coda.cli import entry

entry()
