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

from rag.answer.check import MAX_HOPS, _hops, _term, value_tokens
from rag.answer.question import Question, terms
from rag.nlp.names import same_name
from rag.nlp.parse import parse
from rag.nlp.text import fold
from rag.nlp.values import amounts, durations, same_date
from rag.schema import EvidenceSentence

SAME_POINT = 0.5
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


def stated_values(e: EvidenceSentence, question: Question) -> list[Value]:
    """The values of the asked kind this sentence gives next to the question's words,
    nearest first."""
    doc = parse(e.text)
    focus = {t.i for t in doc if _term(t) in question.focus and t.pos_ != "PROPN"} or {
        t.i for t in doc if _term(t) in question.focus
    }
    if not focus:
        return []
    out = []
    for group in value_tokens(doc, question, {}):
        hops = _hops(group, focus, MAX_HOPS)
        if hops is not None:
            out.append(_value(group, hops))
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
    return Value(doc[start:end].text, counted, hops)


def comparable(kind: str, a: Value, b: Value) -> bool:
    """Whether two values can be two reports of one quantity: amounts must count the same
    thing ("1,000 prisoners" and "two sides" do not), and reports of one quantity differ by
    less than a factor of `SCALE` (estimates and rounding do; "two hours" and "three years"
    measure different things)."""
    if kind not in ("amount", "measure"):
        return True
    if a.counted and b.counted and a.counted != b.counted:
        return False
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
    """At most one finding: the answer's value against the first differing report of another article."""
    kind = question.kind
    if kind is None or not question.focus:
        return []
    mine = [(e, v) for e in cited for v in stated_values(e, question)[:1]]
    if not mine:
        return []
    sides: list[tuple[EvidenceSentence, Value]] = [mine[0]]
    seen_docs = {e.doc_id for e in cited}
    for e in pool:
        if e.doc_id in seen_docs:
            continue
        if len(terms(parse(e.text)) & question.focus) < SAME_POINT * len(question.focus):
            continue
        for value in stated_values(e, question)[:1]:  # the value nearest the question's words
            if not comparable(kind, value, mine[0][1]):
                continue
            if not any(_same(kind, value, e, v, se) for se, v in sides):
                sides.append((e, value))
                seen_docs.add(e.doc_id)
    if len(sides) < 2:
        return []
    about = "how long it lasted" if kind == "measure" and all(durations(v.words) for _, v in sides) else ABOUT[kind]
    return [Finding(about=about, sides=[(e, v.words) for e, v in sides])]
