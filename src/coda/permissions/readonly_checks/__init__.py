"""The checks behind `coda.permissions.readonly`: how options are read, and one module per tool."""
