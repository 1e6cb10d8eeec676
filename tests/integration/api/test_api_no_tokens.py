"""With no token configured the API is never open by default, and tokens never reach the
logs: every protected route refuses every caller (401), the probes still answer, and an
admin action's log line names the token's name, not the token."""

from __future__ import annotations

import logging

import httpx
import pytest

from _api_support import ADMIN_TOKEN, TOKENS, auth
from outlast.api import create_app
from outlast.config import Settings
from outlast.config._api import ApiSettings

PROTECTED = ["/family/health/error-handling", "/admin/dead-letters", "/admin/alerts", "/metrics"]


@pytest.mark.parametrize("token", [t for t in TOKENS.values() if t is not None])
async def test_no_tokens_configured_refuses_everyone(core_settings: Settings, token: str) -> None:
    """Any presented token gets 401 on every protected route; liveness answers 200."""
    app = create_app(ApiSettings(), core=core_settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        for path in PROTECTED:
            response = await http.get(path, headers=auth(token))
            assert response.status_code == 401, path
        assert (await http.get("/health/live")).status_code == 200
    app.state.outlast.close()


async def test_tokens_never_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Refusals and an audited admin action log no token text; the action logs its name."""
    caplog.set_level(logging.DEBUG)
    await client.get("/admin/alerts", headers=auth("a-wrong-token-value"))
    await client.delete("/admin/dead-letters", params={"all": "true"}, headers=auth(ADMIN_TOKEN))
    assert "a-wrong-token-value" not in caplog.text
    assert ADMIN_TOKEN not in caplog.text
    assert "dead_letter.purge" in caplog.text
    assert "by ops" in caplog.text
