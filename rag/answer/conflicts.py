"""Disagreements between cited reports.

After verification, each answer sentence is compared with the other retrieved
passages from *other* articles that speak to the same point (they share at least
`SAME_POINT` of the sentence's content words, after dropping the values compared).
Three kinds of disagreement are recognised:
  - durations: "100-minute session" vs "just over an hour and a half" vs "two hours";
  - counts of the same thing: "9 killed" vs "7 killed";
  - lists of names: "France, Germany, the UK and Poland" vs "France, Germany and Poland".
Each disagreement adds a sentence to the answer that cites every side, and a record
to `Answer.conflicts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.text import NUMBER_WORDS, content_stems, fold, name_in, names, split_sentences, stem, tokens
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
    toks = tokens(fold(text))
    for a, b in zip(toks, toks[1:]):
        n = None
        if a[0].isdigit():
            try:
                n = float(a.replace(",", ""))
            except ValueError:
                pass
        elif a in NUMBER_WORDS:
            n = float(NUMBER_WORDS[a])
        if n is not None and b.isalpha() and b not in ("minute", "minutes", "hour", "hours", "and", "of"):
            found[(stem(b), n)] = f"{a} {b}"
    return found


def name_list(text: str) -> list[str]:
    """Names written as a list: 'France, Germany, the UK and Poland'."""
    m = re.search(r"((?:(?:the )?[A-Z][\w.]+,\s+){1,}(?:the )?[A-Z][\w.]+,?\s+and\s+(?:the )?[A-Z][\w.]+)", text)
    return sorted(names(m.group(1))) if m else []


@dataclass
class Finding:
    about: str
    sides: list[tuple[int, str]]  # (passage index, the words that state that side)

    def sentence(self, marker: dict[int, int]) -> str:
        parts = "; ".join(f'"{words}" [{marker[i]}]' for i, words in self.sides)
        return f"The reports differ on {self.about}: {parts}."


def _best_window(reference: str, passage: str) -> str:
    ref = content_stems(reference)
    sentences = split_sentences(passage) or [passage]
    windows = sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:])]
    return max(windows, key=lambda w: len(ref & content_stems(w)) / (1 + 0.02 * len(w)))


def find_conflicts(claims: list[Claim], passages: list[Passage], question: str) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[str] = set()
    for claim in claims:
        home = claim.passages[0]
        claim_window = _best_window(claim.text, passages[home].text)
        topic = (content_stems(claim.text) | content_stems(question)) - {stem(w) for w in ("minute", "hour", "half")}
        for kind, extract in (("how long it lasted", durations), ("the numbers", counts), ("who was listed", None)):
            if kind in seen:
                continue
            sides = _disagreement(kind, extract, claim, claim_window, home, passages, topic)
            if sides:
                seen.add(kind)
                findings.append(Finding(about=kind, sides=sides))
    return findings


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
            home_m = re.search(r"[A-Z][\w.]+(?:,\s+(?:the )?[A-Z][\w.]+)+,?\s+and\s+(?:the )?[A-Z][\w.]+", passages[home].text)
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
