"""Block Kit rendering of answers: limits, escaping, abstention, conflicts, sources."""

from __future__ import annotations

from rag.schema import Answer, Citation, Conflict, ConflictClaim
from service.slack_blocks import (
    MAX_BLOCKS,
    SECTION_CHARS,
    answer_blocks,
    apology_blocks,
    escape,
    split_text,
)


def citation(marker: int, **kw) -> Citation:
    values = dict(
        marker=marker,
        doc_id=f"doc{marker}",
        title=f"Title {marker}",
        chunk_id=f"c{marker}",
        start=0,
        end=10,
        text="Passage text.",
        score=0.5,
        url=None,
    )
    values.update(kw)
    return Citation(**values)


def answer(text: str, citations: list[Citation] | None = None, **kw) -> Answer:
    return Answer(answer=text, abstained=kw.pop("abstained", False), citations=citations or [], model="m", **kw)


def sections(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_article_text_is_escaped_and_links_are_kept() -> None:
    c = citation(1, title="Q&A <live>", text="Prices rose > 5% & fell < 2%", url="https://example.com/a?b=1&c=2")
    blocks = answer_blocks(answer("Tom & Jerry <script> [1].", [c]), "id1")
    text = "\n".join(sections(blocks))
    assert "Tom &amp; Jerry &lt;script&gt; [1]." in text
    assert "<https://example.com/a?b=1&amp;c=2|Q&amp;A &lt;live&gt;>" in text
    assert ">Prices rose &gt; 5% &amp; fell &lt; 2%" in text
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"


def test_long_answers_and_many_sources_stay_within_slacks_limits() -> None:
    long_text = " ".join(f"Sentence number {i} says something & more [1]." for i in range(600))
    many = [citation(i, text="word " * 2000) for i in range(1, 80)]
    blocks = answer_blocks(answer(long_text, many), "id1")
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(t) <= SECTION_CHARS for t in sections(blocks))
    assert blocks[-1]["type"] == "actions"  # the buttons are never the part cut off
    assert "…and [" in str(blocks)  # sources that did not fit are still named
    pieces = split_text(escape(long_text))
    assert "".join(pieces).replace(" ", "") == escape(long_text).replace(" ", "")  # nothing lost
    assert all(len(p) <= SECTION_CHARS and "&amp" not in p[-4:] for p in pieces)


def test_text_is_split_at_the_best_break_in_reach() -> None:
    words = "word " * 300  # 1,500 characters of spaces to break at
    paragraph = split_text(words + "end.\n\n" + words + "more. " + words, limit=3000)
    assert paragraph[0] == words + "end."  # the paragraph end, though sentence and word ends come later
    sentence = split_text(words + "end. " + words + "more " + words, limit=3000)
    assert sentence[0] == words + "end."  # no paragraph or line end in reach: the sentence end
    assert split_text("a b c d e f", limit=8) == ["a b c d", "e f"]  # else the last word end


def test_unbroken_text_is_cut_without_splitting_an_escape() -> None:
    pieces = split_text(escape("x" * 2998 + "&" + "y" * 10))
    assert pieces[0] == "x" * 2998 and pieces[1].startswith("&amp;")


def test_article_text_cannot_notify_anyone() -> None:
    c = citation(1, title="@here <!channel>", text="Tell @channel and <!here> and <@U0BOSS01>")
    blocks = answer_blocks(answer("Alert @everyone <!everyone> [1].", [c], abstain_reason="@here"), "id1")
    texts = [b["text"] for b in blocks if "text" in b and b["type"] != "actions"]
    texts += [e for b in blocks if b["type"] == "context" for e in b["elements"]]
    assert texts and all(t["type"] == "mrkdwn" and t["verbatim"] is True for t in texts)  # no auto-parsed @channel
    assert "<!" not in str(blocks) and "<@" not in str(blocks)  # written mentions stay escaped
    assert "&lt;!here&gt;" in str(blocks) and "Tell @channel" in str(blocks)


def test_abstention_says_the_articles_dont_say() -> None:
    blocks = answer_blocks(
        answer("The articles don't say.", abstained=True, abstain_reason="no passage mentions Mars"), "id1"
    )
    assert "*The articles don't say.*" in sections(blocks)[0]
    assert "no passage mentions Mars" in str(blocks)
    assert "Sources" not in str(blocks)


def test_conflicts_are_noted_with_their_quotes() -> None:
    conflict = Conflict(
        about="how long it lasted",
        claims=[
            ConflictClaim(marker=1, doc_id="a", quote="90 minutes"),
            ConflictClaim(marker=2, doc_id="b", quote="2 hours"),
        ],
    )
    blocks = answer_blocks(answer("Short talks [1][2].", [citation(1), citation(2)], conflicts=[conflict]))
    note = next(t for t in sections(blocks) if "disagree" in t)
    assert "how long it lasted" in note and "[1] “90 minutes”" in note and "[2] “2 hours”" in note
    assert not [b for b in blocks if b["type"] == "actions"]  # no answer id: no buttons


def test_many_conflicts_never_push_out_the_buttons() -> None:
    claims = [ConflictClaim(marker=1, doc_id="a", quote="yes"), ConflictClaim(marker=2, doc_id="b", quote="no")]
    conflicts = [Conflict(about=f"point {i}", claims=claims) for i in range(60)]
    blocks = answer_blocks(answer("Yes and no [1][2].", [citation(1), citation(2)], conflicts=conflicts), "id1")
    assert len(blocks) <= MAX_BLOCKS and blocks[-1]["type"] == "actions"
    assert "*Sources*" in str(blocks) and "point 0" in str(blocks)
    assert "57 more" in str(blocks) and "point 59" in str(blocks)  # the rest are named in one line


def test_apology_carries_the_errors_advice() -> None:
    [block] = apology_blocks("The model is not answering: start it with `rag setup`.")
    assert block["text"]["text"].startswith(":warning: Sorry") and "rag setup" in block["text"]["text"]


def test_the_cited_sentence_is_bold_inside_its_passage():
    from rag.schema import CitedSentence
    from service.slack_blocks import source_block

    text = "The storm hit at dawn. It left 1.5 million homes without power. Repairs began."
    start = 100  # the passage's offset in its article
    at = text.index("It left")
    sentence = CitedSentence(evidence_id=2, doc_id="d", start=start + at, end=start + at + 40, text=text[at : at + 40])
    block = source_block(Citation(marker=1, doc_id="d", title="Storm", chunk_id="d#0", start=start,
                                  end=start + len(text), text=text, score=1.0, sentences=[sentence]))  # fmt: skip
    quoted = block["text"]["text"].split("\n>", 1)[1]
    assert quoted == "The storm hit at dawn. *It left 1.5 million homes without power.* Repairs began."
