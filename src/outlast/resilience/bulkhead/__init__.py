"""The bulkhead, whole: the ``Bulkhead`` shared by threads and asyncio code, its permit
ledgers, the admission counts and stats both scopes report, the per-name registry, and the
cluster bulkhead whose permits are leases in Redis (its lease table, held permits and Lua
scripts) beside the local one.

Public names are re-exported by :mod:`outlast.resilience` and :mod:`outlast`; the modules
here are private.
"""
