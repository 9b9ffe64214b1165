"""Does a supported answer answer *this* question? And if the model's answer fails,
which passage sentence does?

A sentence can be true to its passage and still miss the question (asked how long a
truce was, a small model may copy a sentence about sanctions). Two checks catch that:
  - the answer and the passage sentences backing it cover at least `MIN_FOCUS` of the
    question's focus words (its content words, stemmed, without "how long" and the like);
  - the answer has the kind of value the question asks for: a number for "how many",
    "how much" and "how long", a date or time for "when", a name that is not in the
    question for "who" and "whose".
When no sentence of the model's answer is left, `best_sentence` picks the passage
sentence that covers at least `MIN_EXTRACT` of the focus words and has the right kind
of value; the answer then quotes it, cited. Only if there is none does the answer abstain.
"""

from __future__ import annotations

import re

from rag.answer.text import content_stems, name_in, names, numbers, split_sentences
from rag.schema import Passage

MIN_FOCUS = 1 / 3
MIN_EXTRACT = 0.5

_GENERIC = {"long", "kind", "type", "happen", "exact", "exactly", "specif", "name", "word"}
_KINDS = [
    ("clock", re.compile(r"\bwhat time\b|\btime of (?:the )?day\b|\bat what hour\b", re.I)),
    ("number", re.compile(r"\bhow (?:many|much|long|old|far|big|large|often)\b|\bwhat (?:number|percentage|share|level|amount|size)\b", re.I)),
    ("date", re.compile(r"^\s*when\b|\b(?:what|which) (?:day|date|month|year|week)\b|\bon what day\b", re.I)),
    ("name", re.compile(r"^\s*(?:who|whom|whose)\b|\b(?:which|what) (?:\w+ )?(?:officials?|leaders?|countries|country|person|people|diplomats?|ministers?|spokes\w+|presidents?|envoys?)\b", re.I)),
]  # fmt: skip
_CLOCK = re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d{2}\b|\bmorning|afternoon|evening|midday|noon|midnight|o'clock\b", re.I)
_DATE = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|"
    r"august|september|october|november|december|today|yesterday|tomorrow|soon|spring|summer|autumn|winter|"
    r"(?:last|next|this) (?:week|month|year)|\d{4})\b|\bno (?:\w+ )?(?:timeline|timetable|date)\b",
    re.I,
)
_DURATION = re.compile(r"\b(?:an?|half an?) (?:hour|minute|day|week|month|year)", re.I)


def focus(question: str) -> set[str]:
    """The question's content stems, without the words that only say what kind of answer it wants."""
    return content_stems(question) - _GENERIC


def answer_kind(question: str) -> str | None:
    """'clock', 'number', 'date', 'name' or None (anything goes)."""
    return next((kind for kind, pattern in _KINDS if pattern.search(question)), None)


def fits(text: str, kind: str | None, question: str) -> bool:
    """Whether the text holds a value of the kind the question asks for."""
    if kind == "clock":
        return bool(_CLOCK.search(text))
    if kind == "number":
        return bool(numbers(text) - numbers(question)) or bool(_DURATION.search(text))
    if kind == "date":
        return bool(_DATE.search(text))
    if kind == "name":
        asked = names(question)
        return any(not name_in(n, asked) for n in names(text))
    return bool(content_stems(text) - content_stems(question))


def coverage(question: str, text: str) -> float:
    wanted = focus(question)
    return len(wanted & content_stems(text)) / len(wanted) if wanted else 1.0


def answers(question: str, sentences: list[str], windows: list[str]) -> bool:
    """Whether supported sentences (with the passage windows that back them) answer the question."""
    text = " ".join(sentences)
    return fits(text, answer_kind(question), question) and coverage(question, f"{text} {' '.join(windows)}") >= MIN_FOCUS


def best_sentence(question: str, passages: list[Passage]) -> tuple[int, str] | None:
    """(passage index, sentence) that best answers the question by itself, or None."""
    kind = answer_kind(question)
    best: tuple[float, int, str] | None = None
    for i, p in enumerate(passages):
        sentences = split_sentences(p.text) or [p.text]
        for before, sentence in zip([""] + sentences, sentences):
            if not fits(sentence, kind, question):
                continue
            score = coverage(question, f"{before} {sentence}") * 0.5 + coverage(question, sentence) * 0.5
            if score >= MIN_EXTRACT and (best is None or score > best[0]):
                best = (score, i, sentence)
    return (best[1], _tidy(best[2])) if best else None


def _tidy(sentence: str) -> str:
    sentence = re.sub(r"^\s*[-•*]\s*", "", sentence).strip()
    return sentence if sentence[-1:] in ".!?\"'”’" else sentence + "."
