"""Outlast's built-in tasks, one module per area; each registers on ``outlast.workers.app``."""
