"""`serve --pid-file`: the process that handles SIGHUP (the server, or the supervisor of
`serve --workers N`) names itself in a file, for `kill -HUP` and `orchestrator reload`."""

from __future__ import annotations

import os
from pathlib import Path


class PidFileError(Exception):
    pass


def write_pid_file(path: Path) -> None:
    """Call once SIGHUP is handled: a reload sent as soon as the file appears must not meet
    the default action (which ends the process)."""
    # Written beside and renamed into place, so a reader never sees half a number.
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(f"{os.getpid()}\n", encoding="ascii")
        partial.replace(path)
    except OSError as exc:
        raise PidFileError(f"cannot write the pid file {path}: {exc.strerror}") from None


def remove_pid_file(path: Path) -> None:
    """Removes the file if it still names this process (another server may have taken it)."""
    try:
        if path.read_text(encoding="ascii").strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass
