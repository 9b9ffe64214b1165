"""Disagreements between cited reports.

After verification, each answer sentence is compared with the other retrieved
passages from *other* articles that speak to the same point (they share at least
`SAME_POINT` of the sentence's content words, after dropping the values compared).
These kinds of disagreement are recognised:
  - durations: "100-minute session" vs "just over an hour and a half" vs "two hours";
  - counts of the same thing: "9 killed" vs "7 killed";
  - lists of names: "France, Germany, the UK and Poland" vs "France, Germany and Poland";
  - short quotations in parallel sentences: to end "this stupid war" vs a "pointless war";
  - descriptions of the same thing: "the atmosphere was tense" vs "the atmosphere was peaceful";
  - timing, for "when" questions: "swap 1,000 prisoners soon" vs "no timeline was provided".
For the last three, each sentence (with the one before it) must share content words
with the question and answer, and the two sentences words with each other that are not
names: two for quotations, one for descriptions (which must describe a word of the
question or answer) and timing. A quotation is a side only if the answer states it.
So unrelated quotes and descriptions never meet.
Each disagreement adds a sentence to the answer that cites every side, and a record
to `Answer.conflicts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from rag.answer.text import (
    NUMBER_WORDS,
    STOPWORDS,
    best_window,
    content_stems,
    fold,
    name_in,
    names,
    split_sentences,
    stem,
    tokens,
)
from rag.answer.verify import Claim
from rag.schema import Passage

SAME_POINT = 0.4

_NUM = r"(\d+(?:\.\d+)?|an?|" + "|".join(NUMBER_WORDS) + r")"
_DURATIONS = [
    (re.compile(r"\b(?:an? )?hour and a half\b"), lambda m: 90.0),
    (re.compile(r"\bhalf an hour\b"), lambda m: 30.0),
    (re.compile(_NUM + r"[- ]minutes?\b"), lambda m: _value(m.group(1))),
    (re.compile(_NUM + r"[- ]hours?\b"), lambda m: 60 * _value(m.group(1))),
]


def _value(word: str) -> float:
    word = fold(word)
    if word in ("a", "an"):
        return 1.0
    return float(NUMBER_WORDS.get(word, 0) or word)


def durations(text: str) -> dict[float, str]:
    """Durations in minutes, each with the words that state it."""
    text = fold(text)
    found: dict[float, str] = {}
    taken: list[tuple[int, int]] = []
    for pattern, value in _DURATIONS:
        for m in pattern.finditer(text):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            found.setdefault(value(m), m.group(0))
    return found


def counts(text: str) -> dict[tuple[str, float], str]:
    """(stem of the counted noun, number) -> words, for 'N things' phrases."""
    found = {}
    for sentence in split_sentences(text):
        toks = tokens(fold(sentence))
        for a, b in zip(toks, toks[1:]):
            n = None
            if a[0].isdigit():
                try:
                    n = float(a.replace(",", ""))
                except ValueError:
                    pass
                if re.fullmatch(r"1[89]\d\d|20\d\d", a):
                    n = None  # a year ("in 2014 Ukrainian forces"), not a count
            elif a in NUMBER_WORDS:
                n = float(NUMBER_WORDS[a])
            if n is not None and b.isalpha() and b not in ("minute", "minutes", "hour", "hours", "and", "of"):
                found[(stem(b), n)] = f"{a} {b}"
    return found


def name_list(text: str) -> list[str]:
    """Names written as a list: 'France, Germany, the UK and Poland'."""
    m = re.search(r"((?:(?:the )?[A-Z][\w.]+,\s+){1,}(?:the )?[A-Z][\w.]+,?\s+and\s+(?:the )?[A-Z][\w.]+)", text)
    return sorted(names(m.group(1))) if m else []


_QUOTE = re.compile(r'"([^"]{1,60})"')
_DESCRIBED = re.compile(r"\b([a-z]+) (?:was|were|is|are|seemed|remained) (?:described as )?([a-z]+)\b")
_NO_TIME = re.compile(r"\bno (?:specific |clear |fixed )?(?:timeline|timetable|time ?frame|date|schedule)\b")
_SOME_TIME = re.compile(r"\b(?:soon|shortly|imminently|next (?:week|month)|within (?:days|weeks|\w+ (?:days|weeks)))\b")
_WHEN = re.compile(r"^\s*when\b|\bhow soon\b|\bwhat time\b|\btime ?(?:line|table|frame)\b", re.IGNORECASE)


def quotations(sentence: str) -> dict[frozenset[str], str]:
    """Quoted phrases of at most four words, keyed by their content words."""
    found = {}
    for m in _QUOTE.finditer(fold(sentence)):
        words = m.group(1).strip(" ,.")
        if 1 <= len(words.split()) <= 4 and content_stems(words):
            found[frozenset(content_stems(words))] = words
    return found


def descriptions(sentence: str, about: set[str] | None = None) -> dict[tuple[str, str], str]:
    """'the atmosphere was tense' -> {(atmospher, tens): 'atmosphere was tense'}; verbs
    ('was held') and stop words are not descriptions; with `about`, only subjects in it."""
    found = {}
    for m in _DESCRIBED.finditer(fold(sentence)):
        subject, value = m.groups()
        if about is not None and stem(subject) not in about:
            continue
        if subject in STOPWORDS or value in STOPWORDS or value.endswith(("ed", "ing")) or value in NUMBER_WORDS:
            continue
        found[(stem(subject), stem(value))] = m.group(0)
    return found


def timing(sentence: str) -> dict[str, str]:
    folded = fold(sentence)
    for key, pattern in (("unset", _NO_TIME), ("set", _SOME_TIME)):
        m = pattern.search(folded)
        if m:
            return {key: m.group(0)}
    return {}


@dataclass
class Finding:
    about: str
    sides: list[tuple[int, str]]  # (passage index, the words that state that side)

    def sentence(self, marker: dict[int, int]) -> str:
        parts = "; ".join(f'"{words.rstrip(".,;:!? ")}" [{marker[i]}]' for i, words in self.sides)
        return f"The reports differ on {self.about}: {parts}."


def find_conflicts(claims: list[Claim], passages: list[Passage], question: str) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[str] = set()
    for claim in claims:
        home = claim.passages[0]
        claim_window = best_window(claim.text, passages[home].text)
        topic = (content_stems(claim.text) | content_stems(question)) - {stem(w) for w in ("minute", "hour", "half")}
        for kind, extract in (("how long it lasted", durations), ("the numbers", counts), ("who was listed", None)):
            if kind in seen:
                continue
            sides = _disagreement(kind, extract, claim, claim_window, home, passages, topic)
            if sides:
                seen.add(kind)
                findings.append(Finding(about=kind, sides=sides))
        described = partial(descriptions, about=topic)
        wordings = [
            # A quote is only a side when the answer states it: "a pointless war", not any quote nearby.
            ("the words quoted", quotations, 2, content_stems(claim.text).__ge__),
            ("how it was described", described, 1, None),
        ]
        if _WHEN.search(question):
            wordings.append(("when it happens", timing, 1, None))
        for kind, extract, overlap, stated in wordings:
            if kind in seen:
                continue
            sides = _parallel(extract, _DIFFERS[kind], home, passages, topic, overlap, stated)
            if sides:
                seen.add(kind)
                findings.append(Finding(about=kind, sides=sides))
    return findings


_DIFFERS = {
    "the words quoted": lambda a, b: not (a <= b or b <= a),  # "stupid war" vs "war" is no disagreement
    "how it was described": lambda a, b: a[0] == b[0] and a[1] != b[1],  # the same thing, described otherwise
    "when it happens": lambda a, b: a != b,
}


def _parallel(extract, differs, home, passages, topic, overlap, stated=None) -> list[tuple[int, str]]:
    """Two sentences on the same point, from different articles, whose extracted values differ.

    A sentence takes part when it states a value and, with the sentence before it, shares
    `overlap` content words with the topic ("He called ..." after "Trump ..."); the two
    sentences themselves must share as many words that are not names. `stated` filters
    the values on the answer's side."""

    def valued(text: str, keep=None) -> list[tuple[set[str], dict]]:
        out = []
        sentences = split_sentences(text) or [text]
        for before, sentence in zip([""] + sentences, sentences):
            values = {k: v for k, v in extract(sentence).items() if keep is None or keep(k)}
            if values and len(content_stems(f"{before} {sentence}") & topic) >= overlap:
                out.append((content_stems(sentence, names_too=False), values))
        return out

    mine = valued(passages[home].text, stated)
    for j, p in enumerate(passages):
        if not mine:
            break
        if p.doc_id == passages[home].doc_id:
            continue
        for stems, values in valued(p.text):
            for my_stems, my_values in mine:
                if len(stems & my_stems) < overlap:
                    continue
                for key, words in values.items():
                    for my_key, my_words in my_values.items():
                        if differs(my_key, key):
                            return [(home, my_words), (j, words)]
    return []


def _disagreement(kind, extract, claim, claim_window, home, passages, topic) -> list[tuple[int, str]]:
    home_doc = passages[home].doc_id
    sides: list[tuple[int, str]] = []
    if extract is not None:
        mine = extract(claim.text) or {}
        if not mine:
            return []
        key, words = next(iter(mine.items()))
        sides = [(home, _words_in(claim_window, words))]
        values = {_key(kind, key)}
        docs = {home_doc}
        for j, p in enumerate(passages):
            if p.doc_id in docs:
                continue
            # Passages are a few sentences long: judge and read the whole passage.
            if len(topic & content_stems(p.text)) < SAME_POINT * max(1, len(topic)):
                continue
            for other_key, other_words in extract(p.text).items():
                if kind == "the numbers" and other_key[0] != key[0]:
                    continue
                if _key(kind, other_key) not in values:
                    values.add(_key(kind, other_key))
                    docs.add(p.doc_id)
                    sides.append((j, _words_in(p.text, other_words)))
                    break
        return sides if len(sides) > 1 else []
    listed = name_list(claim.text)
    if len(listed) < 3:
        return []
    for j, p in enumerate(passages):
        if p.doc_id == home_doc:
            continue
        other = name_list(p.text)
        shared = [n for n in listed if name_in(n, set(other))]
        if len(shared) >= 2 and len(shared) < len(listed) and other:
            m = re.search(r"(?:the )?" + re.escape(other[0]) + r"[^.]*?\band\s+(?:the )?[A-Z][\w.]+", p.text)
            home_m = re.search(
                r"[A-Z][\w.]+(?:,\s+(?:the )?[A-Z][\w.]+)+,?\s+and\s+(?:the )?[A-Z][\w.]+", passages[home].text
            )
            if m and home_m:
                return [(home, home_m.group(0)), (j, m.group(0))]
    return []


def _key(kind: str, key) -> float:
    return key if kind == "how long it lasted" else key[1]


def _words_in(window: str, words: str) -> str:
    """The words as written in the passage (with their original case), or the folded form."""
    i = fold(window).find(words)
    if i < 0:
        return words
    start = fold(window).rfind(" ", 0, max(0, i - 12)) + 1
    return window[start : i + len(words)].strip().strip(",;")
