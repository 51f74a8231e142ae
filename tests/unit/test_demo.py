"""The demo story seeds a complete, correct live blog, in memory and in a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from uuid import UUID

import pytest

from liveblog.demo import (
    DEMO_SLUG,
    DEMO_STEPS,
    DEMO_SUMMARY,
    DEMO_TITLE,
    EDITOR,
    REPORTER,
    Correct,
    Post,
    seed_demo,
)
from liveblog.domain import Actor, InvalidField, Story, story_id_for_slug
from liveblog.newsroom import Newsroom
from liveblog.people import person_id_for_name
from projections.story import StoryView, fold
from tests.helpers import open_newsroom

DEMO_DAYS = {date(2020, 10, 5), date(2020, 10, 6)}


@pytest.fixture(params=["memory", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    return f"sqlite:///{tmp_path / 'demo.sqlite3'}"


@pytest.fixture
def newsroom(database_url: str) -> Iterator[Newsroom]:
    app = open_newsroom(database_url)
    yield app
    app.close()


class TagNames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.add(tag)


def tag_names(html: str) -> set[str]:
    parser = TagNames()
    parser.feed(html)
    parser.close()
    return parser.tags


def story_view(newsroom: Newsroom, story_id: UUID) -> StoryView:
    view = fold(newsroom.story_events(story_id))
    assert view is not None
    return view


def test_the_demo_story_is_found_by_its_slug(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)

    assert newsroom.resolve_story_id(DEMO_SLUG) == story_id
    assert newsroom.story_ids() == [story_id]
    story = newsroom.get_story(story_id)
    assert story.slug == DEMO_SLUG
    assert story.title == "Kyrgyzstan election protests"


def test_the_demo_has_at_least_ten_updates_published_on_5_and_6_october_2020(
    newsroom: Newsroom,
) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    assert len(view.updates) >= 10
    assert view.created_at.date() == date(2020, 10, 5)
    for update in view.updates.values():
        assert update.published_at.utcoffset() == timedelta(0)
        assert update.published_at.date() in DEMO_DAYS
        assert update.updated_at.date() in DEMO_DAYS
        assert update.status == "published"


def test_every_stored_event_is_stamped_in_2020_in_version_order(newsroom: Newsroom) -> None:
    events = newsroom.story_events(seed_demo(newsroom))

    times = [event.timestamp for event in events]
    assert [event.originator_version for event in events] == list(range(1, len(events) + 1))
    assert times == sorted(times)
    assert {t.astimezone(UTC).date() for t in times} <= DEMO_DAYS


def test_the_demo_times_are_bishkek_times_stored_as_utc(newsroom: Newsroom) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    # The first update went up at 19:10 in Bishkek (UTC+6) on 5 October.
    first = next(iter(view.updates.values()))
    assert first.published_at == datetime(2020, 10, 5, 13, 10, tzinfo=UTC)


def test_exactly_one_update_is_pinned_and_it_is_the_summary(newsroom: Newsroom) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    pinned = [u for u in view.updates.values() if u.pinned]
    assert len(pinned) == 1
    assert pinned[0].title.lower().startswith("summary")
    assert "<ul>" in pinned[0].body


def test_at_least_three_updates_are_key_events(newsroom: Newsroom) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    key_events = [u for u in view.updates.values() if u.key_event]
    assert len(key_events) >= 3
    assert all(u.title for u in key_events)


def test_one_update_is_corrected_with_a_public_note(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)
    view = story_view(newsroom, story_id)

    corrected = [u for u in view.updates.values() if u.corrections]
    assert len(corrected) == 1
    (update,) = corrected
    (correction,) = update.corrections
    assert correction.note.strip()
    assert correction.by.id == str(person_id_for_name("Sam Editor"))
    assert update.revision == 2
    # The slip was the session's start time: the first revision says 18:00, the fix 16:00.
    assert "18:00" in update.revisions[0].body
    assert "16:00" not in update.revisions[0].body
    assert "16:00" in update.body
    assert "18:00" not in update.body
    assert correction.at > update.published_at
    corrections = [
        e for e in newsroom.story_events(story_id) if isinstance(e, Story.UpdateCorrected)
    ]
    assert len(corrections) == 1


def test_reporter_and_editor_are_the_authors_as_the_people_of_their_names(
    newsroom: Newsroom,
) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    authors = {(u.author.id, u.author.name) for u in view.updates.values()}
    # The ids of the people that ``token create --name`` and ``serve --demo`` issue for.
    assert authors == {
        (str(person_id_for_name("Aida Reporter")), "Aida Reporter"),
        (str(person_id_for_name("Sam Editor")), "Sam Editor"),
    }


@pytest.mark.parametrize(
    "fact",
    [
        "Atambayev",
        "2011 to 2017",
        "August 2019",
        "11-year",
        "White House",
        "GKNB",
        "water cannon",
        "stun grenades",
        "tear gas",
        "16:00 (10:00 GMT)",
        "Dostuk",
        "120",
        "Shaildabekova",
        "prevent tension",
        "Stamalieva",
        "2 a.m.",
        "prudence",
        "Jeenbekov",
    ],
)
def test_the_demo_reports_the_key_facts(newsroom: Newsroom, fact: str) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    text = " ".join(u.body for u in view.updates.values())
    assert fact in text


def test_the_demo_bodies_use_only_the_demo_markup(newsroom: Newsroom) -> None:
    view = story_view(newsroom, seed_demo(newsroom))

    allowed = {"p", "strong", "em", "blockquote", "ul", "li"}
    for update in view.updates.values():
        tags = tag_names(update.body)
        assert tags, update.title
        assert tags <= allowed, update.title


def test_seeding_twice_records_nothing_new(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)
    version = newsroom.get_story(story_id).version
    last_notification = newsroom.recorder.max_notification_id()

    assert seed_demo(newsroom) == story_id
    assert newsroom.get_story(story_id).version == version
    assert newsroom.recorder.max_notification_id() == last_notification
    # Opened, every post, the correction and the flag: nothing more, nothing less.
    assert version == 1 + len(DEMO_STEPS)


def test_a_second_process_seeding_the_same_file_records_nothing_new(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first = open_newsroom(url)
    story_id = seed_demo(first)
    version = first.get_story(story_id).version
    first.close()

    second = open_newsroom(url)
    try:
        assert seed_demo(second) == story_id
        assert second.get_story(story_id).version == version
        assert second.story_ids() == [story_id]
    finally:
        second.close()


def test_an_interrupted_seed_completes_on_the_next_run(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)
    full = [(type(e), e.timestamp) for e in newsroom.story_events(story_id)]

    # A fresh store where only the first two posts got through before a crash.
    partial = open_newsroom("memory://")
    try:
        first_posts = [step for step in DEMO_STEPS if isinstance(step, Post)][:2]
        partial.open_story(
            slug=DEMO_SLUG,
            title=DEMO_TITLE,
            summary=DEMO_SUMMARY,
            actor=EDITOR,
            at=full[0][1],
        )
        for post in first_posts:
            partial.post_update(
                story_id,
                body=post.body,
                title=post.title,
                key_event=post.key_event,
                pinned=post.pinned,
                actor=post.author,
                idempotency_key=post.key,
                at=post.at,
            )

        assert seed_demo(partial) == story_id
        assert [(type(e), e.timestamp) for e in partial.story_events(story_id)] == full
    finally:
        partial.close()


def test_the_demo_steps_run_in_time_order_within_the_two_days() -> None:
    times = [step.at for step in DEMO_STEPS]

    assert times == sorted(times)
    assert {t.date() for t in times} <= DEMO_DAYS
    assert sum(isinstance(step, Correct) for step in DEMO_STEPS) == 1


def test_an_explicit_time_must_be_timezone_aware(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)
    version = newsroom.get_story(story_id).version

    with pytest.raises(InvalidField):
        newsroom.post_update(
            story_id,
            body="<p>naive</p>",
            actor=REPORTER,
            at=datetime(2020, 10, 7, 12, 0),  # naive: no time zone
        )
    assert newsroom.get_story(story_id).version == version


def test_an_explicit_time_may_not_go_back_before_the_last_change(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)
    version = newsroom.get_story(story_id).version

    with pytest.raises(InvalidField):
        newsroom.post_update(
            story_id,
            body="<p>too early</p>",
            actor=REPORTER,
            at=datetime(2020, 10, 5, 0, 0, tzinfo=UTC),
        )
    assert newsroom.get_story(story_id).version == version


def test_without_an_explicit_time_events_are_stamped_now(newsroom: Newsroom) -> None:
    story_id = seed_demo(newsroom)
    before = datetime.now(UTC)

    newsroom.post_update(story_id, body="<p>Later news.</p>", actor=REPORTER)

    last = newsroom.story_events(story_id)[-1]
    assert isinstance(last, Story.UpdatePosted)
    assert last.timestamp >= before


def test_a_story_seeded_with_the_earlier_author_ids_is_not_seeded_again(
    newsroom: Newsroom,
) -> None:
    """Before the demo people were people, their ids were "demo-reporter" and "demo-editor":
    seeding such a store again must not post every update a second time."""
    story_id = story_id_for_slug(DEMO_SLUG)
    earlier = Actor("demo-reporter", "Aida Reporter")
    newsroom.open_story(slug=DEMO_SLUG, title=DEMO_TITLE, summary=DEMO_SUMMARY, actor=earlier)
    first = DEMO_STEPS[0]
    assert isinstance(first, Post)
    newsroom.post_update(
        story_id, body=first.body, title=first.title, actor=earlier, idempotency_key=first.key
    )
    version = newsroom.get_story(story_id).version

    assert seed_demo(newsroom) == story_id
    assert newsroom.get_story(story_id).version == version
