"""Passages -> numbered evidence sentences: the material the model answers from.

Each retrieved passage is split into sentences with exact offsets in its article. A
sentence scores by the question words it holds (or other words for them: "killed" for
"died", `rag.nlp.lexicon`), each weighted by how rare it is among
the candidate sentences (a word every sentence has tells nothing), plus a share of its
passage's retrieval score. A sentence that holds a value of the kind asked (a name for "who", an amount for "how
many") scores a little more. One that opens with a pronoun ("He was 90.") is about what the
sentence before it names: the question words only that one says count for it at half weight.
The best sentences are shown, with the sentence before one that opens with a pronoun or a
connective ("He said ...", "But ...": it cannot be read alone), up to a budget of words,
numbered in article order so each article reads as prose.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from rag.answer.check import value_tokens
from rag.answer.question import Question, terms
from rag.nlp.parse import parse, parse_many, sentences
from rag.schema import EvidenceSentence, Passage

PASSAGE_WEIGHT = 0.3  # share of the passage's fused retrieval score in a sentence's score
BORROWED_WEIGHT = 0.5  # a question word said only by the sentence before one that opens mid-thought
VALUE_BONUS = 0.2  # a sentence holding a value of the kind asked (a name for "who") may be the answer
# Prompt-injection signatures: text addressed to a model, not news prose. A role prefix
# ("SYSTEM:", "Assistant:"), markup that would close or open a prompt section, a fake
# source list, or an order to ignore instructions or to answer with given words.
_INSTRUCTION = re.compile(
    r"^\W*(?:system|assistant|user|developer|human|ai|model)\s*:|</?\s*[a-z_]+\s*>|\bsources?\s*:\s*[\[(]\d|"
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions?|prompt|above|previous|rules?)\b|"
    r"\bnew instructions?\b|\b(?:answer|reply|respond|say|output|write)\s+(?:only\s+)?(?:with|that)?\s*[\"“']|"
    r"\byou (?:are|must) (?:an? )?(?:ai|assistant|language model|answer)|\[\d+\]",
    re.IGNORECASE,
)


_ROLE_BEFORE = re.compile(r"(?:system|assistant|user|developer|human|ai|model)\s*:\s*$", re.IGNORECASE)


def instruction_like(text: str, before: str = "") -> bool:
    """Whether a sentence reads as an instruction to a model rather than reporting (see above),
    or follows a role prefix that the sentence splitter cut off (`before`: the text just
    before it). Such sentences are never evidence: article text is data."""
    return bool(_INSTRUCTION.search(text) or _ROLE_BEFORE.search(before))  # share of the passage's fused retrieval score in a sentence's score
_OPENS_MID_THOUGHT = {"PRON", "CCONJ"}


@dataclass
class Candidate:
    passage: int  # index into the retrieved passages
    text: str
    start: int  # in the article
    end: int
    terms: set[str]
    needs_previous: bool
    tokens: list = field(default_factory=list)
    score: float = 0.0


def opens_mid_thought(text: str) -> bool:
    """Whether a sentence opens with a pronoun or a connective ("He said ...", "But ..."),
    so that it needs the sentence before it to be understood."""
    first = next((t for t in parse(text) if not t.is_punct), None)
    return first is not None and first.pos_ in _OPENS_MID_THOUGHT


def candidates(passages: list[Passage]) -> list[Candidate]:
    """Every sentence of the passages, in order, with its content words."""
    docs = parse_many([p.text for p in passages])
    out: list[Candidate] = []
    for i, (p, doc) in enumerate(zip(passages, docs)):
        for s in sentences(p.text):
            if not re.search(r"[A-Za-z0-9]", s.text) or instruction_like(s.text, p.text[max(0, s.start - 40) : s.start]):
                continue
            span = doc.char_span(s.start, s.end, alignment_mode="expand")
            toks = list(span) if span is not None else []
            first = next((t for t in toks if not t.is_punct), None)
            out.append(
                Candidate(
                    passage=i, text=s.text, start=p.start + s.start, end=p.start + s.end,
                    terms=terms(toks), needs_previous=bool(first is not None and first.pos_ in _OPENS_MID_THOUGHT),
                    tokens=toks,
                )  # fmt: skip
            )
    return out


def score(question: Question, found: list[Candidate], passages: list[Passage]) -> None:
    n = len(found)
    said = [question.found_in(c.terms) for c in found]  # the question words each sentence says
    # A sentence that opens mid-thought ("He was 90.") is about what the sentence before it names,
    # and is shown with it: the question words only that one says count for it at half weight.
    borrowed = [
        question.found_in(found[i - 1].terms) - said[i] if c.needs_previous and i and found[i - 1].passage == c.passage else set()
        for i, c in enumerate(found)
    ]  # fmt: skip
    df = Counter(t for words in said for t in words)
    idf = {t: math.log(1 + n / (1 + df[t])) for t in question.focus}
    total = sum(idf.values()) or 1.0
    for c, words, theirs in zip(found, said, borrowed):
        lexical = (sum(idf[t] for t in words) + BORROWED_WEIGHT * sum(idf[t] for t in theirs)) / total
        c.score = lexical + PASSAGE_WEIGHT * passages[c.passage].score
        if question.kind and c.tokens and lexical > 0 and value_tokens(c.tokens[0].doc[c.tokens[0].i : c.tokens[-1].i + 1], question, {}):
            c.score += VALUE_BONUS


def select(question: Question, passages: list[Passage], max_sentences: int, max_words: int) -> list[EvidenceSentence]:
    """The evidence the model is shown, numbered from 1 (rules in the module docstring)."""
    found = candidates(passages)
    if not found:
        return []
    score(question, found, passages)
    chosen: set[int] = set()
    words = 0
    for idx in sorted(range(len(found)), key=lambda j: -found[j].score):
        if len(chosen) >= max_sentences:
            break
        picks = [idx]
        prev = idx - 1
        if found[idx].needs_previous and prev >= 0 and found[prev].passage == found[idx].passage:
            picks.insert(0, prev)
        cost = sum(len(found[j].text.split()) for j in picks if j not in chosen)
        if chosen and words + cost > max_words:
            continue
        chosen.update(picks)
        words += cost
    # Article order: passages by rank, grouped by article; sentences by position.
    first_rank: dict[str, int] = {}
    for i, p in enumerate(passages):
        first_rank.setdefault(p.doc_id, i)
    order = sorted(chosen, key=lambda j: (first_rank[passages[found[j].passage].doc_id], found[j].start))
    return [_evidence(n, found[j], passages) for n, j in enumerate(order, 1)]


def pool(passages: list[Passage]) -> list[EvidenceSentence]:
    """Every sentence of the passages as unnumbered evidence (id 0): what checks may read
    beyond what the model was shown (other reports of the same point, for conflicts)."""
    return [_evidence(0, c, passages) for c in candidates(passages)]


def _evidence(n: int, c: Candidate, passages: list[Passage]) -> EvidenceSentence:
    p = passages[c.passage]
    return EvidenceSentence(
        id=n, doc_id=p.doc_id, chunk_id=p.chunk_id, title=p.title, text=c.text, start=c.start, end=c.end,
        score=round(c.score, 4), url=p.url, published_at=p.published_at,
    )  # fmt: skip
