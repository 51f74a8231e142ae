"""An update's media: images and embeds of known providers, checked and normalised
before anything records them; anything else is refused, naming the item and its field."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from liveblog.domain import (
    InvalidField,
    RevisionConflict,
    Story,
    digest,
    media_digest,
    post_digest,
)
from liveblog.media import MAX_ITEMS, MAX_URL, PROVIDERS, check_media
from tests.helpers import EDITOR, REPORTER
from tests.unit.stories import BODY, open_story, post

IMAGE = {"type": "image", "url": "https://images.example/a.jpg", "alt": "The square"}

EMBEDS = {
    "youtube": [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtube.com/shorts/abc",
        "https://m.youtube.com/watch?v=x",
        "https://youtu.be/dQw4w9WgXcQ",
    ],
    "vimeo": ["https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871"],
    "x": [
        "https://x.com/user/status/1",
        "https://www.x.com/user/status/1",
        "https://twitter.com/user/status/1",
        "https://mobile.twitter.com/user/status/1",
    ],
    "instagram": ["https://www.instagram.com/p/Cx/", "https://instagram.com/p/Cx/"],
    "bluesky": ["https://bsky.app/profile/a.bsky.social/post/3k"],
    "tiktok": ["https://www.tiktok.com/@user/video/123", "https://tiktok.com/@user/video/1"],
    "mastodon": [
        "https://mastodon.social/@Gargron/109262442535064414",
        "https://social.example.org/@reporter@news.example/42/",
        "https://mstdn.example/@user_1/1",
    ],
}


def refused(media: object) -> str:
    with pytest.raises(InvalidField) as caught:
        check_media(media)
    return str(caught.value)


def embed(url: str) -> dict[str, str]:
    return {"type": "embed", "url": url}


@pytest.mark.parametrize(
    ("provider", "url"), [(p, url) for p, urls in EMBEDS.items() for url in urls]
)
def test_every_known_provider_is_accepted_and_named(provider: str, url: str) -> None:
    assert check_media([embed(url)]) == [{"type": "embed", "url": url, "provider": provider}]


def test_the_list_of_providers_is_the_one_tested() -> None:
    assert set(EMBEDS) == set(PROVIDERS)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/watch?v=1",
        "https://youtube.com.evil.example/x",
        "https://notyoutube.com/x",
        "https://example.org/@user/notdigits",
        "https://example.org/users/user/statuses/1",
    ],
)
def test_another_host_is_refused_naming_the_providers_allowed(url: str) -> None:
    message = refused([IMAGE, embed(url)])

    assert message.startswith("media[1].url: not a known embed provider")
    for name in ("YouTube", "Vimeo", "X/Twitter", "Instagram", "Bluesky", "TikTok", "Mastodon"):
        assert name in message


def test_an_image_is_normalised_with_its_keys_in_a_fixed_order() -> None:
    given = {"credit": "AP", "alt": "A\r\ncrowd", "url": "HTTPS://i.example/a.png",
             "type": "image", "caption": "  "}  # fmt: skip

    (image,) = check_media([given])

    assert list(image.items()) == [
        ("type", "image"), ("url", "https://i.example/a.png"), ("alt", "A\ncrowd"),
        ("caption", None), ("credit", "AP"),
    ]  # fmt: skip


def test_normalised_media_check_as_themselves() -> None:
    media = check_media([IMAGE, embed("https://youtu.be/x")])

    assert check_media(media) == media
    assert check_media(tuple(media)) == media


@pytest.mark.parametrize(
    ("media", "message"),
    [
        ("x", "media: must be a list"),
        ({"type": "image"}, "media: must be a list"),
        ([IMAGE] * (MAX_ITEMS + 1), f"media: must hold at most {MAX_ITEMS} items"),
        (["https://youtu.be/x"], "media[0]: must be an object"),
        ([IMAGE, [IMAGE]], "media[1]: must be an object"),
        ([{"url": "https://youtu.be/x"}], "media[0].type: is required"),
        ([{**IMAGE, "type": "video"}], 'media[0].type: must be "image" or "embed"'),
        ([{**IMAGE, "type": None}], "media[0].type: is required"),
        ([{**IMAGE, "width": 3}], "media[0]: unknown key(s) 'width'"),
        ([{**embed("https://youtu.be/x"), "alt": "a"}], "media[0]: unknown key(s) 'alt'"),
        ([{**embed("https://youtu.be/x"), "provider": "vimeo"}], "media[0].provider: must be"),
        ([{"type": "image", "url": "https://i.example/a"}], "media[0].alt: is required"),
        ([{**IMAGE, "alt": "  "}], "media[0].alt: must not be empty"),
        ([{**IMAGE, "alt": "x" * 501}], "media[0].alt: must be at most 500"),
        ([{**IMAGE, "caption": "x" * 1001}], "media[0].caption: must be at most 1000"),
        ([{**IMAGE, "credit": "x" * 201}], "media[0].credit: must be at most 200"),
        ([{**IMAGE, "alt": {"text": "nested"}}], "media[0].alt: must be a string"),
        ([{**IMAGE, "url": ["https://i.example/a"]}], "media[0].url: must be a string"),
        ([{**IMAGE, "url": None}], "media[0].url: is required"),
        ([{**IMAGE, "alt": "a\x00b"}], "media[0].alt: must not contain U+0000"),
        ([{**IMAGE, "caption": "\ud800"}], "media[0].caption: must not contain U+D800"),
        ([{**IMAGE, "url": "https://i.example/\x00"}], "media[0].url: must not contain U+0000"),
    ],
)
def test_a_malformed_item_is_refused_naming_it(media: Any, message: str) -> None:
    assert refused(media).startswith(message)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://i.example/a.png", "must be an https:// URL"),
        ("javascript:alert(1)", "must be an https:// URL"),
        ("data:image/png;base64,AAAA", "must be an https:// URL"),
        ("//i.example/a.png", "must be an https:// URL"),
        ("https:/i.example/a.png", "must be an https:// URL"),
        ("https:///a.png", "must name a host"),
        ("https://user:secret@i.example/a.png", "must not hold a user name or password"),
        ("https://user@i.example/a.png", "must not hold a user name or password"),
        ("https://i.example:8443/a.png", "must not name a port other than 443"),
        ("https://i.example:http/a.png", "is not a URL"),
        ("https://[::1/a.png", "is not a URL"),
        ('https://i.example/a.png" onerror="x', 'must not hold spaces, control characters or <>"'),
        ("https://i.example/a b.png", "must not hold spaces"),
        ("https://i.example/<script>", "must not hold spaces"),
        ("https://i.example/" + "a" * MAX_URL, f"must be at most {MAX_URL} characters"),
    ],
)
def test_an_image_url_must_be_https_with_a_host_and_nothing_hidden(url: str, message: str) -> None:
    assert refused([{**IMAGE, "url": url}]).startswith(f"media[0].url: {message}")


def test_an_embed_url_is_checked_as_an_image_url_is() -> None:
    assert refused([embed("http://www.youtube.com/watch?v=1")]) == (
        "media[0].url: must be an https:// URL"
    )


def test_ten_megabyte_strings_are_refused_by_their_length() -> None:
    huge = "x" * 10_000_000

    assert refused([{**IMAGE, "url": "https://i.example/" + huge}]).startswith(
        "media[0].url: must be at most"
    )
    assert refused([{**IMAGE, "alt": huge}]).startswith("media[0].alt: must be at most")
    assert refused([{**IMAGE, huge: "x"}]).startswith("media[0]: unknown key(s) 'xxxx")


# -- the aggregate: what it records, and what it keeps of media -------------------------


def test_the_aggregate_records_media_normalised_and_keeps_only_their_digest() -> None:
    story = open_story()
    update_id = uuid4()

    story.post_update(update_id=update_id, title="", body=BODY, key_event=False, pinned=False,
                      actor=REPORTER, media=[IMAGE, embed("https://youtu.be/x")])  # fmt: skip

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdatePosted)
    assert event.media == check_media([IMAGE, embed("https://youtu.be/x")])
    record = story.find_update(update_id)
    assert record.media_digest == media_digest(event.media)
    assert record.media_digest is not None
    assert "images.example" not in repr(record)


def test_the_aggregate_refuses_media_the_web_layer_would_refuse() -> None:
    story = open_story()

    with pytest.raises(InvalidField, match=r"media\[0\]\.url: not a known embed provider"):
        story.post_update(
            update_id=uuid4(), title="", body=BODY, key_event=False, pinned=False,
            actor=REPORTER, media=[embed("https://a.example/")],
        )  # fmt: skip
    assert story.pending_events == []


def test_a_retried_post_with_other_media_is_a_reused_key() -> None:
    story = open_story()
    update_id = uuid4()
    fields: dict[str, Any] = {"update_id": update_id, "title": "", "body": BODY,
                              "key_event": False, "pinned": False, "actor": REPORTER}  # fmt: skip
    story.post_update(**fields, media=[IMAGE])

    assert story.post_update(**fields, media=[IMAGE]) is False  # the same post, again
    with pytest.raises(RevisionConflict):
        story.post_update(**fields, media=[])


def test_a_post_without_media_keeps_the_fingerprint_of_posts_made_before_media() -> None:
    assert post_digest("T", BODY) == post_digest("T", BODY, []) == digest(f"T\x00{BODY}")
    assert post_digest("T", BODY, [IMAGE]) != post_digest("T", BODY)


def test_a_correction_of_the_media_alone_changes_their_digest() -> None:
    story = open_story()
    update_id = post(story)

    story.correct_update(update_id=update_id, media=[IMAGE], note="Photo", actor=EDITOR,
                         as_editor=True)  # fmt: skip
    with pytest.raises(InvalidField, match="must change the title, the body or media"):
        story.correct_update(update_id=update_id, media=[IMAGE], note="Again", actor=EDITOR,
                             as_editor=True)  # fmt: skip

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert (event.title, event.body, event.media) == (None, None, check_media([IMAGE]))
    assert story.find_update(update_id).media_digest == media_digest(check_media([IMAGE]))
