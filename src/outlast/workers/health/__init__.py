"""The health sweep as a worker runs it: probing services, checking that workers consume
their queues (observation, canaries, repairs) and healing the worker's shared clients."""
