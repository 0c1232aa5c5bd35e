"""The catalogues are complete, and the build step that compiles them works."""

from __future__ import annotations

import gettext
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po

from cati.web import i18n

PLACEHOLDER = re.compile(r"\$\{\w+\}|%\(\w+\)s")
TEMPLATES = Path(i18n.__file__).parent / "templates"
#: Text in templates that is the same in every language.
UNTRANSLATED_OK = {"CATI", "–", "·", "(", ")", ":"}


def catalog(locale):
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "cati.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def extracted():
    messages = {}
    for filename, lineno, message in i18n.extract_messages():
        key = message if isinstance(message, str) else message[0]
        messages.setdefault(key, (message, f"{filename}:{lineno}"))
    return messages


class TestCatalogues:
    def test_messages_are_found(self):
        messages = extracted()
        assert "Log in" in messages  # a template
        assert "Username or password is incorrect." in messages  # a view
        assert "In field" in messages  # a label table
        assert len(messages) > 100

    def test_every_message_has_a_german_translation(self):
        german = catalog("de")
        problems = []
        for msgid, (message, where) in sorted(extracted().items()):
            entry = german.get(message if isinstance(message, str) else message[0])
            if entry is None:
                problems.append(f"{where}: {msgid!r} is missing from de/cati.po (run `python -m cati.web.i18n update`)")
                continue
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if entry.fuzzy or not all(strings):
                problems.append(f"{where}: {msgid!r} has no (or only a fuzzy) German translation")
                continue
            ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
            wanted = set(PLACEHOLDER.findall(" ".join(ids)))
            for string in strings:
                if set(PLACEHOLDER.findall(string)) != wanted:
                    problems.append(f"{where}: {msgid!r}: the German text must use the placeholders {sorted(wanted)}")
        assert not problems, "\n".join(problems)

    def test_messages_are_plain_text(self):
        # Jinja's newstyle gettext marks a translated template message as safe markup (only the
        # %(values)s are escaped), so a "<" in a message would become a tag.
        marked_up = [m for m in extracted() if "<" in m or ">" in m or "&" in m]
        assert not marked_up, f"messages must be plain text, without <, > or &: {marked_up}"
        for entry in catalog("de"):
            if not entry.id:
                continue  # the header
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            assert not any(c in s for s in strings for c in "<>&"), entry.id

    def test_english_catalogue_lists_every_message(self):
        english = catalog("en")
        missing = [msgid for msgid in extracted() if english.get(msgid) is None]
        assert not missing, f"missing from en/cati.po: {missing} (run `python -m cati.web.i18n update`)"

    def test_catalogues_have_no_unused_entries(self):
        used = set(extracted())
        for locale in i18n.LOCALES:
            ids = [m.id if isinstance(m.id, str) else m.id[0] for m in catalog(locale) if m.id]
            unused = [msgid for msgid in ids if msgid not in used]
            assert not unused, f"{locale}/cati.po has entries no code uses: {unused}"

    @pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.jinja2")), ids=lambda p: p.name)
    def test_templates_have_no_hard_coded_text(self, template):
        source = template.read_text(encoding="utf-8")
        without_jinja = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
        text = re.sub(r"<[^>]*>", " ", without_jinja)
        words = [w for w in text.split() if w not in UNTRANSLATED_OK]
        assert not words, f"{template.name}: text outside _(...): {words}"


class TestCompile:
    def copy_catalogues(self, tmp_path):
        target = tmp_path / "locale"
        shutil.copytree(i18n.LOCALE_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
        return target

    def test_compiles_missing_catalogues(self, tmp_path):
        locale_dir = self.copy_catalogues(tmp_path)
        written = i18n.compile_catalogs(locale_dir)
        assert {p.parents[1].name for p in written} == set(i18n.LOCALES)
        with (locale_dir / "de" / "LC_MESSAGES" / "cati.mo").open("rb") as fh:
            translations = gettext.GNUTranslations(fh)
        assert translations.gettext("Log in") == "Anmelden"
        assert not list(locale_dir.rglob(".cati-*"))

    def test_skips_up_to_date_and_recompiles_changed(self, tmp_path):
        locale_dir = self.copy_catalogues(tmp_path)
        i18n.compile_catalogs(locale_dir)
        assert i18n.compile_catalogs(locale_dir) == []
        po = locale_dir / "de" / "LC_MESSAGES" / "cati.po"
        mo = po.with_suffix(".mo")
        os.utime(mo, (po.stat().st_mtime - 10, po.stat().st_mtime - 10))
        assert i18n.compile_catalogs(locale_dir) == [mo]

    def test_unwritable_directory_is_only_logged(self, tmp_path, caplog, monkeypatch):
        def refuse(*args, **kw):
            raise PermissionError("read-only")

        monkeypatch.setattr(i18n, "compile_catalogs", refuse)
        i18n.ensure_compiled(tmp_path)
        assert "make catalogs" in caplog.text


class TestNegotiation:
    def request(self, *, locale=None, cookie=None, default="de", logged_in=True):
        user = SimpleNamespace(locale=locale) if logged_in else None
        return SimpleNamespace(identity=user, cookies={"_LOCALE_": cookie} if cookie else {},
                               registry=SimpleNamespace(settings={"pyramid.default_locale_name": default}))

    def test_saved_locale_first(self):
        assert i18n.negotiate_locale(self.request(locale="en", cookie="de")) == "en"

    def test_cookie_second(self):
        assert i18n.negotiate_locale(self.request(cookie="en")) == "en"
        assert i18n.negotiate_locale(self.request(cookie="en", logged_in=False)) == "en"

    def test_default_last_and_junk_ignored(self):
        assert i18n.negotiate_locale(self.request(locale="xx", cookie="../../etc")) == "de"
        assert i18n.negotiate_locale(self.request(default="en", logged_in=False)) == "en"
