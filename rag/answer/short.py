"""Short answers: the few words of a verified answer that answer the question.

The model proposes a phrase; these rules keep it honest and tight:
- it must occur in a cited passage or the answer, and is given as the passage spells it
  ("8-15" from the model is "8–15" in the passage; "6" is "six" when the passage says "six");
- words the question already says are trimmed from its edges ("19th century" for
  "to what century"), unless they are capitalised, hence part of a name ("Lake Constance"
  for "with what Lake" stays whole);
- a phrase that only repeats the question ("statocyst" for "what is a statocyst?") is no
  answer at all.

`without_question_words` is the fallback used by the SQuAD benchmark when there is no
short answer: the answer's first sentence without the words the question already says.
"""

from __future__ import annotations

import re

from rag.nlp.parse import sentences
from rag.nlp.text import STOPWORDS, content_stems, fold, stem, tokens
from rag.nlp.values import UNITS, amounts

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_QUOTES = "'\u2018\u2019"


def in_source(phrase: str, source: str) -> str | None:
    """`phrase` as `source` spells it (dashes, apostrophes, then case, then accents may
    differ: "Taiho" finds "Taihō"), or None."""
    pattern = "".join(
        f"[{_DASHES}]" if c in _DASHES else f"[{_QUOTES}]" if c in _QUOTES else re.escape(c) for c in phrase
    )
    # whole words only: "6" is not found in "1996", nor "art" in "party"
    pattern = ("(?<!\\w)" if phrase[:1].isalnum() else "") + pattern + ("(?!\\w)" if phrase[-1:].isalnum() else "")
    found = re.search(pattern, source) or re.search(pattern, source, re.IGNORECASE)
    if found:
        return found.group()
    folded = fold(source)
    if not phrase or len(folded) != len(source):  # same length: same positions
        return None
    edges = ("(?<!\\w)" if phrase[:1].isalnum() else "", "(?!\\w)" if phrase[-1:].isalnum() else "")
    at = re.search(edges[0] + re.escape(fold(phrase)) + edges[1], folded)
    return source[at.start() : at.end()] if at else None


def as_cited(phrase: str, cited: str, answer: str) -> str | None:
    """`phrase` as the cited passages spell it, else as the answer does, else None. A number
    the model wrote in digits is given in the passage's words when the passage spells it out:
    a short answer quotes its source."""
    found = in_source(phrase, cited)
    if found is None and re.fullmatch(r"\d[\d,.]*", phrase):
        value = amounts(phrase)
        found = next((m.group() for m in _NUMBER_WORDS.finditer(cited) if amounts(m.group()) == value), None)
    return found or in_source(phrase, answer)


_NUMBER_WORDS = re.compile(r"\b(?:" + "|".join(w for w in UNITS if w not in ("a", "an", "half", "quarter")) + r")"
                           r"(?:[\s-](?:" + "|".join(w for w in UNITS if w not in ("a", "an", "half", "quarter")) + r"))*\b",
                           re.IGNORECASE)  # fmt: skip


def tighten(phrase: str, question: str) -> str:
    """`phrase` without the question's own lowercase words and stopwords at its edges;
    '' when it says nothing the question does not already say."""
    if not (content_stems(phrase) - content_stems(question) or amounts(phrase) - amounts(question)):
        return ""
    lower = [fold(t) for t in tokens(question) if not t[0].isupper()]
    asked_words = set(lower)
    asked_stems = {stem(w) for w in lower if w not in STOPWORDS}

    def droppable(word: str) -> bool:
        if word[0].isupper() or word[0].isdigit():
            return False  # part of a name or a number
        w = fold(word)
        return w in STOPWORDS or w in asked_words or stem(w) in asked_stems

    spans = list(_WORD.finditer(phrase))
    start, end = 0, len(spans)
    while start < end and droppable(spans[start].group()):
        start += 1
    while end > start and droppable(spans[end - 1].group()):
        end -= 1
    return phrase[spans[start].start() : spans[end - 1].end()] if start < end else ""


def without_question_words(answer: str, question: str) -> str:
    """The answer's first sentence, leaving out each word the question already says
    ("What did Luther refuse to do?" + "Luther refused to recant his writings." ->
    "recant his writings")."""
    sentence = (sentences(answer) or [None])[0]
    sentence = sentence.text if sentence else answer
    asked = {fold(t) for t in tokens(question)} | content_stems(question)

    def said(piece: str) -> bool:
        words = [fold(w) for w in _WORD.findall(piece)]
        return bool(words) and all(w in asked or stem(w) in asked for w in words)

    return " ".join(piece for piece in sentence.split() if not said(piece)).strip(" ,;:.")
