"""How a Bash command line is read: the parts behind `coda.permissions.shell_analysis`."""
