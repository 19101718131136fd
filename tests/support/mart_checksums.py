"""A checksum per analyst-facing table: proves two builds produced the same ``marts.*`` content."""

from __future__ import annotations

import psycopg
from psycopg import sql

# columns that record when something was built or sent, not what the data says
VOLATILE = {"built_at", "updated_at", "_loaded_at", "notified_at", "refreshed_at"}


def mart_checksums(url: str) -> dict[str, tuple[int, str]]:
    """Table -> (row count, md5 of its rows in a canonical order), for every table of ``marts``."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            )
        ]
        for table in tables:
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'marts' and table_name = %s order by ordinal_position",
                    (table,),
                )
                if r[0] not in VOLATILE
            ]
            row = sql.SQL("row({})::text").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
            query = sql.SQL(
                "select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), '')) from (select {} as r from {}) t"
            ).format(row, sql.Identifier("marts", table))
            found = conn.execute(query).fetchone()
            assert found is not None
            out[table] = (int(found[0]), str(found[1]))
    return out
