"""Does a supported answer answer the question; the quoted fallback when it does not."""

from __future__ import annotations

import pytest

from rag.answer.answerer import Answerer, _with_markers
from rag.answer.relevance import answer_kind, answers, best_sentence, fits
from rag.llm.client import Completion
from rag.pipeline import Pipeline
from rag.schema import Passage, Timings


def _p(i: int, text: str) -> Passage:
    return Passage(chunk_id=f"d{i}#0", doc_id=f"d{i}", title=f"T{i}", text=text, start=0, end=len(text), score=1.0)


TRUCE = _p(1, "Ukraine wants tighter sanctions unless Putin agrees a proposal from Donald Trump for a 30-day truce. "
              "Efforts to present a unified front have been destabilised by Trump's involvement.")  # fmt: skip
SANCTIONS = _p(
    2, "After more than three years of punitive measures, questions remain about how much further sanctions can go."
)


def _answerer() -> Answerer:
    answerer = Answerer.__new__(Answerer)
    answerer.llm = type("L", (), {"model": "m"})()
    return answerer


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many prisoners were swapped?", "count"),
        ("How long was the truce that Donald Trump proposed?", "number"),
        ("To what level will the EU lower the price cap?", "count"),
        ("When is the prisoner exchange supposed to happen?", "date"),
        ("On which day of the week did the talks take place?", "date"),
        ("At what time of day did the meeting begin?", "clock"),
        ("Who chaired the meeting?", "name"),
        ("Which British officials criticised Russia?", "name"),
        ("What did Russia demand about war reparations?", None),
    ],
)
def test_the_kind_of_answer_a_question_wants(question, kind):
    assert answer_kind(question) == kind


def test_an_answer_must_hold_the_kind_of_value_asked_for():
    assert fits("The truce would last 30 days.", "number", "How long was the truce?")
    assert not fits("Trump proposed a truce.", "number", "How long was the truce?")
    assert fits("The talks were held on Friday.", "date", "On which day were the talks?")
    assert not fits("The talks were held in Istanbul.", "date", "On which day were the talks?")
    assert fits("Hakan Fidan chaired it.", "name", "Who chaired the meeting in Istanbul?")
    assert not fits("The meeting in Istanbul was chaired.", "name", "Who chaired the meeting in Istanbul?")


@pytest.mark.parametrize(
    ("question", "kind", "text"),
    [
        ("When does immunodeficiency occur?", "date", "It occurs when the immune system is less active than normal."),
        ("When did the expansion start?", "date", "The expansion began in the mid-2000s."),
        ("How much money went to the network?", "count", "The network would receive $5 million in cash."),
        ("How much higher was the stress figure?", "count", "The stress figure was twice the average figure."),
        ("How long does it take to know the outcome?", "number", "The outcome is known in seconds."),
    ],
)
def test_answers_of_the_right_kind_in_other_words(question, kind, text):
    assert answer_kind(question) == kind and fits(text, kind, question)


def test_a_when_clause_before_the_real_question_does_not_ask_for_a_date():
    assert answer_kind("When using a probabilistic algorithm, how is the probability expressed?") is None
    assert not fits("It happened in the capital.", "date", "When did the talks start?")
    assert not fits("It starts when the talks end.", "date", "When did the talks start?")  # a past event wants a date


def test_a_count_must_count_what_the_question_asks_about():
    question = "How many people were in the Russian delegation?"
    assert not fits("Medinsky, who headed the Russian delegation, said the two sides agreed.", "count", question)
    assert fits("The Russian delegation had 12 members.", "count", question)
    injured = "How many people were injured in the shelling in the Kherson region?"
    assert fits("Kherson Region: 2 killed, 13 injured in shelling of a residential zone.", "count", injured)
    assert fits(
        "Russia's forces control about a fifth of Ukraine.",
        "count",
        "About how much of Ukraine do Russian forces control?",
    )


def test_a_true_sentence_off_the_question_is_not_an_answer():
    question = "How long was the truce that Donald Trump proposed?"
    off = "Questions remain about how much further sanctions can go."
    assert not answers(question, [off], [SANCTIONS.text])
    assert answers(question, ["Trump proposed a 30-day truce."], [TRUCE.text])


def test_best_sentence_is_the_one_that_answers_by_itself():
    question = "How long was the truce that Donald Trump proposed?"
    assert best_sentence(question, [SANCTIONS, TRUCE]) == (1, TRUCE.text.split(". ")[0] + ".")
    assert best_sentence("What did China say about the talks?", [SANCTIONS, TRUCE]) is None


def test_the_quoted_fallback_reads_compounds_written_as_one_word():
    frontline = _p(3, "Ukraine has prevented a major breakthrough along the 1,000km frontline. Talks resumed.")
    found = best_sentence("How long is the front line?", [SANCTIONS, frontline])
    assert found == (1, frontline.text.split(" Talks")[0])


def test_an_off_question_answer_is_replaced_by_the_passage_sentence_that_answers():
    question = "How long was the truce that Donald Trump proposed?"
    completion = Completion(
        text="After more than three years of punitive measures, questions remain about sanctions [1]."
    )
    answer = _answerer().finish(question, [SANCTIONS, TRUCE], completion, Timings())
    assert not answer.abstained and answer.quoted
    assert "30-day truce [1]." in answer.answer
    assert [c.doc_id for c in answer.citations] == ["d1"]
    assert answer.unsupported, "the model's off-question sentence is listed, not shown"


def test_no_fitting_sentence_means_abstention_and_the_model_abstaining_is_respected():
    completion = Completion(text="The talks began at noon [1].")
    answer = _answerer().finish("At what time of day did the talks begin?", [SANCTIONS, TRUCE], completion, Timings())
    assert answer.abstained and not answer.quoted
    said_no = Completion(text="The articles don't say.")
    answer = _answerer().finish("How long was the truce that Donald Trump proposed?", [TRUCE], said_no, Timings())
    assert answer.abstained


def test_markers_go_after_closing_quotes():
    assert _with_markers('He asked "enough is enough?"', [1]) == 'He asked "enough is enough" [1]?'
    assert _with_markers("It lasted two hours.", [1, 2]) == "It lasted two hours [1][2]."


def test_a_question_restated_in_the_answer_does_not_make_it_unsupported(fake_pipeline: Pipeline):
    from rag.answer.verify import verify

    question = "What shape was the table the two delegations sat at?"
    passages = fake_pipeline.search(question, k=4)
    sentence = "The two delegations sat across from each other at a large U-shaped table [1]."
    assert verify(sentence, question, passages).claims


def test_short_answer_comes_from_the_answer_and_an_invented_one_is_dropped(fake_pipeline: Pipeline):
    answer = fake_pipeline.ask("How many prisoners did each side agree to swap?", short=True)
    assert answer.short_answer == "1,000" and answer.usage.completion_tokens > 0
    assert fake_pipeline.ask("How many prisoners did each side agree to swap?").short_answer is None

    inventing = _answerer()
    inventing.llm = type(
        "L", (), {"model": "m", "complete": lambda self, *a, **kw: Completion(text="5,000 prisoners")}
    )()
    assert inventing.shorten("How many prisoners?", answer) is None, "words found in neither answer nor passages"


def test_a_sentence_backed_by_a_next_ranked_passage_is_kept_and_cites_it():
    completion = Completion(text="Trump proposed a 30-day truce [1].")
    question = "How long was the truce that Donald Trump proposed?"
    answer = _answerer().finish(question, [SANCTIONS], completion, Timings(), more=[TRUCE])
    assert not answer.abstained and not answer.quoted
    assert [c.doc_id for c in answer.citations] == ["d1"] and "30-day truce [1]" in answer.answer
