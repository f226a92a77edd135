"""The lottery pages in process: the wish-list editor's saves and refusals (plain forms and the
script's whole-list save), in both languages; what the draw gave a student, in words, for every
outcome; the administrators' commit-reveal draw; the fairness report's plots and tables.

Against the real PostgreSQL and Redis of the suite, through the app as ``serve`` builds it. The
catalog is arranged through the admin API; the pages are used as a browser would, with the
development sign-in, the session cookie and the CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from courses.draw_input import DrawExplanation, WishOutcome
from courses.models import Offering
from lib.settings import Settings
from selection.pages import i18n
from selection.pages.assets import StaticAssets
from selection.pages.lottery_pages import edited, window
from selection.pages.plots import bar_chart, data_table, line_chart, nice_max, series
from selection.pages.site import Pages
from selection.web.app import create_app
from tests.builders import weekly
from tests.catalog_data import ADMIN, offering, student
from tests.conftest import bearer
from tests.pages.test_pages import csrf_of, dev_sign_in

Client = AsyncTestClient[Litestar]
ADMIN_HEADERS = bearer("admin-1", "admin")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


#: A seed that puts s1 before s2 in the draw's first pass.
SEED = next(s for s in (f"seed-{i}" for i in itertools.count()) if sha(f"{s}:s1") < sha(f"{s}:s2"))
OFFERINGS = [
    offering(
        "swim",
        title="Swimming",
        title_zh="游泳",
        capacity=1,
        teacher="Wang Li",
        campus="North pool",
        schedule=[weekly("mon", "14:00", "15:00")],
    ),
    offering("run", title="Running", capacity=5, schedule=[weekly("mon", "14:30", "15:30")]),
    offering("gym", title="Gymnastics", capacity=5, schedule=[weekly("tue", "14:00", "15:00")]),
    offering("yoga", title="Yoga", category="arts", capacity=5),
    offering("dance", title="Dance", category="arts", capacity=5),
    offering("clay", title="Ceramics", category="arts", capacity=5, eligibility={"degrees": ["phd"]}),
    offering("tea", title="Tea garden", category="labor", capacity=5),
    offering("chess", title="Chess", capacity=5),
]
IN_ROUND = ["swim", "run", "gym", "yoga", "dance", "clay", "tea"]


@pytest.fixture
def page_settings(settings: Settings) -> Callable[..., Settings]:
    def make(**changes: Any) -> Settings:
        fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
        return Settings(**{**fields, **changes, "dev_sign_in": True})

    return make


async def arrange(client: Client, **round_fields: Any) -> None:
    """The catalog, three students (s3 a doctoral one) and the open lottery round ``lot``."""
    assert (await client.put(f"{ADMIN}/offerings", json=OFFERINGS, headers=ADMIN_HEADERS)).status_code == 200
    people = [student("s1"), student("s2"), student("s3", degree="phd")]
    assert (await client.put(f"{ADMIN}/students", json=people, headers=ADMIN_HEADERS)).status_code == 200
    body = {
        "id": "lot",
        "name": "Spring lottery",
        "mode": "lottery",
        "offering_ids": IN_ROUND,
        "limits": {"arts": 1, "total": 3},
        "seed_sha256": sha(SEED),
        **round_fields,
    }
    created = await client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)
    assert created.status_code == 201, created.text
    assert (await client.post(f"{ADMIN}/rounds/lot/open", headers=ADMIN_HEADERS)).status_code == 200


@pytest.fixture
async def lottery_client(page_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(page_settings())) as client:
        await arrange(client)
        yield client


async def as_student(client: Client, sid: str, lang: str = "en") -> str:
    """Signed in as the student; the wish page's CSRF token."""
    client.cookies.set("selection_lang", lang)
    answer = await dev_sign_in(client, student=sid)
    assert answer.status_code == 200, answer.text
    page = await client.get("/rounds/lot/wishes")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def as_admin(client: Client, lang: str = "en") -> None:
    client.cookies.set("selection_lang", lang)
    answer = await dev_sign_in(client, **{"as": "admin"})
    assert answer.status_code == 200, answer.text


async def stored(client: Client, sid: str) -> list[str]:
    answer = await client.get("/api/v1/rounds/lot/wishes", headers=bearer(sid))
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["offering_ids"]
    return ids


async def post_form(client: Client, token: str, **fields: Any) -> Any:
    return await client.post("/rounds/lot/wishes", data={"_csrf_token": token, **fields}, follow_redirects=False)


async def save(client: Client, token: str, order: list[str]) -> Any:
    """The script's whole-list save: the order as repeated fields, the CSRF token in the header."""
    body = "&".join(["action=save", *(f"order={o}" for o in order)])
    return await client.post(
        "/rounds/lot/wishes",
        content=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRF-Token": token,
            "HX-Request": "true",
        },
    )


def wish_order(page: str) -> list[str]:
    return re.findall(r'<li class="wish" id="wish-([^"]+)"', page)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- the student's wish list ------------------------------------------------------------------


async def test_the_wish_page_lists_what_i_may_wish_for_in_words(lottery_client: Client) -> None:
    await as_student(lottery_client, "s1")
    page = (await lottery_client.get("/rounds/lot/wishes")).text
    words = text_of(page)
    assert "Wish list: Spring lottery" in words
    # Titles, teacher, times and places; the doctoral-only offering is not offered, but counted.
    assert "Swimming" in words
    assert "Teacher: Wang Li" in words
    assert "When: Mon 14:00\u201315:00" in words
    assert "Where: North pool" in words
    assert 'id="offer-clay"' not in page
    assert "not open to you (your cohort, degree or campus): 1" in words
    assert "You have not handed in a wish list yet." in words
    assert "Hand in your wishes until the round closes." in words
    # Not in the round: not offered at all.
    assert 'id="offer-chess"' not in page
    # The search works without JavaScript: the others are hidden by the server.
    found = (await lottery_client.get("/rounds/lot/wishes?q=wang")).text
    assert re.search(r'<li class="offer" id="offer-swim"[^>]*data-category="pe">', found)
    assert re.search(r'<li class="offer" id="offer-run"[^>]*hidden>', found)
    # The Chinese title is searched too, and shown on the Chinese page.
    found = (await lottery_client.get("/rounds/lot/wishes?q=游泳")).text
    assert re.search(r'<li class="offer" id="offer-swim"[^>]*data-category="pe">', found)
    assert re.search(r'<li class="offer" id="offer-yoga"[^>]*hidden>', found)
    assert 'data-title="Swimming"' in found
    lottery_client.cookies.set("selection_lang", "zh-Hans")
    chinese = (await lottery_client.get("/rounds/lot/wishes")).text
    assert '<span lang="zh-Hans">游泳</span>' in chinese
    assert 'data-title="游泳"' in chinese
    lottery_client.cookies.set("selection_lang", "en")
    arts = (await lottery_client.get("/rounds/lot/wishes?category=arts")).text
    assert re.search(r'<li class="offer" id="offer-yoga"[^>]*data-category="arts">', arts)
    assert re.search(r'<li class="offer" id="offer-swim"[^>]*hidden>', arts)


async def test_plain_forms_add_move_and_remove_each_saving(lottery_client: Client) -> None:
    token = await as_student(lottery_client, "s1")
    for oid in ("swim", "run", "yoga"):
        answer = await post_form(lottery_client, token, action="add", offering_id=oid)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/rounds/lot/wishes?saved=1"
    assert await stored(lottery_client, "s1") == ["swim", "run", "yoga"]
    moved = await post_form(lottery_client, token, action="up", offering_id="yoga")
    assert moved.headers["location"] == "/rounds/lot/wishes?saved=1#wish-yoga"
    assert await stored(lottery_client, "s1") == ["swim", "yoga", "run"]
    await post_form(lottery_client, token, action="down", offering_id="swim")
    assert await stored(lottery_client, "s1") == ["yoga", "swim", "run"]
    await post_form(lottery_client, token, action="remove", offering_id="run")
    assert await stored(lottery_client, "s1") == ["yoga", "swim"]
    page = (await lottery_client.get("/rounds/lot/wishes?saved=1")).text
    assert wish_order(page) == ["yoga", "swim"]
    assert "Saved." in page
    assert "Your list was last saved at" in page
    # The first wish cannot go up, the last not down; what is wished is not offered again.
    assert re.search(r'value="up" class="secondary" aria-label="Move up: Yoga" disabled', page)
    assert re.search(r'value="down" class="secondary" aria-label="Move down: Swimming" disabled', page)
    assert re.search(r'<li class="offer" id="offer-yoga"[^>]*data-wished="1" hidden>', page)


async def test_the_scripts_save_hands_in_the_whole_list_and_answers_a_fragment(lottery_client: Client) -> None:
    token = await as_student(lottery_client, "s1")
    answer = await save(lottery_client, token, ["tea", "swim", "gym"])
    assert answer.status_code == 200, answer.text
    assert 'data-state="saved"' in answer.text
    assert "Wishes on your list: 3." in answer.text
    assert "<html" not in answer.text
    assert await stored(lottery_client, "s1") == ["tea", "swim", "gym"]
    # An empty list withdraws.
    assert (await save(lottery_client, token, [])).status_code == 200
    assert await stored(lottery_client, "s1") == []
    # An action the form does not have is refused in words.
    odd = await lottery_client.post("/rounds/lot/wishes", data={"_csrf_token": token, "action": "shuffle"})
    assert odd.status_code == 400
    assert "the list could not be read" in text_of(odd.text)
    # Without the CSRF token, nothing.
    bare = await lottery_client.post(
        "/rounds/lot/wishes",
        content=b"action=save&order=swim",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bare.status_code == 403
    assert await stored(lottery_client, "s1") == []


REFUSALS = {
    # kind: (the list, status, English, Chinese)
    "repeated": (["swim", "yoga", "swim"], 400, "Swimming is on your list already", "游泳 已在你的志愿清单中"),
    "too_many": ([f"x{i}" for i in range(51)], 400, "at most 50 offerings, and this one would have 51", "最多 50 门"),
    "not_eligible": (["yoga", "clay"], 409, "Ceramics is not open to you", "Ceramics 不对你开放"),
    "not_in_round": (["swim", "chess"], 409, "this round does not offer chess", "本轮不提供 chess"),
}


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_a_refused_list_is_said_in_words_and_nothing_is_stored(
    lottery_client: Client, kind: str, lang: str
) -> None:
    order, status, english, chinese = REFUSALS[kind]
    token = await as_student(lottery_client, "s1", lang)
    assert (await save(lottery_client, token, ["run"])).status_code == 200
    # The script's save: a fragment in words.
    answer = await save(lottery_client, token, order)
    assert answer.status_code == status, answer.text
    assert f'data-kind="{kind}"' in answer.text
    assert (english if lang == "en" else chinese) in text_of(answer.text)
    # The plain form's save: the page again, with the same words and the list as it was.
    fields: dict[str, Any] = {"_csrf_token": token, "action": "save", "order": order}
    page = await lottery_client.post("/rounds/lot/wishes", data=fields, follow_redirects=False)
    assert page.status_code == status, page.text
    assert (english if lang == "en" else chinese) in text_of(page.text)
    assert wish_order(page.text) == ["run"]
    assert await stored(lottery_client, "s1") == ["run"]


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
async def test_a_paused_round_takes_no_list_and_says_so(lottery_client: Client, lang: str) -> None:
    token = await as_student(lottery_client, "s1", lang)
    assert (await lottery_client.post(f"{ADMIN}/rounds/lot/pause", headers=ADMIN_HEADERS)).status_code == 200
    answer = await post_form(lottery_client, token, action="add", offering_id="swim")
    assert answer.status_code == 409
    words = text_of(answer.text)
    assert ("not taking wish lists now" if lang == "en" else "本轮现在不接受志愿") in words
    assert ("The round is paused" if lang == "en" else "本轮已暂停") in words
    # No editing controls on a paused round.
    assert 'value="add"' not in answer.text
    assert await stored(lottery_client, "s1") == []


async def test_too_many_changes_at_once_are_refused_in_words(page_settings: Callable[..., Settings]) -> None:
    async with AsyncTestClient(app=create_app(page_settings(rate_limit=1))) as client:
        await arrange(client)
        token = await as_student(client, "s1")
        answers = [await save(client, token, ["swim"]) for _ in range(8)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused, [a.status_code for a in answers]
        assert "too many changes at once" in text_of(refused[0].text)


async def test_before_the_window_the_page_says_when_and_offers_no_editing(lottery_client: Client) -> None:
    opens = dt.datetime(2099, 9, 1, 0, 30, tzinfo=dt.UTC)
    closes = dt.datetime(2099, 9, 2, 12, 0, tzinfo=dt.UTC)
    body = {"id": "later", "name": "Later lottery", "mode": "lottery", "offering_ids": ["swim"]}
    body |= {"opens_at": opens.isoformat(), "closes_at": closes.isoformat()}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    await as_student(lottery_client, "s1")
    draft = await lottery_client.get("/rounds/later/wishes")
    assert "This round is not open yet." in text_of(draft.text)
    assert "It is planned to open on" in text_of(draft.text)
    assert 'id="offer-list"' not in draft.text
    assert (await lottery_client.post(f"{ADMIN}/rounds/later/open", headers=ADMIN_HEADERS)).status_code == 200
    page = await lottery_client.get("/rounds/later/wishes")
    words = text_of(page.text)
    # 00:30 UTC is 08:30 in Shanghai.
    assert "Wish lists are taken from Sep 1, 2099 8:30 AM until Sep 2, 2099 8:00 PM" in words
    assert 'datetime="2099-09-01T00:30:00+00:00"' in page.text
    assert "Swimming" in words  # to plan with
    assert 'value="add"' not in page.text
    token = csrf_of(page.text)
    refused = await lottery_client.post(
        "/rounds/later/wishes", data={"_csrf_token": token, "action": "add", "offering_id": "swim"}
    )
    assert refused.status_code == 409
    assert "not taking wish lists now" in text_of(refused.text)


async def test_other_rounds_and_people_are_sent_where_they_belong(lottery_client: Client) -> None:
    body = {"id": "fast", "name": "Fast", "offering_ids": ["swim"]}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    # Anonymous: off to sign in.
    anonymous = await lottery_client.get("/rounds/lot/wishes", follow_redirects=False)
    assert anonymous.headers["location"] == "/sign-in?next=/rounds/lot/wishes"
    await as_student(lottery_client, "s1")
    fcfs = await lottery_client.get("/rounds/fast/wishes", follow_redirects=False)
    assert (fcfs.status_code, fcfs.headers["location"]) == (303, "/rounds/fast")
    missing = await lottery_client.get("/rounds/nope/wishes")
    assert missing.status_code == 404
    # A student has no business on the draw's or the report's page.
    assert (await lottery_client.get("/admin/rounds/lot/lottery")).status_code == 403
    assert (await lottery_client.get("/admin/rounds/lot/fairness")).status_code == 403
    assert (await lottery_client.get("/admin/rounds/lot/lottery/draw-input.json")).status_code == 403
    # The administrator's way to a round's wish list is the draw's page.
    await as_admin(lottery_client)
    admin = await lottery_client.get("/rounds/lot/wishes", follow_redirects=False)
    assert admin.headers["location"] == "/admin/rounds/lot/lottery"


# --- the draw, for the student ----------------------------------------------------------------


async def hand_in_and_draw(client: Client) -> None:
    """s1 wishes so that every kind of fate comes up; s2 and s3 around them; then the draw."""
    lists = {"s1": ["swim", "run", "yoga", "dance", "tea", "gym"], "s2": ["swim", "tea"], "s3": ["clay"]}
    for sid, wishes in lists.items():
        answer = await client.put("/api/v1/rounds/lot/wishes", json={"offering_ids": wishes}, headers=bearer(sid))
        assert answer.status_code == 200, answer.text
    # s2 already holds tea (an administrator's enrolment).
    forced = await client.post(
        f"{ADMIN}/rounds/lot/selections", json={"student_id": "s2", "offering_id": "tea"}, headers=ADMIN_HEADERS
    )
    assert forced.status_code == 201, forced.text
    assert (await client.post(f"{ADMIN}/rounds/lot/close", headers=ADMIN_HEADERS)).status_code == 200
    # After the close, ceramics is no longer for doctoral students: s3's wish is out of the running.
    patched = await client.patch(
        f"{ADMIN}/offerings/clay", json={"eligibility": {"degrees": ["master"]}}, headers=ADMIN_HEADERS
    )
    assert patched.status_code == 200, patched.text
    drawn = await client.post(f"{ADMIN}/rounds/lot/draw", json={"seed": SEED}, headers=ADMIN_HEADERS)
    assert drawn.status_code == 200, drawn.text


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
async def test_after_the_draw_a_student_reads_what_they_got_and_why(lottery_client: Client, lang: str) -> None:
    await hand_in_and_draw(lottery_client)
    await as_student(lottery_client, "s1", lang)
    page = (await lottery_client.get("/rounds/lot/wishes")).text
    words = text_of(page)
    outcomes = re.findall(r'data-outcome="([a-z_]+)"', page)
    assert outcomes == ["placed", "time_conflict", "placed", "category_limit", "placed", "total_limit"]
    if lang == "en":
        assert "You got 3 of your 6 wishes." in words
        assert "your place was 1" in words
        assert "You got it, in pass 1." in words
        assert "it clashes in time with Swimming, which you held by then" in words
        assert "over the round's limit for its category" in words
        assert "over the round's limit on seats in all" in words
        assert "Your seats in this round" in words
    else:
        assert "你的 6 个志愿中有 3 个中签" in words
        assert "已中签" in words
        assert "与你当时已有的 游泳 时间冲突" in words
    assert SEED in page
    assert sha(f"{SEED}:s1") in page
    # No editing after the draw.
    assert 'value="add"' not in page
    assert 'value="remove"' not in page

    await as_student(lottery_client, "s2", lang)
    words = text_of((await lottery_client.get("/rounds/lot/wishes")).text)
    if lang == "en":
        assert "You got none of your 2 wishes." in words
        assert "Full when your turn came, in pass 1." in words
        assert "you held it already" in words
        assert "Tea garden — enrolled" in words
    else:
        assert "轮到你时已满" in words
    await as_student(lottery_client, "s3", lang)
    words = text_of((await lottery_client.get("/rounds/lot/wishes")).text)
    assert ("Not in the draw: it is not open to you" if lang == "en" else "该课程不对你开放") in words


async def test_a_student_without_a_list_is_told_so_and_pointed_to_the_next_round(lottery_client: Client) -> None:
    await hand_in_and_draw(lottery_client)
    assert (
        await lottery_client.put(f"{ADMIN}/students", json=[student("s4")], headers=ADMIN_HEADERS)
    ).status_code == 200
    body = {"id": "after", "name": "Add and drop", "offering_ids": IN_ROUND, "continues": "lot"}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    assert (await lottery_client.post(f"{ADMIN}/rounds/after/open", headers=ADMIN_HEADERS)).status_code == 200
    await as_student(lottery_client, "s4")
    page = (await lottery_client.get("/rounds/lot/wishes")).text
    words = text_of(page)
    assert "You handed in no wish list, so the draw had nothing to give you." in words
    assert "You hold no seat in this round." in words
    assert 'href="/rounds/after"' in page
    assert "Add or drop courses in Add and drop" in words


def render_result(lang: str, outcome: WishOutcome, settings: Settings) -> str:
    """The result's words for one wish, straight from the template."""
    pages = Pages(settings, StaticAssets())
    explanation = DrawExplanation(
        round_id="r",
        seed="s",
        seed_sha256=sha("s"),
        drawn_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
        students=10,
        order_key=sha("s:me"),
        place=4,
        wishes=[outcome],
    )
    offerings = {o: Offering(id=o, title=f"Title of {o}", category="pe", kind="course", capacity=1) for o in ("a", "b")}
    template = pages.environment().get_template("lottery_result.html")
    return text_of(
        template.render(
            lang=lang,
            i18n=i18n.translations_for(pages.translations, lang),
            offerings=offerings,
            explanation=explanation,
            selections=[],
            continuing=[],
        )
    )


@pytest.mark.parametrize(
    ("outcome", "english", "chinese"),
    [
        (WishOutcome(offering_id="a", rank=1, outcome="placed", pass_=2), "You got it, in pass 2.", "已中签"),
        (
            WishOutcome(offering_id="a", rank=1, outcome="full", pass_=1),
            "Full when your turn came, in pass 1.",
            "轮到你时已满",
        ),
        (
            WishOutcome(offering_id="a", rank=1, outcome="category_limit", pass_=3),
            "Passed over in pass 3: it would have taken you over the round's limit for its category.",
            "第 3 轮分配时跳过",
        ),
        (
            WishOutcome(offering_id="a", rank=1, outcome="total_limit", pass_=3),
            "over the round's limit on seats in all",
            "总数上限",
        ),
        (
            WishOutcome(offering_id="a", rank=1, outcome="time_conflict", pass_=2, with_="b"),
            "it clashes in time with Title of b, which you held by then",
            "与你当时已有的 Title of b 时间冲突",
        ),
        (
            WishOutcome(offering_id="a", rank=1, outcome="already_held", pass_=1),
            "you held it already",
            "你已经有这门课程",
        ),
        (
            WishOutcome(offering_id="a", rank=1, outcome="not_in_round"),
            "Not in the draw: this round no longer offers it.",
            "本轮已不再开设",
        ),
        (
            WishOutcome(offering_id="a", rank=1, outcome="not_eligible"),
            "Not in the draw: it is not open to you",
            "该课程不对你开放",
        ),
    ],
)
def test_every_outcome_has_its_words_in_both_languages(
    settings: Settings, outcome: WishOutcome, english: str, chinese: str
) -> None:
    assert english in render_result("en", outcome, settings)
    assert "Title of a" in render_result("en", outcome, settings)
    assert chinese in render_result("zh-Hans", outcome, settings)


# --- the draw, for the administrators ---------------------------------------------------------


async def draw_form(client: Client, round_id: str = "lot", **fields: str) -> Any:
    page = await client.get(f"/admin/rounds/{round_id}/lottery")
    return await client.post(
        f"/admin/rounds/{round_id}/lottery/draw",
        data={"_csrf_token": csrf_of(page.text), **fields},
        follow_redirects=False,
    )


async def drawn_seed(client: Client, round_id: str = "lot") -> Any:
    return (await client.get(f"{ADMIN}/rounds/{round_id}", headers=ADMIN_HEADERS)).json()["drawn_seed"]


async def test_the_commitment_is_shown_and_explained_before_the_draw(lottery_client: Client) -> None:
    await as_admin(lottery_client)
    page = await lottery_client.get("/admin/rounds/lot/lottery")
    assert page.status_code == 200
    words = text_of(page.text)
    assert sha(SEED) in page.text
    assert "published only its sha256" in words
    assert "The draw comes after the round is closed." in words
    assert "Students who have handed in a wish list so far: 0." in words
    assert 'id="draw-form"' not in page.text
    # Drawing an open round is refused in words.
    refused = await draw_form(lottery_client, seed=SEED)
    assert refused.status_code == 409
    assert "the round is Open. Close it first" in text_of(refused.text)
    assert await drawn_seed(lottery_client) is None
    # A round with no commitment says what that means.
    body = {"id": "loose", "name": "Loose", "mode": "lottery", "offering_ids": ["swim"]}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    loose = text_of((await lottery_client.get("/admin/rounds/loose/lottery")).text)
    assert "No commitment was made for this round" in loose
    # An fcfs round has no draw.
    body = {"id": "fast", "name": "Fast", "offering_ids": ["swim"]}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    fast = text_of((await lottery_client.get("/admin/rounds/fast/lottery")).text)
    assert "This round is first come, first served: it has no draw." in fast
    assert (await lottery_client.post(f"{ADMIN}/rounds/fast/close", headers=ADMIN_HEADERS)).status_code in (200, 409)
    no_draw = await draw_form(lottery_client, "fast", seed="anything")
    assert no_draw.status_code == 409
    assert "this round is first come, first served; it has no draw" in text_of(no_draw.text)
    assert (await lottery_client.get("/admin/rounds/fast/lottery/draw-input.json")).status_code == 404
    # Unknown rounds, bad ids: pages, not problems.
    for path in (
        "/admin/rounds/nope/lottery",
        "/admin/rounds/nope/fairness",
        "/admin/rounds/nope/lottery/draw-input.json",
    ):
        missing = await lottery_client.get(path)
        assert missing.status_code == 404
        assert "There is no such page." in missing.text
    assert (await lottery_client.get("/admin/rounds/bad%20id/lottery")).status_code == 400


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
async def test_a_wrong_seed_draws_nothing_and_the_right_one_draws(lottery_client: Client, lang: str) -> None:
    for sid, wishes in {"s1": ["swim", "yoga"], "s2": ["swim"]}.items():
        await lottery_client.put("/api/v1/rounds/lot/wishes", json={"offering_ids": wishes}, headers=bearer(sid))
    assert (await lottery_client.post(f"{ADMIN}/rounds/lot/close", headers=ADMIN_HEADERS)).status_code == 200
    await as_admin(lottery_client, lang)
    page = await lottery_client.get("/admin/rounds/lot/lottery")
    assert 'id="draw-form"' in page.text
    assert f'data-commitment="{sha(SEED)}"' in page.text
    wrong = await draw_form(lottery_client, seed=SEED + "x")
    assert wrong.status_code == 400
    assert ("does not match the round's commitment" if lang == "en" else "与本轮的承诺值不符") in text_of(wrong.text)
    assert await drawn_seed(lottery_client) is None
    bad = await draw_form(lottery_client, seed="种子")
    assert bad.status_code == 400
    assert ("1 to 128 printable ASCII characters" if lang == "en" else "1 到 128 个可打印 ASCII 字符") in text_of(
        bad.text
    )
    assert await drawn_seed(lottery_client) is None

    right = await draw_form(lottery_client, seed=SEED)
    assert (right.status_code, right.headers["location"]) == (303, "/admin/rounds/lot/lottery")
    assert await drawn_seed(lottery_client) == SEED
    page = await lottery_client.get("/admin/rounds/lot/lottery")
    words = text_of(page.text)
    assert f'<code id="drawn-seed">{SEED}</code>' in page.text
    assert ("Matches: the seed is the one committed to." if lang == "en" else "相符") in words
    assert re.search(r'<dd id="wish-lists">2</dd>', page.text)
    assert re.search(r'<dd id="placed">2</dd>', page.text)
    assert re.search(r'<dd id="unplaced">1</dd>', page.text)
    assert "selection draw --verify --round lot" in page.text
    assert "python3 docs/redraw.py draw-input-lot.json" in page.text
    # The draw input, as a download, is the API's document.
    download = await lottery_client.get("/admin/rounds/lot/lottery/draw-input.json")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="draw-input-lot.json"'
    api = await lottery_client.get(f"{ADMIN}/rounds/lot/draw-input", headers=ADMIN_HEADERS)
    assert json.loads(download.content) == api.json()
    # The same seed again changes nothing; drawn is drawn.
    again = await draw_form(lottery_client, seed=SEED)
    assert again.status_code in (303, 409)


async def test_drawn_already_and_an_empty_round_are_refused_in_words(lottery_client: Client) -> None:
    body = {"id": "loose", "name": "Loose", "mode": "lottery", "offering_ids": ["swim"]}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    for action in ("open", "close"):
        assert (await lottery_client.post(f"{ADMIN}/rounds/loose/{action}", headers=ADMIN_HEADERS)).status_code == 200
    await as_admin(lottery_client)
    page = await lottery_client.get("/admin/rounds/loose/lottery")
    assert 'id="confirm-empty"' in page.text
    empty = await draw_form(lottery_client, "loose", seed="first")
    assert empty.status_code == 409
    assert "no student handed in a wish list" in text_of(empty.text)
    assert await drawn_seed(lottery_client, "loose") is None
    drawn = await draw_form(lottery_client, "loose", seed="first", confirm_empty="yes")
    assert drawn.status_code == 303
    assert await drawn_seed(lottery_client, "loose") == "first"
    other = await draw_form(lottery_client, "loose", seed="second")
    assert other.status_code == 409
    assert "this round was drawn already, with another seed" in text_of(other.text)
    assert await drawn_seed(lottery_client, "loose") == "first"


# --- the fairness report ----------------------------------------------------------------------


def plots_and_tables(page: str) -> tuple[int, int]:
    svgs = re.findall(
        r'<svg class="plot"[^>]*role="img"[^>]*>\s*<title id="[^"]+">[^<]+</title><desc id="[^"]+">[^<]+</desc>', page
    )
    tables = re.findall(r'<table class="plot-table"><caption>', page)
    return len(svgs), len(tables)


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
async def test_the_fairness_report_draws_each_grouping_with_its_table(lottery_client: Client, lang: str) -> None:
    await hand_in_and_draw(lottery_client)
    await as_admin(lottery_client, lang)
    page = await lottery_client.get("/admin/rounds/lot/fairness")
    assert page.status_code == 200, page.text
    # Overall, cohort, degree, campus; no arrival deciles in a lottery round.
    assert plots_and_tables(page.text) == (4, 4)
    assert 'id="arrival"' not in page.text
    words = text_of(page.text)
    if lang == "en":
        assert "First wish" in words
        assert "Master's" in words
        assert "Doctoral" in words
        # s1 and s2 got their first wish? s1 did (swim), s2 did not, s3 did not: 1 of 3.
        assert "33.3%" in words
    else:
        assert "第一志愿" in words
        assert "硕士" in words


async def test_the_fairness_report_of_a_first_come_round_has_arrival_deciles(lottery_client: Client) -> None:
    body = {"id": "fast", "name": "Fast", "offering_ids": ["swim", "run"]}
    assert (await lottery_client.post(f"{ADMIN}/rounds", json=body, headers=ADMIN_HEADERS)).status_code == 201
    await as_admin(lottery_client)
    empty = text_of((await lottery_client.get("/admin/rounds/fast/fairness")).text)
    assert "Nobody is counted yet" in empty
    assert (await lottery_client.post(f"{ADMIN}/rounds/fast/open", headers=ADMIN_HEADERS)).status_code == 200
    for sid in ("s1", "s2"):
        selected = await lottery_client.post(
            "/api/v1/rounds/fast/selections", json={"offering_id": "swim"}, headers=bearer(sid)
        )
        assert selected.status_code in (201, 409), selected.text
    page = await lottery_client.get("/admin/rounds/fast/fairness")
    assert plots_and_tables(page.text) == (5, 5)
    assert 'id="arrival"' in page.text
    assert "Decile 1" in text_of(page.text)


# --- pure pieces ------------------------------------------------------------------------------


def test_an_edit_of_the_form_changes_the_list_as_asked() -> None:
    assert edited(["a", "b", "c"], "up", "c", []) == ["a", "c", "b"]
    assert edited(["a", "b", "c"], "up", "a", []) == ["a", "b", "c"]
    assert edited(["a", "b", "c"], "down", "a", []) == ["b", "a", "c"]
    assert edited(["a", "b", "c"], "down", "c", []) == ["a", "b", "c"]
    assert edited(["a", "b"], "remove", "a", []) == ["b"]
    assert edited(["a"], "remove", "z", []) == ["a"]
    assert edited(["a"], "add", "a", []) == ["a", "a"]  # for the rules to refuse, in words
    assert edited(["a"], "save", "", ["c", "b"]) == ["c", "b"]


def test_the_window_says_why_a_round_takes_no_list() -> None:
    from courses.models import Eligibility, Round, RoundState

    now = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)

    def round_(state: RoundState, opens: dt.datetime | None = None, closes: dt.datetime | None = None) -> Round:
        return Round(
            id="r",
            name="r",
            mode="lottery",
            state=state,
            opens_at=opens,
            closes_at=closes,
            offering_ids=[],
            eligibility=Eligibility(),
            limits={},
            allow_drop=True,
            waitlist=False,
            fair_start_seconds=0,
            continues=None,
            seed_sha256=None,
        )

    hour = dt.timedelta(hours=1)
    assert window(round_("open"), now) == "open"
    assert window(round_("open", opens=now + hour), now) == "not_yet"
    assert window(round_("open", closes=now), now) == "ended"
    assert window(round_("paused"), now) == "paused"
    assert window(round_("draft"), now) == "draft"
    assert window(round_("closed"), now) == "closed"


def test_a_bar_chart_labels_every_bar_and_escapes_its_words() -> None:
    svg = bar_chart(
        title="Shares <by> group",
        description="What & why",
        categories=["2024", "2025"],
        series=[series("First", [0.5, 0.25]), series("Any", [0.75, None])],
        percent=True,
    )
    assert svg.startswith('<svg class="plot"')
    assert 'role="img"' in svg
    assert "<title" in svg
    assert "Shares &lt;by&gt; group" in svg
    assert "What &amp; why" in svg
    assert svg.count("<rect") == 3 + 2  # three bars, two legend keys
    for label in ("50%", "25%", "75%", "100%"):
        assert f">{label}</text>" in svg
    stacked = bar_chart(
        title="t", description="d", categories=["a"], series=[series("x", [3]), series("y", [4])], stacked=True
    )
    assert ">10</text>" in stacked  # the axis tops at a round number above 7


def test_a_line_chart_breaks_where_a_value_is_missing() -> None:
    svg = line_chart(
        title="Latency",
        description="p99 over time",
        x=[0, 1, 2, 3, 4],
        series=[series("p99", [1.0, 2.0, None, 3.0, 4.0])],
        x_label=lambda v: f"{v:.0f}s",
    )
    assert svg.count("<polyline") == 2
    assert ">0s</text>" in svg
    assert ">4s</text>" in svg


def test_a_data_table_carries_every_figure() -> None:
    table = data_table(
        caption="Figures",
        corner="Group",
        categories=["a", "b"],
        series=[series("Share", [0.5, None])],
        percent=True,
        extra=[series("Students", [4, 0])],
    )
    assert "<caption>Figures</caption>" in table
    assert '<th scope="row">a</th><td class="num">50.0%</td><td class="num">4</td>' in table
    assert '<th scope="row">b</th><td class="num">—</td><td class="num">0</td>' in table


@pytest.mark.parametrize(("largest", "top"), [(0, 1.0), (0.7, 1.0), (7, 10.0), (13, 20.0), (24, 25.0), (51, 100.0)])
def test_the_value_axis_tops_at_a_round_number(largest: float, top: float) -> None:
    assert nice_max(largest) == top
