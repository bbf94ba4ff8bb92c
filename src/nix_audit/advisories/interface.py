"""Interfaces of the advisories stage: where feeds come from, and how the index is read."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

from nix_audit.models import AdvisoryDetails, AdvisoryRecord

__all__ = ["AdvisoryLookup", "AdvisorySource", "FeedFetch", "FeedSource", "Validators"]


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators remembered from the last fetch of a feed (RFC 9110, 13.1)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FeedFetch:
    """Result of asking for one feed: ``path`` is None when the feed did not change (304).

    ``path`` is a downloaded ``.json.gz`` file owned by the caller, who deletes it.
    """

    name: str
    path: Path | None
    validators: Validators


class AdvisorySource(ABC):
    """A place advisories come from. It may hold a connection pool: use it in a ``with``
    block (or call ``close()``)."""

    def close(self) -> None:  # noqa: B027 - a no-op by default: folder sources hold nothing
        """Release what the source holds open."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    @abstractmethod
    def location(self) -> str:
        """The URL or folder, for status output and to tell one place from another."""


class FeedSource(AdvisorySource):
    """Where NVD JSON 2.0 feeds come from: the NVD itself, a mirror URL or a local folder."""

    @abstractmethod
    def fetch(self, name: str, validators: Validators | None, dest_dir: Path) -> FeedFetch:
        """Fetch feed ``name`` (``2014``, ``modified``) into ``dest_dir``, conditionally.

        Raises ``FeedError`` with one clear line on any failure.
        """


class AdvisoryLookup(Protocol):
    """The read side of the index, as the matcher and the reporters use it."""

    def records_for_products(
        self, products: Collection[str]
    ) -> Mapping[str, Sequence[AdvisoryRecord]]:
        """CVE records whose configurations name each CPE product (lower case) as vulnerable."""
        ...

    def records_for_versions(
        self, wanted: Mapping[str, Collection[str] | None]
    ) -> Mapping[str, Sequence[AdvisoryRecord]]:
        """``records_for_products`` narrowed to records that may concern the given versions
        of each product (None: all of that product's records)."""
        ...

    def details(self, cve_ids: Collection[str]) -> Mapping[str, AdvisoryDetails]:
        """Description, scores and dates of the given CVEs."""
        ...
