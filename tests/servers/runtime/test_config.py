"""Configuration: defaults, then the TOML file, then POLYTRADERS_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from polytraders.servers.runtime.auth import Role, TokenBook
from polytraders.servers.runtime.config import ServerConfig, load_config
from polytraders.servers.runtime.errors import PermissionDenied, Unauthenticated
from tests.conftest import DEV_TOKENS


def test_environment_overrides_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    file = tmp_path / "gov.toml"
    file.write_text('[server]\nport = 6000\ngroups = ["reports"]\nauth = true\n')

    config = load_config(file, env={"POLYTRADERS_PORT": "7000", "POLYTRADERS_AUTH": "off"})

    assert (config.port, config.groups, config.auth) == (7000, ("reports",), False)
    assert config.database_url == ServerConfig().database_url


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[server]\nprot = 1\n", {}, "unknown"),
        ("", {"POLYTRADERS_AUTH": "maybe"}, "expected true or false"),
        ("", {"POLYTRADERS_PORT": "http"}, "invalid literal"),
    ],
)
def test_a_bad_setting_is_refused_by_name(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    file = tmp_path / "gov.toml"
    file.write_text(toml)
    with pytest.raises(ValueError, match=message):
        load_config(file, env=env)


def test_tokens_map_to_roles_and_bots_act_only_for_themselves() -> None:
    book = TokenBook.from_file(DEV_TOKENS)
    bot = book.authenticate([("authorization", "Bearer dev-bot-token")])
    assert (bot.role, bot.bot_slug) == (Role.BOT, "demo-bot")
    bot.require_acting_for("demo-bot", "bot_slug")
    with pytest.raises(PermissionDenied, match="may not act for 'other-bot'"):
        bot.require_acting_for("other-bot", "bot_slug")
    with pytest.raises(Unauthenticated):
        book.authenticate([])


def test_a_bot_token_without_a_slug_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "tokens.toml"
    file.write_text('[[token]]\ntoken = "x"\nrole = "bot"\n')
    with pytest.raises(ValueError, match="needs bot_slug"):
        TokenBook.from_file(file)
