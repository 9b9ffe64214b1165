"""Time in questions and in explicit filters, as date ranges over the articles' publication dates.

A question's time words are found by spaCy's named-entity recogniser (DATE entities: "last week",
"in March", "the past three days", "12 March 2017") and resolved by dateparser against the
question's reference date (`RAG_REFERENCE_DATE`, a request's own, or now), never against this
machine's clock when a reference is given. What comes out:

- a date range that becomes a filter on `published_at` ("last week", "yesterday", "before 5 March");
- a named period ("in March", "in 2016"), which is not a filter: what happened then is also reported
  later, so passages of articles published in it and of any article that names a date in it count;
- or a recency preference ("the latest", "most recent", "now"): retrieved passages are re-ranked so
  that, among passages about equally relevant, the newer article comes first. Not a filter: the
  newest article on a topic may be a month old.

- or an event named instead of a date ("before the talks", "since the merger was announced"). Its
  date is in the articles, not in the words: the articles that report the event are looked up, and
  the first day it was reported bounds the search (`date_event`). An event the articles do not date
  (none reports it, or they report it at separate times) makes no filter, and the answer says so.
  The event's words stay in the question (retrieval finds what was said around it by them).

Ranges are inclusive and generous: a filter too narrow hides the answer, while ranking still puts
the best passages of a wide range first. "last week" is the previous calendar week up to the
reference date (so both readings, "the week before this one" and "the past seven days", are in).
"""

from __future__ import annotations

import calendar
import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from rag.errors import InvalidInput
from rag.nlp.text import content_stems
from rag.nlp.values import resolve_date
from rag.schema import Answer, EventDate, Filters, Passage, TimeFrame, Timings

# English words that make a relative expression a span reaching up to the reference date:
# "last week", "the past month", "this year" (as against a point: "three days ago", "yesterday").
_UP_TO_NOW = {"last", "past", "this", "previous", "recent", "recently"}
# English words that ask for the newest state of things rather than a period (a preference, not a filter).
_RECENCY = {"latest", "newest", "recent", "recently", "lately", "current", "currently", "now", "nowadays", "last"}
# Prepositions of time: the ones that end a range at the date, and the ones that start it there.
_BEFORE = {"before", "until", "till", "til", "by", "prior"}
_BEFORE_EXCLUSIVE = {"before", "prior"}  # "before March": March itself is out; "until March": in
_AFTER = {"after", "since", "from"}
_AFTER_EXCLUSIVE = {"after"}
# Dependencies that make a date a modifier of a noun: "the 2004 tsunami", "its March report"
# name an event or a document, not when the asked-about thing was reported.
_NOUN_MODIFIER = {"nummod", "compound", "amod", "poss", "nmod"}
# "figures for 2016", "results of 2017": the period a measured quantity covers; it is reported later.
_PERIOD_OF = {"for", "of"}
# "the past three days", "last 7 days", "the past month": a window of that length ending at the reference
# date (dateparser reads it as "three days ago"). Plain "last week" / "last month" name the previous
# calendar week / month instead, and are left to dateparser.
_ROLLING = re.compile(
    r"^(?:(?:the\s+)?(?:past|last|previous)\s+(.+?)|the\s+(?:past|last|previous)|past)\s+((?:day|week|month|year)s?)$",
    re.IGNORECASE,
)
# "between March and May", "from March to May", "March to May": two ends of one range.
_RANGE = re.compile(r"^(?:between|from)?\s*(.+?)\s+(?:and|to|until|till|through|-|–)\s+(.+)$", re.IGNORECASE)
# Qualifiers a date may carry that dateparser does not read: "early 2017" is taken as 2017 (generous).
_QUALIFIER = re.compile(r"^(?:the\s+)?(?:(?:early|mid|late|end of|start of|beginning of)\s*-?\s*)?", re.IGNORECASE)
# Numeric dates other than a year or an ISO date are ambiguous: "2016-17" is a season, "03/05" is
# March or May depending on the country. Only these two numeric forms are read.
_NUMERIC = re.compile(r"^[\d\s/.\-–]+$")
_YEAR_OR_ISO = re.compile(r"^\d{4}(?:-\d{2}-\d{2})?$")
# A length of time is not a point in time: "after six months", "for two years" (dateparser would read
# "six months" as six months ago).
_LENGTH = re.compile(
    r"^(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|few|several|many)\s+"
    r"(?:days?|weeks?|months?|years?|decades?)$",
    re.IGNORECASE,
)
_DECADE = re.compile(r"^(?:the\s+)?(\d{3})0s$", re.IGNORECASE)
# Words that place the asked-about thing before or after an event: "before the talks", "since the
# summit", "until the takeover", "prior to the budget", "ahead of the vote", "after Marsh was sent
# off". ("by" is left out: "by the board" names who, far more often than when.)
_EVENT_BEFORE = {"before", "until", "till", "prior to", "ahead of"}
_EVENT_AFTER = {"after", "since"}
_EVENT_WORDS = {"before", "after", "since", "until", "till", "prior", "ahead"}
# Kinds of names that say whose event it is ("What did Ford say before the merger was announced?"):
# they join the event's words when its reports are looked up.
_NAMES = {"PERSON", "ORG", "GPE", "NORP", "FAC", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW"}


@dataclass(frozen=True)
class Period:
    """An inclusive range of instants (UTC); either end may be open."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class EventRef:
    """An event a question names instead of a date: "before the talks" is (before, "the talks")."""

    prep: str  # before, until, till, prior to, ahead of, after, since
    event: str  # the event's words, as the question has them
    expression: str  # the preposition and the event's words
    names: tuple[str, ...] = ()  # the question's other names: whose event it is


@dataclass
class QuestionTime:
    """What a question says about time."""

    after: datetime | None = None  # the articles' published_at >= after
    before: datetime | None = None  # and <= before
    # A named period ("in March", "in 2016", "on 12 March"): articles published in it, or later ones
    # that mention a date in it (see `question_time`).
    period: Period | None = None
    newest_first: bool = False
    expressions: list[str] = field(default_factory=list)  # the words read as dates, as the question has them
    spans: list[tuple[int, int]] = field(default_factory=list)  # their character spans in the question
    # Events named instead of dates ("before the talks"): dated by the articles at search time.
    events: list[EventRef] = field(default_factory=list)

    @property
    def filters(self) -> bool:
        return self.after is not None or self.before is not None or self.period is not None


def reference(value: datetime | None) -> datetime:
    """The reference date as an aware UTC datetime: the given one (a naive one is UTC), else now."""
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse(text: str, base: datetime) -> tuple[datetime, str] | None:
    """(date, period) by dateparser (`rag.nlp.values.resolve_date`), against a naive UTC base;
    None when it reads no date."""
    found = resolve_date(text, base)
    if found is None:
        return None
    when = found.when
    when = when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    return when, found.period


def _whole(when: datetime, period: str) -> tuple[datetime, datetime]:
    """The day, ISO week, month, quarter or year that holds `when` (naive UTC), first to last instant."""
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7, microseconds=-1)
    if period == "month":
        start = day.replace(day=1)
        return start, start.replace(day=monthrange(day.year, day.month)[1]) + timedelta(days=1, microseconds=-1)
    if period == "quarter":
        first = 3 * ((day.month - 1) // 3) + 1
        start = day.replace(month=first, day=1)
        last = day.replace(month=first + 2, day=monthrange(day.year, first + 2)[1])
        return start, last + timedelta(days=1, microseconds=-1)
    if period == "year":
        return day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1) - timedelta(microseconds=1)
    return day, day + timedelta(days=1, microseconds=-1)  # day, time


def _end_of_day(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1, microseconds=-1)


def resolve(text: str, ref: datetime | None = None, up_to_reference: bool = True) -> Period | None:
    """The range a date phrase names, resolved against `ref` (default now); None when it names
    no date, or only a future one (no article is published after its question is asked).

    "2017-03-05" and "5 March 2017" are that day; "March 2017" the month; "2017" the year;
    "yesterday" and "three days ago" that day; "last week", "this year", "the past month" run up to
    the end of the reference day (without `up_to_reference`: the week, year, month they name);
    "between March and May" from 1 March to 31 May."""
    ref_utc = reference(ref).astimezone(UTC).replace(tzinfo=None, second=0, microsecond=0)
    text = " ".join(text.split()).strip(" ,.?!")
    if not text:
        return None
    if (both := _RANGE.match(text)) and (a := resolve(both.group(1), ref, up_to_reference)) \
            and (b := resolve(both.group(2), ref, up_to_reference)):  # fmt: skip
        return Period(a.start, b.end)
    if decade := _DECADE.match(text):
        start = datetime(int(decade.group(1)) * 10, 1, 1)
        end = datetime(start.year + 10, 1, 1) - timedelta(microseconds=1)
        return _aware(Period(start, min(end, _end_of_day(ref_utc))))
    if _NUMERIC.match(text) and not _YEAR_OR_ISO.match(text.strip()) or _LENGTH.match(text):
        return None
    rolling = _ROLLING.match(text)
    phrase = f"{rolling.group(1) or 1} {rolling.group(2)} ago" if rolling else _QUALIFIER.sub("", text) or text
    parsed = _parse(phrase, ref_utc)
    if parsed is None:
        return None
    when, period = parsed
    start, end = _whole(when, period)
    if start > _end_of_day(ref_utc):
        return None
    words = set(re.findall(r"[a-z]+", text.lower()))
    moved = _parse(phrase, ref_utc + timedelta(days=1))
    relative = moved is not None and moved[0] != when
    if rolling:
        start, end = when.replace(hour=0, minute=0, second=0, microsecond=0), _end_of_day(ref_utc)
    elif relative and words & _UP_TO_NOW and up_to_reference:
        end = _end_of_day(ref_utc)
    return _aware(Period(start, min(end, _end_of_day(ref_utc)) if relative else end))


def _aware(p: Period) -> Period:
    return Period(*(t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t for t in (p.start, p.end)))


def since_until(
    since: str | None, until: str | None, ref: datetime | None = None, *, names: tuple[str, str] = ("since", "until")
) -> tuple[datetime | None, datetime | None]:
    """`--since` / `--until` (or the same request fields) as (published_after, published_before):
    since a phrase's first instant, until its last ("--until 2017-03-31" takes in that whole day).
    A phrase that names no date is refused with what to write instead."""
    after = before = None
    for name, value in zip(names, (since, until), strict=True):
        if value is None or not str(value).strip():
            continue
        period = resolve(str(value), ref)
        if period is None:
            raise InvalidInput(
                f"{name}: '{value}' is not a date; write an ISO date (2017-03-01) or a phrase such as "
                "'7 days ago', 'last week', 'March 2017'."
            )
        if name == names[0]:
            after = period.start
        else:
            before = period.end
    if after and before and after > before:
        raise InvalidInput(f"{names[0]} ({after:%Y-%m-%d}) is after {names[1]} ({before:%Y-%m-%d}): swap them.")
    return after, before


# --- questions ------------------------------------------------------------------------


def _is_time_adverbial(ent) -> bool:
    """Whether a DATE entity says when the asked-about thing happened (a filter), rather than
    naming an event or a measured period ("the 2004 tsunami", "figures for 2016"): see the
    module's constants for the reasons."""
    root = ent.root
    if root.dep_ in _NOUN_MODIFIER and root.head.pos_ in ("NOUN", "PROPN"):
        return False
    if root.dep_ == "pobj" and root.head.lower_ in _PERIOD_OF and root.head.head.pos_ in ("NOUN", "PROPN"):
        return False
    return True


def _grown(doc, ent) -> tuple[int, int]:
    """The entity's token span, grown left over numbers the small model leaves out ("5" of
    "5 March 2017")."""
    start = ent.start
    while start > 0 and (doc[start - 1].like_num or re.fullmatch(r"\d+(st|nd|rd|th)", doc[start - 1].lower_)):
        start -= 1
    return start, ent.end


def ready() -> bool:
    """Whether the English parser is loaded (its first load takes a second or two)."""
    from rag.nlp import parse

    return parse._nlp is not None


@lru_cache(maxsize=1)
def _date_words() -> frozenset[str]:
    """The English words dateparser's own locale data knows as parts of dates (months, weekdays,
    units, "ago", "yesterday", "fortnight"...), with the recency words: a question with none of them
    and no digit states no time, and is not parsed (a parse costs 5-30 ms on two cores)."""
    from dateparser.languages import default_loader

    info = default_loader.get_locale("en").info
    skip = {"name", "date_order", "skip", "pertain", "sentence_splitter_group", "simplifications",
            "relative-type-regex"}  # fmt: skip
    words: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            words.update(re.findall(r"[a-z]{3,}", value.lower()))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk({k: v for k, v in info.items() if k not in skip})
    # Words that only ever go with another date word ("this week", "next month", "wee hours").
    return frozenset((words - {"after", "before", "from", "till", "this", "next", "small", "wee", "date"}) | _RECENCY)


# Numbers that can be a date with no date word beside them: a year ("2017", "the 1990s", "'90s"),
# a day of the month ("the 5th"), a numeric date ("3/15", "15/03/2017", "2017-03-15", "15.03.2017").
# Any other number needs a date word to be a date ("15 March", "six days ago"): "$38 million",
# "a 2-0 win", "4,000 nationals", "24%" and "Xbox 2" are not.
_DATE_NUMBER = re.compile(
    r"(?<![\w.,$€£])(?:\d{4}s?|\d{2}s|'\d{2}s?|\d{1,2}(?:st|nd|rd|th)|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
    r"|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[-.]\d{1,2}[-.]\d{2,4})(?!\w|[.,]\d)",
    re.IGNORECASE,
)


def states_time(question: str) -> bool:
    """Whether a question may state a time at all: a date word (see `_date_words`) or a number
    that can be a date on its own (`_DATE_NUMBER`). Any other question is not parsed for time."""
    return bool(_DATE_NUMBER.search(question)) or not _date_words().isdisjoint(re.findall(r"[a-z]+", question.lower()))


def names_an_event(question: str) -> bool:
    """Whether a question may place its subject before or after an event ("before the talks")."""
    return not _EVENT_WORDS.isdisjoint(re.findall(r"[a-z]+", question.lower()))


def question_time(question: str, ref: datetime | None = None) -> QuestionTime:
    """The date range, recency preference and events a question states (see the module docstring).
    Events are only found here; they are dated against the articles by `date_events`."""
    from rag.nlp.parse import parse

    if not states_time(question) and not names_an_event(question):
        return QuestionTime()
    doc = parse(question)
    found = QuestionTime()
    in_dates = _read_dates(doc, ref, found)
    found.newest_first = _asks_for_newest(doc, in_dates)
    found.events = _event_references(doc, in_dates)
    return found


def _read_dates(doc, ref: datetime | None, found: QuestionTime) -> set[int]:
    """Every DATE entity that says when the asked-about thing happened, read into `found`;
    returns the token indexes of all DATE entities (a date word is not a recency word or an event)."""
    in_dates: set[int] = set()
    for ent in doc.ents:
        if ent.label_ != "DATE":
            continue
        in_dates.update(range(ent.start, ent.end))
        if _is_time_adverbial(ent):
            _read_date(doc, ent, ref, found)
    return in_dates


def _read_date(doc, ent, ref: datetime | None, found: QuestionTime) -> None:
    """One date entity, with the preposition before it, as bounds or a named period in `found`."""
    first, last = _grown(doc, ent)
    words = doc[first:last].text
    period = resolve(words, ref)
    if period is None:
        return
    lead = first - 1 if first > 0 else first
    if doc[lead].lower_ == "to" and lead > 0 and doc[lead - 1].lower_ == "prior":
        lead -= 1
    prep = doc[lead].lower_ if lead < first else ""
    start, end = period.start, period.end
    if prep in _BEFORE:
        start, end = None, (period.start - timedelta(microseconds=1) if prep in _BEFORE_EXCLUSIVE else period.end)
    elif prep in _AFTER:
        start, end = (period.end + timedelta(microseconds=1) if prep in _AFTER_EXCLUSIVE else period.start), None
    elif named(words):
        # A named period is when the asked-about thing happened, which articles of other dates
        # report too: a 2017 article on "the 2016 figures", "the 1974 cyclone", "the 2026 World
        # Cup". Not a filter: articles published in it, or naming a date in it (`retrieve`).
        found.period = period if found.period is None else Period(_later(found.period.start, start),
                                                                  _earlier(found.period.end, end))  # fmt: skip
        start = end = None
    else:
        # "yesterday", "last week", "three days ago": what happened then is reported then or since.
        end = _end_of_day(reference(ref))
    found.after = _later(found.after, start)
    found.before = _earlier(found.before, end)
    lead = lead if prep in _BEFORE | _AFTER | {"in", "on", "during", "over", "within", "at"} else first
    found.spans.append((doc[lead].idx, doc[last - 1].idx + len(doc[last - 1].text)))
    found.expressions.append(doc[lead:last].text)


def _asks_for_newest(doc, in_dates: set[int]) -> bool:
    """Whether a recency word outside the dates asks for the newest state of things. "The last
    match" asks for the latest; "how long did it last" does not."""
    return any(t.lower_ in _RECENCY and t.i not in in_dates and (t.lower_ != "last" or t.dep_ == "amod") for t in doc)


def _event_references(doc, in_dates: set[int]) -> list[EventRef]:
    """Events the question places its subject before or after: the object of "before", "after",
    "since", "until", "prior to", "ahead of" ("before the talks"), or the clause they introduce
    ("before the merger was announced"). Not an event: a date or length of time (read as dates),
    or words with no meaning of their own ("after that", "before it"). A date inside the event's
    words is part of its name ("before the Fed's March rate rise")."""
    names = [e for e in doc.ents if e.label_ in _NAMES]
    events = []
    for token in doc:
        prep, words = _event_words(doc, token)
        if words is None or words.root.i in in_dates or words.root.ent_type_ == "TIME":
            continue  # "before 5 May", "after six months", "after 5pm"; not "before the Fed's March rate rise"
        words = words[:-1] if words[-1].is_punct else words
        if not words or not content_stems(words.text):
            continue
        others = tuple(e.text for e in names if e.end <= words.start or e.start >= words.end)
        expression = doc[token.i : words.end].text
        events.append(EventRef(prep, words.text, expression, others))
    return events


def _event_words(doc, token) -> tuple[str, object]:
    """(preposition, the span it puts the event in) when `token` starts an event reference, else
    ("", None). Relies on the dependency parse: "before" is a preposition with an object, or the
    marker of a clause."""
    word = token.lower_
    if word in ("prior", "ahead"):
        link = next((c for c in token.children if c.dep_ == "prep" and c.lower_ in ("to", "of")), None)
        if link is None or (word, link.lower_) not in (("prior", "to"), ("ahead", "of")):
            return "", None
        word, token = f"{word} {link.lower_}", link
    elif word not in _EVENT_WORDS:
        return "", None
    if token.dep_ == "prep":
        obj = next((c for c in token.children if c.dep_ in ("pobj", "pcomp")), None)
        return (word, doc[obj.left_edge.i : obj.right_edge.i + 1]) if obj is not None else ("", None)
    if token.dep_ == "mark" and token.head.i > token.i:
        return word, doc[token.i + 1 : token.head.right_edge.i + 1]
    return "", None


_MONTHS = {m.lower() for m in (*calendar.month_name[1:], *calendar.month_abbr[1:])}


def named(words: str) -> bool:
    """Whether date words name their period (a month or a year: "March", "2016", "12 March", "the
    1990s") rather than place it from the reference date ("yesterday", "last week", "on Monday")."""
    tokens = re.findall(r"[a-z]+|\d+s?", words.lower())
    return any(t in _MONTHS or re.fullmatch(r"\d{4}s?", t) for t in tokens)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a and b else a or b


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a and b else a or b


def without_time(question: str, found: QuestionTime) -> str:
    """The question with its date words (and their prepositions) taken out, for retrieval."""
    for start, end in sorted(found.spans, reverse=True):
        question = question[:start] + question[end:]
    return " ".join(question.split()).replace(" ?", "?") or question


def narrowed(filters: Filters | None, found: QuestionTime) -> Filters | None:
    """The request's filters, narrowed to the question's own date bounds (both apply). Bounds read
    from the question alone let undated articles through (they are not known to be outside them);
    a request's own dates do not."""
    if found.after is None and found.before is None:
        return filters
    base = filters or Filters()
    given = base.published_after is not None or base.published_before is not None
    return base.model_copy(update={
        "published_after": _later(_aware_or_none(base.published_after), found.after),
        "published_before": _earlier(_aware_or_none(base.published_before), found.before),
        "keep_undated": base.keep_undated or not given,
    })  # fmt: skip


def _aware_or_none(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


# --- recency ---------------------------------------------------------------------------


def newest_first(passages: list[Passage], tie: float) -> list[Passage]:
    """Passages re-ranked so the newer article wins among passages about equally relevant:
    repeatedly, of the passages scoring within `tie` of the best one left, the newest is taken.
    A passage clearly more relevant still comes first, however old; undated ones count as oldest."""
    left = list(passages)
    out = []
    oldest = datetime.min.replace(tzinfo=UTC)
    while left:
        best = max(p.score for p in left)
        close = [p for p in left if p.score >= best - tie]
        pick = max(close, key=lambda p: (_aware_or_none(p.published_at) or oldest, p.score))
        out.append(pick)
        left.remove(pick)
    return out


# --- the answer when a period holds nothing ----------------------------------------------


def describe(filters: Filters | None) -> str:
    """The date range of filters in words: "published from 1 March 2017 to 31 March 2017"."""
    if filters is None:
        return ""
    a, b = filters.published_after, filters.published_before
    fmt = "%-d %B %Y"
    if a and b:
        return f"published from {a:{fmt}} to {b:{fmt}}"
    if a:
        return f"published on or after {a:{fmt}}"
    if b:
        return f"published on or before {b:{fmt}}"
    return ""


def nothing_in_period(question: str, filters: Filters, model: str, timings: Timings) -> Answer:
    """An honest abstention when the date range leaves no passage to answer from."""
    period = describe(filters)
    return Answer(
        answer=f"I found nothing about this in the articles {period}. Ask without the date, or widen the period.",
        abstained=True,
        model=model,
        timings=timings,
        question=question,
        abstain_reason=f"no passage matches the question among the articles {period}",
    )


def frame(
    found: QuestionTime, filters: Filters | None, ref: datetime, events: list[EventDate] | None = None
) -> TimeFrame:
    """What the answer reports about the time it was asked in and the range it searched."""
    return TimeFrame(
        reference_date=ref,
        published_after=filters.published_after if filters else None,
        published_before=filters.published_before if filters else None,
        period_start=found.period.start if found.period else None,
        period_end=found.period.end if found.period else None,
        newest_first=found.newest_first,
        expressions=found.expressions,
        events=events or [],
    )


# --- the pipeline's hook ------------------------------------------------------------------


# Whether the date words are taken out of the text retrieval embeds and matches (see the README's
# measurement: the words name no topic, and the filter already does their work).
STRIP_FROM_QUERY = True


@dataclass
class TimePlan:
    """How one question is searched in time: the text to retrieve with, the filters (the request's,
    narrowed by the question's own dates), whether newer articles win ties, and the reference date."""

    query: str
    filters: Filters | None
    found: QuestionTime
    reference_date: datetime
    events: list[EventDate] | None = None  # the question's events as dated (None: not looked up yet)

    @property
    def dated(self) -> bool:
        f = self.filters
        bounded = f is not None and (f.published_after or f.published_before) is not None
        return self.found.period is not None or bounded

    def searched(self) -> Filters | None:
        """The date range in words for an answer: the named period when there is one."""
        return within(self.filters, self.found.period) if self.found.period else self.filters

    def frame(self) -> TimeFrame:
        return frame(self.found, self.filters, self.reference_date, self.events)


def plan(question: str, filters: Filters | None, settings) -> TimePlan:
    """The question's time words turned into filters and a recency preference, against the request's
    reference date, else `RAG_REFERENCE_DATE`, else now. With `RAG_QUESTION_DATES=false` only the
    request's own filters apply."""
    ref = reference((filters.reference_date if filters else None) or settings.reference_date)
    found = question_time(question, ref) if settings.question_dates else QuestionTime()
    narrowed_filters = narrowed(filters, found)
    if narrowed_filters is not None:
        # The reference date is not a filter: it stays out of the search cache's keys.
        narrowed_filters = narrowed_filters.model_copy(update={"reference_date": None})
        f = narrowed_filters
        if f.doc_ids is None and f.published_after is None and f.published_before is None:
            narrowed_filters = None
    query = without_time(question, found) if STRIP_FROM_QUERY and found.spans else question
    return TimePlan(query or question, narrowed_filters, found, ref)


def retrieve(retriever, time_plan: TimePlan, n: int, settings, mode: str = "hybrid") -> list[Passage]:
    """Retrieval under the plan. With a named period, the passages of articles published in it, and
    those of other articles (from a wider pool) that name a date in it. With a recency
    preference, a wider pool re-ranked (newer wins ties). Then the first n. Events the question
    names are dated first (`date_events`), which narrows the plan's filters."""
    if DATE_EVENTS and time_plan.found.events and time_plan.events is None:
        # The question's own search waits for the dating: its text is embedded with the events' now.
        retriever.embed_together([time_plan.query, *(_event_query(ref) for ref in time_plan.found.events)])
        date_events(retriever, time_plan, settings)
    period = time_plan.found.period
    # Recency re-ranks a wider pool; a period's passages from outside it compete for the same n places.
    pool_size = max(n, settings.candidates) if time_plan.found.newest_first else n
    if period is None:
        passages = retriever.retrieve(time_plan.query, pool_size, time_plan.filters, mode=mode)
    else:
        inside = retriever.retrieve(time_plan.query, pool_size, within(time_plan.filters, period), mode=mode)
        seen = {p.chunk_id for p in inside}
        wide = retriever.retrieve(time_plan.query, pool_size, time_plan.filters, mode=mode)
        outside = [p for p in wide if p.chunk_id not in seen]
        from rag.nlp.parse import entity_docs  # spaCy: loaded only when a question names a period

        docs = entity_docs([p.text for p in outside])  # in one batch: several times faster than one by one
        other = [p for p, doc in zip(outside, docs, strict=True) if mentions(p, period, doc)]
        passages = inside + other
        if other:  # two searches: their fused scores do not compare, their cosines do
            passages.sort(key=lambda p: -(p.dense_score if p.dense_score is not None else p.score))
    if time_plan.found.newest_first:
        passages = newest_first(passages, settings.recency_tie)
    return passages[:n]


# --- events named instead of dates ------------------------------------------------------------

# News reports one event continuously from the day it happens. Reports of the same words with a
# silence of this long between them are of separate occurrences (another round of talks, the next
# election): which one the question means is not known, so such an event is not dated.
EVENT_GAP = timedelta(days=7)
# Whether events are dated at all (the benchmark `bench_event_time` turns it off to compare).
DATE_EVENTS = True


def date_events(retriever, time_plan: TimePlan, settings) -> None:
    """Date the question's events by the articles and narrow the plan's filters around them:
    "before X" / "until X" up to the end of the day X was first reported, "after X" / "since X"
    from that day on. That day is in both: its articles report X, and say what came before it
    ("unemployment had fallen to 4.7% before the rise") as well as after; ranking puts the
    passages that fit first. An event not dated adds no bound; `time_plan.events` says which
    were dated, by which article, and why not."""
    time_plan.events = [date_event(retriever, ref, settings) for ref in time_plan.found.events]
    bounds = QuestionTime()
    for ref, dated in zip(time_plan.found.events, time_plan.events, strict=True):
        if dated.date is None:
            continue
        day = dated.date.replace(hour=0, minute=0, second=0, microsecond=0)
        if ref.prep in _EVENT_AFTER:
            bounds.after = _later(bounds.after, day)
        else:
            bounds.before = _earlier(bounds.before, _end_of_day(day))
    if bounds.after is not None or bounds.before is not None:
        time_plan.filters = narrowed(time_plan.filters, bounds)


def _event_query(ref: EventRef) -> str:
    """What an event's reports are searched with: its words and the question's other names."""
    return " ".join([ref.event, *ref.names])


def date_event(retriever, ref: EventRef, settings) -> EventDate:
    """When an event happened, by the articles that report it: the passages retrieved for the
    event's words (with the question's other names, which say whose event it is) that contain
    every word of the event (a passage that reports it names it) are its reports. Their articles'
    dates, in order, form runs with no silence of `EVENT_GAP`; one run dates the event by its first
    article (the earliest report is the closest to when it happened that the articles know). No
    report, or reports in separate runs: not dated. Reports are found by their words (keyword
    search), since a report is a passage that holds the event's words: a passage near in meaning
    without them is not one, and the dense search would cost the question ~10 ms for nothing."""
    pool = retriever.retrieve(_event_query(ref), settings.candidates, None, mode="keyword")
    needed = content_stems(ref.event)
    named = [p for p in pool if needed <= content_stems(f"{p.title} {p.text}")]
    reports = _dated_articles(named)
    out = EventDate(expression=ref.expression, event=ref.event, reports=len(reports))
    if not reports:
        why = "only articles without a date report" if named else "no article reports"
        out.note = f"{why} '{ref.event}': no date filter was made for '{ref.expression}'"
        return out
    runs = _runs([_aware_or_none(p.published_at) for p in reports])
    if len(runs) > 1:
        when_ = ", ".join(_span_words(a, b) for a, b in runs)
        out.note = (f"'{ref.event}' is reported at {len(runs)} separate times ({when_}): which is meant is "
                    f"not known, so no date filter was made for '{ref.expression}'")  # fmt: skip
        return out
    earliest = reports[0]
    out.date, out.doc_id, out.title = _aware_or_none(earliest.published_at), earliest.doc_id, earliest.title
    out.note = (f"'{ref.event}' dated {out.date:%-d %B %Y}: the first of {len(reports)} "
                f"article{'s' if len(reports) > 1 else ''} reporting it, '{earliest.title}' ({earliest.doc_id}); "
                f"searched: {_searched_words(ref.prep, out.date)}")  # fmt: skip
    return out


def _dated_articles(passages: list[Passage]) -> list[Passage]:
    """One passage per dated article, oldest article first (an undated one cannot date anything)."""
    first: dict[str, Passage] = {}
    for p in passages:
        if p.published_at is not None and p.doc_id not in first:
            first[p.doc_id] = p
    return sorted(first.values(), key=lambda p: _aware_or_none(p.published_at))


def _runs(dates: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted dates split where `EVENT_GAP` or more passes between two: (first, last) of each run."""
    runs = [[dates[0], dates[0]]]
    for d in dates[1:]:
        if d - runs[-1][1] >= EVENT_GAP:
            runs.append([d, d])
        else:
            runs[-1][1] = d
    return [(a, b) for a, b in runs]


def _span_words(a: datetime, b: datetime) -> str:
    return f"{a:%-d %B %Y}" if a.date() == b.date() else f"{a:%-d %B %Y} to {b:%-d %B %Y}"


def _searched_words(prep: str, day: datetime) -> str:
    if prep in _EVENT_AFTER:
        return f"articles published on or after {day:%-d %B %Y}"
    return f"articles published on or before {day:%-d %B %Y}"


def within(filters: Filters | None, period: Period) -> Filters:
    """The filters narrowed to articles published in the period (an undated article is not known to
    be: it counts when it names a date in the period, as any other)."""
    base = filters or Filters()
    return base.model_copy(update={
        "published_after": _later(_aware_or_none(base.published_after), period.start),
        "published_before": _earlier(_aware_or_none(base.published_before), period.end),
        "keep_undated": False,
    })  # fmt: skip


def mentions(passage: Passage, period: Period, doc=None) -> bool:
    """Whether a passage names a date in the period, read against its own article's date ("last
    year" in an article of January 2017 is 2016; undated: the reference is now): a report, earlier
    or later, of something of that period. `doc`: the passage's text with its entities, if read."""
    from rag.nlp.parse import entity_docs

    for ent in (doc if doc is not None else entity_docs([passage.text])[0]).ents:
        if ent.label_ != "DATE":
            continue
        said = resolve(ent.text, passage.published_at, up_to_reference=False)
        if said and said.start and said.end and period.start <= said.start and said.end <= period.end:
            return True  # "2017" does not name a date in March 2017; "3 March" and "last Friday" may
    return False


def with_sources(answer: Answer, passages: list[Passage], time_plan: TimePlan) -> Answer:
    """Every citation with its article's date, publication and author (from the passage it cites),
    and the answer with the time frame it was searched in."""
    by_chunk = {p.chunk_id: p for p in passages}
    for c in answer.citations:
        p = by_chunk.get(c.chunk_id)
        if p is not None:
            c.published_at = c.published_at or p.published_at
            c.source = c.source or p.source
            c.author = c.author or p.author
    answer.time = time_plan.frame()
    return answer


# `since:2017-03-01`, `until:"7 days ago"` (Slack may turn the quotes into curly ones).
_TOKEN = re.compile(r"(?<!\S)(since|until):(?:[\"“”]([^\"“”]*)[\"“”]|(\S+))", re.IGNORECASE)


def take_filter_tokens(text: str, ref: datetime | None = None) -> tuple[str, Filters | None]:
    """`since:DATE` and `until:DATE` taken out of a chat message (Slack) as filters; the rest is
    the question. A date that cannot be read is refused with what to write instead."""
    values: dict[str, str] = {}
    for m in _TOKEN.finditer(text):
        values[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    if not values:
        return text, None
    after, before = since_until(values.get("since"), values.get("until"), ref, names=("since:", "until:"))
    rest = " ".join(_TOKEN.sub(" ", text).split())
    return rest, Filters(published_after=after, published_before=before)
