"""Work a dead worker held: its held deliveries, its heartbeat, the check that moves its
messages back to their queues once, and the record of each move."""
