"""``outlast flower``: Flower for ``outlast.workers``, in this process, with the settings' login.

What ``celery -A outlast.workers flower`` does, with the address, port and basic-auth login
taken from :class:`~outlast.config.FlowerSettings` (checked before this runs). The login is
handed to Flower in memory, never on a command line where ``ps`` would show the password, and
a ``flowerconfig.py`` in the working directory is not read. Flower is imported only here, so
the library and the other commands work without it installed.
"""

from __future__ import annotations

import importlib
import importlib.util

from outlast.config import FlowerSettings
from outlast.errors import ConfigurationError

__all__ = ["TASK_COLUMNS", "flower_argv", "require_flower", "run_flower"]

#: The tasks page's columns: Flower's own, with each task's arguments and result added.
TASK_COLUMNS = "name,uuid,state,args,result,received,runtime,worker"


def flower_argv(settings: FlowerSettings) -> list[str]:
    """The ``celery flower`` arguments for ``settings`` (the login is not among them)."""
    return [
        "flower",
        f"--address={settings.flower_address}",
        f"--port={settings.flower_port}",
        f"--tasks_columns={TASK_COLUMNS}",
        "--conf=/dev/null",
    ]


def require_flower() -> None:
    """ConfigurationError, saying how to install it, when the flower package is missing."""
    if importlib.util.find_spec("flower") is None:
        raise ConfigurationError(
            "outlast flower needs the flower package, which is not installed; "
            "install the local extra: pip install 'outlast[local]'"
        )


def run_flower(settings: FlowerSettings) -> None:
    """Serve Flower until SIGTERM or Ctrl-C; the login applies to its pages and its API."""
    require_flower()
    importlib.import_module("flower.options")  # defines Flower's options on tornado's parser
    from tornado.options import options

    if settings.basic_auth is not None:
        options.basic_auth = [settings.basic_auth]
    from outlast.workers import app

    app.start(argv=flower_argv(settings))
