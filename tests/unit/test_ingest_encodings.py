"""Files in any common encoding, ids from names of any length, and news pages read by trafilatura."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import UnreadableFile
from rag.ingest.load import MAX_DOC_ID, decode_text, load_file, make_doc_id
from tests.fixtures.news_site import news_page

# Two unrelated domains, each with the characters legacy encodings get wrong: curly quotes,
# dashes, accents.
POLITICS = (
    "Minister\u2019s plan stalls\n\nThe minister said \u201cwe won\u2019t retreat\u201d \u2014 and the "
    "caf\u00e9 talks in Z\u00fcrich ended without a deal on Monday, after three days."
)
COOKING = (
    "Cr\u00e8me br\u00fbl\u00e9e at 150\u00b0C\n\nBake the cr\u00e8me for 40 minutes \u2013 the "
    "p\u00e2tissier\u2019s \u201csecret\u201d is a cold ramekin, says Ren\u00e9e Fran\u00e7ois."
)


@pytest.mark.parametrize("text", [POLITICS, COOKING], ids=["politics", "cooking"])
@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "utf-16", "utf-8-sig"])
def test_a_file_in_a_common_encoding_is_read_as_written(tmp_path: Path, text: str, encoding: str):
    path = tmp_path / "story.txt"
    path.write_bytes(text.encode(encoding))
    [article] = load_file(path)
    assert article.title == text.split("\n")[0]
    assert article.text == text.split("\n\n", 1)[1]


@pytest.mark.parametrize("raw", ["Caf\u00e9 au lait, pr\u00e8s de la gare", "He said \u201cno\u201d to the plan."])
def test_short_latin1_or_windows_1252_text_is_not_read_as_a_cyrillic_code_page(raw: str):
    """Short texts give charset-normalizer several equally clean readings; Windows-1252 wins the tie."""
    assert decode_text(raw.encode("cp1252"), "x") == raw


@pytest.mark.parametrize("encoding", ["koi8-r", "cp1251"])
def test_other_legacy_encodings_are_detected(encoding: str):
    """A paragraph (detection needs some text: a single short sentence can read as Japanese)."""
    russian = (
        "Министр иностранных дел сказал журналистам, что переговоры продолжатся в понедельник в Стамбуле. "
        "По его словам, стороны договорились об обмене пленными, но не о прекращении огня."
    )
    assert decode_text(russian.encode(encoding), "x") == russian


def test_html_charset_declared_in_the_page_is_used(tmp_path: Path):
    page = tmp_path / "page.html"
    page.write_bytes(
        news_page(
            "Caf\u00e9s reopen in Z\u00fcrich",
            [
                "The caf\u00e9s on the Limmat reopened "
                "on Monday, their owners said, after a week\u2019s closure for floods."
            ],
            charset="windows-1252",
        ).encode("cp1252")
    )
    [article] = load_file(page)
    assert article.title == "Caf\u00e9s reopen in Z\u00fcrich"
    assert "week\u2019s closure" in article.text


@pytest.mark.parametrize("data", [bytes(range(128, 256)) * 3, b"\x00\x01\x02PNG\x00"], ids=["noise", "binary"])
def test_only_bytes_that_are_text_in_no_encoding_are_refused(tmp_path: Path, data: bytes):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile, match="save it as"):
        load_file(path)


def test_ids_that_fit_are_unchanged():
    assert make_doc_id("001_ef64d0a538e35855") == "001_ef64d0a538e35855"
    assert make_doc_id("Harbour reopens: a story") == "Harbour-reopens-a-story"
    fits = "a" * MAX_DOC_ID
    assert make_doc_id(fits) == fits


@pytest.mark.parametrize(
    "stem",
    [
        "https://news.example.org/2026/11/20/" + "harbour-reopens-after-storm-repairs-" * 4,
        "Sources of the Nile and the nineteenth-century expeditions that sought them " * 3,
    ],
)
def test_long_names_that_share_their_beginning_get_distinct_ids(stem: str):
    ids = [make_doc_id(f"{stem}_p{n:03d}") for n in range(3)]
    assert len(set(ids)) == 3
    assert all(len(i) <= MAX_DOC_ID for i in ids)
    assert all(i.startswith(make_doc_id(stem)[:100]) for i in ids)
    assert make_doc_id(f"{stem}_p001") == ids[1]  # stable


def test_long_id_paragraphs_are_all_ingested(fake_pipeline, tmp_path: Path):
    import json

    stem = "https://news.example.org/" + "a-very-long-headline-about-the-harbour-" * 4
    path = tmp_path / "paras.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": f"{stem}_p{n:03d}",
                    "title": "Harbour",
                    "text": f"Paragraph {n}: the harbour handled {n * 11 + 5} ships in May.",
                }
            )
            for n in range(3)
        )
    )
    report = fake_pipeline.ingest([path])
    assert len(report.added) == 3 and not report.skipped


def test_a_news_page_yields_the_report_without_its_furniture(tmp_path: Path):
    paragraphs = [
        "The harbour in Mevagissey reopened on Monday after a six-month closure for repairs to its storm-damaged "
        "north wall, the harbour master said.",
        "About 40 fishing boats returned to their moorings within hours, and the first catch of the season was "
        "landed by mid-afternoon.",
    ]
    page = tmp_path / "harbour.html"
    page.write_text(news_page("Harbour reopens after storm repairs", paragraphs, date="2026-11-20T08:30:00+00:00"))
    [article] = load_file(page)
    assert article.title == "Harbour reopens after storm repairs"
    assert article.text == "\n".join(paragraphs)  # no nav, ad, byline, share bar, related links, comments, footer
    assert article.published_at.isoformat() == "2026-11-20T08:30:00+00:00"


def test_a_page_of_another_domain_and_layout(tmp_path: Path):
    """A recipe blog: sidebar, newsletter box and comments around the recipe."""
    page = tmp_path / "recipe.html"
    page.write_text(
        "<html><head><title>Sourdough at home - Crumb Club</title></head><body>"
        "<div id='sidebar'><ul><li><a href='/cakes'>Cakes</a></li><li><a href='/bread'>Bread</a></li></ul></div>"
        "<div class='post'><h1>Sourdough at home</h1>"
        "<p>A starter needs five days of feeding with equal weights of rye flour and water before it can raise a loaf.</p>"
        "<p>Bake the loaf at 240 degrees for twenty minutes with the lid on, then twenty more without it.</p></div>"
        "<div class='newsletter'><p>Sign up to our newsletter for a new recipe every Friday!</p></div>"
        "<div id='comments'><p>Anna: Mine never rises, what am I doing wrong with the flour?</p></div>"
        "</body></html>"
    )
    [article] = load_file(page)
    assert article.title == "Sourdough at home"
    assert "five days of feeding" in article.text and "twenty more without it" in article.text
    assert "Mine never rises" not in article.text and "Cakes" not in article.text
