"""What the sanitizer drops from a body is said, as warnings with a hint, never lost
without a word."""

from __future__ import annotations

import pytest

from liveblog.sanitize import MAX_WARNED_NAME, MAX_WARNINGS, Sanitized, clean_body
from tests.unit.test_sanitize import HARMLESS_AS_WRITTEN, XSS_PAYLOADS


def test_a_clean_body_has_no_warnings() -> None:
    body = '<p>Crowds on <a href="https://example.org/">the square</a>.</p><br>'

    assert clean_body(body).warnings == []


def test_an_iframe_and_a_script_are_named_with_a_hint_to_use_media() -> None:
    cleaned = clean_body(
        '<p>Watch:</p><iframe src="https://www.youtube.com/embed/x"></iframe>'
        "<script>alert(1)</script>"
    )

    assert cleaned.html == "<p>Watch:</p>"
    assert cleaned.warnings == [
        {"code": "removed_element", "element": "iframe", "hint": "use media for embeds"},
        {
            "code": "removed_element",
            "element": "script",
            "hint": "scripts are not allowed; use media for embeds",
        },
    ]


def test_attributes_dropped_from_kept_elements_are_named() -> None:
    cleaned = clean_body(
        '<p onclick="x()">Hi <a href="javascript:x()" target="_blank">there</a>'
        '<img src="http://insecure.example/a.png" alt="A"></p>'
    )

    assert [(w["code"], w["element"], w.get("attribute")) for w in cleaned.warnings] == [
        ("removed_attribute", "p", "onclick"),
        ("removed_attribute", "a", "href"),
        ("removed_attribute", "a", "target"),
        ("removed_attribute", "img", "src"),
    ]
    hints = {w["attribute"]: w["hint"] for w in cleaned.warnings}
    assert hints["onclick"] == "event handler attributes are not allowed"
    assert "https://" in hints["src"]
    assert "media" in hints["src"]


def test_an_element_off_the_list_is_named_once_and_its_text_kept() -> None:
    cleaned = clean_body("<div><span>one</span> <span>two</span></div>")

    assert cleaned.html == "one two"
    assert [w["element"] for w in cleaned.warnings] == ["div", "span"]
    assert all("only these elements are kept" in w["hint"] for w in cleaned.warnings)


def test_the_attributes_of_a_dropped_element_are_not_named_again() -> None:
    cleaned = clean_body('<div onclick="x" style="color: red">text</div>')

    assert cleaned.warnings == [
        {"code": "removed_element", "element": "div", "hint": cleaned.warnings[0]["hint"]}
    ]


def test_a_comment_is_dropped_without_a_warning() -> None:
    assert clean_body("<p>a<!-- internal note --></p>").warnings == []


# Attacks that are only a comment (dropped without a word) or harmless as written.
NOTHING_BUT_COMMENTS = {"comment hiding a script", "conditional comment", "cdata"}
WARNED = {
    name: payload
    for name, payload in XSS_PAYLOADS.items()
    if name not in NOTHING_BUT_COMMENTS | HARMLESS_AS_WRITTEN
}


@pytest.mark.parametrize("payload", list(WARNED.values()), ids=list(WARNED))
def test_every_attack_the_sanitizer_defeats_is_warned_of(payload: str) -> None:
    assert clean_body(payload).warnings != []


@pytest.mark.parametrize("comment", ["<!-->", "<!--->", "<!-- a --!>"])
def test_a_comment_closed_early_hides_no_element_from_the_warnings(comment: str) -> None:
    cleaned = clean_body(f"<p>a{comment}</p><script>alert(1)</script>-->")

    assert [w["element"] for w in cleaned.warnings] == ["script"]


def test_a_body_of_made_up_elements_gives_a_bounded_list_of_short_names() -> None:
    body = "".join(f"<x-{'n' * 100}-{n}>t" for n in range(500))

    warnings = clean_body(body).warnings

    assert len(warnings) == MAX_WARNINGS
    assert all(len(w["element"]) <= MAX_WARNED_NAME for w in warnings)


def test_a_sanitized_body_is_cleaned_once_whoever_asks() -> None:
    body = Sanitized("<p>x</p><iframe></iframe>")

    first = body.cleaned()

    assert body.cleaned() is first
    assert (body.html, body.warnings) == ("<p>x</p>", first.warnings)
