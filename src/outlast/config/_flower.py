"""The settings of Flower, the web page that ``outlast flower`` serves (``OUTLAST_FLOWER_*``).

Flower listens on ``flower_address``:``flower_port`` and asks for HTTP basic auth with
``flower_user`` and ``flower_password``. Both or neither must be set, and Flower without
them is allowed only on a loopback address: its page can revoke tasks and stop workers, so
it is never served without a login to other hosts. Read only where Flower runs.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from outlast.config import _value_checks as checks
from outlast.config._loading import SettingsBase, loader
from outlast.errors import FieldError

__all__ = ["FlowerSettings", "flower_problems", "get_flower_settings", "is_loopback"]

_LOOPBACK_NAMES = ("localhost",)


class FlowerSettings(SettingsBase):
    """Where Flower listens and the one login it accepts (``OUTLAST_FLOWER_*``)."""

    flower_address: str = Field(
        default="127.0.0.1",
        description="Address Flower listens on; off loopback only with a login set.",
    )
    flower_port: int = Field(default=5555, ge=1, le=65535, description="Port Flower listens on.")
    flower_user: str | None = Field(
        default=None, description="User of Flower's basic auth (set with the password)."
    )
    flower_password: str | None = Field(
        default=None, description="Password of Flower's basic auth (set with the user)."
    )

    _flower_address = field_validator("flower_address")(checks.host_name)

    @property
    def basic_auth(self) -> str | None:
        """``user:password`` as Flower compares it, or None when no login is set."""
        if self.flower_user is None or self.flower_password is None:
            return None
        return f"{self.flower_user}:{self.flower_password}"

    @property
    def url(self) -> str:
        """The address of Flower's page, for people to open."""
        host = f"[{self.flower_address}]" if ":" in self.flower_address else self.flower_address
        return f"http://{host}:{self.flower_port}/"


_load = loader(FlowerSettings)


def get_flower_settings() -> FlowerSettings:
    """The process's Flower settings, read on first use; SettingsError if one is wrong."""
    return _load()


def is_loopback(address: str) -> bool:
    """Whether ``address`` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if address.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def flower_problems(settings: FlowerSettings) -> list[FieldError]:
    """What is wrong with the login of ``settings`` as a whole (each field is fine alone)."""
    user, password = settings.flower_user, settings.flower_password
    if (user is None) != (password is None):
        given, missing = ("USER", "PASSWORD") if password is None else ("PASSWORD", "USER")
        return [
            FieldError(
                field=f"OUTLAST_FLOWER_{missing}",
                code="flower_login",
                message=f"is not set but OUTLAST_FLOWER_{given} is; expected both or neither",
            )
        ]
    if user is not None and (not user or ":" in user):
        return [
            FieldError(
                field="OUTLAST_FLOWER_USER",
                code="flower_login",
                message=f"holds {user!r}; expected a non-empty user name without ':'",
            )
        ]
    if user is None and not is_loopback(settings.flower_address):
        message = (
            f"holds {settings.flower_address!r} and no login is set; Flower can stop workers, "
            "so it is served to other hosts only with OUTLAST_FLOWER_USER and "
            "OUTLAST_FLOWER_PASSWORD set (or bound to 127.0.0.1)"
        )
        return [FieldError(field="OUTLAST_FLOWER_ADDRESS", code="flower_open", message=message)]
    return []
