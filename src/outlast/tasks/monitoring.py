"""Monitoring beat tasks on the ``monitoring`` queue: statistics, alerts, escalation, prune."""

from __future__ import annotations

__all__: list[str] = []
