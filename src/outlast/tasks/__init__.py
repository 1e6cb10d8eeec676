"""Outlast's built-in tasks, one module per area; each registers on ``outlast.workers.app``.

``from outlast.tasks import payment_queue, email_queue`` loads only the module asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outlast.tasks.emails import email_queue
    from outlast.tasks.payments import payment_queue

__all__ = ["email_queue", "payment_queue"]

_MODULES = {"email_queue": "outlast.tasks.emails", "payment_queue": "outlast.tasks.payments"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'outlast.tasks' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
