"""The health API that ``outlast dev`` plans: its port, the session's token, what it prints,
and its metrics directory."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from outlast.cli._dev_api import REPORT_PATH, plan_api
from outlast.cli._dev_metrics import SessionMetrics
from outlast.config._api import ApiSettings, parse_tokens
from outlast.errors import ConfigurationError


def _ephemeral_start() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_configured_port_is_kept_and_an_unset_one_is_chosen_free_at_start() -> None:
    """OUTLAST_API_PORT is used as given; unset, a free loopback port is chosen when asked."""
    assert plan_api(ApiSettings(api_port=8123)).on_a_port().port == 8123
    planned = plan_api(ApiSettings())
    assert planned.port == 0
    chosen = planned.on_a_port()
    assert 10000 <= chosen.port < _ephemeral_start()  # never one bind(0) hands out
    assert _bindable(chosen.port)
    assert chosen.url == f"http://127.0.0.1:{chosen.port}"
    assert chosen.argv()[-4:] == ["--host", "127.0.0.1", "--port", str(chosen.port)]


def test_without_an_admin_token_the_session_gets_one_given_to_the_api_and_printed() -> None:
    """A random admin token is made, handed to the API child as an admin token named dev,
    and shown in the usage lines with a ready-to-run curl of the report."""
    api = plan_api(ApiSettings(read_tokens=SecretStr("grafana=read-only"))).on_a_port()
    assert api.session_token is not None
    assert len(api.session_token) >= 32
    assert api.session_token != plan_api(ApiSettings()).session_token
    [token] = parse_tokens(api.env()["OUTLAST_ADMIN_TOKENS"], "admin")
    assert (token.name, token.role) == ("dev", "admin")
    usage = "\n".join(api.usage())
    assert f'Bearer {api.session_token}" {api.url}{REPORT_PATH}' in usage
    assert f"no token needed: {api.url}/health/live and {api.url}/health/ready" in usage


def test_configured_admin_tokens_serve_and_are_never_shown() -> None:
    """With OUTLAST_ADMIN_TOKENS set no token is made, the child's env adds none, and the
    usage lines name the variable with a placeholder, never the secret."""
    api = plan_api(ApiSettings(admin_tokens=SecretStr("ops=very-secret-value"))).on_a_port()
    assert api.session_token is None
    assert api.env() == {}
    usage = "\n".join(api.usage())
    assert "very-secret-value" not in usage
    assert 'Bearer $TOKEN"' in usage


def test_a_malformed_token_list_is_refused_by_position_without_its_text() -> None:
    """A bad entry is a ConfigurationError naming the variable and the entry's position."""
    with pytest.raises(ConfigurationError) as refused:
        plan_api(ApiSettings(admin_tokens=SecretStr("fine,bad name=hidden-secret")))
    assert "OUTLAST_ADMIN_TOKENS: entry 2" in str(refused.value)
    assert "hidden-secret" not in str(refused.value)


def test_a_session_metrics_directory_is_removed_and_a_configured_one_is_kept(
    tmp_path: Path,
) -> None:
    """The session's own directory goes at exit and reaches the children; a configured one
    stays and is not repeated in their environment."""
    made, configured = tmp_path / "made", tmp_path / "configured"
    made.mkdir()
    configured.mkdir()
    session = SessionMetrics(made, made_here=True)
    assert session.env() == {"OUTLAST_METRICS_DIR": str(made)}
    session.remove()
    kept = SessionMetrics(configured, made_here=False)
    kept.remove()
    assert (made.exists(), configured.exists(), kept.env()) == (False, True, {})
