"""The census of HTML that the sanitizer's warnings compare: what it counts, and that a
hostile body is read once, front to back."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveblog.markup import census
from liveblog.sanitize import ALLOWED_TAGS, clean_body


def test_elements_and_attributes_are_counted_with_lowercase_names() -> None:
    counted = census("<P class=a>One</P><p CLASS=\"b\" id='c'>Two<BR/></p><img src=x alt>")

    assert counted.elements == Counter({"p": 2, "br": 1, "img": 1})
    assert counted.attributes == Counter(
        {("p", "class"): 2, ("p", "id"): 1, ("img", "src"): 1, ("img", "alt"): 1}
    )


def test_an_attribute_given_twice_on_one_element_counts_once() -> None:
    assert census('<a href="x" href="y">l</a>').attributes == Counter({("a", "href"): 1})


def test_comments_end_tags_and_declarations_hold_no_elements() -> None:
    counted = census("<!DOCTYPE html><!-- <b>not</b> --></p><?php x ?><p>yes</p>")

    assert counted.elements == Counter({"p": 1})


@pytest.mark.parametrize("element", ["script", "style", "textarea", "title", "iframe", "xmp"])
def test_the_text_of_a_raw_text_element_holds_no_elements(element: str) -> None:
    html = f"<{element}><b>not</b><i x=1></{element.upper()}><em>yes</em>"

    assert census(html).elements == Counter({element: 1, "em": 1})


def test_a_quoted_value_may_hold_a_greater_than_sign() -> None:
    counted = census('<a title="a > b" onclick="x">l</a><b>')

    assert counted.attributes == Counter({("a", "title"): 1, ("a", "onclick"): 1})
    assert counted.elements == Counter({"a": 1, "b": 1})


def test_a_quoted_value_never_closed_takes_the_rest_of_the_text() -> None:
    counted = census('<p>x</p><a title="open <b>bold</b> <i>')

    assert counted.elements == Counter({"p": 1, "a": 1})
    assert counted.attributes == Counter({("a", "title"): 1})


def test_a_less_than_sign_that_starts_no_tag_is_text() -> None:
    assert census("1 < 2 <3 <> <p>x").elements == Counter({"p": 1})


@pytest.mark.parametrize(
    "hostile",
    [
        "<a " * 7_000,  # quadratic in html.parser on Python 3.11
        "<a x='" * 4_000,
        "<!--" * 5_000,
        "<" * 20_000,
        "<a " + "x=1 " * 5_000,
        "<a" + " /" * 10_000,
        "<script>" * 3_000,
        "".join(f"<t{n} a{n}=1>" for n in range(2_000)),
    ],
)
def test_hostile_markup_is_counted_in_one_pass(hostile: str) -> None:
    counted = census(hostile[:20_000])

    assert sum(counted.elements.values()) <= 20_000


WORDS = st.text(st.characters(codec="utf-8", exclude_characters="<>&\"'\x00\r"), max_size=6)
ATTRIBUTES = {
    "a": st.fixed_dictionaries({}, optional={"href": st.just("https://ok.example/x?a=1&b=2"),
                                             "title": WORDS}),
    "img": st.fixed_dictionaries({"src": st.just("https://ok.example/i.png")},
                                 optional={"alt": WORDS, "title": WORDS}),
}  # fmt: skip


@st.composite
def allowed_html(draw: st.DrawFn) -> str:
    """Markup of the allow-list only, with attributes the sanitizer keeps."""
    parts = []
    for tag in draw(st.lists(st.sampled_from(sorted(ALLOWED_TAGS)), max_size=8)):
        attributes = draw(ATTRIBUTES.get(tag, st.just({})))
        shown = "".join(f' {name}="{value}"' for name, value in attributes.items())
        parts.append(f"<{tag}{shown}>{draw(WORDS)}</{tag}>")
    return "".join(parts)


@given(allowed_html())
def test_a_body_of_the_allow_list_warns_of_nothing(html: str) -> None:
    # The sanitizer writes it its own way (quotes, entities, rel on links, implied
    # ends): the counts must still agree, or clean bodies would warn.
    assert clean_body(html).warnings == []
