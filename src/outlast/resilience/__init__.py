"""The resilience library: retry, circuit breaker, bulkhead, timeout, fallback, validation,
user-friendly errors, and ``handle_errors`` that composes them. Never imports Celery,
FastAPI or a store; it publishes events that monitoring subscribes to."""
