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


def _sdk_allowed(sdk: str, path: Path) -> bool:
    """`telegram` only in `bot/adapters/telegram.py`; `discord` only in
    `bot/adapters/discord.py` or in the package `bot/adapters/discord/`."""
    adapters = ROOT / "bot/adapters"
    if sdk == "telegram":
        return path == adapters / "telegram.py"
    return path == adapters / "discord.py" or path.parent == adapters / "discord"


def test_only_platform_adapters_import_a_chat_sdk() -> None:
    """DESIGN §1: `telegram` only in `bot/adapters/telegram.py`, `discord` only in the Discord
    adapter, `bot/adapters/discord/` (its plain helpers, `discord_support.py`, import no SDK)."""
    offenders = [
        f"{p.relative_to(ROOT)} imports {sdk}"
        for pkg in ("bot", "tools", "storage")
        for p in _modules(pkg)
        for sdk in sorted(_imports(p) & SDKS)
        if not _sdk_allowed(sdk, p)
    ]
    assert offenders == []


def test_the_sdk_rule_itself() -> None:
    adapters = ROOT / "bot/adapters"
    assert _sdk_allowed("discord", adapters / "discord/access.py")
    assert _sdk_allowed("discord", adapters / "discord.py")
    assert not _sdk_allowed("discord", adapters / "discord_support.py")
    assert not _sdk_allowed("discord", adapters / "discord/sub/deeper.py")
    assert not _sdk_allowed("discord", adapters / "telegram.py")
    assert not _sdk_allowed("telegram", adapters / "discord/client.py")
    assert "discord" not in _imports(adapters / "discord_support.py")


def test_adapters_stay_small() -> None:
    """DESIGN §1: adapters stay around 200-400 lines (what needs no SDK moves out); a package
    adapter counts module by module."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in (ROOT / "bot/adapters").rglob("*.py")
        if p.name != "__init__.py"
    }
    assert "bot/adapters/discord/client.py" in sizes  # the package is counted
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
