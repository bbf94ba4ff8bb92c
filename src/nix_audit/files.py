"""Writing output files so that a reader never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, fsync, then rename over it (atomic on POSIX file systems).

    Raises ``OSError``; callers translate it into their own error with the path.
    """
    temp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        temp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(0o644)  # mkstemp creates 0600; reports and whitelists are meant to be shared
        temp.replace(path)
    except BaseException:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise
