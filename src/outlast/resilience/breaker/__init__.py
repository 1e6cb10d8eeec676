"""The circuit breaker, whole: the ``CircuitBreaker`` drivers, the decision core and its
sliding windows, the per-name registry, and the cluster state kept in Redis (its view, its
write-behind batch, the local trip prediction and its Lua scripts) beside the local one.

Public names are re-exported by :mod:`outlast.resilience` and :mod:`outlast`; the modules
here are private.
"""
