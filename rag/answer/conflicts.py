"""Reports that disagree on what the question asks: one mechanism for every kind of value.

The answer gives a value of the kind the question asks (an amount, a length of time, a
date, a name, a place), found in its evidence next to the words of the question (see
`check.anchored`). Every other retrieved sentence from *another* article that is about the
same point (`_same_point`: it shares enough of the question's words) and gives a value of
the same kind, likewise next to the question's words, is compared with it. When the
values differ (amounts and durations once written out, dates once resolved, names by
`same_name`), the answer says so and cites each side. Amounts are compared only in one unit
(`unit`: a count, a share, a sum in one currency, a measure in one unit).

A question that asks for several ("Which leaders ...?") is answered by a list: reports that list
the names differently (two in common at least, and one that the other report does not say) are
a disagreement on which ones; another report's single value is one more of the several, not
another answer. A report that no time was set ("no timeline was given") is set against one
that gives a time ("soon", "on Friday").

Questions that ask for no kind of value can still ask for words: "What words did the coach
use ...?", "What verb was used ...?" ask for what a source said, and the values are the
quoted words ("a disgrace" against "incompetent"); "What was the mood like ...?" asks for a
description, and the values are the adjectives said of the thing asked about ("the mood was
angry" against "the mood was calm"). Reports that quote or describe it differently are the
same kind of disagreement, found the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from spacy.tokens import Token

from rag.answer.check import MAX_HOPS, _hops, _sources, _term, about_another, focus_tokens, states_relation, unset_time, value_tokens
from rag.answer.question import Question, terms
from rag.nlp.lexicon import is_person_noun
from rag.nlp.names import NAME_LABELS, country_group, mentions, name_in, same_name
from rag.nlp.parse import parse
from rag.nlp.text import fold, stem
from rag.nlp.values import SCALES, UNITS, amounts, durations, same_date
from rag.schema import EvidenceSentence

SAME_POINT = 0.4
SAME_WORDS = 2 / 3
SCALE = 10
ABOUT = {"amount": "the numbers", "measure": "the figures", "date": "when it happened", "name": "who it was",
         "place": "where it happened", "words": "the words used", "description": "what it was like",
         "list": "which ones"}  # fmt: skip
# Questions that ask for a source's own words, or for what something was like (closed-class English).
_ASKS_WORDS = re.compile(r"\b(?:what|which) (?:words?|verbs?|terms?|phrases?|expressions?|adjectives?|language|slogans?)\b"
                         r"|\bhow did\b.*\b(?:describe|call|characteri[sz]e|label)\b", re.IGNORECASE)  # fmt: skip
_ASKS_DESCRIPTION = re.compile(r"\bwhat (?:was|is|were|are|has been)\b.*\blike\b", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]{2,80})"|“([^”]{2,80})”|‘([^’]{2,80})’')


_MEASURED = ("amount", "measure", "date")


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
    # a name that only qualifies a thing ("the *Twitter* feed", "*Butte County*'s shelters"): it
    # says whose or which thing is meant, and is no other report of who did it
    modifies: bool = False
    unset: bool = False  # "no date was set": a report that no time was given (`check.unset_time`)


def stated_values(e: EvidenceSentence, question: Question, strict: bool = True) -> list[Value]:
    """The values of the asked kind this sentence gives, nearest to the question's words
    first. `strict`: only values within `MAX_HOPS` of them in a sentence that states the
    relation asked about; otherwise (a report of the same point, judged by its passage)
    every value of the kind, in order, for amounts, measures and dates."""
    doc = parse(e.text)
    focus = focus_tokens(doc, question)
    out = []
    if about_another(doc, question, {}):
        return out  # "Uber's vice president resigned" reports nothing on who resigned as president
    if focus and states_relation(terms(doc), question):
        for group in value_tokens(doc, question, {}):
            hops = _hops(_sources(group, question), focus, MAX_HOPS)
            if hops is not None:
                out.append(_value(group, hops))
    if not out and not strict and question.kind in ("amount", "measure", "date"):
        out = [_value(g, MAX_HOPS + 1) for g in value_tokens(doc, question, {})]
    if question.kind in ("name", "place"):
        out = [v for v in out if not v.modifies]
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
    last = group[-1]
    modifies = last.dep_ in ("compound", "poss") and last.head.pos_ == "NOUN" and not is_person_noun(last.head.lemma_)
    unset = any(t.i == g[-1].i for g in unset_time(doc) for t in group)
    return Value(doc[start:end].text, counted, hops, group[0].ent_type_, modifies, unset)


def comparable(kind: str, a: Value, b: Value) -> bool:
    """Whether two values can be two reports of one thing: names of the same type (places at one
    level: two countries, or two places that are no country); amounts must count the same
    thing ("1,000 prisoners" and "two sides" do not), and reports of one quantity differ by
    less than a factor of `SCALE` (estimates and rounding do; "two hours" and "three years"
    measure different things)."""
    if kind == "place" and (country_group(a.words) is None) != (country_group(b.words) is None):
        return False  # a country holds the town another report names: no other report of where
    if kind in ("name", "place"):
        return a.label == b.label  # a person against a person, a city against a city
    if kind == "date" and (a.unset or b.unset):
        return a.unset != b.unset  # a time given ("soon", "on Friday") against none set
    if a.counted and b.counted and a.counted != b.counted:
        return False
    if kind in ("amount", "measure") and unit(a) != unit(b):
        return False
    if bool(durations(a.words)) != bool(durations(b.words)):
        return False  # a length of time against a count
    x = durations(a.words) or amounts(a.words)
    y = durations(b.words) or amounts(b.words)
    if not x or not y:
        return False
    hi, lo = max(max(x), max(y)), min(min(x), min(y))
    return lo > 0 and hi / lo < SCALE


_CURRENCY_SIGN = re.compile(r"[$€£¥₹₽]")
_NOT_UNIT = re.compile(r"[\d.,]+|\b(?:" + "|".join(SCALES) + "|" + "|".join(k for k in UNITS) + r")\b|"
                       r"\b(?:about|around|almost|nearly|some|roughly|approximately|over|under|more|less|fewer|than|"
                       r"up|to|at|least|most|just|only|of|the)\b", re.IGNORECASE)  # fmt: skip


def unit(v: Value) -> str:
    """What an amount is measured in: 'percent', 'money:<currency as written>', 'measure:<one of
    the unit in base units>' (`unit_name`: "2,400m" and "2,450 metres" are both in metres) or
    'count'. Two reports of one quantity give it in the same unit; values in different units are
    not two reports of one thing ("102,000 coins" is no other figure for "more than $1 million",
    nor "60 percent" for "about 300"), and a quantity in kilograms or in euros cannot be set
    against one in pounds or dollars without converting it, so they are not compared either: a
    disagreement the reader is told about must be one."""
    words = v.words
    if "%" in words or re.search(r"\bper\s?cents?\b", words, re.IGNORECASE) or v.label == "PERCENT":
        return "percent"
    rest = " ".join(stem(w) for w in _NOT_UNIT.sub(" ", words.lower()).split())  # "metres" = "metre", "kg" = "kilograms"
    if v.label == "MONEY" or _CURRENCY_SIGN.search(words):
        sign = _CURRENCY_SIGN.search(words)
        return "money:" + (sign.group() if sign else rest)
    # A unit the recogniser missed ("2,400m", "135 mph" tagged as plain numbers) is still one; a
    # length of time is compared as a length of time (`durations`), whatever unit it is given in.
    named = unit_name(_NOT_UNIT.sub(" ", words)) if v.label == "QUANTITY" or not durations(words) else None
    if named:
        return "measure:" + named
    if v.label == "QUANTITY":
        return "measure:" + rest
    return "count"


@lru_cache(maxsize=1)
def _units():
    import pint  # ~0.4 s to read its definitions: only when a measure is compared (or at warm-up)

    return pint.UnitRegistry()


@lru_cache(maxsize=4096)
def unit_name(words: str) -> str | None:
    """The unit some words name, as one of it in the units library's base units: "m", "metres"
    and "meters" are all "1 meter", "ft" and "feet" "0.3048 meter", "mph" and "miles per hour"
    "0.44704 meter / second"; None when they name no unit of measure ("homes", "storeys")."""
    split = words.split()
    for n in range(len(split), 0, -1):  # the unit's words, without what follows them ("ft high")
        try:
            return str((1 * _units().parse_units(" ".join(split[:n]))).to_base_units())  # "km per hour" read as such
        except Exception:  # noqa: BLE001 - words the library cannot read name no unit it knows
            continue
    return None


def _same(kind: str, a: Value, a_e: EvidenceSentence, b: Value, b_e: EvidenceSentence) -> bool:
    if kind in ("amount", "measure"):
        da, db = durations(a.words), durations(b.words)
        if da and db:
            return bool(da & db)
        return bool(amounts(a.words) & amounts(b.words)) or fold(a.words) == fold(b.words)
    if kind == "date":
        return same_date(a.words, a_e.published_at, b.words, b_e.published_at)
    return same_name(a.words, b.words) or fold(a.words) in fold(b.words) or fold(b.words) in fold(a.words)


def wording(question: Question) -> str | None:
    """'words' or 'description' for questions that ask for either (see the module's doc)."""
    if question.kind is not None:
        return None
    if _ASKS_WORDS.search(question.text):
        return "words"
    if _ASKS_DESCRIPTION.search(question.text):
        return "description"
    return None


def worded_values(e: EvidenceSentence, question: Question, asks: str) -> list[Value]:
    """The quoted words, or the adjectives said of the question's subject, that a sentence
    about the question's words gives."""
    doc = parse(e.text)
    focus = focus_tokens(doc, question)
    if not focus:
        return []
    if asks == "words":
        return [Value(next(g for g in m.groups() if g).strip(" ,.;:"), None, 0) for m in _QUOTED.finditer(e.text)]
    described = described_term(question)
    if described is None:
        return []
    adjectives = [
        t for t in doc
        if t.pos_ == "ADJ" and t.dep_ in ("acomp", "amod")
        and (_term(t.head) == described or any(c.dep_.startswith("nsubj") and _term(c) == described for c in t.head.children))
    ]  # fmt: skip
    return [Value(t.text, None, 0) for t in adjectives]


def described_term(question: Question) -> str | None:
    """What "What was X like ...?" asks about: X, the subject of the clause ("the atmosphere"
    in "What was the atmosphere like during the talks?", not "the talks")."""
    doc = parse(question.text)
    like = next((t for t in doc if t.lower_ == "like"), None)
    if like is None:
        return None
    head = like.head
    if head.pos_ in ("NOUN", "PROPN"):  # "the atmosphere like": the parser hangs "like" on X
        return _term(head)
    subject = next((c for c in head.children if c.dep_.startswith("nsubj") and c.lower_ != "what"), None)
    return _term(subject) if subject is not None else None


class _Values:
    """Values of a kind (amount, measure, date, name, place): found by `stated_values`."""

    def __init__(self, question: Question) -> None:
        self.question, self.kind = question, question.kind

    def of(self, e: EvidenceSentence, strict: bool = True) -> list[Value]:
        return stated_values(e, self.question, strict)

    def comparable(self, a: Value, b: Value) -> bool:
        return comparable(self.kind, a, b)

    def same(self, a: Value, a_e: EvidenceSentence, b: Value, b_e: EvidenceSentence) -> bool:
        return _same(self.kind, a, a_e, b, b_e)

    def topic(self, cited: list[EvidenceSentence]) -> set[str]:
        """The words a report of the same point shares: the question's and its answer's."""
        return self.question.focus | set().union(*(terms(parse(e.text)) for e in cited))


class _Words(_Values):
    """Quoted words or descriptions (`worded_values`): any two can be compared; the same when
    they read the same."""

    def __init__(self, question: Question, asks: str) -> None:
        self.question, self.kind = question, asks

    def of(self, e: EvidenceSentence, strict: bool = True) -> list[Value]:
        return worded_values(e, self.question, self.kind)

    def comparable(self, a: Value, b: Value) -> bool:
        return True

    def same(self, a: Value, a_e: EvidenceSentence, b: Value, b_e: EvidenceSentence) -> bool:
        return fold(a.words) == fold(b.words)

    def topic(self, cited: list[EvidenceSentence]) -> set[str]:
        """The question's words only: the rest of a quoting sentence is each source's own phrasing."""
        return set(self.question.focus)


def find(question: Question, cited: list[EvidenceSentence], pool: list[EvidenceSentence]) -> list[Finding]:
    """At most one finding: the answer's value (or list of names) against the differing reports
    of other articles on the same point (`_same_point`)."""
    if not question.focus:
        return []
    asks = wording(question)
    values = _Values(question) if question.kind else _Words(question, asks) if asks else None
    if values is None:
        return []
    if question.kind in ("name", "place"):
        listed = _list_sides(cited, pool, values)
        if listed:
            return [Finding(about=ABOUT["list"], sides=listed)]
    if question.several and question.kind:
        return []  # another report's value is one more of the several asked for, not another answer
    mine = [(e, v) for e in cited for v in values.of(e)[:1]]
    if not mine:
        return []
    sides = _sides(cited, pool, mine[0], values)
    if len(sides) < 2:
        return []
    about = "how long it lasted" if values.kind == "measure" and all(durations(v.words) for _, v in sides) else ABOUT[values.kind]
    return [Finding(about=about, sides=[(e, v.words) for e, v in sides])]


@dataclass(frozen=True)
class Listed:
    words: str  # the list as the sentence writes it: "France, Germany and Poland"
    members: tuple[str, ...]  # the names in it


def name_lists(e: EvidenceSentence, question: Question) -> list[Listed]:
    """The lists of names a sentence that states the relation asked about gives next to the
    question's words: coordinated names ("the leaders of France, Germany and Poland"), two
    at least, each a recognised name."""
    doc = parse(e.text)
    focus = focus_tokens(doc, question)
    if not focus or about_another(doc, question, {}) or not states_relation(terms(doc), question):
        return []
    found = []
    for root in doc:
        if root.dep_ == "conj" or not any(c.dep_ == "conj" for c in root.children):
            continue
        chain, todo = [], [root]
        while todo:
            tok = todo.pop()
            chain.append(tok)
            todo += [c for c in tok.children if c.dep_ == "conj"]
        ents = {ent for t in chain for ent in doc.ents if ent.start <= t.i < ent.end and ent.label_ in NAME_LABELS}
        ents = sorted(ents, key=lambda x: x.start)
        if len(ents) < 2 or _hops([t for x in ents for t in x], focus, MAX_HOPS) is None:
            continue
        found.append(Listed(doc[ents[0].start : ents[-1].end].text, tuple(x.text for x in ents)))
    return found


def _differ(a: Listed, a_text: str, b: Listed, b_text: str) -> bool:
    """Two lists of the same members in part: at least two names in common (they list the same
    things) and a name in one that the other sentence does not say at all (they list them
    differently; a name the other sentence says outside its list is a list the parse split)."""
    common = [x for x in a.members if any(same_name(x, y) for y in b.members)]
    missing = [x for x in a.members if not _says(b_text, x)] + [y for y in b.members if not _says(a_text, y)]
    return len(common) >= 2 and bool(missing)


def _says(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(fold(name))}\b", fold(text)) is not None


def _list_sides(cited: list[EvidenceSentence], pool: list[EvidenceSentence], values: _Values) -> list[tuple[EvidenceSentence, str]]:
    """Reports that list the names asked for differently ("the leaders of France, Germany and
    Poland" against "... of France, Germany, the UK and Poland"): the answer's list, then the
    first differing list of each other article on the same point (`_same_point`)."""
    mine = [(e, x) for e in cited for x in name_lists(e, values.question)]
    if not mine:
        return []
    sides = [mine[0]]
    seen_docs = {e.doc_id for e in cited}
    for e in _on_point(pool, cited, values):
        if e.doc_id in seen_docs:
            continue
        theirs = next((x for x in name_lists(e, values.question) if _differ(mine[0][1], mine[0][0].text, x, e.text)), None)
        if theirs is not None:
            sides.append((e, theirs))
            seen_docs.add(e.doc_id)
    return [(e, x.words) for e, x in sides] if len(sides) >= 2 else []


def _on_point(pool: list[EvidenceSentence], cited: list[EvidenceSentence], values: _Values) -> list[EvidenceSentence]:
    """The pool's sentences from other articles than the answer's whose passage reports on the
    same point (`_same_point`), in pool order; each passage is judged once."""
    topic = values.topic(cited)
    mine = {e.doc_id for e in cited}
    passages: dict[str, list[EvidenceSentence]] = {}
    for e in pool:
        if e.doc_id not in mine:
            passages.setdefault(e.chunk_id, []).append(e)
    on_point = {
        chunk for chunk, sentences in passages.items()
        if _same_point(sentences, set().union(*(terms(parse(e.text)) for e in sentences)), topic, values.question)
    }  # fmt: skip
    return [e for e in pool if e.chunk_id in on_point and e.doc_id not in mine]


def _same_point(passage: list[EvidenceSentence], passage_terms: set[str], topic: set[str], question: Question) -> bool:
    """Whether a passage reports on the point the answer does: it holds at least `SAME_POINT` of
    the words of the question and of the answer's evidence; or, told in its own words, it names
    all the question names (by any form: "Zelenskyy" for "Zelensky") and says at least
    `SAME_WORDS` of the question's other words (or others for them), two at least ("no
    timeline was given for when the exchange would take place" against "they agreed to trade
    prisoners soon")."""
    if len(passage_terms & topic) >= SAME_POINT * len(topic):
        return True
    plain = question.focus - question.name_terms
    said = question.found_in(passage_terms) & plain
    if len(said) < max(2, SAME_WORDS * len(plain)):
        return False
    named = [n for e in passage for n in mentions(parse(e.text))]
    return all(name_in(n, named, {}) for n in question.names)


def _sides(cited: list[EvidenceSentence], pool: list[EvidenceSentence], mine: tuple[EvidenceSentence, Value],
           values: _Values) -> list[tuple[EvidenceSentence, Value]]:  # fmt: skip
    """The answer's side, then the first differing value of each other article on the same point."""
    sides: list[tuple[EvidenceSentence, Value]] = [mine]
    seen_docs = {e.doc_id for e in cited}
    # Who or what was asked is said of a word for it ("the *premier*"): a report that names someone
    # without that word, in a passage on the same story, gives no other answer ("Queensland
    # Ambulance ... Stephan Gollschewski" for "Who is the premier of Queensland?"). A count, a
    # length or a date says by its kind what it measures ("wrapped up after two hours").
    asked = values.question.focus - values.question.name_terms if values.kind not in _MEASURED else set()
    for e in _on_point(pool, cited, values):
        if e.doc_id in seen_docs:
            continue
        if asked and not values.question.found_in(terms(parse(e.text))) & asked:
            continue
        theirs = values.of(e, strict=False)
        if values.kind in ("name", "place") and any(values.same(v, e, mine[1], mine[0]) for v in theirs):
            continue  # it names the answer's value too: a list that holds it, not another report of who
        for value in theirs:
            if not values.comparable(value, mine[1]):
                continue
            if not any(values.same(value, e, v, se) for se, v in sides):
                sides.append((e, value))
                seen_docs.add(e.doc_id)
            break  # one value a sentence: the one nearest the question's words
    return sides
