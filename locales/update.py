"""Refresh the message catalogs after changing user-facing strings.

    python locales/update.py

Extracts `_()` / `ngettext()` strings from bot/ and tools/ into locales/paybot.pot, merges them
into every locales/<lang>/LC_MESSAGES/paybot.po (new strings arrive untranslated, removed ones
are dropped), and fills the English catalog with the source text. Then translate the empty
msgstr entries of the other languages; tests/test_i18n.py fails until every one is done.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> None:
    pot = HERE / "paybot.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-k",
            "_",
            "-k",
            "ngettext:1,2",
            "--no-location",
            "--sort-output",
            "--omit-header",
            "-o",
            str(pot),
            "bot",
            "tools",
        ],
        check=True,
        cwd=ROOT,
    )
    with pot.open("rb") as handle:
        template = read_po(handle)
    for po_path in sorted(HERE.glob("*/LC_MESSAGES/paybot.po")):
        lang = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if lang == "en":
            for message in catalog:
                if message.id:
                    message.string = message.id
        with po_path.open("wb") as handle:
            write_po(
                handle, catalog, omit_header=False, no_location=True, sort_output=True, width=99
            )
        print(f"updated {po_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
