"""Variables whose value changes what the shell, or the program it starts, runs."""

from __future__ import annotations

from coda.permissions.shell.words import word_set

# Variables that change how the shell itself reads or runs what follows.
_SHELL_VARIABLES = word_set(
    "IFS PATH BASH_ENV ENV PS1 PS2 PS3 PS4 PROMPT_COMMAND SHELLOPTS BASHOPTS CDPATH HOME "
    "GLOBIGNORE BASH_XTRACEFD BASH_LOADABLES_PATH EXECIGNORE FUNCNEST BASH_COMPAT "
    "POSIXLY_CORRECT"
)
# Variables that make ordinary programs run other programs or load code.
_PROGRAM_VARIABLES = word_set(
    "PAGER MANPAGER GIT_PAGER SYSTEMD_PAGER EDITOR VISUAL GIT_EDITOR GIT_SEQUENCE_EDITOR "
    "GIT_EXTERNAL_DIFF GIT_SSH GIT_SSH_COMMAND GIT_ASKPASS SSH_ASKPASS GIT_EXEC_PATH GIT_DIR "
    "GIT_WORK_TREE GIT_TEMPLATE_DIR GIT_PROXY_COMMAND GIT_CONFIG GIT_CONFIG_GLOBAL "
    "GIT_CONFIG_SYSTEM GIT_CONFIG_COUNT GIT_CONFIG_PARAMETERS LESSOPEN LESSCLOSE LESSKEYIN "
    "RIPGREP_CONFIG_PATH PYTHONSTARTUP PYTHONPATH PYTHONHOME NODE_OPTIONS NODE_PATH PERL5OPT "
    "PERL5LIB PERLLIB RUBYOPT RUBYLIB JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS "
    "BROWSER TERMINFO MAKEFLAGS SHELL"
)
_PROGRAM_VARIABLE_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")
_PAGERS = frozenset({"PAGER", "MANPAGER", "GIT_PAGER", "SYSTEMD_PAGER"})


def dangerous_assignment(name: str, value: str) -> bool:
    """True when NAME=value can change what the shell or the command runs (PAGER=cat cannot)."""
    if name in _PAGERS and value in ("cat", ""):
        return False
    return dangerous_variable(name)


def dangerous_variable(name: str) -> bool:
    """True when setting `name` can change what the shell or the command runs."""
    return (
        name.startswith("__coda")  # the shell tool's own variables (its state file, ...)
        or name in _SHELL_VARIABLES
        or name in _PROGRAM_VARIABLES
        or name.startswith(_PROGRAM_VARIABLE_PREFIXES)
    )
