"""German and English UI: message catalogues, locale negotiation, and the build step for them.

Message ids are English; ``locale/de/LC_MESSAGES/cati.po`` translates them, ``en`` keeps them
(an empty ``msgstr`` falls back to the id). Two placeholder styles exist on purpose:

* Python code uses Pyramid translation strings: ``_("Welcome, ${name}", mapping={...})`` and
  ``request.localizer.translate(...)``.
* Templates use Jinja2's "newstyle" gettext: ``{{ _("Study %(name)s", name=study.name) }}``;
  Jinja escapes the values and treats every message as a %-format string, so a literal per cent
  sign in a template message is written ``%%``.

Only compiled ``.mo`` files are read at run time and they are not committed (``*.mo`` in
.gitignore: binary files that merely mirror the ``.po`` sources). ``make catalogs`` runs
``python -m cati.web.i18n`` to compile them; :func:`ensure_compiled` also does it when the web
layer is configured, so a developer who edits a ``.po`` file (or has a fresh checkout) sees the
change after a restart without remembering the build step.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pyramid.i18n import TranslationStringFactory

log = logging.getLogger(__name__)

DOMAIN = "cati"
LOCALES = ("de", "en")
LOCALE_COOKIE = "_LOCALE_"
LOCALE_DIR = Path(__file__).parent / "locale"
PACKAGE_DIR = Path(__file__).parent

#: Where messages live for Babel's extractors (the unit test and ``extract_messages`` use it).
EXTRACT_MAP = [
    ("templates/**.jinja2", "jinja2"),
    ("**.py", "python"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pluralize": (2, 3)}
EXTRACT_OPTIONS = {"templates/**.jinja2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}

_ = TranslationStringFactory(DOMAIN)

#: Display names of stored codes (roles, study statuses, purposes), translated when shown.
LABELS: dict[str, dict[str, Any]] = {
    "role": {
        "admin": _("Administrator"),
        "researcher": _("Researcher"),
        "supervisor": _("Supervisor"),
        "interviewer": _("Interviewer"),
        "client": _("Client"),
    },
    "status": {
        "draft": _("Draft"),
        "field": _("In field"),
        "paused": _("Paused"),
        "closed": _("Closed"),
    },
    "purpose": {
        "research": _("Market research"),
        "customer_satisfaction": _("Customer satisfaction"),
        "telemarketing": _("Telemarketing"),
    },
}


def pluralize(request: Any, singular: str, plural: str, n: int, mapping: dict[str, Any] | None = None) -> str:
    """Translated singular or plural form (extracted by Babel as keyword ``pluralize``)."""
    return request.localizer.pluralize(singular, plural, n, domain=DOMAIN, mapping=mapping)


def label(kind: str, value: str) -> Any:
    """The translation string for a stored code, or the code itself if it has no label yet."""
    return LABELS.get(kind, {}).get(value, value)


def negotiate_locale(request: Any) -> str:
    """The user's saved locale, else the language-switch cookie, else the configured default."""
    user = getattr(request, "identity", None)
    if user is not None and getattr(user, "locale", None) in LOCALES:
        return user.locale
    cookie = request.cookies.get(LOCALE_COOKIE)
    if cookie in LOCALES:
        return cookie
    return request.registry.settings.get("pyramid.default_locale_name", "de")


def catalog_paths(locale_dir: Path = LOCALE_DIR) -> Iterator[tuple[Path, Path]]:
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        yield po_path, po_path.with_suffix(".mo")


def compile_catalogs(locale_dir: Path = LOCALE_DIR, *, force: bool = False) -> list[Path]:
    """Compile every ``.po`` below ``locale_dir`` whose ``.mo`` is missing or older; return the
    ``.mo`` files written. Fuzzy entries are left out, as ``msgfmt`` does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path, mo_path in catalog_paths(locale_dir):
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        locale = po_path.parents[1].name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=po_path.stem)
        # Write beside the target under a unique name, then rename (atomic): processes starting at
        # once (pserve workers, pytest-xdist) never read half a file or write into each other's.
        with tempfile.NamedTemporaryFile("wb", dir=mo_path.parent, prefix=".cati-", suffix=".mo",
                                         delete=False) as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.chmod(fh.name, 0o644)  # mkstemp's 0600 would hide it from a server running as another user
        Path(fh.name).replace(mo_path)
        written.append(mo_path)
    return written


def ensure_compiled(locale_dir: Path = LOCALE_DIR) -> None:
    """Development convenience called from ``includeme``; an installed, read-only package that
    ships compiled catalogues is left alone (and a missing one is logged, not fatal)."""
    try:
        for mo_path in compile_catalogs(locale_dir):
            log.info("compiled message catalogue %s", mo_path)
    except OSError as exc:
        log.warning("cannot compile message catalogues in %s: %s (run `make catalogs`)", locale_dir, exc)


def extract_messages(package_dir: Path = PACKAGE_DIR) -> Iterable[tuple[str, int, str | tuple[str, ...]]]:
    """(file, line, message) for every translatable message in the templates and Python code."""
    from babel.messages.extract import extract_from_dir

    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(package_dir), EXTRACT_MAP, options_map=EXTRACT_OPTIONS, keywords=KEYWORDS
    ):
        yield filename, lineno, message


def update_catalogs(package_dir: Path = PACKAGE_DIR, locale_dir: Path = LOCALE_DIR) -> None:
    """Write ``cati.pot`` from the sources and merge it into every ``.po`` (new ids arrive with
    an empty ``msgstr``; the unit test then names each one still to translate)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    template = Catalog(domain=DOMAIN, project="cati", msgid_bugs_address="", charset="utf-8")
    for filename, lineno, message in extract_messages(package_dir):
        msgid = message if isinstance(message, str) else message[0]
        template.add(message if isinstance(message, str) else tuple(message), locations=[(filename, lineno)],
                     flags=("python-format",) if "%(" in msgid else ())
    with (locale_dir / f"{DOMAIN}.pot").open("wb") as fh:
        write_po(fh, template, omit_header=False, sort_output=True, width=100)
    for po_path, _mo in catalog_paths(locale_dir):
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parents[1].name, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        with po_path.open("wb") as fh:
            write_po(fh, catalog, sort_output=True, width=100, ignore_obsolete=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m cati.web.i18n`` compiles the catalogues; ``... update`` re-extracts messages."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["update"]:
        update_catalogs()
        print(f"updated {LOCALE_DIR / (DOMAIN + '.pot')} and the .po files")
    for mo_path in compile_catalogs(force=True):
        print(f"compiled {mo_path}")
    return 0


def includeme(config: Any) -> None:
    ensure_compiled()
    # colander's own catalogue translates its generic messages ("... is not a number").
    config.add_translation_dirs("colander:locale/", "cati.web:locale/")
    config.set_locale_negotiator(negotiate_locale)


if __name__ == "__main__":
    raise SystemExit(main())
