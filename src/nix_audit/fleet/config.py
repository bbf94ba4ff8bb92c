"""How ``nix-audit serve`` was started: the options object the app is built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from nix_audit.advisories.refresh import AdvisorySources

__all__ = ["ServerConfig"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``db_dir``: the advisory index folder (the database is given to ``create_app`` open).

    ``update_interval`` None: never update the index from here (it is kept current by another
    process, or tests put it in place). ``evaluate_in_process``: match in the server's own
    process instead of a worker (tests, and hosts with one core to spare).
    """

    db_dir: Path
    sources: AdvisorySources = AdvisorySources()  # noqa: RUF009 - a frozen value
    update_interval: timedelta | None = timedelta(hours=6)
    poll_seconds: float = 30.0
    evaluate_in_process: bool = False
    secure_cookies: bool = False  # set the Secure flag: behind HTTPS
