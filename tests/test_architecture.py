"""The house rules of DESIGN §1, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = {"telegram", "discord"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _allowed_sdk_user(path: Path, sdk: str) -> bool:
    """`bot/adapters/<sdk>.py`, or any module of the package `bot/adapters/<sdk>/`."""
    adapters = ROOT / "bot/adapters"
    return path == adapters / f"{sdk}.py" or path.is_relative_to(adapters / sdk)


def test_only_platform_adapters_import_a_chat_sdk() -> None:
    """DESIGN §1: `telegram` only in the Telegram adapter (`bot/adapters/telegram.py` or the
    package `bot/adapters/telegram/`), `discord` only in the Discord adapter (its plain
    helpers, `discord_support.py`, import no SDK)."""
    offenders = [
        f"{p.relative_to(ROOT)} imports {sdk}"
        for pkg in ("bot", "tools", "storage")
        for p in _modules(pkg)
        for sdk in sorted(_imports(p) & SDKS)
        if not _allowed_sdk_user(p, sdk)
    ]
    assert offenders == []


def test_the_sdk_rule_knows_both_layouts() -> None:
    adapters = ROOT / "bot/adapters"
    assert _allowed_sdk_user(adapters / "telegram.py", "telegram")
    assert _allowed_sdk_user(adapters / "telegram/access.py", "telegram")
    assert not _allowed_sdk_user(adapters / "telegram_support.py", "telegram")
    assert not _allowed_sdk_user(adapters / "discord/access.py", "telegram")
    assert not _allowed_sdk_user(ROOT / "bot/conversation.py", "discord")
    assert _allowed_sdk_user(adapters / "discord/access.py", "discord")
    assert not _allowed_sdk_user(adapters / "discord_support.py", "discord")


def test_adapters_stay_small() -> None:
    """DESIGN §1: adapters stay around 200-400 lines (what needs no SDK moves out); the
    modules of an adapter package count one by one."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in (ROOT / "bot/adapters").rglob("*.py")
    }
    assert "bot/adapters/telegram/adapter.py" in sizes  # the packages are measured too
    assert "bot/adapters/discord/client.py" in sizes
    assert {name: n for name, n in sizes.items() if n > 450} == {}


def test_storage_imports_neither_bot_nor_tools() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in _modules("storage") if _imports(p) & {"bot", "tools"}
    ]
    assert offenders == []


def test_tools_do_not_import_bot() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _modules("tools") if "bot" in _imports(p)]
    assert offenders == []


def test_no_float_in_money_paths() -> None:
    """`float(` never appears in the payment domain, storage or rendering.

    The one exception is the IPN signature check, which must write numbers the way the
    provider's JavaScript signer does (as doubles); amounts themselves are read as Decimal.
    """
    allowed = {ROOT / "tools/providers/ipn_signature.py"}
    paths = [
        *_modules("tools"),
        *_modules("storage"),
        ROOT / "bot/render.py",
        ROOT / "bot/notices.py",
        ROOT / "bot/i18n.py",
    ]
    offenders = []
    for path in paths:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "float":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
