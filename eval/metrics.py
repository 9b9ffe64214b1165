"""Scoring for the offline eval: pure functions over gold questions and `Answer` objects.

Gold question (one line of `eval/gold/*.jsonl`)::

    {"id", "question", "facts": [[form, ...], ...], "sources": [doc_id, ...],
     "answerable": bool, "conflict": bool}

Every rule below is deliberately simple, so a reader can check a score by hand.

Matching facts
    Text is `normalise`d (lowercase, accents stripped, unicode dashes and quotes made
    ASCII, thousands separators removed, whitespace collapsed). A form matches when it
    occurs in the text as a whole-word substring: no letter or digit right before or
    after it. Hyphens count as spaces ("U-shaped" matches "U shaped"), and a word's British
    and American spellings are one ("2,450 meters" matches "2,450 metres"; `breame`'s list). A form written
    in capitals with at least two letters ("US", "UK", "U.S.") is an acronym and
    matches case-sensitively, so "US" does not match the pronoun "us". A fact is
    found when any of its forms matches.

Per question (`score_question`)
    fact_recall       found facts / gold facts (answerable questions only).
    answer_correct    answerable: every fact found and not abstained (None without facts:
                      a Slack export line whose facts are still to be filled in).
    abstention        `Answer.abstained` is the abstention signal (the text is not read).
    citations         The answer is split into sentences; every marker "[n]" in a
                      sentence is one citation of that sentence (a marker that follows the
                      final full stop belongs to the sentence before it). A citation is
                      *supported* when
                        1. the sentence states one or more gold facts: the cited passage
                           text contains a form of at least one of those facts;
                        2. the sentence states no gold fact (fallback): at least 60% of
                           the sentence's content tokens (words not in STOPWORDS, and
                           numbers; markers removed) occur among the passage's tokens.
                      A marker with no matching citation in `Answer.citations` is unsupported.
    citation_precision  supported citations / citations in the text (None if none).
    citation_recall   found facts stated in a sentence that cites a passage containing
                      that fact / found facts (None if no fact was found).
    conflict_reported `Answer.conflicts` is non-empty, or the answer text matches
                      CONFLICT_PATTERN: a word of disagreement (differ, disagree, vary,
                      conflicting, contradict, inconsistent) within 60 characters of a word
                      for the reports (reports, sources, articles, accounts, figures ...)
                      in the same sentence, "discrepancy", or "one report ... another".
    hit_at_k, mrr     A retrieved passage is relevant when it comes from one of the gold
                      source docs and its text contains a form of a gold fact. Ranks
                      follow the order of the passages given. hit_at_k: a relevant
                      passage in the first k. mrr: 1 / rank of the first relevant passage
                      (0 if none). None (not applicable) for questions without facts.
    latency_s         as given, else `Answer.timings.total_ms` / 1000.

Summary (`summarise`)
    Means over the questions where a value applies (None when none applies):
    citation_precision over every answer with citations; fact_recall,
    answer_accuracy, citation_recall, hit_at_k and mrr over answerable questions;
    abstention_rate_unanswerable = abstained share of unanswerable questions;
    false_abstention_rate = abstained share of answerable
    questions; conflict_recall = conflict_reported share of conflict questions.
    Latency p50/p95 use linear interpolation between order statistics (numpy's
    default). Token counts are sums. n_errors counts the records with an `error`
    (questions whose answer function raised).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from breame.spelling import british_spelling_exists, get_american_spelling

from rag.nlp.parse import sentences as parsed_sentences
from rag.nlp.text import STOPWORDS, fold_marks
from rag.schema import Answer, Passage

SUMMARY_KEYS = (
    "fact_recall",
    "answer_accuracy",
    "citation_precision",
    "citation_recall",
    "abstention_rate_unanswerable",
    "false_abstention_rate",
    "conflict_recall",
    "hit_at_k",
    "mrr",
    "latency_p50_s",
    "latency_p95_s",
    "prompt_tokens",
    "completion_tokens",
)

SUPPORT_OVERLAP = 0.6  # fallback rule: share of a sentence's content tokens found in the passage

# ---------------------------------------------------------------------------
# Normalisation and fact matching

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _fold(text: str) -> str:
    """Everything `normalise` does except lowercasing."""
    text = _THOUSANDS.sub("", fold_marks(text))
    return " ".join(text.split())


def normalise(text: str) -> str:
    """Lowercase, strip accents, ASCII dashes and quotes, drop thousands separators,
    collapse whitespace: "Dolmabahçe — 1,000 “POWs”" -> 'dolmabahce - 1000 "pows"'."""
    return _fold(text).lower()


def _is_acronym(form: str) -> bool:
    return form.isupper() and sum(ch.isalpha() for ch in form) >= 2


def _dehyphen(text: str) -> str:
    return " ".join(text.replace("-", " ").split())


_WORD = re.compile(r"[A-Za-z]+")


def _american(text: str) -> str:
    """Each word with a British spelling in its American one ("metres" -> "meters"): a fact
    given in one spelling is stated by an answer in the other."""
    return _WORD.sub(lambda m: _american_word(m.group()), text)


@lru_cache(maxsize=65536)
def _american_word(word: str) -> str:
    return get_american_spelling(word.lower()) if british_spelling_exists(word.lower()) else word


def fact_found(answer_text: str, forms: Iterable[str]) -> bool:
    """True when any accepted form occurs in the text as a whole word (see module doc)."""
    folded = _american(_dehyphen(_fold(answer_text)))
    lowered = folded.lower()
    for form in forms:
        f = _american(_dehyphen(_fold(form)))
        if not f:
            continue
        haystack, needle = (folded, f) if _is_acronym(f) else (lowered, f.lower())
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])", haystack):
            return True
    return False


def facts_found(answer_text: str, facts: Sequence[Sequence[str]]) -> list[bool]:
    return [fact_found(answer_text, forms) for forms in facts]


# ---------------------------------------------------------------------------
# Sentences and citation markers

_MARKER = re.compile(r"\[(\d+)\]")
# Markers right after the final punctuation belong to the sentence before: "Istanbul. [1]"
_TRAILING_MARKERS = re.compile(r"([.!?])((?:\s*\[\d+\])+)")


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences, keeping each sentence's citation markers with it.

    The sentences are the parser's (`rag.nlp.parse.sentences`, as ingest and answering split
    them): initials, abbreviations and times stay inside a sentence ("U.S.", "Mr.", "9 a.m. Monday.").
    """
    text = _TRAILING_MARKERS.sub(lambda m: m.group(2) + m.group(1), text.strip())
    return [s.text for s in parsed_sentences(text)]


def markers(sentence: str) -> list[int]:
    """The citation markers in a sentence, in order, without repeats."""
    return list(dict.fromkeys(int(n) for n in _MARKER.findall(sentence)))


def content_tokens(text: str) -> list[str]:
    """Words and numbers of a text, normalised, without markers and STOPWORDS."""
    return [t for t in re.findall(r"[a-z0-9]+", normalise(_MARKER.sub(" ", text))) if t not in STOPWORDS]


def overlap_supported(sentence: str, passage_text: str, threshold: float = SUPPORT_OVERLAP) -> bool:
    """Fallback support rule: >= threshold of the sentence's content tokens are in the passage."""
    tokens = content_tokens(sentence)
    if not tokens:
        return False
    in_passage = set(content_tokens(passage_text))
    return sum(t in in_passage for t in tokens) / len(tokens) >= threshold


def citation_supported(sentence: str, passage_text: str, facts: Sequence[Sequence[str]]) -> bool:
    """Is a citation of `passage_text` by `sentence` supported? (rule in the module doc)"""
    stated = [forms for forms in facts if fact_found(sentence, forms)]
    if stated:
        return any(fact_found(passage_text, forms) for forms in stated)
    return overlap_supported(sentence, passage_text)


# ---------------------------------------------------------------------------
# Conflicts

_SOURCE_NOUN = r"(?:reports?|sources?|articles?|accounts?|outlets?|figures?|versions?)"
_DIFFER_WORD = r"(?:differ\w*|disagree\w*|vary|varies|varied|conflict\w*|contradict\w*|inconsistent)"
# Read on normalised text. A word of disagreement alone is not enough ("the conflict in
# Ukraine", "Kyiv disagreed"): it must come within 60 characters of the same sentence as a
# word for the reports themselves.
CONFLICT_PATTERN = re.compile(
    rf"\b{_SOURCE_NOUN}\b[^.]{{0,60}}\b{_DIFFER_WORD}"  # "the reports differ", "sources give conflicting ..."
    rf"|\b{_DIFFER_WORD}\b[^.]{{0,60}}\b{_SOURCE_NOUN}\b"  # "conflicting reports", "varies between articles"
    rf"|\bdiscrepan\w*"  # "a discrepancy"
    rf"|\bone {_SOURCE_NOUN}\b.*\b(?:another|others?)\b"  # "one report says 100 minutes, another two hours"
)


def conflict_reported(answer: Answer) -> bool:
    return bool(answer.conflicts) or bool(CONFLICT_PATTERN.search(normalise(answer.answer)))


# ---------------------------------------------------------------------------
# Retrieval


def passage_relevant(passage: Passage, gold: Mapping[str, Any]) -> bool:
    """From a gold source doc and holding a form of a gold fact."""
    if gold["sources"] and passage.doc_id not in gold["sources"]:
        return False
    return any(fact_found(passage.text, forms) for forms in gold["facts"])


def hit_at_k(relevance: Sequence[bool], k: int) -> float:
    """1.0 if a relevant item is among the first k, else 0.0."""
    return 1.0 if any(relevance[:k]) else 0.0


def reciprocal_rank(relevance: Sequence[bool]) -> float:
    """1 / rank of the first relevant item (ranks start at 1); 0.0 if none is relevant."""
    return next((1.0 / rank for rank, rel in enumerate(relevance, 1) if rel), 0.0)


def recall_at_k(retrieved_ids: Sequence[str], gold_ids: str | Iterable[str], k: int) -> float:
    """Share of the gold ids found among the first k retrieved ids (repeats count once)."""
    gold = {gold_ids} if isinstance(gold_ids, str) else set(gold_ids)
    if not gold:
        raise ValueError("recall_at_k needs at least one gold id")
    return len(gold & set(retrieved_ids[:k])) / len(gold)


# ---------------------------------------------------------------------------
# One question


def score_question(
    gold: Mapping[str, Any],
    answer: Answer | Mapping[str, Any],
    passages: Sequence[Passage | Mapping[str, Any]] | None = None,
    latency_s: float | None = None,
    k: int = 5,
) -> dict[str, Any]:
    """Score one answer against its gold question; returns a flat, JSON-ready record.

    `passages` are the retrieved passages in rank order (None if not recorded).
    Values that do not apply to the question are None.
    """
    ans = answer if isinstance(answer, Answer) else Answer.model_validate(answer)
    facts = [list(forms) for forms in gold["facts"]]
    answerable = bool(gold["answerable"])
    found = facts_found(ans.answer, facts)
    return {
        "id": gold["id"],
        "question": gold["question"],
        "answerable": answerable,
        "conflict": bool(gold.get("conflict", False)),
        "answer": ans.answer,
        "abstained": ans.abstained,
        **_fact_scores(found, ans.abstained, answerable and bool(facts)),
        "abstention_correct": ans.abstained == (not answerable),
        **_citation_scores(ans, facts, found),
        "conflict_reported": conflict_reported(ans),
        **_retrieval_scores(passages, gold, facts, k),
        "k": k,
        "latency_s": latency_s if latency_s is not None or not ans.timings.total_ms else ans.timings.total_ms / 1000,
        "prompt_tokens": ans.usage.prompt_tokens,
        "completion_tokens": ans.usage.completion_tokens,
    }


def _fact_scores(found: list[bool], abstained: bool, applies: bool) -> dict[str, Any]:
    """fact_recall and answer_correct (None for unanswerable questions and those without facts)."""
    return {
        "facts_found": found,
        "fact_recall": sum(found) / len(found) if applies else None,
        "answer_correct": (all(found) and not abstained) if applies else None,
    }


def _citation_scores(ans: Answer, facts: list[list[str]], found: list[bool]) -> dict[str, Any]:
    """Citations in the text, those supported, and the found facts a citation backs (module doc)."""
    by_marker = {c.marker: c for c in ans.citations}
    sentences = split_sentences(ans.answer)
    cited = supported = 0
    for sentence in sentences:
        for marker in markers(sentence):
            cited += 1
            citation = by_marker.get(marker)
            supported += citation is not None and citation_supported(sentence, citation.text, facts)

    def backed_by_citation(forms: list[str]) -> bool:
        """Some sentence states the fact and cites a passage that holds it."""
        return any(
            fact_found(s, forms) and any(m in by_marker and fact_found(by_marker[m].text, forms) for m in markers(s))
            for s in sentences
        )

    backed = sum(backed_by_citation(forms) for forms, is_found in zip(facts, found) if is_found)
    return {
        "citations_in_text": cited,
        "citations_supported": supported,
        "citation_precision": supported / cited if cited else None,
        "citation_recall": backed / sum(found) if any(found) else None,
    }


def _retrieval_scores(
    passages: Sequence[Passage | Mapping[str, Any]] | None, gold: Mapping[str, Any], facts: list[list[str]], k: int
) -> dict[str, float | None]:
    """hit_at_k and mrr of the retrieved passages (None when not recorded or without facts)."""
    if passages is None or not facts:
        return {"hit_at_k": None, "mrr": None}
    ps = [p if isinstance(p, Passage) else Passage.model_validate(p) for p in passages]
    relevance = [passage_relevant(p, gold) for p in ps]
    return {"hit_at_k": hit_at_k(relevance, k), "mrr": reciprocal_rank(relevance)}


# ---------------------------------------------------------------------------
# Many questions


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0..100), numpy's linear interpolation between order statistics."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q))


def _mean(values: Iterable[float | bool | None]) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate `score_question` records into the summary (keys: SUMMARY_KEYS + counts)."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    conflicts = [r for r in records if r["conflict"]]
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    summary = {
        "fact_recall": _mean(r["fact_recall"] for r in answerable),
        "answer_accuracy": _mean(r["answer_correct"] for r in answerable),
        "citation_precision": _mean(r["citation_precision"] for r in records),
        "citation_recall": _mean(r["citation_recall"] for r in answerable),
        "abstention_rate_unanswerable": _mean(r["abstained"] for r in unanswerable),
        "false_abstention_rate": _mean(r["abstained"] for r in answerable),
        "conflict_recall": _mean(r["conflict_reported"] for r in conflicts),
        "hit_at_k": _mean(r["hit_at_k"] for r in answerable),
        "mrr": _mean(r["mrr"] for r in answerable),
        "latency_p50_s": percentile(latencies, 50) if latencies else None,
        "latency_p95_s": percentile(latencies, 95) if latencies else None,
        "prompt_tokens": sum(r["prompt_tokens"] for r in records),
        "completion_tokens": sum(r["completion_tokens"] for r in records),
    }
    assert tuple(summary) == SUMMARY_KEYS
    summary.update(
        n_questions=len(records),
        n_answerable=len(answerable),
        n_unanswerable=len(unanswerable),
        n_conflict=len(conflicts),
        n_errors=sum(1 for r in records if r.get("error")),
        k=records[0]["k"] if records else None,
    )
    return summary


# ---------------------------------------------------------------------------
# SQuAD v1.1: the official evaluate-v1.1.py logic, unchanged


def squad_normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _squad_f1_one(prediction: str, ground_truth: str) -> float:
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _squad_em_one(prediction: str, ground_truth: str) -> float:
    return float(squad_normalize_answer(prediction) == squad_normalize_answer(ground_truth))


def squad_exact_match(prediction: str, ground_truths: Sequence[str]) -> float:
    """1.0 if the prediction equals any gold answer after normalisation (max over golds)."""
    return max(_squad_em_one(prediction, gt) for gt in ground_truths)


def squad_f1(prediction: str, ground_truths: Sequence[str]) -> float:
    """Token-overlap F1, max over gold answers."""
    return max(_squad_f1_one(prediction, gt) for gt in ground_truths)


def squad_evaluate(dataset: Sequence[Mapping[str, Any]], predictions: Mapping[str, str]) -> dict[str, float]:
    """The official `evaluate(dataset, predictions)`: `dataset` is the file's "data" list;
    unanswered questions score 0. Returns percentages, like the script."""
    f1 = exact_match = total = 0.0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [a["text"] for a in qa["answers"]]
                exact_match += squad_exact_match(predictions[qa["id"]], ground_truths)
                f1 += squad_f1(predictions[qa["id"]], ground_truths)
    if not total:
        raise ValueError("squad_evaluate: the dataset has no questions (pass the file's 'data' list)")
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
