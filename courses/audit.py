"""Administrators' changes to the catalog, recorded in the audit log in the change's transaction."""

from __future__ import annotations

from courses.queries import Connection, catalog_sql


async def record(
    conn: Connection,
    actor: str,
    action: str,
    detail: str,
    *,
    round_id: str | None = None,
    offering_id: str | None = None,
) -> None:
    """One event per change: a bulk import is one event that carries its count."""
    await conn.execute(catalog_sql("audit_admin"), actor, action, round_id, offering_id, detail)
