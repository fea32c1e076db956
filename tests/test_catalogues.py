"""The web client's two catalogues (static/locales/en.json, ru.json) and the code using them.

Pure file checks, no browser: the same keys and placeholders in both languages, the plural
forms each language needs, every key the pages use present and every key present used, and
no text a person reads written into index.html or the JS outside the catalogues.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

STATIC = Path(__file__).resolve().parents[1] / "src" / "parley" / "static"
LANGUAGES = ("en", "ru")
# Intl.PluralRules forms each language must give (cardinal numbers).
PLURAL_FORMS = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}
CLDR_FORMS = {"zero", "one", "two", "few", "many", "other"}
BRAND = "Parley"
LETTER = re.compile(r"[^\W\d_]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
KEY = re.compile(r"^[a-z]+\.[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")


def catalogue(lang: str) -> dict[str, Any]:
    data = json.loads((STATIC / "locales" / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def js_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(STATIC.glob("*.js"))}


def html_source() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


def forms(entry: Any) -> list[str]:
    return list(entry.values()) if isinstance(entry, dict) else [entry]


def placeholders(entry: Any) -> set[str]:
    return {name for text in forms(entry) for name in PLACEHOLDER.findall(text)}


# ---- the catalogues themselves ------------------------------------------------


def test_both_catalogues_have_the_same_keys() -> None:
    en, ru = catalogue("en"), catalogue("ru")
    assert en, "the English catalogue is empty"
    assert sorted(set(en) - set(ru)) == [], "missing in ru.json"
    assert sorted(set(ru) - set(en)) == [], "missing in en.json"


def test_keys_are_named_by_area() -> None:
    for lang in LANGUAGES:
        bad = [key for key in catalogue(lang) if not KEY.match(key)]
        assert bad == [], f"{lang}: keys not of the form area.name"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_entries_are_strings_or_plural_forms(lang: str) -> None:
    for key, entry in catalogue(lang).items():
        if isinstance(entry, dict):
            assert set(entry) <= CLDR_FORMS, f"{lang} {key}: unknown plural forms"
            assert PLURAL_FORMS[lang] <= set(entry), f"{lang} {key}: lacks plural forms"
            assert all(isinstance(v, str) and v.strip() for v in entry.values()), key
        else:
            assert isinstance(entry, str), f"{lang} {key}: neither text nor plural forms"
            assert entry.strip(), f"{lang} {key}: empty"


def test_plurals_are_plural_in_both_languages() -> None:
    en, ru = catalogue("en"), catalogue("ru")
    mismatched = [k for k in en if isinstance(en[k], dict) != isinstance(ru.get(k), dict)]
    assert mismatched == []
    assert any(isinstance(entry, dict) for entry in en.values()), "no plural entry at all"


def test_placeholders_are_the_same_in_both_languages() -> None:
    en, ru = catalogue("en"), catalogue("ru")
    differing = {
        key: (sorted(placeholders(en[key])), sorted(placeholders(ru[key])))
        for key in en
        if key in ru and placeholders(en[key]) != placeholders(ru[key])
    }
    assert differing == {}


def test_plural_entries_show_their_count() -> None:
    for lang in LANGUAGES:
        for key, entry in catalogue(lang).items():
            if isinstance(entry, dict):
                assert "n" in placeholders(entry), f"{lang} {key}: a plural without {{n}}"


# ---- keys used by the pages ---------------------------------------------------

T_CALL = re.compile(r"""\bt\(\s*(["'])([^"'`]+)\1""")
DYNAMIC_T_CALL = re.compile(r"""\bt\(\s*(?!["'])""")
DATA_I18N = re.compile(r"""data-i18n=["']([^"']+)["']""")
DATA_I18N_ATTR = re.compile(r"""data-i18n-attr=["']([^"']+)["']""")


def used_keys() -> set[str]:
    keys: set[str] = set()
    for source in js_sources().values():
        keys.update(match[1] for match in T_CALL.findall(code_of(source)))
    html = html_source()
    keys.update(DATA_I18N.findall(html))
    for pairs in DATA_I18N_ATTR.findall(html):
        for pair in pairs.split():
            attribute, _, key = pair.partition(":")
            assert attribute, f"data-i18n-attr {pair!r} is not attribute:key"
            assert key, f"data-i18n-attr {pair!r} is not attribute:key"
            keys.add(key)
    return keys


def test_keys_are_written_out_where_they_are_used() -> None:
    # t(someVariable) would hide a key from the checks below.
    dynamic = {
        name: [code[m.start() : m.start() + 40] for m in DYNAMIC_T_CALL.finditer(code)]
        for name, code in ((n, code_of(s)) for n, s in js_sources().items())
        if name != "i18n.js"
    }
    assert {name: calls for name, calls in dynamic.items() if calls} == {}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_used_is_in_the_catalogue(lang: str) -> None:
    assert sorted(used_keys() - set(catalogue(lang))) == []


def test_every_key_in_the_catalogue_is_used() -> None:
    assert sorted(set(catalogue("en")) - used_keys()) == []


# ---- nothing written outside the catalogues: index.html --------------------------

TRANSLATED_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")


class PageText(HTMLParser):
    """Text and labelled attributes of index.html that are not filled from a catalogue."""

    VOID: ClassVar[set[str]] = {"meta", "link", "input", "img", "br", "hr", "source", "path"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, filled by data-i18n)
        self.untranslated: list[str] = []
        self.attributes: list[str] = []
        self.wiped: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.stack and self.stack[-1][1]:
            self.wiped.append(f"<{tag}> inside data-i18n={self.stack[-1][0]}")
        translated = {p.split(":")[0] for p in (values.get("data-i18n-attr") or "").split()}
        for name in TRANSLATED_ATTRIBUTES:
            value = values.get(name)
            if value and LETTER.search(value) and name not in translated:
                self.attributes.append(f"<{tag} {name}={value!r}>")
        if tag not in self.VOID:
            self.stack.append((values.get("data-i18n") or tag, "data-i18n" in values))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or not LETTER.search(text) or text == BRAND:
            return  # whitespace, an icon (a cross, an arrow), or the name of the product
        if not any(filled for _, filled in self.stack):
            self.untranslated.append(text)


def test_index_html_text_comes_from_the_catalogue() -> None:
    page = PageText()
    page.feed(html_source())
    assert page.untranslated == [], "text in index.html without data-i18n"
    assert page.attributes == [], "labels in index.html without data-i18n-attr"
    # translate() sets textContent: an element inside one marked data-i18n would be lost.
    assert page.wiped == []


# ---- nothing written outside the catalogues: the scripts --------------------------

COMMENT = re.compile(r"^\s*//[^\n]*|(?<=[;{}(),])[ \t]+//[^\n]*|/\*.*?\*/", re.M | re.S)
STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`""", re.S)
INTERPOLATION = re.compile(r"\$\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
KEY_ARGUMENT = re.compile(r"""\bt\(\s*(["'])[^"'`]*\1""")
# A literal compared with (a protocol status, a typeof) is not shown.
COMPARED = re.compile(r"""[!=]==?\s*(?:"[^"]*"|'[^']*')""")
# Where a string ends up in front of a person.
ASSIGNED = re.compile(
    r"\.(?:textContent|innerText|innerHTML|title|placeholder|alt|label)\s*=(?!=)(.*)"
)
ATTRIBUTE = re.compile(r"""setAttribute\(\s*["'](?:aria-label|title|placeholder|alt)["']\s*,(.*)""")
PROPERTY = re.compile(
    r"""(?:\btitle|\balt|"aria-label"|\blabel|\bplaceholder|\btext)\s*:\s*("""
    + STRING.pattern
    + ")"
)
SHOWN_BY = ("toast", "showBanner", "showError", "error", "setStatus", "confirm", "alert", "show")
CALL = re.compile(r"(?<!console\.)\b(" + "|".join(SHOWN_BY) + r"|el)\(")
STATUSES_RETURN = re.compile(r"\breturn\s+(.*)")
CONSTANT = re.compile(r"""^\s*(?:export\s+)?const\s+[A-Z][A-Z0-9_]*\s*=\s*(["'`].*)""", re.M)


def code_of(source: str) -> str:
    return COMMENT.sub("", source)


def words_in(expression: str) -> list[str]:
    """String literals in `expression` that hold letters (keys given to t() do not count)."""
    expression = COMPARED.sub("", KEY_ARGUMENT.sub("t(", expression))
    found = []
    for literal in STRING.findall(expression):
        text = INTERPOLATION.sub("", literal[1:-1]) if literal[0] == "`" else literal[1:-1]
        if LETTER.search(text):
            found.append(literal)
    return found


def arguments(source: str, start: int) -> list[str]:
    """The top-level arguments of the call whose "(" is at `start`."""
    args, depth, current, i = [], 0, [], start + 1
    while i < len(source):
        char = source[i]
        if char in "\"'`":
            match = STRING.match(source, i)
            end = match.end() if match else i + 1
            current.append(source[i:end])
            i = end
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                args.append("".join(current))
                return [a for a in args if a.strip()]
            depth -= 1
        elif char == "," and depth == 0:
            args.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    return args


def hard_coded(name: str, source: str) -> list[str]:
    code = code_of(source)
    found: list[str] = []
    for line in code.splitlines():
        for pattern in (ASSIGNED, ATTRIBUTE, PROPERTY):
            for match in pattern.finditer(line):
                found += words_in(match.group(1))
        if name == "statuses.js":
            for match in STATUSES_RETURN.finditer(line):
                found += words_in(match.group(1))
    for match in CONSTANT.finditer(code):
        value = match.group(1)
        found += [w for w in words_in(value) if " " in w]
    for match in CALL.finditer(code):
        args = arguments(code, match.end() - 1)
        if match.group(1) == "el":
            # el(tag, props, ...children): a child that is a literal is text on the page.
            found += [w for a in args[2:] if STRING.fullmatch(a.strip()) for w in words_in(a)]
        elif args:
            found += words_in(args[0])
    return [f"{name}: {literal}" for literal in found]


def test_the_scripts_show_no_text_of_their_own() -> None:
    found = [
        item
        for name, source in js_sources().items()
        if name != "i18n.js"
        for item in hard_coded(name, source)
    ]
    assert found == []
