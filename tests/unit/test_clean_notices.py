"""Comment-section notices at the end of an article are page furniture, on any site."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.clean import clean_article, is_comment_notice

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

SPORT = (
    "Rovers beat City 3-1 on Saturday, with two goals from the captain in the second half.\n"
    "The win lifts Rovers to fourth in the table.\n\n"
    "Comments are moderated. Please keep your comments civil and on topic."
)
TECH = (
    "The chipmaker said its new processor would ship in March and cost 20 percent less than the last one.\n"
    "Analysts expect rivals to cut prices within weeks. The views expressed in the comments below are those "
    "of their authors. You must be logged in to post a comment."
)


@pytest.mark.parametrize(
    ("raw", "report_ends"),
    [
        (SPORT, "The win lifts Rovers to fourth in the table."),
        (TECH, "Analysts expect rivals to cut prices within weeks."),
    ],
    ids=["sport", "tech"],
)
def test_comment_notices_closing_an_article_are_removed(raw: str, report_ends: str):
    _, text = clean_article(raw, title="A headline")
    assert text.endswith(report_ends)
    assert "comment" not in text.lower()


@pytest.mark.parametrize(
    "raw",
    [
        # Reported speech about comments, closing the article.
        'The platform removed 40,000 posts in May.\n"Please stop reading the comments," the regulator told parents.',
        # A report about comments, in the third person.
        "The company said the minister's comments did not reflect its values and it would review its policy.",
        # A notice-like sentence inside the report, not at its end.
        "Readers left 500 comments here within an hour, the editor said. The paper closed the thread on Monday.",
    ],
    ids=["quoted", "third-person", "not-trailing"],
)
def test_the_report_itself_is_kept_whatever_it_says_about_comments(raw: str):
    _, text = clean_article(raw, title="A headline")
    assert text == raw


def test_the_seed_with_a_comment_policy_footer_comes_out_clean():
    raw = (SEEDS / "001_ef64d0a538e35855.txt").read_text(encoding="utf-8")
    _, text = clean_article(raw)
    assert "comments" not in text and text.endswith("since Friday's talks.")


def test_no_sentence_of_the_seed_reports_reads_as_a_notice():
    import re

    for path in sorted(SEEDS.glob("*.txt")):
        body = path.read_text(encoding="utf-8").replace("The comments posted here are not from Cnews Live.", "")
        body = body.replace("Kindly refrain from using derogatory, personal, or obscene words in your comments.", "")
        for sentence in re.split(r"(?<=[.!?])\s+|\n", body):
            assert not is_comment_notice(sentence), sentence


# Site furniture: lines at the edges of most of one source's articles.
from rag.ingest.clean import edge_lines, recurring_edge_lines, strip_edge_lines  # noqa: E402

SPORT_PLUG = "Follow every fixture live on the Rovers Weekly app."
SPORT_BACKGROUND = (
    "Rovers were promoted to the top division in 2019 after beating City in a play-off final that "
    "went to penalties, and have finished in the top half of the table in every season since then."
)
SPORT_ARTICLES = [
    f"Rovers beat Town {n}-1 on Saturday in front of {20_000 + n * 100} fans.\n"
    f"The striker scored twice in the {n + 40}th minute.\n{SPORT_BACKGROUND}\n{SPORT_PLUG}"
    for n in range(4)
]
COOKING_HEADER = "Crumb Club recipes: tested in our kitchen"
COOKING_ARTICLES = [
    f"{COOKING_HEADER}\nKnead the dough for {n + 8} minutes until it springs back.\n"
    f"Prove it for {n + 1} hours at room temperature."
    for n in range(3)
]


@pytest.mark.parametrize(
    ("articles", "furniture", "kept"),
    [
        (SPORT_ARTICLES, SPORT_PLUG, SPORT_BACKGROUND),
        (COOKING_ARTICLES, COOKING_HEADER, "Knead the dough"),
    ],
    ids=["sport", "cooking"],
)
def test_lines_at_the_edges_of_most_of_a_sources_articles_are_furniture(articles, furniture, kept):
    counts: dict[str, int] = {}
    for text in articles:
        for line in edge_lines(text):
            counts[line] = counts.get(line, 0) + 1
    found = recurring_edge_lines(counts, len(articles))
    assert found == {furniture}  # the long background paragraph repeats too, and is prose: kept
    for text in articles:
        cleaned = strip_edge_lines(text, found)
        assert furniture not in cleaned and kept in cleaned


def test_a_line_in_two_articles_or_in_a_minority_is_not_furniture():
    assert recurring_edge_lines({"Sign up for our newsletter": 2}, 2) == set()
    assert recurring_edge_lines({"By Maria Okafor": 3}, 10) == set()


def test_furniture_inside_the_report_stays():
    text = "First line of the report.\nFollow every fixture live on the Rovers Weekly app.\nThe last line."
    assert strip_edge_lines(text, {SPORT_PLUG}) == text


# Sentences are the parser's (rag.nlp.parse), as answering and eval see them: an abbreviation
# or a time does not end a sentence.
from rag.ingest.clean import derive_title  # noqa: E402


@pytest.mark.parametrize(
    ("report", "notice"),
    [
        ("Polls open across the country on Tuesday.", "Comments on this page close at 9 a.m. Monday."),
        ("The bakery sold 400 loaves before noon.", "Please keep your comments civil; posting resumes at 6 p.m. Friday."),  # noqa: E501
    ],
    ids=["election", "bakery"],
)
def test_a_notice_holding_a_time_is_removed_whole(report: str, notice: str):
    _, text = clean_article(f"{report}\n{notice}", title="A headline")
    assert text == report


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ("Polls open at 9 a.m. Monday in the capital. Turnout is expected to be high.",
         "Polls open at 9 a.m. Monday in the capital."),
        ("The U.S. Senate passed the farm bill on Friday. It now goes to the House.",
         "The U.S. Senate passed the farm bill on Friday."),
    ],
    ids=["time", "initials"],
)
def test_a_derived_title_is_the_whole_first_sentence(body: str, title: str):
    assert derive_title(body) == title


@pytest.mark.parametrize("topic", ["The harbour reopened after the storm.", "The orchestra played Brahms on Friday."])
def test_an_article_on_one_long_line_loses_only_its_closing_notice(topic: str):
    """Only the end of a long line is read (a million characters would not fit the parser)."""
    report = " ".join([topic] * 200)
    notices = "Comments are moderated. Please keep your comments civil."
    _, text = clean_article(f"{report} {notices}", title="A headline")
    assert text == report
