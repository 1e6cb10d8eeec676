"""What the text of a setting must look like: URLs by scheme, module lists, host names.

Each check returns the value it accepts (or the list it parses) and otherwise raises a
pydantic error of type ``outlast_expected`` whose context holds ``expected`` (what the
setting takes) and, when one can be named, ``problem`` (what is wrong with this value);
``_env_errors`` turns that into the line naming the variable. Nothing here connects to
anything: a well-formed URL of a server that does not answer passes.
"""

from __future__ import annotations

import json
import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

from pydantic_core import PydanticCustomError

__all__ = [
    "EXPECTED_TYPE",
    "broker_url",
    "host_name",
    "http_url",
    "module_list",
    "mongodb_url",
    "redis_url",
    "result_backend_url",
]

EXPECTED_TYPE: Final = "outlast_expected"
"""The pydantic error type these checks raise."""

REDIS_SCHEMES: Final = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")
BROKER_SCHEMES: Final = ("redis", "rediss", "redis+socket", "amqp", "amqps", "pyamqp")

_REDIS_EXPECTED = (
    "a Redis URL (redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://), "
    "e.g. redis://127.0.0.1:6379/0"
)
_BROKER_EXPECTED = (
    "a broker URL (redis://, rediss://, redis+socket://, amqp://, amqps:// or pyamqp://; "
    "several joined by ';' for failover), e.g. amqp://guest:guest@127.0.0.1:5672//"
)
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _refuse(expected: str, problem: str | None = None) -> PydanticCustomError:
    context = {"expected": expected, "problem": problem or ""}
    return PydanticCustomError(EXPECTED_TYPE, "expected {expected}", context)


def _network_problem(parts: SplitResult) -> str | None:
    """What is wrong with the host and port of a ``scheme://host:port/...`` URL, if anything."""
    if not parts.hostname:
        return "it names no host"
    try:
        parts.port  # noqa: B018  (reading it is the check: urllib parses the port lazily)
    except ValueError:
        return "its port is not a number from 0 to 65535"
    return None


def _split(value: str, schemes: tuple[str, ...]) -> tuple[SplitResult | None, str | None]:
    """The URL's parts, or why it is not a URL of one of ``schemes``."""
    parts = urlsplit(value)
    if "://" not in value or not parts.scheme:
        return None, "it is not a URL"
    if parts.scheme.lower() not in schemes:
        return None, f"its scheme {parts.scheme!r} is not supported"
    return parts, None


def _sentinel_problem(parts: SplitResult) -> str | None:
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        if not (host or item) or (host and not port.isdigit()):
            return f"sentinel {item!r} is not host[:port]"
    path = [p for p in parts.path.split("/") if p]
    if not path:
        return "it names no service (redis+sentinel://host:port/service)"
    if len(path) > 1 and not path[1].isdigit():
        return "its database is not a number"
    return None


def _redis_problem(value: str) -> str | None:
    parts, problem = _split(value, REDIS_SCHEMES)
    if parts is None:
        return problem
    scheme = parts.scheme.lower()
    if scheme == "unix":
        return None if parts.path else "it names no socket path"
    if scheme == "redis+sentinel":
        return _sentinel_problem(parts)
    if not parts.path.strip("/").isdigit() and parts.path.strip("/"):
        return "its database (the path) is not a number"
    return _network_problem(parts)


def redis_url(value: str | None) -> str | None:
    """``value`` if it is a Redis URL that Outlast's clients open."""
    if value is None:
        return None
    problem = _redis_problem(value)
    if problem:
        raise _refuse(_REDIS_EXPECTED, problem)
    return value


def _broker_problem(value: str) -> str | None:
    if value.lower().startswith("sentinel://"):
        return "kombu's sentinel:// transport needs a master_name option that Outlast does not set"
    parts, problem = _split(value, BROKER_SCHEMES)
    if parts is None:
        return problem
    if parts.scheme.lower() == "redis+socket":
        return None if parts.path else "it names no socket path"
    return _network_problem(parts)


def broker_url(value: str | None) -> str | None:
    """``value`` if every ``;``-separated URL in it is a broker kombu opens for Outlast."""
    if value is None:
        return None
    urls = [url.strip() for url in value.split(";") if url.strip()]
    if not urls:
        raise _refuse(_BROKER_EXPECTED, "it is empty")
    for url in urls:
        problem = _broker_problem(url)
        if problem:
            raise _refuse(_BROKER_EXPECTED, problem if len(urls) == 1 else f"{url!r}: {problem}")
    return value


def result_backend_url(value: str | None) -> str | None:
    """``value`` if it has the ``scheme://`` form of a Celery result backend URL."""
    if value is None:
        return None
    if "://" not in value or not urlsplit(value).scheme:
        raise _refuse("a Celery result backend URL such as redis://host:6379/0", "not a URL")
    return value


def http_url(value: str | None) -> str | None:
    """``value`` if it is an ``http://`` or ``https://`` URL with a host."""
    if value is None:
        return None
    parts, problem = _split(value, ("http", "https"))
    problem = problem or (_network_problem(parts) if parts else None)
    if problem:
        raise _refuse("an http:// or https:// URL such as https://gateway.example/v1", problem)
    return value


def mongodb_url(value: str | None) -> str | None:
    """``value`` if it is a ``mongodb://`` or ``mongodb+srv://`` URL with a host."""
    if value is None:
        return None
    parts, problem = _split(value, ("mongodb", "mongodb+srv"))
    if problem is None and parts is not None and not parts.netloc.rsplit("@", 1)[-1]:
        problem = "it names no host"
    if problem:
        raise _refuse("a MongoDB URL: mongodb://host[:port]/database or mongodb+srv://...", problem)
    return value


def host_name(value: str) -> str:
    """``value`` if it is a bare host name or address (no scheme, port or spaces)."""
    if not value.strip() or "://" in value or any(c.isspace() for c in value):
        raise _refuse("a host name or IP address, without scheme or port, such as smtp.example")
    return value


def module_list(value: object) -> object:
    """A list of dotted module names from a JSON list or a comma-separated string."""
    expected = "module names, comma-separated (myapp.ops,myapp.billing) or a JSON list"
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise _refuse(expected, "it is not a valid JSON list") from None
        else:
            value = [name.strip() for name in text.split(",") if name.strip()]
    if not isinstance(value, list):
        raise _refuse(expected)
    for name in value:
        if not isinstance(name, str) or not _MODULE.fullmatch(name):
            raise _refuse(expected, f"{name!r} is not a module name")
    return value
