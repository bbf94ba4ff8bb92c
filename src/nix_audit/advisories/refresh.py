"""Where advisories come from, and one update from there: what ``scan``, ``db update`` and the
fleet server share (issue #12: the NVD feeds and, by default, the CVE List)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nix_audit.advisories.update import UpdateReport, update_index

__all__ = ["AdvisorySources", "update_from"]


@dataclass(frozen=True, slots=True)
class AdvisorySources:
    """The NVD feed location (``mirror``; None: the NVD) and the CVE List's (``cve_list``;
    None: the CVE Program's cvelistV5 GitHub releases), unless ``use_cve_list`` is off."""

    mirror: str | None = None
    cve_list: str | None = None
    use_cve_list: bool = True
    timeout: float = 30.0


def update_from(
    db_dir: Path, sources: AdvisorySources, *, now: datetime, full: bool = False
) -> UpdateReport:
    """``update_index`` from ``sources``; raises what it raises."""
    # Imported here: the HTTP stack costs a scan ~50 ms of start-up it rarely needs.
    from nix_audit.advisories.cvelist_fetch import cve_list_source_for
    from nix_audit.advisories.fetch import feed_source_for

    with contextlib.ExitStack() as stack:
        feeds = stack.enter_context(feed_source_for(sources.mirror, timeout=sources.timeout))
        cve_list = None
        if sources.use_cve_list:
            cve_list = stack.enter_context(
                cve_list_source_for(sources.cve_list, timeout=sources.timeout)
            )
        return update_index(db_dir, feeds, now=now, full=full, cve_list=cve_list)
