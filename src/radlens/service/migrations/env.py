"""Alembic environment: runs on the connection `radlens.service.store.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from radlens.service.store import Base

target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic -x url=...` from a shell, for developers generating revisions
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///radlens.sqlite3")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
