"""The Redis plumbing that cluster breakers and bulkheads share: the link (one connection
set per URL, with its down/up state), the threads that keep breaker views in step, lease
renewal, and the choice of scope (local or cluster) for a new breaker or bulkhead.

Nothing here knows a breaker's or a bulkhead's rules; it only moves their state.
"""
