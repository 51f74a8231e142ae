"""Word-level diffs of revisions (``projections.word_diff``)."""

from __future__ import annotations

from projections.word_diff import MAX_TOKENS, body_diff, text_diff


def test_changed_words_are_marked_inside_the_newer_markup() -> None:
    old = "<p>The minister <b>resigned</b> at 10.</p>"
    new = "<p>The minister <b>did not resign</b> at 10:05.</p><p>More.</p>"

    assert body_diff(old, new) == (
        "<p>The minister <b><del>resigned</del><ins>did not resign</ins></b> at "
        "<del>10.</del><ins>10:05.</ins></p><p><ins>More.</ins></p>"
    )


def test_markup_only_the_older_body_had_is_left_out_and_no_tag_is_wrapped() -> None:
    diff = body_diff("<p>One <i>two</i></p>", "<p>One</p>")

    assert diff == "<p>One<del>two</del></p>"
    assert "<del><" not in diff
    assert "<ins><" not in diff


def test_an_unchanged_body_is_itself() -> None:
    body = "<ul><li>A &amp; B</li></ul>"
    assert body_diff(body, body) == body


def test_a_title_is_escaped_plain_text() -> None:
    assert text_diff("Fire at <plant>", "Fire at the <plant>") == (
        "Fire at <ins>the </ins>&lt;plant&gt;"
    )


def test_a_title_keeps_a_lone_angle_bracket() -> None:
    assert text_diff("1 < 2", "1 < 3") == "1 &lt; <del>2</del><ins>3</ins>"


def test_texts_too_long_to_match_word_by_word_are_shown_removed_then_added() -> None:
    """Matching grows with the product of the lengths: past MAX_TOKENS, the whole older
    text is marked removed and the whole newer one added."""
    old = "<p>" + "a b c d e " * (MAX_TOKENS // 10) + "</p>"
    new = "<p>" + "e d c b a " * (MAX_TOKENS // 10) + "</p>"

    diff = body_diff(old, new)

    assert diff.startswith("<del>a b c")
    assert diff.count("<del>") == 1
    assert diff.count("<ins>") == 1
    assert "</del><p><ins>e d c b a" in diff
    assert diff.endswith("</ins></p>")
    assert body_diff(old, old) == old
