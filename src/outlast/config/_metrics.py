"""The settings of the Prometheus metrics (``OUTLAST_METRICS_*``), read where metrics are
kept or served.

``metrics_dir`` switches on multiprocess mode: every process of a worker (the prefork
parent and its children) writes its samples to files in the worker's subdirectory there
(named after its node name, emptied when it starts), and the exposition adds up every
worker's. It must be on the host's own disk. Unset, each process keeps its metrics in
memory and exposes only its own.
``metrics_address``:``metrics_port`` is where ``outlast metrics-server`` listens.
``metrics_max_error_types`` bounds the ``error_type`` label: the first error types a
process sees keep their name, later ones count as ``other``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from outlast.config import _value_checks as checks
from outlast.config._loading import SettingsBase, loader

__all__ = ["MetricsSettings", "get_metrics_settings"]


class MetricsSettings(SettingsBase):
    """Where metrics files go, where they are served, and how many error types are named."""

    metrics_dir: Path | None = None
    metrics_address: str = "127.0.0.1"
    metrics_port: int = Field(default=9808, ge=1, le=65535)
    metrics_max_error_types: int = Field(default=50, ge=1, le=1000)
    metrics_sample_interval: float = Field(default=1.0, gt=0)

    _metrics_address = field_validator("metrics_address")(checks.host_name)


_load = loader(MetricsSettings)


def get_metrics_settings() -> MetricsSettings:
    """The process's metrics settings, read on first use; SettingsError if one is wrong."""
    return _load()
