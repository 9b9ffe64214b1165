"""Does a supported answer answer *this* question? And if the model's answer fails,
which passage sentence does?

A sentence can be true to its passage and still miss the question (asked how long a
truce was, a small model may copy a sentence about sanctions). Two checks catch that:
  - the answer and the passage sentences backing it cover at least `MIN_FOCUS` of the
    question's focus words (its content words, stemmed, without "how long" and the like);
  - the answer has the kind of value the question asks for: for "how many" and "how
    much" a number next to a word of the question (or a sum of money), a number or a
    duration for "how long", a date or time for "when" (or a condition for "when does"),
    a name that is not in the question for "who".
When no sentence of the model's answer is left, `best_sentence` picks the passage
sentence that covers at least `MIN_EXTRACT` of the focus words and has the right kind
of value; the answer then quotes it, cited. Only if there is none does the answer abstain.
"""

from __future__ import annotations

import re

from rag.answer.text import (
    content_stems,
    name_in,
    names,
    numbers,
    read_alike,
    split_sentences,
    stem,
    tokens,
    word_pairs,
)
from rag.schema import Passage

MIN_FOCUS = 1 / 3
MIN_EXTRACT = 0.5

# Words that only say what kind of answer is wanted ("in what year", "how long").
_GENERIC = {stem(w) for w in "long kind type happen exact specific name word year day date time month week".split()}
_KINDS = [
    ("clock", re.compile(r"\bwhat time\b|\btime of (?:the )?day\b|\bat what hour\b", re.I)),
    ("count", re.compile(r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|share|level|amount|proportion)\b", re.I)),
    ("number", re.compile(r"\bhow (?:long|old|far|big|large|often)\b|\bwhat (?:size|length)\b", re.I)),
    # "When using X, how is Y?" asks how, not when.
    ("date", re.compile(r"^\s*when\b(?![^?]*,\s*(?:how|what|which|who|where|why)\b)|"
                        r"\b(?:what|which) (?:day|date|month|year|week)\b|\bon what day\b", re.I)),
    ("name", re.compile(r"^\s*(?:who|whom|whose)\b|\b(?:which|what) (?:\w+ )?(?:officials?|leaders?|countries|country|person|people|diplomats?|ministers?|spokes\w+|presidents?|envoys?)\b", re.I)),
]  # fmt: skip
_CLOCK = re.compile(
    r"\b\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d{2}\b|\b(?:morning|afternoon|evening|midday|noon|midnight|o'clock)\b",
    re.I,
)
_DATE = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|"
    r"august|september|october|november|december|today|yesterday|tomorrow|soon|spring|summer|autumn|winter|"
    r"(?:last|next|this) (?:week|month|year)|\d{4}s?)\b",
    re.I,
)
_DURATION = re.compile(r"\b(?:an?|half an?) (?:hour|minute|day|week|month|year)", re.I)
_TIME_UNITS = re.compile(r"\b(?:seconds|minutes|hours|days|weeks|months|years|decades|centuries)\b", re.I)
# "When does X occur?" may be answered by a condition ("when the immune system is weak").
_CONDITION = re.compile(r"\b(?:when|whenever|once|until|after|before|during)\s+(?:the\s+)?\w+", re.I)
_MONEY = re.compile(r"[$€£¥]\s?\d|\b\d[\d,.]*\s*(?:million|billion)?\s*(?:dollars|euros|pounds|yen)\b", re.I)
_QUANTITY = {"half", "third", "thirds", "quarter", "fifth", "tenth", "percent", "dozens", "hundreds", "thousands",
             "millions", "several", "majority", "twice", "double", "triple", "tripled", "doubled"}  # fmt: skip
NEAR = 4  # a count must stand within this many words of what the question counts


def focus(question: str) -> set[str]:
    """The question's content stems, without the words that only say what kind of answer it wants."""
    return content_stems(question) - _GENERIC


def answer_kind(question: str) -> str | None:
    """'clock', 'count', 'number', 'date', 'name' or None (anything goes)."""
    return next((kind for kind, pattern in _KINDS if pattern.search(question)), None)


def fits(text: str, kind: str | None, question: str) -> bool:
    """Whether the text holds a value of the kind the question asks for."""
    if kind == "clock":
        return bool(_CLOCK.search(text))
    if kind == "count":
        return _count_near(text, question) or bool(re.search(r"\bhow much\b", question, re.I) and _MONEY.search(text))
    if kind == "number":
        how_long = re.search(r"\bhow long\b", question, re.I) and _TIME_UNITS.search(text)
        return bool(numbers(text) - numbers(question)) or bool(_DURATION.search(text)) or bool(how_long)
    if kind == "date":
        present = re.match(r"\s*when (?:does|do|is|are|can)\b", question, re.I)
        return bool(_DATE.search(text)) or bool(present and _CONDITION.search(text))
    if kind == "name":
        asked = names(question)
        return any(not name_in(n, asked) for n in inner_names(text))
    return bool(content_stems(text) - content_stems(question))


def inner_names(text: str) -> set[str]:
    """Names, leaving out each sentence's first word (capitalised only because it starts the sentence)."""
    found: set[str] = set()
    for sentence in split_sentences(text) or [text]:
        rest = sentence.lstrip("\"“‘'([- ").split(" ", 1)
        found |= names(rest[1]) if len(rest) > 1 else set()
    return found


def _count_near(text: str, question: str) -> bool:
    """A number or quantity word in the same clause as a (non-name) word the question is
    about, at most `NEAR` words away: "13 injured" answers "how many people were injured";
    "the Russian delegation, said the two sides" does not say how big the delegation was."""
    about = content_stems(question, names_too=False)  # "years" in "how many years" is what is counted
    asked = numbers(question)
    for clause in re.split(r"[,;:()\u2013\u2014]\s|\s[-\u2013\u2014]\s", text):
        words = tokens(clause)
        for i, word in enumerate(words):
            is_count = word.lower() in _QUANTITY or bool(numbers(word) - asked - {1.0})  # not "one another"
            if is_count and any(stem(w) in about for w in words[max(0, i - NEAR) : i + NEAR + 1]):
                return True
    return False


def coverage(question: str, text: str) -> float:
    wanted = focus(question)
    return len(wanted & read_alike(content_stems(text), word_pairs(question))) / len(wanted) if wanted else 1.0


def answers(question: str, sentences: list[str], windows: list[str]) -> bool:
    """Whether supported sentences (with the passage windows that back them) answer the question."""
    text = " ".join(sentences)
    return (
        fits(text, answer_kind(question), question) and coverage(question, f"{text} {' '.join(windows)}") >= MIN_FOCUS
    )


def best_sentence(question: str, passages: list[Passage]) -> tuple[int, str] | None:
    """(passage index, sentence) that best answers the question by itself, or None.

    It must have the right kind of value and cover `MIN_EXTRACT` of the focus words, and
    as much of those that are not names, two at least (names alone are cheap: "Russian",
    "Istanbul")."""
    kind = answer_kind(question)
    plain = focus(question) - {stem(n) for n in names(question)}
    pairs = word_pairs(question)
    best: tuple[float, int, str] | None = None
    for i, p in enumerate(passages):
        sentences = split_sentences(p.text) or [p.text]
        for before, sentence in zip([""] + sentences, sentences):
            if not fits(sentence, kind, question):
                continue
            context = f"{before} {sentence}"
            covered = len(plain & read_alike(content_stems(context), pairs))
            if plain and (covered < MIN_EXTRACT * len(plain) or covered < min(2, len(plain))):
                continue
            score = (coverage(question, context) + coverage(question, sentence)) / 2
            if score >= MIN_EXTRACT and (best is None or score > best[0]):
                best = (score, i, sentence)
    return (best[1], _tidy(best[2])) if best else None


def _tidy(sentence: str) -> str:
    sentence = re.sub(r"^\s*[-•*]\s*", "", sentence).strip()
    return sentence if sentence[-1:] in ".!?\"'”’" else sentence + "."
