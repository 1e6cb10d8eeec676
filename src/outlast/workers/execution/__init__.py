"""Running an operation: the ``@operation`` task, its execution core and drivers, the
envelope and idempotency claims that travel with it, time limits, and what happens when
work kills the process running it."""
