"""Reports that disagree on what the question asks: one mechanism for every kind of value.

The answer gives a value of the kind the question asks (an amount, a length of time, a
date, a name, a place), found in its evidence next to the words of the question (see
`check.anchored`). Every other retrieved sentence from *another* article that is about the
same point (it holds at least `SAME_POINT` of the question's words) and gives a value of
the same kind, likewise next to the question's words, is compared with it. When the
values differ (amounts and durations once written out, dates once resolved, names by
`same_name`), the answer says so and cites each side.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Token

from rag.answer.check import MAX_HOPS, _hops, focus_tokens, states_relation, value_tokens
from rag.answer.question import Question, terms
from rag.nlp.names import same_name
from rag.nlp.parse import parse
from rag.nlp.text import fold
from rag.nlp.values import amounts, durations, same_date
from rag.schema import EvidenceSentence

SAME_POINT = 0.4
SCALE = 10
ABOUT = {"amount": "the numbers", "measure": "the figures", "date": "when it happened", "name": "who it was",
         "place": "where it happened"}  # fmt: skip


@dataclass
class Finding:
    about: str
    sides: list[tuple[EvidenceSentence, str]]  # (sentence, the words that state that side)


@dataclass(frozen=True)
class Value:
    words: str  # as the sentence writes it, with what it counts: "nine civilians"
    counted: str | None  # the lemma of the noun an amount counts, if any
    hops: int  # dependency links to the nearest word of the question
    label: str = ""  # the entity type (PERSON, GPE, ...)


def stated_values(e: EvidenceSentence, question: Question, strict: bool = True) -> list[Value]:
    """The values of the asked kind this sentence gives, nearest to the question's words
    first. `strict`: only values within `MAX_HOPS` of them in a sentence that states the
    relation asked about; otherwise (a report of the same point, judged by its passage)
    every value of the kind, in order, for amounts, measures and dates."""
    doc = parse(e.text)
    focus = focus_tokens(doc, question)
    out = []
    if focus and states_relation(terms(doc), question):
        for group in value_tokens(doc, question, {}):
            hops = _hops(group, focus, MAX_HOPS)
            if hops is not None:
                out.append(_value(group, hops))
    if not out and not strict and question.kind in ("amount", "measure", "date"):
        out = [_value(g, MAX_HOPS + 1) for g in value_tokens(doc, question, {})]
    return sorted(out, key=lambda v: v.hops)


def _value(group: list[Token], hops: int) -> Value:
    """The value with the noun it counts or measures: "nine" -> "nine civilians"."""
    doc = group[0].doc
    start, end = group[0].i, group[-1].i + 1
    head = group[-1].head
    counted = None
    if group[-1].dep_ in ("nummod", "compound", "quantmod") and head.pos_ == "NOUN" and head.i >= end:
        counted = head.lemma_.lower()
        if head.i <= end + 2:
            end = head.i + 1
    return Value(doc[start:end].text, counted, hops, group[0].ent_type_)


def comparable(kind: str, a: Value, b: Value) -> bool:
    """Whether two values can be two reports of one thing: names of the same type; amounts must count the same
    thing ("1,000 prisoners" and "two sides" do not), and reports of one quantity differ by
    less than a factor of `SCALE` (estimates and rounding do; "two hours" and "three years"
    measure different things)."""
    if kind in ("name", "place"):
        return a.label == b.label  # a person against a person, a city against a city
    if a.counted and b.counted and a.counted != b.counted:
        return False
    if bool(durations(a.words)) != bool(durations(b.words)):
        return False  # a length of time against a count
    x = durations(a.words) or amounts(a.words)
    y = durations(b.words) or amounts(b.words)
    if not x or not y:
        return False
    hi, lo = max(max(x), max(y)), min(min(x), min(y))
    return lo > 0 and hi / lo < SCALE


def _same(kind: str, a: Value, a_e: EvidenceSentence, b: Value, b_e: EvidenceSentence) -> bool:
    if kind in ("amount", "measure"):
        da, db = durations(a.words), durations(b.words)
        if da and db:
            return bool(da & db)
        return bool(amounts(a.words) & amounts(b.words)) or fold(a.words) == fold(b.words)
    if kind == "date":
        return same_date(a.words, a_e.published_at, b.words, b_e.published_at)
    return same_name(a.words, b.words) or fold(a.words) in fold(b.words) or fold(b.words) in fold(a.words)


def find(question: Question, cited: list[EvidenceSentence], pool: list[EvidenceSentence]) -> list[Finding]:
    """At most one finding: the answer's value against the differing reports of other articles.

    Another article's sentence reports on the same point when it, with the other sentences
    of its passage, holds at least `SAME_POINT` of the words of the question and of the
    answer's evidence (values aside)."""
    kind = question.kind
    if kind is None or not question.focus:
        return []
    mine = [(e, v) for e in cited for v in stated_values(e, question)[:1]]
    if not mine:
        return []
    topic = question.focus | set().union(*(terms(parse(e.text)) for e in cited))
    by_chunk: dict[str, set[str]] = {}
    for e in pool:
        by_chunk.setdefault(e.chunk_id, set()).update(terms(parse(e.text)))
    sides: list[tuple[EvidenceSentence, Value]] = [mine[0]]
    seen_docs = {e.doc_id for e in cited}
    for e in pool:
        if e.doc_id in seen_docs or len(by_chunk[e.chunk_id] & topic) < SAME_POINT * len(topic):
            continue
        for value in stated_values(e, question, strict=False):
            if not comparable(kind, value, mine[0][1]):
                continue
            if not any(_same(kind, value, e, v, se) for se, v in sides):
                sides.append((e, value))
                seen_docs.add(e.doc_id)
            break  # one value a sentence: the one nearest the question's words
    if len(sides) < 2:
        return []
    about = "how long it lasted" if kind == "measure" and all(durations(v.words) for _, v in sides) else ABOUT[kind]
    return [Finding(about=about, sides=[(e, v.words) for e, v in sides])]
