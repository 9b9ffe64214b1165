"""Citation checks: every sentence of an answer must be backed by the passage it cites.

A passage *supports* a sentence when some window of one or two consecutive sentences
of the passage contains
  - every number the sentence states (digits or words: "1,000", "nine") that the
    question does not state itself ("the two delegations" restates the question),
  - every name it states that is not in the question (capitalised words; spelling
    variants such as Zelensky/Zelenskiy match on their first six letters), and
  - at least one of the words it shares with the question, if any (stemmed; "Who
    chaired the meeting?" answered by "X chaired the meeting" needs a passage about
    chairing or a meeting, not any passage that mentions X); when it shares just one,
    the names of the question it restates will do instead, spelled as in the question
    ("Where is WBT-FM located?" answered by "WBT-FM is located in Chester" is backed by
    "WBT-FM, based in Chester"), and
  - at least `MIN_COVERAGE` of its other content words (stemmed; words of attribution
    such as "reported" or "as quoted" are not claims).
A sentence whose cited passage does not support it takes the best-ranked retrieved
passage that does (the model's numbers are sometimes off by one); a sentence that no
passage supports is removed from the answer and listed in `unsupported`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.answer.text import (
    STOPWORDS,
    content_stems,
    markers,
    name_in,
    names,
    normalise_markers,
    numbers,
    read_alike,
    split_sentences,
    stem,
    strip_markers,
    tokens,
    windows,
    word_pairs,
)
from rag.schema import Passage

MIN_COVERAGE = 0.6
# Words by which an answer attributes rather than claims ("as indicated", "as quoted"): not checked.
_ATTRIBUTION = {stem(w) for w in "indicated noted reported mentioned quoted stated according source".split()}
ABSTAIN_PATTERNS = re.compile(
    r"(articles?|sources?|passages?|text|context)\s+(do(es)?\s*n[o']t|did\s*n[o']t|do(es)? not)\s+(say|mention|state|"
    r"provide|contain|specify|include|answer)|no (information|mention)|not (mentioned|specified|stated|provided)|"
    r"(i|we) (do not|don't|cannot|can't) (know|find|answer)|unable to (answer|find|determine)|cannot be determined",
    re.IGNORECASE,
)


@dataclass
class Claim:
    text: str  # the sentence without markers
    passages: list[int]  # indexes into the retrieved passages that support it


@dataclass
class Verified:
    claims: list[Claim] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    model_abstained: bool = False


def is_abstention(text: str) -> bool:
    return bool(ABSTAIN_PATTERNS.search(text))


def supports(sentence: str, passage: str, question: str = "") -> bool:
    """Whether `passage` backs `sentence` (the rule in the module docstring)."""
    claim_numbers = numbers(sentence) - numbers(question)
    asked_names = names(question)
    claim_names = {n for n in names(sentence) if not name_in(n, asked_names)}
    anchors = names(sentence) - claim_names
    asked = content_stems(sentence, names_too=False) & content_stems(question, names_too=False)
    claim_words = content_stems(sentence) - content_stems(question) - _ATTRIBUTION
    anchored = bool(anchors) and len(asked) == 1  # one restated word may be said otherwise ("based" for "located")
    pairs = word_pairs(sentence, question)
    for window in windows(passage):
        if not claim_numbers <= numbers(window):
            continue
        window_names = names(window) | {w.capitalize() for w in content_stems(window, names_too=False)}
        if not all(name_in(n, window_names) for n in claim_names):
            continue
        window_words = read_alike(content_stems(window), pairs)
        named = anchored and all(name_in(n, window_names, aliases=False) for n in anchors)
        if asked and not asked & window_words and not named:
            continue
        if claim_words:
            covered = len(claim_words & window_words) / len(claim_words)
            if covered < MIN_COVERAGE:
                continue
        elif not (claim_numbers or claim_names):
            return False  # a sentence that says nothing checkable is not "cited"
        return True
    return False


def verify(answer: str, question: str, passages: list[Passage], shown: int | None = None) -> Verified:
    """Check each sentence's citations; re-assign or drop the ones that do not hold.

    The model saw the first `shown` passages (all by default): only those can be cited by
    number; any passage may back a sentence whose citation does not hold."""
    result = Verified()
    shown = len(passages) if shown is None else shown
    for raw in split_sentences(normalise_markers(answer)):
        text = strip_markers(raw)
        if not re.search(r"[A-Za-z0-9]", text):
            continue
        cited = [m - 1 for m in markers(raw) if 1 <= m <= shown]
        backing = [i for i in dict.fromkeys(cited) if supports(text, passages[i].text, question)]
        # "There was no information about casualties [1]" reports what a cited passage says.
        if is_abstention(text) and not backing:
            result.model_abstained = True
            continue
        if not backing:
            backing = next(([i] for i in range(len(passages)) if supports(text, passages[i].text, question)), [])
        if backing:
            result.claims.append(Claim(text=text, passages=backing))
        else:
            result.unsupported.append(text)
    return result


_COUNTED = re.compile(r"\bhow (?:many|much)\s+(\w+)(?:\s+(\w+))?", re.IGNORECASE)
# Counted words too general to tell whether the articles speak of the thing at all.
_GENERIC_COUNTED = {"people", "persons", "times", "years", "months", "weeks", "days", "hours", "minutes", "percent"}


def question_terms_missing(question: str, passages: list[Passage], known: Callable[[str], bool] = lambda w: True) -> list[str]:
    """Names and numbers (in digits) the question asks about that no passage mentions at
    all, in any case ("Earth" is found in "the earth"), and the thing a "how many X"
    question counts when the articles never mention X.

    The question's first word is skipped: it is capitalised because it starts the sentence.
    """
    text = " ".join(p.text for p in passages)
    passage_names, passage_numbers, passage_words = names(text), numbers(text), content_stems(text)
    asked_names = names(question.split(" ", 1)[1] if " " in question.strip() else "")
    missing = [n for n in sorted(asked_names) if not name_in(n, passage_names) and stem(n) not in passage_words]
    # Numbers in digits only: "which two religions" says how many answers, not what to look for.
    asked_numbers = numbers(" ".join(t for t in tokens(question) if t[0].isdigit()))
    missing += [f"{x:g}" for x in sorted(asked_numbers - passage_numbers)]
    counted = _COUNTED.search(question)
    if counted:
        missing += [
            w for w in counted.groups()
            if w and w.islower() and w not in STOPWORDS and w not in _GENERIC_COUNTED and not known(w)
        ]  # fmt: skip
    return missing
