"""Reading a command line (`bot.commands.parse_command`)."""

from __future__ import annotations

import random
import shlex

from bot.commands import Command, parse_command


def _shlex_reading(line: str) -> Command | None:
    """The reading by shlex alone (what `parse_command` did for every line)."""
    line = line.strip()
    if not line.startswith("/") or len(line) < 2:
        return None
    try:
        parts = shlex.split(line[1:])
    except ValueError:
        parts = line[1:].split()
    if not parts:
        return None
    return Command(parts[0].split("@", 1)[0].lower(), tuple(parts[1:]))


def test_a_line_without_quotes_reads_as_shlex_reads_it() -> None:
    """Lines without quotes or backslashes skip shlex; every line, quoted or not, reads
    the same as with shlex alone (blanks shlex does not split on stay inside a word)."""
    chars = " \t\r\n/@aB1#é\u00a0\x0b\x0c\"'\\"
    rng = random.Random(18)
    for _ in range(50_000):
        line = "/" + "".join(rng.choice(chars) for _ in range(rng.randint(0, 14)))
        assert parse_command(line) == _shlex_reading(line), repr(line)
    assert parse_command("/buy@paybot  pro\tsol ") == Command("buy", ("pro", "sol"))
    assert parse_command('/buy "" sol') == Command("buy", ("", "sol"))
