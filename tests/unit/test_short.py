"""Short-answer rules: the phrase as the source spells it, tightened, and never a mere echo of the question."""

from __future__ import annotations

import pytest

from eval.runner import squad_prediction
from rag.answer.short import as_cited, in_source, tighten, without_question_words
from rag.schema import Answer


def test_a_phrase_is_given_as_the_source_spells_it():
    source = "Guard cells contain only around 8–15 chloroplasts; Levi’s Stadium hosted it."
    assert in_source("8-15", source) == "8–15"
    assert in_source("Levi's Stadium", source) == "Levi’s Stadium"
    assert in_source("levi's stadium", source) == "Levi’s Stadium"
    assert in_source("8-16", source) is None
    assert in_source("6", "It opened in 1996 with 16 gates.") is None  # whole words only
    assert in_source("art", "The party's art fund.") == "art"
    assert in_source("Taiho Code", "defined in the Taihō Code (701)") == "Taihō Code"


def test_a_short_answer_quotes_its_source():
    sport = "Stewart had six touchdowns in 13 games that season."
    assert as_cited("6", sport, "Stewart had 6 touchdowns [1].") == "six"
    assert as_cited("13", sport, "") == "13"
    music = "The singer has won twenty-one awards, six of them in one night."
    assert as_cited("21", music, "She won 21 awards [1].") == "twenty-one"
    assert as_cited("7", music, "She won 7 awards.") == "7"  # not in the source: as the answer says it
    assert as_cited("9", music, "She won 7 awards.") is None


@pytest.mark.parametrize(
    ("phrase", "question", "expected"),
    [
        ("19th century", "To what century did the idea of ether belong?", "19th"),
        ("extracurricular activities", "What type of activities require a supervisor?", "extracurricular"),
        ("24-yard line", "On what yard line did Carolina begin?", "24"),
        ("legitimize his means of power", "What did he use Islamization to legitimize?", "means of power"),
        # Capitalised words are part of a name, even when the question says them too.
        ("Lake Constance", "The delta is with what Lake?", "Lake Constance"),
        ("Summer Breeze", "What is the name of the summer festival?", "Summer Breeze"),
        ("1,000 prisoners", "How many prisoners did each side agree to swap?", "1,000"),
    ],
)
def test_words_the_question_already_says_are_trimmed_from_the_edges(phrase: str, question: str, expected: str):
    assert tighten(phrase, question) == expected


@pytest.mark.parametrize(
    ("phrase", "question"),
    [
        ("statocyst", "What is a statocyst?"),
        ("Las Vegas", "Where in Las Vegas did a famous protest take place?"),
        ("the plague", "What effect did the plague have on the Middle East?"),
    ],
)
def test_a_phrase_that_only_repeats_the_question_is_no_answer(phrase: str, question: str):
    assert tighten(phrase, question) == ""


def test_without_question_words_keeps_what_the_answer_adds():
    question = "What did Luther refuse to do?"
    assert without_question_words("Luther refused to recant his writings. He said more.", question) == (
        "recant his writings"
    )


def test_squad_prediction_falls_back_to_the_first_sentence_less_the_question():
    answer = Answer(
        answer="A famous protest took place at the Camp Mercury nuclear test site [1]. It was in 1957 [1].",
        abstained=False, model="m", question="Where in Las Vegas did a famous protest take place?",
    )  # fmt: skip
    assert squad_prediction(answer) == "at the Camp Mercury nuclear test site"
    answer.short_answer = "Camp Mercury nuclear test site"
    assert squad_prediction(answer) == "Camp Mercury nuclear test site"
