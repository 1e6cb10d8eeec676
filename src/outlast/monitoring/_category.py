"""Error categories: what kind of failure an exception is, from its type and module.

The first rule that matches wins, in the order of :data:`_RULES`: a timeout is a timeout
before it is a network error, a driver's connection error is a database error.

Pure: classifying never calls into the exception beyond its type and ``errno``.
"""

from __future__ import annotations

import enum
import errno

from outlast.errors import (
    BulkheadCapacityError,
    CircuitBreakerOpenError,
    OperationTimeoutError,
    ServiceUnavailableError,
    StoreUnavailableError,
    ValidationError,
)

__all__ = ["ErrorCategory", "categorize"]


class ErrorCategory(enum.Enum):
    """The kinds of failure monitoring counts separately."""

    NETWORK = "network"
    TIMEOUT = "timeout"
    DATABASE = "database"
    VALIDATION = "validation"
    SECURITY = "security"
    RESOURCE = "resource"
    PROGRAMMING = "programming"
    UNKNOWN = "unknown"


_DATABASE_MODULES = (
    "sqlalchemy", "psycopg", "psycopg2", "asyncpg", "pymysql", "mysql", "sqlite3",
    "pymongo", "motor", "redis", "cassandra", "elasticsearch", "aiomysql", "aiosqlite",
)  # fmt: skip
_NETWORK_MODULES = ("socket", "ssl", "httpx", "httpcore", "requests", "urllib3", "aiohttp")
_RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.EMFILE, errno.ENFILE, errno.ENOMEM})
_PROGRAMMING = (
    AttributeError, NameError, TypeError, LookupError, AssertionError, NotImplementedError,
    ImportError, SyntaxError, ArithmeticError, RecursionError, UnboundLocalError,
)  # fmt: skip


def categorize(error: BaseException) -> ErrorCategory:
    """The category of ``error``."""
    key = (type(error), error.errno if isinstance(error, OSError) else None)
    category = _known.get(key)
    if category is None:
        category = _known[key] = _categorize(error)
    return category


# The category depends on the type alone (and an OSError's errno), and those are few.
_known: dict[tuple[type[BaseException], int | None], ErrorCategory] = {}


def _categorize(error: BaseException) -> ErrorCategory:
    names = [cls.__name__.lower() for cls in type(error).__mro__]
    modules = {cls.__module__.split(".")[0] for cls in type(error).__mro__}
    for rule in (_timeout, _resource, _security, _database, _network, _validation):
        category = rule(error, names, modules)
        if category is not None:
            return category
    if isinstance(error, _PROGRAMMING):
        return ErrorCategory.PROGRAMMING
    return ErrorCategory.UNKNOWN


def _timeout(error: BaseException, names: list[str], _: set[str]) -> ErrorCategory | None:
    if isinstance(error, TimeoutError | OperationTimeoutError) or any(
        "timeout" in n or "timedout" in n for n in names
    ):
        return ErrorCategory.TIMEOUT
    return None


def _resource(error: BaseException, names: list[str], _: set[str]) -> ErrorCategory | None:
    if isinstance(error, MemoryError | BulkheadCapacityError):
        return ErrorCategory.RESOURCE
    if isinstance(error, OSError) and error.errno in _RESOURCE_ERRNOS:
        return ErrorCategory.RESOURCE
    if any(word in n for n in names for word in ("quota", "ratelimit", "capacity", "exhaust")):
        return ErrorCategory.RESOURCE
    return None


def _security(error: BaseException, names: list[str], _: set[str]) -> ErrorCategory | None:
    words = ("auth", "permission", "forbidden", "csrf", "security", "credential", "signature")
    if isinstance(error, PermissionError) or any(w in n for n in names for w in words):
        return ErrorCategory.SECURITY
    return None


def _database(error: BaseException, names: list[str], modules: set[str]) -> ErrorCategory | None:
    if isinstance(error, StoreUnavailableError) or modules.intersection(_DATABASE_MODULES):
        return ErrorCategory.DATABASE
    if any("database" in n or n.startswith("db") for n in names):
        return ErrorCategory.DATABASE
    return None


def _network(error: BaseException, names: list[str], modules: set[str]) -> ErrorCategory | None:
    unavailable = (ConnectionError, ServiceUnavailableError, CircuitBreakerOpenError)
    if isinstance(error, unavailable) or modules.intersection(_NETWORK_MODULES):
        return ErrorCategory.NETWORK
    if any("connection" in n or "network" in n or "http" in n for n in names):
        return ErrorCategory.NETWORK
    return None


def _validation(error: BaseException, names: list[str], _: set[str]) -> ErrorCategory | None:
    if isinstance(error, ValidationError | ValueError) or any("validation" in n for n in names):
        return ErrorCategory.VALIDATION
    return None
