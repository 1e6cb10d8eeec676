"""Keeping a worker consuming: the consumer that survives a broker dying under it, and the
watchdog in each worker's main process."""
