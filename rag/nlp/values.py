"""Values a sentence states: amounts (numbers, money, percentages, counts) and dates.

Two sentences state the same amount when the numbers are equal once written out:
"1.5 million" = "1,500,000" = "$1.5m"; "nine" = "9"; "a dozen" = 12. Two dates are the
same when they name the same day, month or year once relative dates are resolved
against the date of the article that says them ("three days ago" in an article of
16 May 2025 is 13 May 2025). These are facts of English, not of any corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from spacy.tokens import Doc, Span

from rag.nlp.text import fold

# Number words of English; composites ("two hundred", "1.5 million") multiply or add.
UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12, "a": 1, "an": 1,
    "half": 0.5, "quarter": 0.25,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1_000, "k": 1_000, "million": 1_000_000, "m": 1_000_000, "mn": 1_000_000,
          "billion": 1_000_000_000, "bn": 1_000_000_000, "b": 1_000_000_000, "trillion": 1_000_000_000_000,
          "tn": 1_000_000_000_000}  # fmt: skip
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:\s*-?\s*(hundred|thousand|million|billion|trillion|bn|mn|m|k|tn|b)\b)?",
    re.IGNORECASE,
)
_WORDS = re.compile(
    r"\b((?:(?:" + "|".join(k for k in UNITS if k not in ("a", "an")) + r")[\s-]*)+)"
    r"((?:(?:hundred|thousand|million|billion|trillion)\s*)*)\b",
    re.IGNORECASE,
)
_SCALE_AFTER_A = re.compile(r"\ban? (dozen|hundred|thousand|million|billion)\b", re.IGNORECASE)
_DENOMINATORS = {"third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                 "eighth": 8, "ninth": 9, "tenth": 10}  # fmt: skip
_FRACTION = re.compile(
    r"\b(an?|one|two|three|four|five|six|seven|eight|nine)[\s-]+(" + "|".join(_DENOMINATORS) + r")s?\b", re.IGNORECASE
)


def _fractions(text: str) -> list[tuple[tuple[int, int], set[float]]]:
    """"a fifth", "two-thirds": a share, written both as a fraction and as a percentage (0.2
    and 20), since reports give one share either way ("a fifth of the land" = "20% of the land").
    Halves stay with the rules for "half" (mostly "an hour and a half", a duration)."""
    found = []
    for m in _FRACTION.finditer(text):
        numerator = UNITS.get(fold(m.group(1)), 1)
        share = numerator / _DENOMINATORS[fold(m.group(2))]
        found.append((m.span(), {round(share, 6), round(share * 100, 4)}))
    return found


def _word_value(words: str, scales: str) -> float | None:
    total, current = 0.0, 0.0
    for w in re.split(r"[\s-]+", fold(words).strip()):
        if w in UNITS:
            current += UNITS[w]
    total = current or 1.0
    for s in scales.split():
        total *= SCALES[fold(s)]
    return total if (current or scales.strip()) else None


def amounts(text: str) -> set[float]:
    """Every amount the text states, written out: "1.5 million" -> 1500000.0; "nine" -> 9.0;
    "$1,500,000" -> 1500000.0; "15%" -> 15.0; "a fifth" -> 0.2 and 20.0. Ordinals and parts of
    names are not amounts."""
    found: set[float] = set()
    taken: list[tuple[int, int]] = []
    for span, values in _fractions(text):
        found |= values
        taken.append(span)
    for m in _NUMBER.finditer(text):
        value = float(m.group(1).replace(",", ""))
        if m.group(2):
            value *= SCALES[fold(m.group(2))]
        found.add(round(value, 6))
        taken.append(m.span())
    for m in _WORDS.finditer(text):
        if any(a <= m.start() < b for a, b in taken) or not m.group(0).strip():
            continue
        value = _word_value(m.group(1), m.group(2) or "")
        if value is not None and not (value == 0.5 and not m.group(2)):  # "half" alone is not an amount
            found.add(round(value, 6))
    for m in _SCALE_AFTER_A.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        found.add(float(SCALES.get(fold(m.group(1)), UNITS.get(fold(m.group(1)), 1))))
    return found


@dataclass(frozen=True)
class DateValue:
    """A date as precise as the text says it: `period` is 'time', 'day', 'week', 'month' or 'year'."""

    when: datetime
    period: str
    text: str

    def same_as(self, other: DateValue) -> bool:
        """Equal at the coarser of the two precisions ("May 2025" is the same as "13 May 2025")."""
        a, b = self.when, other.when
        coarse = {self.period, other.period}
        if "year" in coarse:
            return a.year == b.year
        if "month" in coarse:
            return (a.year, a.month) == (b.year, b.month)
        if "week" in coarse:
            return a.isocalendar()[:2] == b.isocalendar()[:2]
        return a.date() == b.date()


_DATE_LABELS = ("DATE", "TIME")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@lru_cache(maxsize=64)
def _date_parser(base: datetime | None):
    from dateparser.date import DateDataParser

    settings = {"PREFER_DATES_FROM": "past", "RETURN_TIME_AS_PERIOD": True}
    if base is not None:
        settings["RELATIVE_BASE"] = base
    return DateDataParser(languages=["en"], settings=settings)


def date_spans(doc: Doc) -> list[Span]:
    """The date and time expressions of a parsed text (spaCy's DATE and TIME entities)."""
    return [e for e in doc.ents if e.label_ in _DATE_LABELS]


@lru_cache(maxsize=8192)
def resolve_date(text: str, published: datetime | None) -> DateValue | None:
    """A date expression resolved against the article's date: "yesterday" in an article of
    16 May 2025 is 15 May 2025. Durations and vague times ("for two hours", "soon") are None."""
    base = published.replace(tzinfo=None) if published else None
    try:
        data = _date_parser(base).get_date_data(text)
    except Exception:  # noqa: BLE001 - an expression dateparser cannot read is no date
        return None
    if data is None or data.date_obj is None:
        return None
    return DateValue(data.date_obj, data.period or "day", text)


def weekday(text: str) -> str | None:
    folded = fold(text)
    return next((d for d in _WEEKDAYS if re.search(rf"\b{d}\b", folded)), None)


_PRECISION = {"time": 0, "day": 1, "week": 2, "month": 3, "year": 4}


def same_date(claim: str, claim_published: datetime | None, evidence: str, evidence_published: datetime | None,
              backed: bool = False) -> bool:  # fmt: skip
    """Whether two date expressions name the same date: the same words, the same weekday,
    or the same day/month/year once resolved against their articles' dates. `backed`: the
    evidence must also be at least as precise as the claim (a claim's "at 12:00" is not backed
    by the evidence's "yesterday", nor "13 May" by "May")."""
    if fold(claim).strip(" .") in fold(evidence):
        return True
    wa, wb = weekday(claim), weekday(evidence)
    if wa and wa == wb:
        return True
    a = resolve_date(claim, claim_published)
    b = resolve_date(evidence, evidence_published)
    if a is None or b is None:
        return False
    if wa and not wb:  # "Friday" against a full date: the weekday of that date
        return b.period == "day" and _WEEKDAYS[b.when.weekday()] == wa
    if backed and _PRECISION.get(a.period, 1) < _PRECISION.get(b.period, 1):
        return False
    return a.same_as(b)


_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800, "month": 2629800, "year": 31557600}
_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?|" + "|".join(k for k in UNITS if k != "half") + r")[\s-]+)?(?:and a half[\s-]+)?"
    r"(second|minute|hour|day|week|month|year)s?\b(\s+and\s+a\s+half)?",
    re.IGNORECASE,
)


def durations(text: str) -> set[float]:
    """Lengths of time the text states, in seconds: "100-minute" -> 6000; "an hour and a
    half" -> 5400; "two hours" -> 7200. A bare unit ("every day") is no duration."""
    found = set()
    for m in _DURATION.finditer(text):
        if m.group(1) is None or fold(text[max(0, m.start() - 5) : m.start()]).endswith("half "):
            continue
        word = fold(m.group(1))
        n = float(word) if word[0].isdigit() else float(UNITS[word])
        if m.group(3) or "and a half" in fold(m.group(0)):
            n += 0.5
        found.add(n * _SECONDS[fold(m.group(2))])
    if re.search(r"\bhalf an? (hour|day|year)\b", text, re.IGNORECASE):
        unit = re.search(r"\bhalf an? (hour|day|year)\b", text, re.IGNORECASE).group(1)
        found.add(0.5 * _SECONDS[fold(unit)])
    return found


_AGE = re.compile(
    r"\b(?:(\d{1,3})[\s-]+years?[\s-]+old\b|(?:aged|age of|age)\s+(\d{1,3})\b)",
    re.IGNORECASE,
)


def ages(text: str) -> set[float]:
    """Ages the text states, in years, said any of the ways English says them: "27 years old",
    "a 15-year-old hippo", "aged 27", "at the age of 27". An age is not a length of time: "59
    years old" is not "for 59 years"."""
    return {float(m.group(1) or m.group(2)) for m in _AGE.finditer(text)}


def same_span_of_time(claim: str, evidence_text: str) -> bool:
    """Whether a length of time or an age the claim states is stated by the evidence, however it
    is worded: "30 days" by "a 30-day truce", "27 years old" by "at the age of 27" (a date
    resolver reads neither as a date). An age needs an age: "59 years old" is not backed by
    "for 59 years"."""
    claimed_age = ages(claim)
    if claimed_age:
        return bool(claimed_age & ages(evidence_text))
    length = durations(claim)
    return bool(length) and bool(length & durations(evidence_text))
