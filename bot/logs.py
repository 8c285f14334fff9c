"""Where paybot's log lines go, how much is written, and that no secret is ever in them.

One handler on the root logger writes to stderr. A `Redactor` on every root handler sees every
record, whatever logger wrote it (a filter on a logger would miss records propagated from
child loggers), and replaces every configured secret in the message, its arguments, the
exception text and the stack with `***`. Below WARNING only paybot's own loggers write, unless
the level is DEBUG: the libraries' request logs (httpx writes each Bot API URL, which carries
the token) stay quiet. APScheduler's lines about each timer run are never written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote, quote_plus

from storage.db import unreachable

MASK = "***"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER = "paybot"
# Loggers that write at the chosen level; every other one (httpx, httpcore, telegram, discord,
# aiohttp.access, openai, apscheduler, ...: libraries that log each request or job run, some
# with the token in the URL) writes only warnings and errors, unless the level is DEBUG.
OURS = ("bot", "tools", "storage", "paybot", "alembic")
# Loggers that write only warnings and errors at every level, DEBUG included: APScheduler
# writes two lines per run of every timer ("Running job ...", "... executed successfully"),
# about 170,000 a day for the one-second sweeper, and says nothing an operator needs (the
# timers' failures are logged by `bot.scheduler`; payments log one line per change).
QUIET = ("apscheduler",)


class Outage(logging.Filter):
    """A failure because the database is away for a moment (restarting, a cut connection) is
    one WARNING line naming the cause, not an ERROR with a traceback: every timer, the relay
    and each webhook meet it while PostgreSQL restarts, and each tries again by itself. At
    DEBUG the traceback stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
            return True
        cause = unreachable(record.exc_info[1])
        if cause is None:
            return True
        record.msg = f"{record.getMessage()} (database unreachable: {cause})"
        record.args = None
        record.exc_info = record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class Redactor(logging.Filter):
    """Replaces every given secret (also URL-encoded, as it appears in URLs and forms) with
    `***` in whatever a record would print."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        forms = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
        longest_first = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if forms else None
        self._formatter = logging.Formatter()

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()  # the arguments merged in, then cleaned
        except Exception:  # arguments that do not fit the message: show both, cleaned
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)  # the formatter prints this one
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def parse_level(name: str) -> int:
    """`debug`, `INFO`, ...: the logging level; ValueError for anything else."""
    if name.upper() not in LEVELS:
        raise ValueError(f"not a log level: {name!r} (use one of {', '.join(LEVELS)})")
    return logging.getLevelName(name.upper())


class _Stderr(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record comes (like logging's last resort)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr


def setup_logging(level: int, secrets: Iterable[str | None] = ()) -> Redactor:
    """One stderr handler on the root logger, and the redactor on every root handler, so every
    record (and every Python warning) is cleaned whichever logger wrote it."""
    redactor = Redactor(secrets)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER]:
        root.removeHandler(old)  # set up again (tests call the CLI more than once)
    handler = _Stderr()
    handler.set_name(HANDLER)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    for each in root.handlers:
        for old_filter in [f for f in each.filters if isinstance(f, Outage)]:
            each.removeFilter(old_filter)
        each.addFilter(Outage())  # before the redactor, which formats the traceback
        each.addFilter(redactor)
    root.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    for name in OURS:
        logging.getLogger(name).setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    return redactor
