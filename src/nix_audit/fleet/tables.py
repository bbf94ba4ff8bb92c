"""The fleet database: SQLAlchemy Core tables, the same on SQLite and PostgreSQL.

The schema changes only through Alembic revisions (``fleet/migrations/versions``); a test
compares these tables with the migrated database, so the two cannot drift apart.

Shape, and why:

- A *closure* is stored once per digest, however many hosts run it (issue #7: identical closures
  are matched once). Its packages and its findings hang off it.
- A *report* is one submission of a host; the host points at its latest one. Older reports are
  its history (which closure it ran when).
- Findings are stored untriaged per closure: triage depends on the host (per-host whitelist
  scope), and is cheap; matching depends only on the closure and the index, and is not.
- ``host_status`` is each host's triaged summary, recomputed when its closure, the index or the
  central triage changes, so that the overview reads one row per host.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "admins",
    "advisories",
    "closure_findings",
    "closure_packages",
    "closures",
    "host_status",
    "hosts",
    "metadata",
    "reports",
    "server_state",
    "sessions",
    "trend",
    "triage_documents",
]

# Constraint names fixed by convention, so that migrations name them the same on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_TIME = DateTime(timezone=True)

hosts = Table(
    "hosts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(253), nullable=False, unique=True),
    # sha256 of the host's token (tokens are 256 random bits, so a fast hash is enough; no
    # password-grade stretching is needed to resist guessing).
    Column("token_hash", String(64), nullable=True, unique=True),
    Column("revoked_at", _TIME, nullable=True),
    Column("created_at", _TIME, nullable=False),
    Column("report_interval", Integer, nullable=False),  # seconds; late hosts are flagged
    Column("last_report_at", _TIME, nullable=True),
    Column("current_report_id", Integer, nullable=True),  # no FK: reports refer to hosts
)

closures = Table(
    "closures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("package_count", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False),
    # The index generation the findings below were matched with; NULL: not matched yet.
    Column("matched_generation", String(200), nullable=True),
    Column("matched_at", _TIME, nullable=True),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    Column("closure_id", Integer, ForeignKey("closures.id"), nullable=False),
    Column("received_at", _TIME, nullable=False),
    Column("system", Text, nullable=True),
    Column("nixos_version", String(100), nullable=True),
    Column("closure_kind", String(40), nullable=False),
    Index("ix_reports_host_received", "host_id", "received_at"),
)

closure_packages = Table(
    "closure_packages",
    metadata,
    Column("closure_id", Integer, ForeignKey("closures.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("pname", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("store_path", Text, nullable=True),
    Column("derivation", Text, nullable=True),
    Column("buildtime", Boolean, nullable=False),
    Column("patched_cves", Text, nullable=False),  # JSON list
    Column("source_urls", Text, nullable=False),  # JSON list
    Column("cpes", Text, nullable=False),  # JSON list
    Column("identified_from", String(40), nullable=False),
    Index("ix_closure_packages_pname", "pname"),
)

closure_findings = Table(
    "closure_findings",
    metadata,
    Column("closure_id", Integer, ForeignKey("closures.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True),  # the package's idx in its closure
    Column("cve_id", String(40), primary_key=True),
    Column("criteria", Text, nullable=False),
    Column("version_range", Text, nullable=False),
    Column("mapping", String(100), nullable=False),
    Column("confidence", String(10), nullable=False),
    # Which data decided the CVE (issue #12): nvd, cve-list:adp, cve-list:cna.
    Column("source", String(20), nullable=False, server_default="nvd"),
    Index("ix_closure_findings_cve", "cve_id"),
)

advisories = Table(
    "advisories",
    metadata,
    Column("cve_id", String(40), primary_key=True),
    Column("score", Float, nullable=True),
    Column("severity", String(20), nullable=True),
    Column("details", Text, nullable=False),  # AdvisoryDetails as JSON
)

triage_documents = Table(
    "triage_documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),  # "whitelist" or "vex"
    Column("name", String(200), nullable=False),
    Column("hosts", Text, nullable=True),  # JSON list of host names; NULL: every host
    Column("content", Text, nullable=False),
    Column("uploaded_at", _TIME, nullable=False),
    UniqueConstraint("kind", "name", name="uq_triage_documents_kind_name"),
)

host_status = Table(
    "host_status",
    metadata,
    Column("host_id", Integer, ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True),
    Column("report_id", Integer, nullable=False),
    Column("generation", String(200), nullable=False),  # index and triage it was computed with
    Column("evaluated_at", _TIME, nullable=False),
    Column("worst", Integer, nullable=False),  # severity rank: 0 none .. 5 critical
    Column("affected", Integer, nullable=False),
    Column("critical", Integer, nullable=False),
    Column("high", Integer, nullable=False),
    Column("medium", Integer, nullable=False),
    Column("low", Integer, nullable=False),
    Column("unscored", Integer, nullable=False),
    Column("whitelisted", Integer, nullable=False),
    Column("not_affected", Integer, nullable=False),
    Column("patched", Integer, nullable=False),
    Column("packages", Integer, nullable=False),
)

trend = Table(
    "trend",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", _TIME, nullable=False, index=True),
    Column("hosts", Integer, nullable=False),
    Column("hosts_affected", Integer, nullable=False),
    Column("affected", Integer, nullable=False),  # open findings over the fleet
    Column("critical", Integer, nullable=False),
)

admins = Table(
    "admins",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("password_hash", String(300), nullable=False),  # scrypt, see fleet/auth.py
    Column("created_at", _TIME, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("admin", String(100), ForeignKey("admins.name", ondelete="CASCADE"), nullable=False),
    Column("expires_at", _TIME, nullable=False),
)

server_state = Table(
    "server_state",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
