"""The Redis backend of the durable store (the default): ``RedisStore`` on ``redis.asyncio``,
its Lua scripts, its record layouts, and the sync idempotency claims workers use.

Public names are re-exported by :mod:`outlast.store`; the modules here are private.
"""
