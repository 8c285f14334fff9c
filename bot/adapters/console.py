"""The console chat: a real adapter over stdin/stdout (`paybot chat`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from pathlib import Path
from typing import TextIO

from bot.adapters.base import Handler
from bot.messages import Incoming, Outgoing

log = logging.getLogger(__name__)
PLATFORM = "console"


class ConsoleAdapter:
    platform = PLATFORM

    def __init__(
        self,
        user: str,
        *,
        locale: str | None,
        qr_dir: Path,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.user = user
        self.locale = locale
        self.qr_dir = qr_dir
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

    async def _lines(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.stdin)
        except (ValueError, OSError, AttributeError):
            for line in self.stdin:  # a regular file: reading it never blocks for long
                yield line
            return
        while raw := await reader.readline():
            yield raw.decode("utf-8", errors="replace")

    async def _read(self, handler: Handler) -> None:
        try:
            if not self._echo:
                self._print("Type a message or /help. Ctrl-D ends the chat.")
            async for raw in self._lines():
                line = raw.strip()
                if not line:
                    continue
                if self._echo:
                    self._print(f"> {line}")
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
        finally:
            self.input_done.set()

    async def send(self, message: Outgoing) -> str | None:
        if message.edit_of:
            return message.edit_of  # a terminal cannot edit; the notice says what changed
        prefix = "" if message.target.chat_id == self.user else f"[to {message.target}] "
        lines = [prefix + message.text]
        if message.image:
            self.qr_dir.mkdir(parents=True, exist_ok=True)
            path = self.qr_dir / (message.image_name or f"image-{next(self._refs)}.png")
            path.write_bytes(message.image)
            lines.append(f"QR code: {path}")
        if "uri" in message.extra:
            lines.append(f"Payment link: {message.extra['uri']}")
        for button in message.buttons:
            lines.append(f"  [{button.label} → {button.action}]")
        self._print("\n".join(lines) + "\n")
        return f"console:{next(self._refs)}"

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()
