"""A worker app that knows none of Outlast's operations: an older or misconfigured worker.

``celery -A _bare_worker_app worker`` runs Outlast's consumer and settings but imports no
task module, so every operation's message is, to it, a task nobody registered.
"""

from __future__ import annotations

from outlast.workers import create_app

app = create_app(main="bare")
app.conf.include = []
