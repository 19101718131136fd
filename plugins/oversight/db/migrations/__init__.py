"""Versioned, ordered, idempotent warehouse migrations (``NNNN_name.sql``)."""
