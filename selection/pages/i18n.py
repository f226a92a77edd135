"""Languages: the catalogs (compiled from the committed .po files at start-up), negotiation, times.

The .po files under ``locale/`` are the only source of the pages' messages; no .mo file is
committed or built by hand: each process compiles the catalogs in memory when it starts.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    #: The BCP 47 tag written into ``<html lang>`` and the language cookie.
    tag: str
    #: The catalog's folder under ``locale/``.
    catalog: str
    #: Babel's locale, for dates.
    locale: Locale
    #: The language's own name, as the switch shows it.
    own_name: str


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "en", Locale.parse("en"), "English"),
    "zh-Hans": Language("zh-Hans", "zh_Hans", Locale.parse("zh_Hans_CN"), "简体中文"),
}
DEFAULT = "en"

_WEIGHTED = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")


def po_path(catalog: str) -> Path:
    return LOCALE_DIR / catalog / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations() -> dict[str, Translations]:
    """Every language's catalog, compiled from its .po file."""
    compiled: dict[str, Translations] = {}
    for tag, language in LANGUAGES.items():
        with po_path(language.catalog).open("rb") as source:
            catalog = read_po(source, locale=language.catalog)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        compiled[tag] = Translations(fp=buffer, domain=DOMAIN)
    return compiled


def supported(tag: str | None) -> str | None:
    """The supported language a tag asks for: any Chinese is Simplified Chinese, the only one served."""
    if not tag:
        return None
    primary = tag.strip().split("-")[0].lower()
    if primary == "zh":
        return "zh-Hans"
    if primary == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """The best of the supported languages for an ``Accept-Language`` header; English when none fits."""
    if not accept_language:
        return DEFAULT
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        match = _WEIGHTED.match(part)
        if match is None:
            continue
        quality = float(match.group(2)) if match.group(2) else 1.0
        tag = supported(match.group(1))
        if tag is not None and quality > 0:
            weighted.append((-quality, position, tag))
    return min(weighted)[2] if weighted else DEFAULT


def chosen_language(cookie: str | None, accept_language: str | None) -> str:
    """The language the visitor picked with the switch, else the browser's."""
    if cookie in LANGUAGES:
        return cookie
    return negotiate(accept_language)


def school_time(instant: dt.datetime | None, zone: ZoneInfo, language: str, missing: str = "") -> str:
    """An instant as a reader at the school reads it: in the school's zone, in the page's language."""
    if instant is None:
        return missing
    if instant.tzinfo is None:
        # The service keeps every instant in UTC; a naive one would be a bug upstream, read as UTC.
        instant = instant.replace(tzinfo=dt.UTC)
    locale = LANGUAGES.get(language, LANGUAGES[DEFAULT]).locale
    local = instant.astimezone(zone)
    # The day in full, the time to the minute: a round opens at 08:30, not at 08:30:00.
    return f"{format_date(local, format='medium', locale=locale)} {format_time(local, format='short', locale=locale)}"


def translations_for(compiled: Mapping[str, Translations], language: str) -> Translations:
    return compiled.get(language) or compiled[DEFAULT]
