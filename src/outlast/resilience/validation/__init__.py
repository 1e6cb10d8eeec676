"""Input validation, whole: ``validate_input``, the schema compiler, the sanitization walk
every value goes through, and the per-field checks.

Public names are re-exported by :mod:`outlast.resilience` and :mod:`outlast`; the modules
here are private.
"""
