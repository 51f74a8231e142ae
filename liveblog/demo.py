"""The demo story: the October 2020 election protests in Kyrgyzstan, as a live blog.

Built from the facts of a wire report (``shared/seed/bishkek-2020-10-06.txt``), written in
our own words. The steps below are the story as it ran: every update, the one correction
and the flag change, each stamped with the time it happened (Bishkek is UTC+6; the store
keeps UTC). ``seed_demo`` records them through the ordinary commands, so the demo exercises
the same rules as real use, and it can run any number of times: the story's slug and the
updates' idempotency keys make every repeat a no-op.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from liveblog.domain import Actor, story_id_for_slug, update_id_for_key
from liveblog.newsroom import Newsroom, SlugTaken
from liveblog.people import Role, person_id_for_name

DEMO_SLUG = "kyrgyzstan-election-protests"
DEMO_TITLE = "Kyrgyzstan election protests"
DEMO_SUMMARY = (
    "Protests over Kyrgyzstan's 4 October parliamentary election: live updates from Bishkek."
)


def demo_person(name: str) -> Actor:
    """A demo person as their events name them: the stable id of the person of that name,
    so the tokens ``serve --demo`` prints on every start act as the authors of the story."""
    return Actor(id=str(person_id_for_name(name)), name=name)


REPORTER = demo_person("Aida Reporter")
EDITOR = demo_person("Sam Editor")
ADMIN = demo_person("Dana Admin")
# Who gets a token on each ``serve --demo``, with which role, labelled by that role.
DEMO_PEOPLE: tuple[tuple[Actor, Role], ...] = (
    (EDITOR, Role.EDITOR),
    (REPORTER, Role.REPORTER),
    (ADMIN, Role.ADMIN),
)

BISHKEK = timezone(timedelta(hours=6), "Bishkek")


def bishkek(day: int, hour: int, minute: int) -> datetime:
    """A time in Bishkek on ``day`` October 2020, as UTC."""
    return datetime(2020, 10, day, hour, minute, tzinfo=BISHKEK).astimezone(UTC)


@dataclass(frozen=True)
class Post:
    """Post an update; ``key`` is its idempotency key (and how later steps name it)."""

    key: str
    at: datetime
    author: Actor
    title: str
    body: str
    key_event: bool = False
    pinned: bool = False


@dataclass(frozen=True)
class Correct:
    """An editor corrects the update posted under ``key``, with a public note."""

    key: str
    at: datetime
    author: Actor
    body: str
    note: str


@dataclass(frozen=True)
class Flag:
    """An editor sets (or clears) the update's key-event and pinned flags."""

    key: str
    at: datetime
    author: Actor
    key_event: bool | None = None
    pinned: bool | None = None


Step = Post | Correct | Flag

OPENED_AT = bishkek(5, 18, 30)

# In the order it happened (event times never go backwards within a story).
DEMO_STEPS: tuple[Step, ...] = (
    Post(
        key="streets",
        at=bishkek(5, 19, 10),
        author=REPORTER,
        title="Opposition supporters on the streets of Bishkek",
        body=(
            "<p>Crowds backing the opposition have gathered in the capital this evening. "
            "They want President <strong>Sooronbay Jeenbekov</strong> to step down and "
            "Sunday's parliamentary vote to be held again.</p>"
            "<p>His rivals say the election was tainted by widespread vote-buying.</p>"
        ),
    ),
    Post(
        key="police",
        at=bishkek(5, 21, 45),
        author=REPORTER,
        title="Police fire tear gas and water cannon",
        body=(
            "<p>Police are trying to clear the protesters from the streets with "
            "<strong>water cannon</strong>, <strong>stun grenades</strong> and "
            "<strong>tear gas</strong>.</p>"
        ),
        key_event=True,
    ),
    Post(
        key="background-count",
        at=bishkek(5, 22, 30),
        author=REPORTER,
        title="Background: the disputed count",
        body=(
            "<p>Early figures from Sunday's vote give two parties friendly to the president, "
            "<em>Birimdik</em> and <em>Mekenim Kyrgyzstan</em>, roughly half of the vote "
            "between them. Both want closer ties with Moscow.</p>"
            "<p>Opposition groups allege that votes were bought on a large scale.</p>"
        ),
    ),
    Post(
        key="injured",
        at=bishkek(5, 23, 50),
        author=REPORTER,
        title="At least 120 hurt",
        body=(
            "<p>Health officials say <strong>at least 120 people</strong> are being treated "
            "for injuries from tonight's clashes. No deaths have been reported.</p>"
        ),
    ),
    Post(
        key="white-house",
        at=bishkek(6, 1, 20),
        author=REPORTER,
        title="Protesters take the White House and GKNB headquarters",
        body=(
            "<p>Demonstrators have forced their way into the <strong>White House</strong>, "
            "the seat of government in central Bishkek, and now control the building.</p>"
            "<p>They have also broken into the headquarters of the State Committee for "
            "National Security, the <strong>GKNB</strong>.</p>"
        ),
        key_event=True,
    ),
    Post(
        key="atambayev-freed",
        at=bishkek(6, 3, 0),
        author=REPORTER,
        title="Former president Atambayev freed",
        body=(
            "<p>Protesters have released former president <strong>Almazbek Atambayev</strong> "
            "from a GKNB detention centre, local media and Russia's TASS agency report. "
            "Several other former senior officials were let out with him.</p>"
            "<p>According to TASS, he left after the crowd negotiated with the security "
            "service's leadership.</p>"
        ),
        key_event=True,
    ),
    Post(
        key="atambayev-profile",
        at=bishkek(6, 3, 15),
        author=REPORTER,
        title="Who is Almazbek Atambayev?",
        body=(
            "<ul>"
            "<li>He led Kyrgyzstan as president from <strong>2011 to 2017</strong>.</li>"
            "<li>He was arrested in <strong>August 2019</strong>. The charges included "
            "violence against police officers, organising mass unrest, murder and attempted "
            "murder, hostage-taking, freeing a crime boss, and corruption.</li>"
            "<li>He rejected all of them as a political case against him.</li>"
            "<li>When the protesters freed him he was serving an "
            "<strong>11-year</strong> prison term.</li>"
            "</ul>"
        ),
    ),
    Post(
        key="president-talks",
        at=bishkek(6, 8, 20),
        author=REPORTER,
        title="President held overnight talks, his office says",
        body=(
            "<p>Jeenbekov has talked with every political force in the country, his press "
            "secretary <strong>Tolgonai Stamalieva</strong> says. She says he stayed at his "
            "office in the parliament building, the Jogorku Kenesh, until 2 a.m. "
            "(20:00 GMT), meeting the groups one by one.</p>"
            "<p>She adds that he expects those who organised the protests to act "
            "<em>with prudence</em>.</p>"
        ),
    ),
    Post(
        key="president-statement",
        at=bishkek(6, 9, 0),
        author=REPORTER,
        title="Jeenbekov: an attempt to seize power",
        body=(
            "<p>On his website, the president calls the occupation of government and "
            "security buildings an attempt by certain political forces to grab power "
            "illegally. He asks his opponents to call off the protests and repeats that he "
            "is ready for the election results to be annulled.</p>"
            "<p>The election commission has said it will look at the protesters' demand to "
            "cancel the vote, according to the news site 24.kg.</p>"
        ),
    ),
    Post(
        key="parliament-session",
        at=bishkek(6, 10, 5),
        author=REPORTER,
        title="Parliament to meet in emergency session",
        # The slip, corrected below: the session starts at 16:00, not 18:00.
        body=(
            "<p>MPs will hold an emergency session today at <strong>18:00 (12:00 GMT)</strong> "
            "at the <strong>Dostuk hotel</strong>, parliament's press secretary Ibrahim "
            "Nurakun uulu announced on Twitter.</p>"
        ),
    ),
    Correct(
        key="parliament-session",
        at=bishkek(6, 10, 25),
        author=EDITOR,
        body=(
            "<p>MPs will hold an emergency session today at <strong>16:00 (10:00 GMT)</strong> "
            "at the <strong>Dostuk hotel</strong>, parliament's press secretary Ibrahim "
            "Nurakun uulu announced on Twitter.</p>"
        ),
        note=(
            "An earlier version of this update gave the wrong start time. The session "
            "begins at 16:00 local time (10:00 GMT), not 18:00."
        ),
    ),
    Flag(key="parliament-session", at=bishkek(6, 10, 26), author=EDITOR, key_event=True),
    Post(
        key="results-annulled",
        at=bishkek(6, 11, 40),
        author=REPORTER,
        title="Election results annulled",
        body=(
            "<p>The <strong>Central Electoral Commission</strong> has declared the results "
            "of Sunday's parliamentary election invalid.</p>"
            "<p>Its head, <strong>Nurzhan Shaildabekova</strong>, told the Interfax agency "
            "the step was taken <em>\u201cto prevent tension\u201d</em> in the country.</p>"
        ),
        key_event=True,
    ),
    Post(
        key="summary",
        at=bishkek(6, 12, 0),
        author=EDITOR,
        title="Summary: what we know",
        body=(
            "<ul>"
            "<li>The Central Electoral Commission has annulled Sunday's election results.</li>"
            "<li>Overnight, protesters took over the White House and stormed the GKNB "
            "headquarters.</li>"
            "<li>Former president Almazbek Atambayev has been freed from detention.</li>"
            "<li>At least 120 people were injured; no deaths were reported by late "
            "Monday.</li>"
            "<li>Parliament meets in emergency session at 16:00 (10:00 GMT) at the Dostuk "
            "hotel.</li>"
            "</ul>"
        ),
        pinned=True,
    ),
)


# The authors' ids before the demo people were people: a story seeded with them would
# get every update a second time from the steps above, whose idempotency keys name the
# author. Such a story is left as it is.
EARLIER_AUTHOR_IDS = ("demo-reporter", "demo-editor")


def seeded_by_an_earlier_version(newsroom: Newsroom, story_id: UUID) -> bool:
    story = newsroom.get_story(story_id)
    first = DEMO_STEPS[0]
    return any(
        str(update_id_for_key(story_id, author_id, first.key)) in story.updates
        for author_id in EARLIER_AUTHOR_IDS
    )


def seed_demo(newsroom: Newsroom) -> UUID:
    """Record the demo story; returns its id. Running it again records nothing new.

    Each step is a no-op when already done (the slug is taken, the idempotency key was
    used, the update is already corrected, the flag is already set), so a seed that was
    interrupted completes on the next run.
    """
    story_id = story_id_for_slug(DEMO_SLUG)
    with suppress(SlugTaken):  # opened on an earlier run
        newsroom.open_story(
            slug=DEMO_SLUG, title=DEMO_TITLE, summary=DEMO_SUMMARY, actor=EDITOR, at=OPENED_AT
        )
    if seeded_by_an_earlier_version(newsroom, story_id):
        return story_id
    update_ids: dict[str, UUID] = {}
    for step in DEMO_STEPS:
        if isinstance(step, Post):
            update_ids[step.key] = update_id_for_key(story_id, step.author.id, step.key)
            newsroom.post_update(
                story_id,
                body=step.body,
                title=step.title,
                key_event=step.key_event,
                pinned=step.pinned,
                actor=step.author,
                idempotency_key=step.key,
                at=step.at,
            )
        elif isinstance(step, Correct):
            update_id = update_ids[step.key]
            if newsroom.get_story(story_id).find_update(update_id).revision > 1:
                continue  # corrected on an earlier run
            newsroom.correct_update(
                story_id,
                update_id,
                body=step.body,
                note=step.note,
                actor=step.author,
                as_editor=True,
                at=step.at,
            )
        else:
            newsroom.flag_update(
                story_id,
                update_ids[step.key],
                pinned=step.pinned,
                key_event=step.key_event,
                actor=step.author,
                at=step.at,
            )
    return story_id
