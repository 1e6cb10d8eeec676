"""Work that cannot be done: building its dead letter, keeping it when the store refuses
it, logging it once, and the consumer that dead-letters messages no task can run."""
