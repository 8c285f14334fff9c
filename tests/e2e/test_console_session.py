"""The piped console session of the core issue, end to end: a real `paybot chat` process.

stdin is a pipe; the test writes the customer's lines and reads what the bot prints. Timers
are shortened through the environment (TTL 6 s, warnings 4 s and 2 s before the deadline).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

TIMEOUT = 30


class Chat:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []

    async def say(self, line: str) -> None:
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, pattern: str) -> re.Match[str]:
        regex = re.compile(pattern)

        async def read() -> re.Match[str]:
            while True:
                for line in self.output:
                    if found := regex.search(line):
                        self.output = self.output[self.output.index(line) + 1 :]
                        return found
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"chat ended before {pattern!r}")
                self.output.append(raw.decode())

        try:
            return await asyncio.wait_for(read(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r}; last output: {self.output[-10:]}") from None


def _env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBOT_")}
    env.update(
        {
            "PAYBOT_DATABASE__URL": db_url,
            "PAYBOT_TIMERS__PAYMENT_TTL_SECONDS": "6",
            "PAYBOT_TIMERS__WARNING_SECONDS": "[4, 2]",
            "PAYBOT_TIMERS__SWEEP_INTERVAL_SECONDS": "0.2",
            "PAYBOT_PROVIDER__SANDBOX__CONFIRM_SECONDS": "1",
            "PAYBOT_PROVIDER__SANDBOX__FINISH_SECONDS": "2",
            "PAYBOT_CONSOLE__QR_DIR": str(tmp_path / "qr"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


async def spawn(
    *args: str, cwd: Path, env: dict[str, str], stderr: int = asyncio.subprocess.STDOUT
) -> asyncio.subprocess.Process:
    """`paybot ARGS...` as a real process with a piped stdin and stdout."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--config",
        str(ROOT / "config.toml"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        cwd=cwd,
        env=env,
    )


async def _start(db_url: str, tmp_path: Path, *args: str) -> Chat:
    process = await spawn(
        "chat", "--user", "alice", *args, cwd=tmp_path, env=_env(db_url, tmp_path)
    )
    return Chat(process)


async def test_the_core_issue_session(db_url: str, tmp_path: Path) -> None:
    chat = await _start(db_url, tmp_path)
    await chat.say("/plans")
    await chat.expect(r"Pro: \$299\.00 per 30 days")
    await chat.say("what is my plan")
    await chat.expect(r"You have no active plan")
    await chat.say("which currency should I use for pro")
    await chat.expect(r"Best coins for Pro")
    await chat.expect(r"1\. ")
    await chat.say("/buy pro sol")
    paid_id = (await chat.expect(r"Payment #(\d+) · Pro plan")).group(1)
    await chat.expect(r"Send exactly: \d+\.\d+ SOL")
    qr = (await chat.expect(r"QR code: (\S+\.png)")).group(1)
    assert (tmp_path / qr).read_bytes().startswith(b"\x89PNG")
    await chat.expect(r"Payment link: solana:\w+\?amount=")
    await chat.say(f"/pay {paid_id}")
    await chat.expect(r"Sandbox: sent")
    await chat.expect(rf"Payment #{paid_id}: we see .* on the chain")
    await chat.expect(rf"Payment #{paid_id} is complete\. Your Pro plan is active until")
    await chat.say("Zeige meine Zahlungen")  # German words: German answers
    await chat.expect(rf"#{paid_id} · .* · Pro · .* SOL · bezahlt")
    await chat.expect(r"1 erfolgreich, insgesamt 299,00\xa0\$ ausgegeben")
    await chat.say("/language en")
    await chat.expect(r"English")

    await chat.say("/buy pro btc")
    open_id = (await chat.expect(r"Payment #(\d+) · Pro plan")).group(1)
    await chat.expect(rf"Payment #{open_id}: 4 seconds left to send .* BTC")
    await chat.expect(rf"Payment #{open_id}: 2 seconds left")
    await chat.expect(rf"Payment #{open_id} expired")
    await chat.expect(rf"New payment → /retry {open_id}")
    await chat.say(f"/retry {open_id}")
    retry_id = (await chat.expect(r"Payment #(\d+) · Pro plan")).group(1)
    assert int(retry_id) > int(open_id)
    await chat.say(f"/pay {retry_id}")
    chat.process.stdin.close()  # input ends; the chat stays until the payment is settled
    await chat.expect(rf"Payment #{retry_id} is complete")
    assert await asyncio.wait_for(chat.process.wait(), TIMEOUT) == 0


async def test_the_whole_session_piped_at_once(db_url: str, tmp_path: Path) -> None:
    """`printf '...' | paybot chat`: money on its way settles before the next line is read,
    and `/wait` lets a script sit out a countdown."""
    process = await spawn(
        "chat",
        "--user",
        "bob",
        "--linger",
        "20",
        cwd=tmp_path,
        env=_env(db_url, tmp_path),
        stderr=asyncio.subprocess.PIPE,
    )
    script = "\n".join(
        [
            "/plans",
            "what is my plan",
            "which currency should I use for pro",
            "/buy pro sol",
            "/pay 1",
            "Zeige meine Zahlungen",
            "/language en",
            "/buy pro btc",
            "/wait",
            "/retry 2",
            "/pay 3",
            "",
        ]
    )
    out, err = await asyncio.wait_for(process.communicate(script.encode()), 60)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    history = text.split("> Zeige meine Zahlungen")[1].split("> /language en")[0]
    assert "#1 · " in history and "· bezahlt" in history and "1 erfolgreich" in history
    assert text.index("Payment #1 is complete") < text.index("> Zeige meine Zahlungen")
    countdown = text.split("> /buy pro btc")[1].split("> /retry 2")[0]
    assert "Payment #2: 4 seconds left" in countdown and "Payment #2: 2 seconds left" in countdown
    assert "Payment #2 expired" in countdown
    assert "Payment #3 · Pro plan" in text and "Payment #3 is complete" in text


async def test_german_customer_piped(db_url: str, tmp_path: Path) -> None:
    process = await spawn(
        "chat",
        "--user",
        "carl",
        "--locale",
        "de",
        "--linger",
        "20",
        cwd=tmp_path,
        env=_env(db_url, tmp_path),
        stderr=asyncio.subprocess.PIPE,
    )
    script = "/plans\nWas ist mein aktueller Plan?\n/buy pro ltc\n/pay 1\nZeige meine Zahlungen\n"
    out, err = await asyncio.wait_for(process.communicate(script.encode()), TIMEOUT)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "Sie haben keinen aktiven Plan" in text
    assert "Zahlung #1" in text and "QR-Code:" in text and "Zahlungslink: litecoin:" in text
    assert "Ihr Plan Pro ist aktiv bis" in text
    assert "1 erfolgreich" in text.split("> Zeige meine Zahlungen")[1]
    assert "Traceback" not in err.decode()


def _readme_examples() -> tuple[list[str], str]:
    """The README's "Try it" walkthrough (its `> ` lines) and its piped example, as written."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Try it", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    walkthrough = [
        line[1:].split("→")[0].strip() for line in block.splitlines() if line.startswith(">")
    ]
    piped = re.search(r"printf '([^']*)' \| paybot chat", readme)
    assert piped, "the README has no piped example"
    return walkthrough, piped.group(1).replace("\\n", "\n")


async def _piped(db_url: str, tmp_path: Path, script: str) -> tuple[str, float]:
    """One `paybot chat` run reading `script` from a pipe: its output and how long it took."""
    started = time.monotonic()
    process = await spawn(
        "chat", cwd=tmp_path, env=_env(db_url, tmp_path), stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(script.encode()), 90)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    return out.decode(), time.monotonic() - started


async def test_the_readme_examples_work_twice_on_one_database(db_url: str, tmp_path: Path) -> None:
    """The walkthrough, then the piped example, then both again on the same database: no
    step names a payment id, each run ends by itself soon after its last line, and every
    step acts on this run's payments (not on the first run's #1)."""
    walkthrough, piped = _readme_examples()
    assert "/pay" in walkthrough and "/retry" in walkthrough
    assert piped.splitlines() == ["/plans", "/buy pro ltc", "/pay", "/history"]
    # piped, the countdown the walkthrough lets run out is sat out with /wait
    script = "\n".join(f"/wait\n{line}" if line == "/retry" else line for line in walkthrough)
    for round_ in (1, 2):
        text, took = await _piped(db_url, tmp_path, script + "\n")
        assert took < 45, f"walkthrough {round_} took {took:.0f} s"
        sol = re.search(r"Payment #(\d+) · Pro plan .*\n(?:.*\n)*?Send exactly: [\d.]+ SOL", text)
        assert sol, text
        paid = sol.group(1)
        assert f"Payment #{paid} is complete" in text
        btc = text.split("> /buy pro btc")[1]
        expiring = re.search(r"Payment #(\d+) · Pro plan", btc).group(1)
        assert re.search(rf"Waiting until payment #{expiring} is paid or expires", btc)
        assert f"Payment #{expiring} expired" in btc
        retried = re.search(r"Payment #(\d+) · Pro plan", btc.split("> /retry")[1]).group(1)
        assert int(retried) > int(expiring)
        assert f"Payment #{retried} is complete" in btc
        for wrong in ("was not found", "is already", "no payment waiting", "no failed"):
            assert wrong not in text, wrong

        text, took = await _piped(db_url, tmp_path, piped)
        assert took < 25, f"piped example {round_} took {took:.0f} s"
        ltc = re.search(r"Payment #(\d+) · Pro plan", text).group(1)
        assert int(ltc) > int(retried)
        assert re.search(rf"Payment #{ltc}: we see [\d.]+ LTC", text)
        assert re.search(rf"Waiting for the money of payment #{ltc} to be confirmed", text)
        history = text.split("> /history")[1]
        assert f"Payment #{ltc} is complete" in text.split("> /history")[0]
        assert f"#{ltc} · " in history and f"{3 * round_} successful" in history
        for wrong in ("was not found", "is already", "no payment waiting"):
            assert wrong not in text, wrong


async def test_ctrl_c_stops_waiting_and_says_what_is_still_open(
    db_url: str, tmp_path: Path
) -> None:
    """Ctrl-D with an open payment: the chat says what it waits for and until when; Ctrl-C
    stops the wait at once, saying the payment is still open (exit status 130)."""
    env = _env(db_url, tmp_path, PAYBOT_TIMERS__PAYMENT_TTL_SECONDS="900")
    env["PAYBOT_TIMERS__WARNING_SECONDS"] = "[300, 60]"
    chat = Chat(await spawn("chat", cwd=tmp_path, env=env))
    await chat.say("/buy pro btc")
    open_id = (await chat.expect(r"Payment #(\d+) · Pro plan")).group(1)
    chat.process.stdin.close()
    await chat.expect(
        rf"Waiting until payment #{open_id} is paid or expires \(at the latest .* UTC\)\. "
        r"Ctrl-C stops waiting"
    )
    chat.process.send_signal(signal.SIGINT)
    await chat.expect(rf"Stopped waiting: payment #{open_id} is still open")
    assert await asyncio.wait_for(chat.process.wait(), 15) == 130
    rest = (await chat.process.stdout.read()).decode()
    assert "Traceback" not in rest + "".join(chat.output)


async def test_linger_bounds_the_wait_and_says_so(db_url: str, tmp_path: Path) -> None:
    env = _env(db_url, tmp_path, PAYBOT_TIMERS__PAYMENT_TTL_SECONDS="900")
    env["PAYBOT_TIMERS__WARNING_SECONDS"] = "[300, 60]"
    started = time.monotonic()
    process = await spawn("chat", "--linger", "2", cwd=tmp_path, env=env)
    out, _ = await asyncio.wait_for(process.communicate(b"/buy pro btc\n"), 30)
    text = out.decode()
    assert process.returncode == 0
    assert "Waiting until payment #1 is paid or expires (at most 2 seconds)" in text
    assert "Stopped waiting: payment #1 is still open" in text
    assert time.monotonic() - started < 20
