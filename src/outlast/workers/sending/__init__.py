"""Sending work: ``enqueue`` and the ``fallback_to_queue`` fallback, and the ledger (with
its beat sweep) that resends what the broker lost before it started."""
