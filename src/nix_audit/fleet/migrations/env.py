"""Alembic environment: migrations run on the connection ``fleet.database.migrate`` passes."""

from __future__ import annotations

from alembic import context

from nix_audit.fleet.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them (Alembic "batch" mode)
)
with context.begin_transaction():
    context.run_migrations()
