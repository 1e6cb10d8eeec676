"""Token lists and matching: plain and hashed entries, names, and malformed entries
refused without quoting them."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import SecretStr

from outlast.api._auth import match_token
from outlast.config._api import ApiSettings, parse_tokens


def test_plain_hashed_and_named_entries() -> None:
    """Each entry gives its digest, its role and its name (given or derived)."""
    digest = hashlib.sha256(b"second").hexdigest()
    tokens = parse_tokens(f"ops=first, sha256:{digest} ,", "admin")
    assert [t.name for t in tokens] == ["ops", f"token-{digest[:8]}"]
    assert tokens[0].digest == hashlib.sha256(b"first").digest()
    assert {t.role for t in tokens} == {"admin"}


@pytest.mark.parametrize("entry", ["sha256:abc", "bad name=x", "ops=", "sha256:" + "g" * 64])
def test_malformed_entry_is_refused_without_its_text(entry: str) -> None:
    """A malformed entry raises naming its position, never its text."""
    with pytest.raises(ValueError, match="entry 2") as refused:
        parse_tokens(f"good-one,{entry}", "read")
    assert entry not in str(refused.value)


def test_match_finds_the_token_presented() -> None:
    """The presented text matches its own entry (plain or hashed), and nothing else."""
    digest = hashlib.sha256(b"hashed").hexdigest()
    settings = ApiSettings(
        admin_tokens=SecretStr(f"ops=plain,sha256:{digest}"), read_tokens=SecretStr("viewer=r")
    )
    tokens = settings.tokens()
    assert match_token("plain", tokens) is tokens[0]
    assert match_token("hashed", tokens) is tokens[1]
    found = match_token("r", tokens)
    assert found is not None
    assert (found.name, found.role) == ("viewer", "read")
    assert match_token("plainx", tokens) is None
    assert match_token("", tokens) is None


def test_settings_never_show_tokens() -> None:
    """Printing the settings or a token shows no secret."""
    settings = ApiSettings(admin_tokens=SecretStr("ops=very-secret"))
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in repr(settings.tokens())
