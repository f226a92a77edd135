# ruff: noqa: RUF001  (the pages' own words: en dashes, and Chinese punctuation)
"""The student's pages in process: the rounds, a round's offerings (search, filters, eligibility),
select / drop / waitlist through the page with CSRF and an Idempotency-Key, every refusal in
words in both languages, the live seats' ETag and size, a promotion appearing.

Against the real PostgreSQL and Redis, through the app as ``serve`` builds it, signed in with the
development sign-in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import brotli
import msgspec
import pytest
import redis.asyncio as aioredis
from babel.support import Translations
from jinja2 import Environment
from litestar import Litestar
from litestar.testing import AsyncTestClient

from lib import errors
from lib.coalesced import STALE_LIMIT
from lib.settings import Settings
from selection.browse import ROUNDS_SECONDS
from selection.pages import i18n
from selection.pages import student_view as view
from selection.pages.assets import StaticAssets
from selection.pages.site import Pages
from selection.web.app import create_app
from tests.builders import add_offering, add_round, add_students, announce, weekly
from tests.pages.test_pages import csrf_of, dev_sign_in

Client = AsyncTestClient[Litestar]
SCRIPT = {"HX-Request": "true"}
#: A round page's live seats must stay under this, compressed, per refresh.
REFRESH_BUDGET = 5_000


@pytest.fixture
def page_settings(settings: Settings) -> Callable[..., Settings]:
    def make(**changes: Any) -> Settings:
        fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
        return Settings(**{**fields, **changes})

    return make


async def arrange(db: asyncpg.Connection) -> None:
    """Students s1, s2 (2024 masters, north) and s3 (2025 phd, south); a first-come round with a
    waitlist, a lottery round, a draft."""
    await add_students(db, "s1", "s2")
    await add_students(db, "s3", cohort=2025, degree="phd", campus="south")
    await add_offering(db, "swim", capacity=1, schedule=[weekly("mon", "14:00", "15:40")])
    await add_offering(db, "run", capacity=5, schedule=[weekly("mon", "15:00", "16:00")])
    await add_offering(db, "yoga", capacity=3, schedule=[weekly("tue", "08:00", "09:40")])
    await add_offering(db, "clay", capacity=2, category="arts", schedule=[weekly("wed", "10:00", "11:40")])
    await add_offering(db, "old", capacity=2, eligibility={"cohorts": [2023]})
    await add_offering(db, "phd", capacity=2, eligibility={"degrees": ["phd"]})
    await add_offering(db, "far", capacity=2, eligibility={"campuses": ["east"]})
    await db.execute(
        "UPDATE offerings SET title = 'Swimming', title_zh = '游泳', teacher = 'Li Na', campus = 'North pool' "
        "WHERE id = 'swim'"
    )
    await db.execute("UPDATE offerings SET title = '太极拳 Taiji', teacher = '王老师' WHERE id = 'yoga'")
    await add_round(
        db, "r1", ["swim", "run", "yoga", "clay", "old", "phd", "far"], waitlist=True, limits={"arts": 1, "total": 3}
    )
    await add_round(db, "r2", ["swim", "run", "yoga", "clay"])
    await add_round(db, "held", ["swim"], state="paused")
    await add_round(db, "r-masters", ["swim"], eligibility={"cohorts": [2024], "degrees": ["master"]})
    await add_round(db, "lot", ["swim"], mode="lottery")
    await add_round(db, "nodrop", ["yoga"], allow_drop=False)
    await add_round(db, "draft", ["swim"], state="draft")


@pytest.fixture
async def app(page_settings: Callable[..., Settings], db: asyncpg.Connection) -> Litestar:
    await arrange(db)
    return create_app(page_settings(dev_sign_in=True))


@pytest.fixture
async def s1(app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=app) as client:
        await dev_sign_in(client, student="s1")
        yield client


async def token(client: Client, round_id: str = "r1") -> str:
    page = await client.get(f"/rounds/{round_id}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def act(
    client: Client,
    what: str,
    offering: str,
    *,
    key: str | None = None,
    waitlist: bool = False,
    round_id: str = "r1",
    lang: str | None = None,
) -> Any:
    headers = {**SCRIPT, "X-CSRF-Token": await token(client, round_id)}
    if key is not None:
        headers["Idempotency-Key"] = key
    if lang is not None:
        client.cookies.set("selection_lang", lang)
    data = {"offering_id": offering, **({"waitlist": "1"} if waitlist else {})}
    return await client.post(f"/rounds/{round_id}/{what}", data=data, headers=headers)


async def become(client: Client, student: str) -> None:
    """Sign the client in as another student (a new session)."""
    answer = await dev_sign_in(client, student=student)
    assert answer.status_code == 200, answer.text


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


async def test_home_lists_rounds_with_links_the_countdown_and_the_fair_start(
    s1: Client, db: asyncpg.Connection
) -> None:
    opens = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2, minutes=5)
    await db.execute("UPDATE rounds SET opens_at = $1, fair_start_seconds = 10 WHERE id = 'r1'", opens)
    # The pages read the rounds at most ROUNDS_SECONDS old (the sign-in's page read them just now).
    await asyncio.sleep(ROUNDS_SECONDS * STALE_LIMIT + 0.1)
    page = await s1.get("/")
    assert page.status_code == 200
    assert 'href="/rounds/r1"' in page.text
    assert 'href="/rounds/lot/wishes"' in page.text
    assert "/rounds/draft" not in page.text
    text = words(page.text)
    assert re.search(r"Opens in 2 h [45] min \d+ s", text), text
    assert f'data-until="{opens.isoformat()}"' in page.text
    assert "first 10 seconds after the opening are decided together, in a random order" in text
    assert "no need to hurry or to reload" in text
    assert page.text.count("Fair start") == 1  # only the round with a window explains one


async def test_the_round_page_lists_offerings_with_their_facts(s1: Client) -> None:
    page = await s1.get("/rounds/r1")
    assert page.status_code == 200
    text = words(page.text)
    assert "Swimming" in text
    assert "Teacher: Li Na" in text
    assert "Place: North pool" in text
    assert "Every Mon 14:00–15:40" in text
    assert "Seats left: 1 of 1" in text
    assert "Waiting: 0" in text
    assert "Limits" in text
    assert "Arts: 1" in text
    assert "3 in all" in text
    # In Chinese: the days and words of the school.
    s1.cookies.set("selection_lang", "zh-Hans")
    text = words((await s1.get("/rounds/r1")).text)
    assert "每周一 14:00–15:40" in text
    assert "余量：1 / 1" in text
    assert "教师：Li Na" in text
    assert "游泳" in text  # the Chinese title, on the Chinese page


async def test_a_lottery_round_goes_to_its_wish_list_and_others_are_refused(s1: Client) -> None:
    lottery = await s1.get("/rounds/lot", follow_redirects=False)
    assert lottery.status_code == 303
    assert lottery.headers["location"] == "/rounds/lot/wishes"
    assert (await s1.get("/rounds/nope")).status_code == 404
    assert (await s1.get("/rounds/bad%20id")).status_code == 404
    draft = await s1.get("/rounds/draft")
    assert draft.status_code == 409
    assert "This round has not opened yet." in draft.text
    assert "/rounds/draft/select" not in draft.text


async def test_a_round_not_open_to_the_student_says_so(s1: Client) -> None:
    await become(s1, "s3")  # a 2025 phd in the south; r-masters admits 2024 masters only
    page = await s1.get("/rounds/r-masters")
    assert page.status_code == 403
    assert "This round is not open to your cohort, degree or campus." in page.text
    s1.cookies.set("selection_lang", "zh-Hans")
    assert "本轮不面向你的年级、学位或校区。" in (await s1.get("/rounds/r-masters")).text


async def test_a_page_over_the_rate_limit_says_to_wait(
    page_settings: Callable[..., Settings], db: asyncpg.Connection
) -> None:
    await arrange(db)
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True, rate_limit=1))) as client:
        await dev_sign_in(client, student="s1")
        statuses = [(await client.get("/rounds/r1")).status_code for _ in range(6)]
        assert 429 in statuses, statuses
        page = await client.get("/rounds/r1")
        assert page.status_code == 429
        assert "could not be loaded just now" in page.text


async def test_a_paused_round_shows_its_offerings_without_buttons(s1: Client) -> None:
    page = await s1.get("/rounds/held")
    assert page.status_code == 200
    assert "The round is paused: selections and drops are not taken now." in page.text
    assert 'data-offering="swim"' in page.text
    assert "/rounds/held/select" not in page.text


async def test_search_by_title_teacher_and_chinese_text_ignoring_case(s1: Client) -> None:
    async def titles(query: str) -> list[str]:
        page = await s1.get(f"/rounds/r1?{query}", headers={**SCRIPT, "HX-Target": "offerings"})
        assert page.status_code == 200
        assert "<html" not in page.text  # the list alone, for htmx to swap in
        return re.findall(r'data-offering="([^"]+)"', page.text)

    assert await titles("q=SWIM") == ["swim"]
    assert await titles("q=游泳") == ["swim"]  # the Chinese title
    assert await titles("q=li+na") == ["swim"]
    assert await titles("q=太极") == ["yoga"]
    assert await titles("q=王老师") == ["yoga"]
    assert await titles("q=taiji") == ["yoga"]
    assert await titles("category=arts") == ["clay"]
    assert await titles("q=nothing-like-it") == []
    # An unknown round asked for by the list: words, not a page.
    missing = await s1.get("/rounds/nope", headers={**SCRIPT, "HX-Target": "offerings"})
    assert missing.status_code == 404
    assert "There is no such round or offering." in missing.text
    assert "<html" not in missing.text
    # Without a script: the same search, as a whole page.
    page = await s1.get("/rounds/r1?q=swim")
    assert 'value="swim"' in page.text
    assert "Offerings matching “swim”: 1" in page.text


async def test_the_has_seats_filter_and_the_lists_etag(s1: Client) -> None:
    await become(s1, "s2")
    await act(s1, "select", "swim", key="full")
    await become(s1, "s1")
    await asyncio.sleep(0.6)  # a browse page is at most four times BROWSE_SECONDS old
    headers = {**SCRIPT, "HX-Target": "offerings"}
    free = await s1.get("/rounds/r1?available=1", headers=headers)
    offered = re.findall(r'data-offering="([^"]+)"', free.text)
    assert "swim" not in offered
    assert "run" in offered
    first = await s1.get("/rounds/r1", headers=headers)
    tag = first.headers["etag"]
    again = await s1.get("/rounds/r1", headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""


async def test_eligibility_is_said_in_words_and_no_button_is_offered(s1: Client) -> None:
    page = (await s1.get("/rounds/r1")).text

    def item(offering: str) -> str:
        return page.split(f'data-offering="{offering}"', 1)[1].split('<li class="offering', 1)[0]

    assert "Not for your cohort." in item("old")
    assert "Not for your degree." in item("phd")
    assert "Not for your campus." in item("far")
    for offering in ("old", "phd", "far"):
        assert "/select" not in item(offering)
    assert "/select" in item("swim")
    s1.cookies.set("selection_lang", "zh-Hans")
    page = (await s1.get("/rounds/r1")).text
    assert "不面向你所在的年级。" in item("old")
    assert "不面向你的学位类别。" in item("phd")
    assert "不面向你所在的校区。" in item("far")


async def test_select_with_a_key_acts_once_and_a_repeat_gets_the_same_answer(
    s1: Client, db: asyncpg.Connection
) -> None:
    first = await act(s1, "select", "swim", key="k-1")
    assert first.status_code == 200, first.text
    assert 'data-outcome="enrolled"' in first.text
    assert "Done: you are enrolled in Swimming." in words(first.text)
    repeat = await act(s1, "select", "swim", key="k-1")
    assert repeat.status_code == 200
    assert 'data-outcome="enrolled"' in repeat.text  # the first answer, not "already selected"
    assert await db.fetchval("SELECT count(*) FROM selections WHERE student_id = 's1'") == 1
    # A new press is a new intent: a new key, and now the truth of the moment.
    again = await act(s1, "select", "swim", key="k-2")
    assert again.status_code == 409
    assert "You already hold Swimming." in words(again.text)
    # The same key for another request is refused, in words.
    other = await act(s1, "select", "yoga", key="k-1")
    assert other.status_code == 422
    assert "already used for something else" in other.text


async def test_the_same_key_in_the_api_and_the_page_is_the_same_request(
    s1: Client, as_student: Callable[[str], dict[str, str]]
) -> None:
    api = await s1.post(
        "/api/v1/rounds/r1/selections",
        json={"offering_id": "yoga"},
        headers={**as_student("s1"), "Idempotency-Key": "shared"},
    )
    assert api.status_code == 201, api.text
    page = await act(s1, "select", "yoga", key="shared")
    assert page.status_code == 200
    assert 'data-outcome="enrolled"' in page.text


async def test_a_changes_answer_carries_the_selections_and_the_rows_it_touched(s1: Client) -> None:
    answer = await act(s1, "select", "swim", key="a")
    mine = answer.text.split("<template data-mine>", 1)[1].split("</template>", 1)[0]
    assert 'data-offering="swim" data-status="enrolled"' in mine
    rows = answer.text.split("<template data-rows>", 1)[1].split("</template>", 1)[0]
    # Swim itself, and run at an overlapping time (now a clash); nothing else of the list.
    assert re.findall(r'<li class="offering[^"]*" data-offering="([^"]+)"', rows) == ["swim", "run"]
    assert "You are enrolled." in rows
    assert "Clashes with Swimming, which you hold." in words(rows)
    # A refusal changes nothing on the page: no rows.
    refused = await act(s1, "select", "swim", key="b")
    assert refused.status_code == 409
    assert "<template" not in refused.text


async def test_a_select_without_the_csrf_token_is_refused(s1: Client, db: asyncpg.Connection) -> None:
    answer = await s1.post("/rounds/r1/select", data={"offering_id": "swim"}, headers=SCRIPT)
    assert answer.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM selections") == 0


async def test_a_plain_form_select_comes_back_to_the_page_with_its_answer(s1: Client) -> None:
    csrf = await token(s1)
    answer = await s1.post(
        "/rounds/r1/select", data={"_csrf_token": csrf, "offering_id": "swim"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/rounds/r1"
    page = await s1.get("/rounds/r1")
    assert "Done: you are enrolled in Swimming." in words(page.text)
    assert "Your week" in page.text
    # Shown once.
    assert "Done: you are enrolled" not in (await s1.get("/rounds/r1")).text


async def test_my_selections_and_week_show_titles_times_and_clashes(s1: Client) -> None:
    await act(s1, "select", "swim", key="a")
    page = (await s1.get("/rounds/r1")).text
    mine = page.split('id="mine"', 1)[1].split("</section>", 1)[0]
    assert "Swimming" in mine
    assert "Enrolled" in mine
    assert "North pool" in mine
    assert "Every Mon 14:00–15:40" in words(mine)
    assert 'class="slot slot-enrolled"' in mine
    assert "swim" not in re.sub(r'data-offering="swim"|value="swim"|slot', "", words(mine).lower()).replace(
        "swimming", ""
    )
    # "run" (Mon 15:00-16:00) overlaps swim: marked before any click, without a select button.
    run = page.split('data-offering="run"', 1)[1].split('<li class="offering', 1)[0]
    assert "Clashes with Swimming, which you hold." in words(run)
    assert "/select" not in run
    s1.cookies.set("selection_lang", "zh-Hans")
    page = (await s1.get("/rounds/r1")).text
    assert "与你已选的 游泳 时间冲突。" in words(page)  # the Chinese title in the Chinese page


async def test_drop_and_the_waitlist_through_the_page(s1: Client, db: asyncpg.Connection) -> None:
    assert 'data-outcome="enrolled"' in (await act(s1, "select", "swim", key="1")).text
    await become(s1, "s2")
    full = await act(s1, "select", "swim", key="2")
    assert full.status_code == 409
    assert "No seat is left in Swimming." in words(full.text)
    # The round has a waitlist: joining it is one press away.
    assert 'name="waitlist" value="1"' in full.text
    joined = await act(s1, "select", "swim", key="3", waitlist=True)
    assert joined.status_code == 200
    assert "You are on the waitlist for Swimming, position 1." in words(joined.text)
    mine = await s1.get("/rounds/r1/mine", headers=SCRIPT)
    assert "Waitlisted, position 1" in mine.text
    assert 'class="slot slot-waitlisted"' in mine.text
    dropped = await act(s1, "drop", "swim", key="4")
    assert dropped.status_code == 200
    assert "Dropped: Swimming is no longer among your selections." in words(dropped.text)
    nothing = await act(s1, "drop", "swim", key="5")
    assert nothing.status_code == 404
    assert "is not among your selections in this round" in nothing.text
    assert await db.fetchval("SELECT count(*) FROM selections WHERE status <> 'dropped'") == 1


async def test_course_full_offers_the_alternatives_as_one_press_choices(s1: Client) -> None:
    await become(s1, "s2")
    await act(s1, "select", "swim", key="x", round_id="r2")
    await become(s1, "s1")
    full = await act(s1, "select", "swim", key="y", round_id="r2")
    assert full.status_code == 409
    text = words(full.text)
    assert "No seat is left in Swimming." in text
    assert "With a seat left, and open to you now:" in text
    # Each alternative is a select of that offering (yoga's title shown, not its id).
    assert re.search(r'action="/rounds/r2/select".*?name="offering_id" value="run"', full.text, re.S)
    assert "Select 太极拳 Taiji" in text
    assert 'name="waitlist"' not in full.text  # no waitlist in this round
    taken = await act(s1, "select", "yoga", key="z", round_id="r2")
    assert 'data-outcome="enrolled"' in taken.text
    s1.cookies.set("selection_lang", "zh-Hans")
    full = await act(s1, "select", "swim", key="w", round_id="r2")
    assert "游泳 已无余量。" in words(full.text)
    assert "以下课程尚有余量，且你现在可以选：" in full.text


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("course_full", {"alternatives": [], "waitlist": False}, "No seat is left in Swimming.", "Swimming 已无余量。"),
    (
        "time_conflict",
        {"with": "yoga"},
        "Swimming is at the same time as 太极拳 Taiji, which you hold.",
        "Swimming 与你已选的 太极拳 Taiji 时间冲突。",
    ),
    (
        "category_limit",
        {"category": "arts", "limit": 1, "held": ["clay"]},
        "You have reached this round's limit for Arts: 1.",
        "你已达到本轮美育类的选课上限：1 门。",
    ),
    (
        "total_limit",
        {"limit": 3, "held": ["yoga", "clay", "run"]},
        "limit of 3 offerings in all",
        "合计 3 门的选课上限",
    ),
    ("round_not_open", {"state": "paused"}, "The round is paused", "本轮已暂停"),
    ("round_not_open", {"state": "open"}, "has not reached its opening time", "尚未到开放时间"),
    ("not_eligible", {"scope": "offering"}, "Swimming is not open to you", "Swimming 不对你开放"),
    ("not_eligible", {"scope": "round"}, "This round is not open to you.", "本轮不对你开放。"),
    ("already_selected", {"held": "waitlisted"}, "already on the waitlist for Swimming", "已在 Swimming 的候补名单中"),
    ("drop_not_allowed", {}, "This round does not allow drops", "本轮不允许退选"),
    ("not_found", {}, "Swimming is not among your selections", "Swimming 不在你本轮的已选课程中"),
    ("offering_not_in_round", {}, "Swimming is not offered in this round.", "本轮未开设 Swimming。"),
    ("wrong_mode", {}, "given by lottery", "以抽签方式分配"),
    ("rate_limited", {"retry_after": "2"}, "Wait 2 seconds", "请等待 2 秒"),
    ("unavailable", {}, "nothing was lost", "请求不会丢失"),
    ("idempotency_conflict", {}, "already used for something else", "已用于其他操作"),
    ("validation_error", {}, "could not be understood", "无法识别"),
    ("internal_error", {}, "Something went wrong on our side", "系统出现问题"),
]


@pytest.fixture(scope="module")
def answer_template() -> Callable[[str, view.Answer], str]:
    """The answer fragment rendered as the page renders it, in either language."""
    settings = Settings(jwt_secret="x" * 32)
    pages = Pages(settings, StaticAssets())
    env: Environment = pages.environment()
    env.globals["csrf_token"] = lambda: "token"
    template = env.get_template("_student_answer.html")
    compiled: dict[str, Translations] = i18n.load_translations()
    from courses.models import Offering

    titles = {
        "swim": Offering(id="swim", title="Swimming", category="pe", kind="course", capacity=1),
        "yoga": Offering(id="yoga", title="太极拳 Taiji", category="pe", kind="course", capacity=1),
        "clay": Offering(id="clay", title="Clay", category="arts", kind="course", capacity=1),
        "run": Offering(id="run", title="Running", category="pe", kind="course", capacity=1),
    }

    def render(lang: str, answer: view.Answer) -> str:
        html = template.render(lang=lang, i18n=compiled[lang], answer=answer, titles=titles, header=None)
        return words(html)

    return render


@pytest.mark.parametrize(
    ("code", "facts", "english", "chinese"), REFUSALS, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSALS)]
)
def test_every_refusal_is_said_in_words_in_both_languages(
    answer_template: Callable[[str, view.Answer], str], code: str, facts: dict[str, Any], english: str, chinese: str
) -> None:
    answer = view.Answer("refused", 409, "swim", code=code, facts=facts)
    assert english in answer_template("en", answer)
    assert chinese in answer_template("zh-Hans", answer)
    if code in ("category_limit", "total_limit"):
        # The offerings held are named by their titles, never by bare ids.
        said = answer_template("en", answer)
        assert "Clay" in said
        assert " clay" not in said


def test_a_service_error_is_a_known_refusal_with_its_facts() -> None:
    answer = view.refused(errors.CourseFull("x", alternatives=["a"], waitlist=False), "swim")
    assert (answer.code, answer.facts["alternatives"], answer.retry) == ("course_full", ["a"], False)
    assert view.refused(errors.Unavailable("down"), "swim").retry
    assert view.refused(errors.DomainError("odd"), "swim").code == "internal_error"


async def test_refusals_from_the_rules_reach_the_page_in_words(s1: Client, db: asyncpg.Connection) -> None:
    assert 'data-outcome="enrolled"' in (await act(s1, "select", "swim", key="a")).text
    clash = await act(s1, "select", "run", key="b")
    assert clash.status_code == 409
    assert "Running" not in clash.text  # titles come from the catalog: "run title"
    assert "run title is at the same time as Swimming, which you hold." in words(clash.text)
    no_drop = await act(s1, "select", "yoga", key="e", round_id="nodrop")
    assert 'data-outcome="enrolled"' in no_drop.text
    refused = await act(s1, "drop", "yoga", key="f", round_id="nodrop", lang="zh-Hans")
    assert refused.status_code == 409
    assert "本轮不允许退选" in refused.text


async def test_the_select_counts_in_the_students_rate_limit(
    page_settings: Callable[..., Settings], db: asyncpg.Connection
) -> None:
    await arrange(db)
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True, rate_limit=1))) as client:
        await dev_sign_in(client, student="s1")
        csrf = await token(client)
        codes = []
        for n in range(6):
            answer = await client.post(
                "/rounds/r1/select",
                data={"offering_id": "nope-" + str(n)},
                headers={**SCRIPT, "X-CSRF-Token": csrf, "Idempotency-Key": f"n{n}"},
            )
            codes.append(answer.status_code)
        assert 429 in codes, codes
        limited = answer
        assert "Too many requests in a short time" in limited.text
        assert limited.headers["retry-after"]


async def test_the_live_seats_are_small_carry_an_etag_and_answer_304_unchanged(
    s1: Client, db: asyncpg.Connection
) -> None:
    first = await s1.get("/rounds/r1/seats", headers=SCRIPT)
    assert first.status_code == 200
    body = msgspec.json.decode(first.content)
    assert body["s"]["swim"] == [1, 0]
    tag = first.headers["etag"]
    unchanged = await s1.get("/rounds/r1/seats", headers={**SCRIPT, "If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    await act(s1, "select", "swim", key="s")
    changed = await s1.get("/rounds/r1/seats", headers={**SCRIPT, "If-None-Match": tag})
    for _ in range(20):  # the browse page is at most a fraction of a second old
        if changed.status_code == 200:
            break
        await asyncio.sleep(0.1)
        changed = await s1.get("/rounds/r1/seats", headers={**SCRIPT, "If-None-Match": tag})
    assert changed.status_code == 200
    assert msgspec.json.decode(changed.content)["s"]["swim"] == [0, 0]


async def test_the_live_seats_leave_the_session_as_it_is(s1: Client, redis: aioredis.Redis, settings: Settings) -> None:
    """A refresh is the page's doing, not the student's: no session write, no renewed cookie, so
    a page left alone ends its session after the idle limit."""
    key = f"{settings.redis_namespace}page-sessions{s1.cookies['selection_session']}"
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis_namespace}page-sessions*")]
    assert len(keys) == 1, keys
    await redis.expire(keys[0], 100)
    polled = await s1.get("/rounds/r1/seats", headers=SCRIPT)
    assert polled.status_code == 200
    assert "selection_session" not in polled.headers.get("set-cookie", "")
    assert await redis.ttl(keys[0]) <= 100
    page = await s1.get("/rounds/r1")  # the student's own doing renews it
    assert "selection_session" in page.headers.get("set-cookie", "")
    assert await redis.ttl(keys[0]) > 100, key


async def test_a_full_rounds_live_seats_stay_under_5_kb_compressed(
    page_settings: Callable[..., Settings], db: asyncpg.Connection
) -> None:
    await add_students(db, "s1")
    ids = [f"pe-offering-{n:03d}" for n in range(180)]
    for offering in ids:
        await add_offering(db, offering, capacity=120)
    await add_round(db, "big", ids, waitlist=True)
    async with AsyncTestClient(app=create_app(page_settings(dev_sign_in=True))) as client:
        await dev_sign_in(client, student="s1")
        answer = await client.get("/rounds/big/seats", headers={**SCRIPT, "Accept-Encoding": "br"})
        assert answer.status_code == 200
        raw = answer.content
        assert len(msgspec.json.decode(raw)["s"]) == 180
        assert len(brotli.compress(raw)) < REFRESH_BUDGET
        assert len(raw) + len(str(answer.headers)) < 3 * REFRESH_BUDGET


async def test_a_promotion_appears_on_the_waiting_students_page(
    s1: Client, as_student: Callable[[str], dict[str, str]]
) -> None:
    await act(s1, "select", "swim", key="1")
    await become(s1, "s2")
    await act(s1, "select", "swim", key="2", waitlist=True)
    waiting = await s1.get("/rounds/r1/seats?mine=1", headers=SCRIPT)
    assert msgspec.json.decode(waiting.content)["m"] == [["swim", "waitlisted", 1]]
    tag = waiting.headers["etag"]
    # s1 drops, through the API.
    gone = await s1.delete("/api/v1/rounds/r1/selections/swim", headers=as_student("s1"))
    assert gone.status_code == 204, gone.text
    promoted = await s1.get("/rounds/r1/seats?mine=1", headers={**SCRIPT, "If-None-Match": tag})
    assert promoted.status_code == 200
    assert msgspec.json.decode(promoted.content)["m"] == [["swim", "enrolled", None]]
    # The page then asks for its selections, naming what it was waiting for.
    mine = await s1.get("/rounds/r1/mine?was=swim", headers=SCRIPT)
    assert "You got a seat in Swimming." in words(mine.text)
    assert 'data-status="enrolled"' in mine.text
    tag = mine.headers["etag"]
    assert (await s1.get("/rounds/r1/mine?was=swim", headers={**SCRIPT, "If-None-Match": tag})).status_code == 304
    s1.cookies.set("selection_lang", "zh-Hans")
    mine = await s1.get("/rounds/r1/mine?was=swim", headers=SCRIPT)
    assert "你已递补选上 游泳。" in words(mine.text)


async def test_script_requests_of_a_signed_out_visitor_get_words_not_pages(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as anonymous:
        seats = await anonymous.get("/rounds/r1/seats", headers=SCRIPT)
        assert seats.status_code == 401
        mine = await anonymous.get("/rounds/r1/mine", headers=SCRIPT)
        assert mine.status_code == 401
        assert "Your session has ended" in mine.text
        listing = await anonymous.get("/rounds/r1", headers={**SCRIPT, "HX-Target": "offerings"})
        assert listing.status_code == 401
        assert "Your session has ended" in listing.text
        assert "<html" not in listing.text
        page = await anonymous.get("/rounds/r1", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/sign-in?next=/rounds/r1"


async def test_a_select_held_by_the_fair_start_is_answered_when_the_window_ends(
    s1: Client, admin: dict[str, str]
) -> None:
    created = await s1.post(
        "/api/v1/admin/rounds",
        json={"id": "fair", "name": "Fair", "offering_ids": ["yoga"], "fair_start_seconds": 1},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    await announce(s1, "fair")
    opened = await s1.post("/api/v1/admin/rounds/fair/open", headers=admin)
    assert opened.status_code == 200, opened.text
    page = await s1.get("/rounds/fair")
    assert 'data-fair-start="1"' in page.text
    assert "first 1 seconds after the opening are decided together" in words(page.text)
    # Held until the window's end, then the answer any select would get: no error meanwhile.
    began = time.monotonic()
    answer = await act(s1, "select", "yoga", key="held", round_id="fair")
    assert answer.status_code == 200, answer.text
    assert 'data-outcome="enrolled"' in answer.text
    assert time.monotonic() - began > 0.2


async def test_the_load_tests_planted_session_signs_a_student_in(
    app: Litestar, settings: Settings, db: asyncpg.Connection
) -> None:
    from loadtests.browser_user import is_browser, plant_sessions
    from loadtests.plan import Plan

    assert settings.redis_url is not None
    sessions = plant_sessions(settings.redis_url, settings.redis_namespace, ["s2"])
    async with AsyncTestClient(app=app) as client:
        client.cookies.set("selection_session", sessions["s2"])
        home = await client.get("/", follow_redirects=False)
        assert home.status_code == 200, home.headers
        assert "Signed in as s2" in home.text
        assert "Development sign-in" not in home.text  # as the single sign-on makes it
        # The one who chose to come through the pages: a fixed draw, about the share asked for.
        plan = Plan(round_id="r1", students=[f"s{n}" for n in range(1000)])
        chosen = [s for s in plan.students if is_browser(plan, s, 0.2)]
        assert 150 < len(chosen) < 250
        assert chosen == [s for s in plan.students if is_browser(plan, s, 0.2)]
        assert not any(is_browser(plan, s, 0.0) for s in plan.students)
