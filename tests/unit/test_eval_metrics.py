"""Checks on the checker: the eval metrics score known answers the way a person would."""

from __future__ import annotations

import json
from pathlib import Path

import ir_measures
import numpy as np
import pytest
from ir_measures import RR, R, Success

from eval.metrics import (
    SUMMARY_KEYS,
    citation_supported,
    fact_found,
    hit_at_k,
    normalise,
    percentile,
    recall_at_k,
    reciprocal_rank,
    score_question,
    split_sentences,
    squad_evaluate,
    squad_exact_match,
    squad_f1,
    squad_normalize_answer,
    summarise,
)
from rag.schema import Answer, Citation, Conflict, ConflictClaim, Passage, Timings, Usage

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
GOLD = {q["id"]: q for q in map(json.loads, (ROOT / "eval/gold/seeds.jsonl").read_text().splitlines())}
DOC_000 = "000_c997f82a8e66a72f"
DOC_003 = "003_c1e344e38b025e9e"


def gold_by_question(text: str) -> dict:
    return next(q for q in GOLD.values() if q["question"] == text)


POW_QUESTION = gold_by_question("How many prisoners of war did each side agree to exchange?")
CITY_QUESTION = gold_by_question("In which city were the Russia-Ukraine peace talks held?")
LENGTH_QUESTION = gold_by_question("How long did the Istanbul talks last?")
CHINA_QUESTION = gold_by_question("What did China say about the Istanbul talks?")


def seed_passage(doc_id: str, containing: str, chunk: str = "c0", score: float = 0.5) -> Passage:
    """The line of a seed article that contains `containing`, as a passage with real offsets."""
    text = (SEEDS / f"{doc_id}.txt").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if containing in line)
    start = text.index(line)
    return Passage(
        chunk_id=f"{doc_id}:{chunk}",
        doc_id=doc_id,
        title=doc_id,
        text=line,
        start=start,
        end=start + len(line),
        score=score,
    )


def cite(marker: int, p: Passage) -> Citation:
    return Citation(
        marker=marker,
        doc_id=p.doc_id,
        title=p.title,
        chunk_id=p.chunk_id,
        start=p.start,
        end=p.end,
        text=p.text,
        score=p.score,
    )


def answer(text: str, citations=(), abstained=False, conflicts=(), total_ms=1000.0, usage=(100, 20)) -> Answer:
    return Answer(
        answer=text,
        abstained=abstained,
        citations=list(citations),
        conflicts=list(conflicts),
        model="test",
        timings=Timings(total_ms=total_ms),
        usage=Usage(prompt_tokens=usage[0], completion_tokens=usage[1]),
    )


SWAP_000 = seed_passage(DOC_000, "100-minute session")  # states 1,000 prisoners
SUMY_000 = seed_passage(DOC_000, "killed nine civilians", chunk="c1")  # no prisoner count
SWAP_003 = seed_passage(DOC_003, "1,000 by 1,000")


# --- normalisation and fact matching -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello   World", "hello world"),
        ("Dolmabahçe Palace", "dolmabahce palace"),
        ("Zelenskyy\u2019s “low level” delegation", 'zelenskyy\'s "low level" delegation'),
        ("100\u2013minute talks \u2014 brief", "100-minute talks - brief"),
        ("1,000 prisoners and 1,000,000 dollars", "1000 prisoners and 1000000 dollars"),
        ("the 1,000km frontline", "the 1000km frontline"),
        ("a year, two, three", "a year, two, three"),
        ("  tabs\tand\nnewlines\u00a0here ", "tabs and newlines here"),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("text", "forms", "found"),
    [
        ("They agreed to swap 1,000 prisoners.", ["1000"], True),
        ("They agreed to swap 1000 prisoners.", ["1,000"], True),
        ("They agreed to swap 10,000 prisoners.", ["1,000"], False),  # not a whole number match
        ("President Zelenskyy said", ["Zelensky", "Zelenskyy"], True),
        ("President Zelenskyy said", ["Zelensky"], False),  # word boundary, not a prefix
        ("They sat at a U shaped table", ["U-shaped"], True),  # hyphen = space
        ("The talks lasted 100 minutes", ["100-minute", "100 minutes"], True),
        ("Russia rejected US representatives", ["US"], True),
        ("He told us nothing", ["US"], False),  # acronyms match case-sensitively
        ("the U.S. draft", ["U.S."], True),
        ("at the Dolmabahçe Palace", ["Dolmabahce"], True),
        ("", ["Istanbul"], False),
        # British and American spellings are one word: a mountain and a city centre
        ("The peak is roughly 2,450 meters high", ["2,450 metres"], True),
        ("The peak is roughly 2,450 feet high", ["2,450 metres"], False),
        ("Shops in the town center reopened", ["town centre"], True),
        ("The Labour party's defence spokesman", ["defense spokesman"], True),
    ],
)
def test_fact_found(text, forms, found):
    assert fact_found(text, forms) is found


def test_split_sentences_keeps_markers_and_abbreviations():
    text = "Talks were in Istanbul [1]. The U.S. President spoke. [2][3] Mr. Smith agreed.[4] No marker here"
    assert split_sentences(text) == [
        "Talks were in Istanbul [1].",
        "The U.S. President spoke [2][3].",
        "Mr. Smith agreed[4].",
        "No marker here",
    ]


# --- per-question scoring --------------------------------------------------------------


def test_correct_cited_answer_scores_one():
    ans = answer("Each side agreed to exchange 1,000 prisoners of war [1].", [cite(1, SWAP_000)])
    r = score_question(POW_QUESTION, ans, passages=[SWAP_000, SUMY_000])
    assert r["fact_recall"] == 1.0
    assert r["answer_correct"] is True
    assert r["citation_precision"] == 1.0
    assert r["citation_recall"] == 1.0
    assert r["abstention_correct"] is True
    assert r["hit_at_k"] == 1.0 and r["mrr"] == 1.0
    assert r["latency_s"] == 1.0


def test_wrong_answer_scores_zero():
    ans = answer("Each side agreed to exchange 500 prisoners of war [1].", [cite(1, SUMY_000)])
    r = score_question(POW_QUESTION, ans, passages=[SUMY_000])
    assert r["fact_recall"] == 0.0
    assert r["answer_correct"] is False
    assert r["citation_recall"] is None  # no fact found, nothing to back
    assert r["hit_at_k"] == 0.0 and r["mrr"] == 0.0


def test_abstaining_on_an_answerable_question_is_not_correct():
    ans = answer("I don't know: 1,000 appears in the reports but I cannot say.", abstained=True)
    r = score_question(POW_QUESTION, ans)
    assert r["fact_recall"] == 1.0
    assert r["answer_correct"] is False
    assert r["abstention_correct"] is False


def test_citation_to_passage_without_the_fact_is_unsupported():
    # [1] holds the number, [2] is about the Sumy strike: only one of two citations is supported.
    ans = answer("The sides agreed on a 1,000-for-1,000 prisoner swap [1][2].", [cite(1, SWAP_003), cite(2, SUMY_000)])
    r = score_question(POW_QUESTION, ans)
    assert r["citations_in_text"] == 2 and r["citations_supported"] == 1
    assert r["citation_precision"] == 0.5
    assert r["citation_recall"] == 1.0


def test_fact_stated_without_a_backing_citation_lowers_citation_recall():
    ans = answer("They met in Istanbul [1]. Each side will free 1,000 prisoners.", [cite(1, SUMY_000)])
    r = score_question(POW_QUESTION, ans)
    assert r["fact_recall"] == 1.0
    assert r["citation_recall"] == 0.0
    # "They met in Istanbul" states no gold fact: fallback overlap rule, and the Sumy line lacks "met"/"istanbul"
    assert r["citation_precision"] == 0.0


def test_dangling_marker_is_unsupported():
    ans = answer("The talks were held in Istanbul [7].", [cite(1, SWAP_000)])
    r = score_question(CITY_QUESTION, ans)
    assert r["citation_precision"] == 0.0


def test_fallback_overlap_rule():
    passage = SUMY_000.text  # "... A Russian drone strike on Saturday killed nine civilians in a minibus ..."
    assert citation_supported("A Russian drone strike killed nine civilians in a minibus [1].", passage, [])
    assert not citation_supported("Russia and Ukraine agreed on a lasting ceasefire [1].", passage, [])
    # a sentence that states a gold fact must cite a passage holding it; overlap does not rescue it
    assert not citation_supported("A drone strike killed 1,000 civilians in a minibus.", passage, POW_QUESTION["facts"])


def test_abstention_on_unanswerable_counts_right():
    r = score_question(CHINA_QUESTION, answer("I don't know: the articles do not say.", abstained=True))
    assert r["abstention_correct"] is True
    assert r["fact_recall"] is None and r["answer_correct"] is None and r["hit_at_k"] is None
    r2 = score_question(CHINA_QUESTION, answer("China welcomed the talks.", abstained=False))
    assert r2["abstention_correct"] is False
    s = summarise([r, r2])
    assert s["abstention_rate_unanswerable"] == 0.5
    assert s["false_abstention_rate"] is None


def test_conflict_reported_by_field_or_by_wording():
    plain = answer("The talks lasted two hours [1].", [cite(1, SWAP_003)])
    worded = answer("Reports differ: 100 minutes in one, two hours in another.")
    claim = ConflictClaim(marker=1, doc_id=DOC_000, quote="The 100-minute session")
    flagged = answer(
        "The talks lasted 100 minutes [1].",
        [cite(1, SWAP_000)],
        conflicts=[Conflict(about="length of the talks", claims=[claim])],
    )
    assert score_question(LENGTH_QUESTION, plain)["conflict_reported"] is False
    assert score_question(LENGTH_QUESTION, worded)["conflict_reported"] is True
    assert score_question(LENGTH_QUESTION, flagged)["conflict_reported"] is True
    r = score_question(LENGTH_QUESTION, worded)
    assert r["facts_found"] == [True, False, True]


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        ("Reports differ: 100 minutes in one, two hours in another.", True),
        ("The articles give conflicting figures for the length.", True),
        ("The sources disagree on how long the talks lasted.", True),
        ("The length varies between reports.", True),
        ("One report says 100 minutes, another says two hours.", True),
        ("There is a discrepancy: 100 minutes or two hours.", True),
        ("The talks aimed at ending the conflict lasted two hours.", False),
        ("Kyiv disagreed with Moscow's demands.", False),
        ("Sources said the talks lasted two hours.", False),
    ],
)
def test_conflict_wording(text, reported):
    assert score_question(LENGTH_QUESTION, answer(text))["conflict_reported"] is reported


def test_answer_given_as_dict_is_accepted():
    ans = answer("The talks were held in Istanbul [1].", [cite(1, SWAP_000)])
    a = score_question(CITY_QUESTION, ans.model_dump(mode="json"), [SWAP_000.model_dump(mode="json")])
    b = score_question(CITY_QUESTION, ans, [SWAP_000])
    assert a == b and a["answer_correct"] is True


def test_answerable_question_without_facts_is_not_scored():
    # `rag slack --export-feedback` writes answerable lines with "facts": [] for a person to fill in.
    unfinished = {**CITY_QUESTION, "id": "slack-1", "facts": []}
    r = score_question(unfinished, answer("The talks were held in Istanbul [1].", [cite(1, SWAP_000)]), [SWAP_000])
    assert r["answer_correct"] is None and r["fact_recall"] is None and r["hit_at_k"] is None
    wrong = score_question(CITY_QUESTION, answer("The talks were held in Ankara."))
    s = summarise([r, wrong])
    assert s["answer_accuracy"] == 0.0 and s["n_answerable"] == 2


# --- summary -----------------------------------------------------------------------------


def test_summarise_keys_and_values():
    records = [
        score_question(POW_QUESTION, answer("1,000 each [1].", [cite(1, SWAP_000)], total_ms=1000), [SWAP_000]),
        score_question(CITY_QUESTION, answer("I don't know.", abstained=True, total_ms=3000), [SUMY_000]),
        score_question(CHINA_QUESTION, answer("I don't know.", abstained=True, total_ms=2000)),
    ]
    s = summarise(records)
    assert tuple(s)[: len(SUMMARY_KEYS)] == SUMMARY_KEYS
    assert s["fact_recall"] == 0.5 and s["answer_accuracy"] == 0.5
    assert s["false_abstention_rate"] == 0.5 and s["abstention_rate_unanswerable"] == 1.0
    assert s["hit_at_k"] == 0.5 and s["mrr"] == 0.5
    assert s["conflict_recall"] is None
    assert s["latency_p50_s"] == 2.0 and s["latency_p95_s"] == pytest.approx(2.9)
    assert s["prompt_tokens"] == 300 and s["completion_tokens"] == 60
    assert s["n_questions"] == 3 and s["n_unanswerable"] == 1


@pytest.mark.parametrize("q", [0, 5, 50, 90, 95, 100])
def test_percentile_matches_numpy(q):
    values = [0.7, 3.1, 1.2, 9.9, 2.2, 2.2, 5.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


# --- retrieval metrics against an independent implementation (trec_eval via ir_measures) --

RUN = {  # query -> [(passage id, score)], with ties
    "q1": [("a", 0.9), ("b", 0.8), ("c", 0.8), ("d", 0.1)],
    "q2": [("e", 0.5), ("f", 0.5), ("g", 0.5), ("h", 0.4), ("i", 0.3), ("j", 0.2)],
    "q3": [("k", 0.3), ("l", 0.2)],
    "q4": [("m", 1.0), ("n", 0.9), ("o", 0.9), ("p", 0.8), ("q", 0.7), ("r", 0.6), ("s", 0.5)],
}
RELEVANT = {"q1": {"c"}, "q2": {"g", "i"}, "q3": {"zz"}, "q4": {"s", "m"}}


def ranked(query: str) -> list[str]:
    """Score descending, ties broken by id ascending."""
    return [pid for pid, _ in sorted(RUN[query], key=lambda x: (-x[1], x[0]))]


def ir_measures_per_query(measures) -> dict:
    # Re-score from our deterministic ranking so trec_eval sees no ties.
    run = [ir_measures.ScoredDoc(q, pid, float(len(RUN[q]) - i)) for q in RUN for i, pid in enumerate(ranked(q))]
    qrels = [ir_measures.Qrel(q, pid, 1) for q, ids in RELEVANT.items() for pid in ids]
    return {(m.measure, m.query_id): m.value for m in ir_measures.iter_calc(measures, qrels, run)}


@pytest.mark.parametrize("k", [1, 3, 5])
def test_retrieval_metrics_agree_with_trec_eval(k):
    theirs = ir_measures_per_query([Success @ k, RR, R @ k])
    for q in RUN:
        relevance = [pid in RELEVANT[q] for pid in ranked(q)]
        assert hit_at_k(relevance, k) == pytest.approx(theirs[(Success @ k, q)])
        assert reciprocal_rank(relevance) == pytest.approx(theirs[(RR, q)])
        assert recall_at_k(ranked(q), RELEVANT[q], k) == pytest.approx(theirs[(R @ k, q)])


def test_recall_at_k_by_hand():
    assert recall_at_k(["p1", "p2", "p1"], "p2", 2) == 1.0
    assert recall_at_k(["p1", "p2", "p3"], "p3", 2) == 0.0
    assert recall_at_k(["p1", "p2", "p3"], ["p1", "p3", "p9"], 3) == pytest.approx(2 / 3)


# --- SQuAD v1.1 official logic, hand-computed ------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Denver Broncos!", "denver broncos"),
        ("an  apple, a pear", "apple pear"),
        ("Santa Clara, California.", "santa clara california"),
        ("theatre", "theatre"),  # articles only as whole words
        ("A.", ""),
    ],
)
def test_squad_normalize_answer(raw, expected):
    assert squad_normalize_answer(raw) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "em", "f1"),
    [
        ("the Denver Broncos", ["Denver Broncos"], 1.0, 1.0),
        ("Denver Broncos won", ["Denver Broncos"], 0.0, 0.8),  # P=2/3, R=1
        ("Broncos", ["Carolina Panthers", "Denver Broncos"], 0.0, 2 / 3),  # P=1, R=1/2, max over golds
        ("Santa Clara, California.", ["Levi's Stadium", "Santa Clara, California"], 1.0, 1.0),
        ("seven seven", ["seven"], 0.0, 2 / 3),  # Counter intersection: common=1, P=1/2, R=1
        ("in 2016", ["February 7, 2016"], 0.0, 0.4),  # common=1, P=1/2, R=1/3 -> 2PR/(P+R)=0.4
        ("A.", ["the"], 1.0, 0.0),  # both normalise to "": EM counts, F1 has no tokens in common
        ("Panthers", ["Broncos"], 0.0, 0.0),
    ],
)
def test_squad_em_f1(prediction, golds, em, f1):
    assert squad_exact_match(prediction, golds) == em
    assert squad_f1(prediction, golds) == pytest.approx(f1)


def test_squad_evaluate_counts_unanswered_as_zero():
    dataset = [
        {
            "title": "T",
            "paragraphs": [
                {
                    "context": "c",
                    "qas": [
                        {"id": "1", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0}]},
                        {"id": "2", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0}]},
                        {"id": "3", "question": "?", "answers": [{"text": "February 7, 2016", "answer_start": 0}]},
                    ],
                }
            ],
        }
    ]
    result = squad_evaluate(dataset, {"1": "Denver Broncos", "2": "Denver Broncos won"})
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * 1.8 / 3)


def test_squad_evaluate_refuses_an_empty_dataset():
    with pytest.raises(ValueError, match="no questions"):
        squad_evaluate([], {})


def test_split_sentences_is_the_parsers_split_times_and_titles_stay_inside():
    """The same sentences as ingest and answering see: "9 a.m. Monday." and "Dr." do not end one."""
    text = "The shop opens at 9 a.m. Monday [1]. Dr. Ruth Okafor said the ward reopened. [2] Prices rose 2.5 percent."
    assert split_sentences(text) == [
        "The shop opens at 9 a.m. Monday [1].",
        "Dr. Ruth Okafor said the ward reopened [2].",
        "Prices rose 2.5 percent.",
    ]
