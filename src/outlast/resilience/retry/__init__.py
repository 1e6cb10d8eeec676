"""Retry, whole: the driver (a plain call first, tenacity after a retryable failure), the
backoff schedules and jitter, Retry-After, the policy of which errors to retry, and the
process-wide test mode that skips sleeps.

Public names are re-exported by :mod:`outlast.resilience` and :mod:`outlast`; the modules
here are private.
"""
