"""``outlast api``: its arguments and token lists are checked before anything is served."""

from __future__ import annotations

import pytest

from outlast.cli import main
from outlast.config import reload_settings


def test_port_out_of_range_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A port of 0 ends the command with status 2 and one line, before serving."""
    with pytest.raises(SystemExit) as exited:
        main(["api", "--port", "0"])
    assert exited.value.code == 2
    assert "expected a port from 1 to 65535" in capsys.readouterr().err


def test_malformed_token_is_named_without_its_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed hashed token is refused naming the variable and entry, never the secret."""
    monkeypatch.setenv("OUTLAST_ADMIN_TOKENS", "ops=the-secret-itself,sha256:abc")
    reload_settings()
    assert main(["api"]) == 2
    err = capsys.readouterr().err
    assert "OUTLAST_ADMIN_TOKENS: entry 2" in err
    assert "the-secret-itself" not in err
    assert err.count("\n") == 1
