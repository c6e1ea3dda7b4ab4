"""Alembic environment: run by ``ArticleStore`` with an open connection, no alembic.ini."""

from __future__ import annotations

from alembic import context

from pipelines.storage.models import Base
from pipelines.storage.search import include_name

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "migrations run through pipelines.storage.store.upgrade_database(), "
        "which passes an open connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # The search index (revision 0004) is raw SQL, not a model.
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
