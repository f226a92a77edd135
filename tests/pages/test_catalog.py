"""Every word a page shows comes from the catalogs, and every message has its Chinese translation.

Fails when a template holds text outside a message (``{{ _("...") }}``), a message is missing
from a catalog, a Chinese translation is empty or drops a placeholder, or a catalog keeps a
message no template uses any more.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from selection.pages import i18n
from selection.pages.site import TEMPLATES

#: Attributes a reader (or a screen reader) is given as text.
READ_ATTRIBUTES = {"aria-label", "title", "alt", "placeholder", "label"}
#: Stands for an expression's output while the template's own text is read.
HOLE = "\x00"
LETTER = re.compile(r"[^\W\d_]")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.html"))


class _Text(HTMLParser):
    """Collects the text a template writes itself: data outside scripts and styles, and read attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found.extend(value for name, value in attrs if name in READ_ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def own_text(path: Path) -> list[str]:
    """Every piece of text the template writes that is not an expression (a message is one)."""
    tree = Environment(extensions=["jinja2.ext.i18n"]).parse(path.read_text(encoding="utf-8"))
    pieces: list[str] = []
    # A template's own text is the TemplateData of its Output nodes; the rest of an Output is expressions.
    for node in tree.find_all(nodes.Output):
        pieces.extend(child.data if isinstance(child, nodes.TemplateData) else HOLE for child in node.nodes)
    parser = _Text()
    parser.feed("".join(pieces))
    parser.close()
    return [part for text in parser.found for part in text.split(HOLE) if LETTER.search(part)]


@pytest.mark.parametrize("path", templates(), ids=lambda p: p.name)
def test_a_template_writes_no_text_of_its_own(path: Path) -> None:
    assert own_text(path) == [], f"{path.name}: text outside the catalog"


def test_the_check_finds_text_outside_a_message(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('<p>{{ _("Fine") }}</p><p>Not fine</p><a title="Nor this">{{ x }}</a><script>var ok;</script>')
    assert own_text(page) == ["Not fine", "Nor this"]


def extracted() -> set[str]:
    found = extract_from_dir(
        str(TEMPLATES),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}},
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def catalog(tag: str) -> dict[str, str]:
    language = i18n.LANGUAGES[tag]
    with i18n.po_path(language.catalog).open("rb") as source:
        # A plural message by its singular, with its first form (Chinese has one form).
        return {
            (m.id if isinstance(m.id, str) else m.id[0]): (m.string if isinstance(m.string, str) else m.string[0])
            for m in read_po(source)
            if m.id and m.string is not None
        }


@pytest.mark.parametrize("tag", list(i18n.LANGUAGES))
def test_every_message_is_in_each_catalog_and_no_other(tag: str) -> None:
    used = extracted()
    assert len(used) > 20
    kept = set(catalog(tag))
    assert used - kept == set(), f"missing from the {tag} catalog (run `make messages`)"
    assert kept - used == set(), f"no template uses these any more (run `make messages`) in {tag}"


def test_every_message_has_its_chinese_translation_with_the_same_placeholders() -> None:
    chinese = catalog("zh-Hans")
    untranslated = [m for m, s in chinese.items() if not s.strip()]
    assert untranslated == []
    for message, translation in chinese.items():
        assert sorted(PLACEHOLDER.findall(message)) == sorted(PLACEHOLDER.findall(translation)), message
        # A message copied over untranslated is no translation.
        assert re.search(r"[\u4e00-\u9fff]", translation), f"not Chinese: {translation!r}"


def test_the_compiled_catalogs_translate() -> None:
    compiled = i18n.load_translations()
    assert compiled["zh-Hans"].gettext("Sign in") == "登录"
    assert compiled["en"].gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN", "zh-Hans"),
        ("zh-Hans-CN;q=0.8, en;q=0.9", "en"),
        ("en;q=0.1, zh;q=0.2", "zh-Hans"),
        ("fr, de;q=0.9", "en"),
        ("*", "en"),
        ("zh;q=0, en;q=0.5", "en"),
        ("garbage;;;, zh-TW", "zh-Hans"),
    ],
)
def test_accept_language_negotiation(header: str | None, chosen: str) -> None:
    assert i18n.negotiate(header) == chosen


def test_an_instant_is_shown_in_the_schools_zone_in_the_pages_language() -> None:
    instant = dt.datetime(2026, 9, 1, 0, 30, tzinfo=dt.UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert "8:30" in i18n.school_time(instant, shanghai, "en")
    assert "2026年9月1日" in i18n.school_time(instant, shanghai, "zh-Hans")
    assert "08:30" in i18n.school_time(instant, shanghai, "zh-Hans")
    # Another zone, another wall clock: the day before, in New York.
    assert "Aug 31, 2026" in i18n.school_time(instant, ZoneInfo("America/New_York"), "en")
    assert i18n.school_time(None, shanghai, "en", missing="—") == "—"
