"""Celery beat: the schedule gathered by area, sent by the one scheduler holding the
leader lease."""
