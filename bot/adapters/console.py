"""The console chat: a real adapter over stdin/stdout (`paybot chat`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import stat
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.adapters.base import Handler
from bot.i18n import _
from bot.messages import Incoming, Outgoing

log = logging.getLogger(__name__)
PLATFORM = "console"
SETTLE_SECONDS = 60.0
Wait = Callable[[bool, float | None], Awaitable[bool]]


class ConsoleAdapter:
    platform = PLATFORM

    def __init__(
        self,
        user: str,
        *,
        locale: str | None,
        qr_dir: Path,
        files_dir: Path = Path("."),
        wait: Wait | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.user = user
        self.own_chats = (user,)  # the outbox rows this console delivers: its own user's only
        self.locale = locale
        self.qr_dir = qr_dir  # payment QR codes
        self.files_dir = files_dir  # what an operator asks for: charts, exports
        self._wait = wait
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.input_done = asyncio.Event()
        self._refs = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._echo = not self.stdin.isatty()

    async def start(self, handler: Handler) -> None:
        self._task = asyncio.create_task(self._read(handler), name="console-input")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _streams(self) -> bool:
        """True for pipes, sockets and terminals (read without blocking the loop)."""
        try:
            mode = os.fstat(self.stdin.fileno()).st_mode
        except (OSError, ValueError, AttributeError):
            return False
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or self.stdin.isatty()

    async def _lines(self):
        if not self._streams():
            for line in self.stdin:  # a file or /dev/null: reading it never blocks for long
                yield line
            return
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.stdin)
        while raw := await reader.readline():
            yield raw.decode("utf-8", errors="replace")

    async def _read(self, handler: Handler) -> None:
        try:
            if not self._echo:
                self._print(_("Type a message or /help. Ctrl-D ends the chat."))
            async for raw in self._lines():
                line = raw.strip()
                if not line:
                    continue
                if self._echo:
                    self._print(f"> {line}")
                if await self._console_command(line):
                    continue
                await handler(
                    Incoming(
                        platform=PLATFORM,
                        chat_id=self.user,
                        user_id=self.user,
                        user_name=self.user,
                        locale_hint=self.locale,
                        text=line,
                    )
                )
                if self._echo and self._wait is not None:
                    # piped input: let money already on its way arrive before the next line,
                    # so a script reads like a conversation (`/pay 1` then `/history`)
                    await self._wait(False, SETTLE_SECONDS)
        finally:
            self.input_done.set()

    async def _console_command(self, line: str) -> bool:
        """`/wait [SECONDS]`: wait until none of your payments is open (for scripts)."""
        parts = line.split()
        if parts[0] != "/wait" or self._wait is None:
            return False
        try:
            seconds = float(parts[1]) if len(parts) > 1 else None
        except ValueError:
            seconds = None
        await self._wait(True, seconds)
        return True

    async def send(self, message: Outgoing) -> str | None:
        if message.edit_of:
            return message.edit_of  # a terminal cannot edit; the notice says what changed
        prefix = "" if message.target.chat_id == self.user else f"[to {message.target}] "
        lines = [prefix + message.text]
        if message.image and message.extra.get("image") == "chart":  # an operator's chart
            path = _fresh(self.files_dir / (message.image_name or "chart.png"))
            path.write_bytes(message.image)
            lines.append(f"Chart: {path}")
        elif message.image:
            self.qr_dir.mkdir(parents=True, exist_ok=True)
            path = self.qr_dir / (message.image_name or f"image-{next(self._refs)}.png")
            path.write_bytes(message.image)
            lines.append(_("QR code: {path}").format(path=path))
        if message.file is not None:  # an operator's export
            path = _fresh(self.files_dir / message.file.name)
            shutil.copyfile(message.file, path)
            lines.append(f"File: {path}")
        if "uri" in message.extra:
            lines.append(_("Payment link: {uri}").format(uri=message.extra["uri"]))
        for button in message.buttons:
            if button.copy is not None:
                continue  # the text to copy is printed in the message already
            lines.append(f"  [{button.label} → {button.action}]")
        self._print("\n".join(lines) + "\n")
        return f"console:{next(self._refs)}"

    def notice(self, text: str) -> None:
        """A line of the console's own (what it waits for), set apart like a message."""
        self._print(text + "\n")

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()


def _fresh(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`, ... when it exists: nothing is overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidates = (path.with_name(f"{path.stem}-{n}{path.suffix}") for n in itertools.count(2))
    return next(p for p in itertools.chain([path], candidates) if not p.exists())
