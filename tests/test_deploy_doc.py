"""docs/deploy.md cannot drift: every setting it names exists in the configuration model
(TOML blocks, `[section] key` in the text, `PAYBOT_...` variables), every `paybot ...` command
it shows is one the CLI accepts, every migration is in its table, and the README links it."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
from pydantic import BaseModel

from bot.cli import _parser
from bot.config import ENV_PREFIX, Config, Secrets
from storage.db import MIGRATIONS
from tests.conftest import ROOT

DOC = ROOT / "docs" / "deploy.md"
TEXT = DOC.read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
OTHER_VARIABLES = {"PAYBOT_CONFIG", "PAYBOT_LOG_LEVEL"}  # read by the CLI, not the model


def _blocks(kind: str | None = None) -> list[str]:
    return [body for lang, body in FENCE.findall(TEXT) if kind is None or lang == kind]


def _known(path: list[str], model: type[BaseModel] = Config) -> bool:
    """Is `section.key...` a setting of the model (dict-valued sections take any name)?"""
    head, *rest = path
    field = model.model_fields.get(head)
    if field is None:
        return False
    kind = field.annotation
    if not rest:
        return True
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return _known(rest, kind)
    return getattr(kind, "__origin__", None) is dict  # plans.<code>, coins.<code>


def _flatten(table: dict, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    keys = []
    for key, value in table.items():
        if isinstance(value, dict):
            keys += _flatten(value, (*prefix, key))
        else:
            keys.append([*prefix, key])
    return keys


def _settings() -> list[list[str]]:
    found = [path for block in _blocks("toml") for path in _flatten(tomllib.loads(block))]
    prose = FENCE.sub("", TEXT)
    found += [
        [*section.split("."), key]
        for section, key in re.findall(r"`\[([a-z_.]+)\] ([a-z_]+)`", prose)
    ]
    return found


def _variables() -> set[str]:
    return set(re.findall(r"\bPAYBOT_[A-Z_]*[A-Z]", TEXT))


def _commands() -> list[list[str]]:
    """Every `paybot ...` command line: in code blocks (also `.../bin/paybot run`) and in
    inline code; shell operators and what follows them are left out."""
    lines = [line for block in _blocks() for line in block.splitlines()]
    lines += re.findall(r"`(paybot [^`]+)`", FENCE.sub("", TEXT))
    commands = []
    for line in lines:
        for match in re.finditer(r"(?:^|[\s/=;])paybot( [^|&;#'\n]+)", line):
            words = shlex.split(match.group(1))
            if words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
                commands.append(words)
    return commands


def test_the_page_names_settings_variables_and_commands() -> None:
    assert len(_settings()) >= 10 and len(_variables()) >= 5 and len(_commands()) >= 4


@pytest.mark.parametrize("path", _settings(), ids=".".join)
def test_every_setting_it_names_exists(path: list[str]) -> None:
    assert _known(path), f"docs/deploy.md names a setting that does not exist: {path}"


@pytest.mark.parametrize("name", sorted(_variables()))
def test_every_environment_variable_it_names_exists(name: str) -> None:
    if name in OTHER_VARIABLES:
        return
    rest = name.removeprefix(ENV_PREFIX)
    if "__" in rest:
        path = rest.lower().split("__")
        assert _known(path), f"{name}: no setting {'.'.join(path)}"
    else:
        assert rest.lower() in Secrets.model_fields, f"{name}: not a secret paybot reads"


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_command_it_shows_is_accepted(words: list[str]) -> None:
    try:
        _parser().parse_args(words)
    except SystemExit as exc:  # argparse's way of refusing
        raise AssertionError(f"`paybot {' '.join(words)}` is not a paybot command") from exc


def test_every_migration_is_in_its_table() -> None:
    listed = set(re.findall(r"^\| (\d{4}) \|", TEXT, re.MULTILINE))
    shipped = {p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9]*.py")}
    assert listed == shipped, "docs/deploy.md: say what each migration means for old workers"


def test_the_readme_links_it() -> None:
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
