"""Enqueue operations from a separate process, as an application would.

Usage: ``python tests/_enqueue_cli.py '[["tests.noop", [1], {}, null], ...]'`` with the
worker-system environment set; prints one JSON line per item: what ``enqueue`` returned.
"""

from __future__ import annotations

import json
import sys

import _ops_for_tests  # noqa: F401  (registers the operations)
from outlast.workers import enqueue


def main() -> None:
    for name, args, kwargs, key in json.loads(sys.argv[1]):
        print(json.dumps(enqueue(name, *args, idempotency_key=key, **kwargs)), flush=True)


if __name__ == "__main__":
    main()
