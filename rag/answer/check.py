"""Each sentence the model wrote, checked against the evidence sentences it cites.

A sentence is kept when all of these hold (each a general rule of reading, not of any corpus):
  - it is not degenerate: no run of words repeated (`looping`), not a copy of an earlier sentence,
    not cut short (`cut_short`);
  - every amount it states is stated by its evidence ("1.5 million" = "1,500,000"), unless the
    question states it;
  - every date it states names the date of one in its evidence, relative dates resolved against
    each article's date ("three days ago" in a report of 16 May = "13 May"); an age or a length
    of time the same one however worded ("27 years old" = "at the age of 27");
  - every name it states is named in its evidence, by any of the forms `rag.nlp.names` allows;
  - a cause it claims ("due to", "because of") is one its evidence states: a sentence that reports
    a cause (by a connective or a verb of cause, "died of", or "after": `_CAUSAL_EVIDENCE`) says a
    word of it (`_cause_backed`);
  - a verb it shares with its evidence is negated in both or in neither ("did not cut" is not
    backed by "cut"), and is not reported as done where the evidence only expects, plans or
    allows it ("made landfall" is not backed by "is expected to make landfall", "cut 500 jobs"
    not by "plans to cut 500 jobs", "opened" not by "will open");
  - at least `MIN_COVERAGE` of its other content words (not the question's own words, not light
    verbs) are in its evidence;
  - it answers the question (`answers`): it holds a value of the kind asked (an amount for "how
    many", a date or "soon" for "when", a name for "who", a place for "where", a length of time
    only for "how long" or "how old"; a negative pronoun, "nothing", for "what"), and in the evidence that
    value stands within `MAX_HOPS` dependency links of a word of the question: the evidence
    must say the value *of the thing asked*, not just mention it nearby ("Medinsky, an aide to
    Putin, led the delegation" answers "who led" with Medinsky, not Putin), and it does not
    speak of another one of the thing asked ("Ukraine's delegation" for "the Russian
    delegation": `about_another`).
A sentence whose cited evidence does not back it takes the shown evidence sentence that
does; one that nothing backs is dropped. A kept sentence cites only the evidence it needs.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from rag.answer.question import LIGHT_VERBS, TIME_COUNTED, TIME_MEASURED, Question, doer, qualifiers, terms
from rag.nlp.lexicon import (
    another_office, is_departure, is_kind_of, is_knowing, is_motion, is_person_noun, is_place_noun, is_searching,
    participle_verb, verb_lemma,
)
from rag.nlp.names import (
    NAME_LABELS, country_group, country_mentioned, mentions, name_in, names_a_country, same_name, short_form_of,
    written_damaged,
)
from rag.nlp.parse import parse
from rag.nlp.text import STOPWORDS, fold
from rag.nlp.values import amounts, date_spans, same_date, same_span_of_time
from rag.schema import EvidenceSentence

MIN_COVERAGE = 0.5
MAX_HOPS = 4
CLOSE_HOPS = 1  # a value that modifies a word of the question, or is modified by it
NEAREST_SLACK = 1  # the parse of a long sentence can attach a clause one link off ("an aide to Putin who headed ...")
MIN_FOCUS = 1 / 3
MIN_FOCUS_QUOTED = 0.5  # a quoted evidence sentence must be about the question by itself
MIN_FOCUS_OVERRULED = 2 / 3  # and more so when the model found no answer in the evidence


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    evidence: list[int] | None = None


def clean(text: str) -> str:
    text = re.sub(r"\s*\[(?:\d+(?:\s*[,-]\s*\d+)*)\]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def cut_short(text: str) -> bool:
    """Whether a sentence stops before its end: its last word is one that English never ends a
    sentence with, because it only introduces what follows: an article ("... signed the."), a
    coordinating conjunction ("... Kyiv and."), a subordinating one
    ("... because."), or "as" and "than" with nothing after them ("described the delegation
    as."). A small model's reply cut at its token limit, or its quote left unfinished, ends so."""
    words = [t for t in parse(_MARKERS.sub("", text)) if not t.is_punct and not t.is_space]
    if not words:
        return False
    last = words[-1]
    if last.pos_ in ("CCONJ", "SCONJ") or last.lower_ in ("a", "an", "the"):
        return True
    return last.lower_ in ("as", "than") and not list(last.children)


_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")  # citation markers a prose reply puts at the end


def looping(text: str, n: int = 3) -> bool:
    """A run of `n` words said twice in one sentence is a decoding loop ("the focus of the
    focus of the ..."), not news prose; so is one word four times in a row."""
    words = [fold(w) for w in re.findall(r"\w+", text)]
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) != len(set(grams)):
        return True
    return any(words[i] == words[i + 1] == words[i + 2] == words[i + 3] for i in range(len(words) - 3))


def unloop(text: str, n: int = 3) -> str:
    """The words a sentence says before it falls into a decoding loop, or '' when that leaves
    too little to be a sentence. A small model that loops has mostly said what it meant first
    ("Umerov led Kyiv's delegation, who led Kyiv's delegation, who led ..."): the sentence is cut
    where the repeated run starts again, and the function words and punctuation left dangling at
    the cut ("..., who", the "2" of a numbered list) are dropped. What is kept is then checked
    like any sentence."""
    if not looping(text, n):
        return text
    spans = [(m.start(), m.end(), fold(m.group())) for m in re.finditer(r"\w+", text)]
    words = [w for _, _, w in spans]
    first: dict[tuple[str, ...], int] = {}
    cut = None
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        if gram in first and i >= first[gram] + n:
            cut = i
            break
        first.setdefault(gram, i)
    if cut is None:  # one word four times in a row
        cut = next(i + 1 for i in range(len(words) - 1) if words[i] == words[i + 1])
    while cut > 0 and (words[cut - 1] in STOPWORDS or words[cut - 1].isdigit()):  # "..., who", "..., 2."
        cut -= 1
    kept = _open_clause_dropped(text[: spans[cut - 1][1]] if cut > 0 else "")
    return kept if len(terms(parse(kept))) >= 3 and not looping(kept, n) else ""


def _open_clause_dropped(text: str) -> str:
    """A sentence cut just after the participle that opens a clause ("... in Baghdad, *killing*")
    without the clause: the cut left it with nothing to say."""
    words = [t for t in parse(text) if not t.is_space]
    if len(words) >= 2 and words[-1].tag_ in ("VBG", "VBN") and words[-2].text == ",":
        return text[: words[-2].idx].rstrip()
    return text


def _negated(doc: Doc | Span) -> dict[str, bool]:
    """Lemma of each verb -> whether it is negated ("did not cut", "never cut", "no one cut")."""
    out: dict[str, bool] = {}
    for tok in doc:
        if tok.pos_ in ("VERB", "AUX") and tok.dep_ != "aux":
            neg = any(c.dep_ == "neg" or fold(c.text) in ("never", "no") for c in tok.children)
            neg = neg or any(c.dep_ == "nsubj" and any(g.dep_ == "det" and fold(g.text) == "no" for g in c.children) for c in tok.children)
            out[tok.lemma_.lower()] = out.get(tok.lemma_.lower(), False) or neg
    return out


# English implicative and aspectual verbs: "managed to cut", "began to fall", "continued to rise",
# "used to run" report that the act took place (Karttunen's implicatives), unlike "expected to",
# "plans to", "agreed to", "hopes to", "tried to", which report an intention or a forecast.
_REALISED = {"manage", "begin", "start", "continue", "proceed", "happen", "use", "come", "go", "keep", "remain"}


def _foretold(tok: Token) -> bool:
    """Whether a verb is said only as expected, planned, possible or supposed: with a modal
    ("will make", "could cut"), as an infinitive under another verb ("is expected to make",
    "plans to cut", "agreed to exchange", "wants talks to be held") unless that verb says the act took place
    (`_REALISED`), in a condition ("only if agreements are reached"), or joined by "and" to a
    verb that is ("will lose 200 jobs and consolidate")."""
    if any(c.dep_ == "aux" and c.tag_ == "MD" for c in tok.children):
        return True
    if tok.dep_ in ("xcomp", "ccomp") and any(fold(c.text) == "to" and c.dep_ in ("aux", "mark") for c in tok.children):
        return tok.head.lemma_.lower() not in _REALISED  # "wants talks to be held"
    if tok.dep_ == "advcl" and any(c.dep_ == "mark" and fold(c.text) in ("if", "unless") for c in tok.children):
        return True
    return tok.dep_ == "conj" and tok.head.pos_ == "VERB" and tok.head.i != tok.i and _foretold(tok.head)


def _under_way(tok: Token) -> bool:
    """A present progressive ("is closing its plant", "are making landfall") says an act is
    under way or arranged (English uses it for plans: "the plant is closing next year"), not
    that it is done."""
    return tok.tag_ == "VBG" and any(c.dep_ == "aux" and c.tag_ in ("VBZ", "VBP") for c in tok.children)


def _asserted(doc: Doc | Span, finite: bool = False) -> dict[str, bool]:
    """Lemma of each verb -> whether the sentence reports it as done or true somewhere, not
    only as expected, planned, possible (`_foretold`) or under way (`_under_way`). With
    `finite`, only the verbs that make a statement count (a tensed verb, or a participle with
    its auxiliary: "made", "has made"), not a gerund or participle that names an act in
    passing ("fined for fixing prices")."""
    out: dict[str, bool] = {}
    for tok in doc:
        if tok.pos_ != "VERB" or tok.dep_ == "aux":
            continue
        if finite and tok.tag_ not in ("VBD", "VBZ", "VBP") and not any(c.dep_ in ("aux", "auxpass") for c in tok.children):
            continue
        out[tok.lemma_.lower()] = out.get(tok.lemma_.lower(), False) or not (_foretold(tok) or _under_way(tok))
    return out


def _date_texts(doc: Doc) -> list[str]:
    return [e.text for e in date_spans(doc)]


def _amounts_outside_dates(doc: Doc) -> set[float]:
    text = doc.text
    for e in date_spans(doc):
        text = text.replace(e.text, " ")
    return amounts(text)


# English's connectives of cause (closed-class): a sentence that says one thing happened *because of*
# another claims a cause, which a report that only says both happened does not back ("Berry died
# due to police identification" from "police identified him"). A report states a cause with
# these, with a verb or noun of causing, with "died of" or "suffers from", or with "after",
# "amid", "following" ("fell after weak sales"), which news uses for cause as well as for time.
_CAUSAL_CLAIM = re.compile(r"\b(?:because|due to|owing to|as a result of|caused by|thanks to)\b", re.IGNORECASE)
_CAUSAL_EVIDENCE = re.compile(
    r"\b(?:because|due to|owing to|as a result|thanks to|caus\w*|reasons?|result\w*|l[e]?ad(?:s|ing)? to|led to|blam\w*|"
    r"trigger\w*|spark\w*|after|amid|following|since|so|therefore|over|(?:die[ds]?|dying|suffer\w*) (?:of|from))\b",
    re.IGNORECASE)


def _cause_backed(text: str, evidence: list[EvidenceSentence], question: Question) -> bool:
    """Whether a cause the sentence claims ("due to", "because of": `_CAUSAL_CLAIM`) is one its
    evidence states: an evidence sentence that reports a cause (`_CAUSAL_EVIDENCE`) must say a
    word of the cause claimed (the words after the connective, not the question's own). Two
    things reported side by side are no cause of one another: "she was dozing on the flight" and
    "found the headphones sparking" do not say the headphones caught fire because she dozed."""
    claimed = _CAUSAL_CLAIM.search(text)
    if claimed is None:
        return True
    stating = [e for e in evidence if _CAUSAL_EVIDENCE.search(e.text)]
    cause = terms(parse(text[claimed.end() :])) - question.focus
    return bool(stating) and (not cause or any(cause & terms(parse(e.text)) for e in stating))


def supports(text: str, evidence: list[EvidenceSentence], question: Question, abbreviations: dict[str, str]) -> str:
    """'' when the evidence backs the sentence, else the reason it does not (rules above)."""
    doc = parse(text)
    ev_text = " ".join(e.text for e in evidence)
    ev_docs = [parse(e.text) for e in evidence]
    missing = _amounts_outside_dates(doc) - amounts(question.text) - amounts(ev_text)
    if missing:
        return f"the evidence does not state {', '.join(f'{x:g}' for x in sorted(missing))}"
    for date in _date_texts(doc):
        if fold(date) in fold(question.text) or same_span_of_time(date, ev_text):
            continue
        claim_published = evidence[0].published_at if evidence else None
        if not any(
            same_date(date, claim_published, d, e.published_at, backed=True) or fold(date) in fold(e.text)
            for e, ev in zip(evidence, ev_docs)
            for d in _date_texts(ev) + [e.text]
        ):
            return f"the evidence does not give the date {date!r}"
    ev_names = [n for ev in ev_docs for n in mentions(ev)]
    dated = " ".join(_date_texts(doc))
    for name in mentions(doc):
        if name_in(name, question.names, abbreviations) or name in dated:
            continue
        if not name_in(name, ev_names, abbreviations) and fold(name) not in fold(ev_text):
            return f"the evidence does not name {name}"
    if not _cause_backed(text, evidence, question):
        return "the evidence states no such cause"
    mine, theirs = _negated(doc), {}
    for ev in ev_docs:
        for lemma, neg in _negated(ev).items():
            theirs[lemma] = theirs.get(lemma, False) or neg
    for lemma, neg in mine.items():
        if lemma in theirs and theirs[lemma] != neg and lemma not in ("be", "have", "say"):
            return f"negation differs on '{lemma}'"
    reported: dict[str, bool] = {}
    for ev in ev_docs:
        for lemma, done in _asserted(ev).items():
            reported[lemma] = reported.get(lemma, False) or done
    for lemma, done in _asserted(doc, finite=True).items():
        if done and reported.get(lemma) is False and lemma not in ("be", "have", "say"):
            return f"the evidence expects or plans '{lemma}', it does not report it done"
    # The question's own words ("took place" for "did the talks take place?"), or others for them
    # ("called" for "phone"), are given, not claimed; names (a people's too: "French"), dates and
    # amounts were checked above by their own rules; light verbs ("got", "made") say too little
    # to count either way.
    in_values = {t.i for e in date_spans(doc) for t in e}
    words = [tok for tok in doc if tok.pos_ != "PROPN" and tok.ent_type_ not in NAME_LABELS
             and tok.i not in in_values and not tok.like_num]  # fmt: skip
    claim_terms = terms(words) - question.words - question.forms - LIGHT_VERBS
    if claim_terms:
        ev_terms = set().union(*(terms(ev) for ev in ev_docs)) if ev_docs else set()
        covered = len(claim_terms & ev_terms) / len(claim_terms)
        if covered < MIN_COVERAGE:
            return f"only {covered:.0%} of its words are in the evidence"
    return ""


# --- does it answer the question? ------------------------------------------------


def value_tokens(doc: Doc, question: Question, abbreviations: dict[str, str]) -> list[list[Token]]:
    """The token groups of a parsed text that hold a value of the kind the question asks."""
    kind = question.kind
    groups: list[list[Token]] = []
    if kind in ("amount", "measure"):
        asked = amounts(question.text)
        numeric = [e for e in doc.ents if e.label_ in ("CARDINAL", "MONEY", "QUANTITY", "PERCENT")]
        inside = {t.i for e in numeric for t in e}
        if not (_counts_time(question.text) if kind == "amount" else _measures_time(question.text)):
            inside |= {t.i for e in date_spans(doc) for t in e}  # "a 30-day truce" gives no sum of money, no size
        loose = [[t] for t in doc if t.i not in inside and (t.like_num or _glued_number(t)) and not _time_of_day(t)]
        for group in [list(e) for e in numeric] + loose:
            if _partitive(group) or (kind == "measure" and _counts_people(group)
                                     and not _HEADCOUNT_MEASURES.search(question.text)):  # fmt: skip
                continue
            text = " ".join(t.text for t in group)
            if amounts(text) - asked or group[0].ent_type_ in ("MONEY", "PERCENT", "QUANTITY"):
                groups.append(group)
        if kind == "measure" and _measures_time(question.text):
            groups += [list(e) for e in date_spans(doc)
                       if re.search(r"\d|\b(?:an?|half)\b", fold(e.text)) and not _TIME_OF_DAY.search(e.text)]
    elif kind == "date":
        groups += [list(e) for e in date_spans(doc) if fold(e.text) not in fold(question.text)]
        if not _CLOCK_ASKED.search(question.text):
            groups += [[t] for t in doc if t.lower_ in _VAGUE_TIME and t.lower_ not in fold(question.text)]
        groups += unset_time(doc)
    elif kind in ("name", "place"):
        # "Who" is answered by a person or an organisation, "which judge" by a person; a place or
        # a people is where or whose.
        labels = {"GPE", "LOC", "FAC", "ORG", "NORP"} if kind == "place" else {"PERSON", "ORG"}
        if question.person_asked:
            labels = {"PERSON"}
        elif question.name_asked:  # a brand or a nickname: the name of a thing of any kind, which the
            labels = NAME_LABELS  # recogniser tags as anything ("Beats" as a nationality at times)
        elif question.organisation_asked:
            # a recogniser trained on news tags an unfamiliar company's name as a place or a
            # product at times ("left to join *Didi*" as a place); a country is still no company
            labels = {"ORG", "PERSON", "GPE", "FAC", "PRODUCT"}
        # a country is no company, and no town, base or river (`Question.within_a_country`)
        no_country = question.organisation_asked or question.within_a_country
        for ent in doc.ents:
            if question.name_asked and all(t.pos_ == "ADJ" for t in ent):
                continue  # "Australian authorities": an adjective of nationality describes, it names nothing
            if ent.label_ in labels and not (no_country and names_a_country(ent.text)) and _can_name(ent):
                if not name_in(ent.text, question.names, abbreviations):
                    groups.append(list(ent))
        inside = {t.i for g in groups for t in g}
        for group in _named_by_picked_noun(doc, question):
            named = " ".join(t.text for t in group)
            if not inside & {t.i for t in group} and not name_in(named, question.names, abbreviations):
                groups.append(group)
        if not groups:  # a name the recogniser left untyped ("Zelenskiy" at times): still a name;
            for name in mentions(doc):  # one it typed as something else (a country, a date) is not
                tokens = [t for t in doc if t.text in name.split() and t.text[:1].isupper()][:1]
                if tokens and not tokens[0].ent_type_ and not name_in(name, question.names, abbreviations):
                    groups.append(tokens)
    return [g for g in groups if g]


def _named_by_picked_noun(doc: Doc, question: Question) -> list[list[Token]]:
    """The capitalised words that name one of what the question's "which" picks, written before
    that noun: "the *Rhinog* mountains" for "In which mountains ...?", "the *Thames* river", "the
    *Dolmabahçe* palace". English names a particular one so, and the recogniser, which knows
    famous names best, often leaves an unfamiliar one untyped or tags it as something else."""
    if question.picked is None or question.person_asked:  # "the Supreme Court judge" names no judge
        return []
    found = []
    for noun in doc:
        if noun.pos_ not in ("NOUN", "PROPN") or _term(noun) != question.picked:
            continue
        words = [c for c in noun.lefts if c.dep_ == "compound" and c.text[:1].isupper() and c.pos_ == "PROPN"]
        if words:
            found.append([t for w in words for t in w.subtree if t.i < noun.i and t.text[:1].isupper()])
    return [g for g in found if g]


def _can_name(ent: Span) -> bool:
    """Whether a span the recogniser took for a name can be one: English writes a name with a
    capital ("the group", "un" in a Spanish tweet are none), and a web address is none."""
    return any(t.text[:1].isupper() for t in ent) and not re.search(r"https?://|www\.|\.com\b", ent.text)


# A time of day ("at 12:30 local time", "6 a.m.", "noon", "11:30 GMT") is a point in time, not a
# length of it: no answer to "how long". A race time ("2:03:59") has no such mark and stays one.
_TIME_OF_DAY = re.compile(r"\d\s*[ap]\.?m\b|\b[ap]\.m\.|\b(?:o'clock|noon|midnight|local time|GMT|UTC)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?m\b|\(?(?:local time|GMT|UTC)\b|o'clock)", re.IGNORECASE)


def _time_of_day(tok: Token) -> bool:
    """Whether a number is a time of day ("*12:30* local time", "*6* a.m.", "*3.30am*"): no count,
    sum or size, and no length of time."""
    return bool(_CLOCK.match(tok.doc[tok.i : tok.i + 4].text))


# English adverbs that place an event in time without a date: what a report says when it gives no
# date ("they agreed to exchange prisoners soon") answers "when" as precisely as the report can.
_VAGUE_TIME = {"soon", "shortly", "imminently"}
# "At what time", "what time of day", "what hour": a clock time or a part of the day is asked, which
# "soon" does not give (it says when only relative to now). "What time frame" asks for a period.
_CLOCK_ASKED = re.compile(r"\bwhat (?:time|hour)\b(?!\s*(?:frame|line|table|scale|span|period))", re.IGNORECASE)


# English nouns for the time set for something to happen. "No date was set", "no timetable was
# given", "did not give a deadline": a report that says so answers "when" with "not yet known".
_SET_TIME = {"date", "timeline", "timetable", "timeframe", "deadline", "schedule"}


def unset_time(doc: Doc | Span) -> list[list[Token]]:
    """The phrases that say no time was set for what is reported: "no timeline", "no date", or
    a time noun that is the object of a negated verb ("officials did not give a *date*")."""
    found = []
    for t in doc:
        if t.lemma_.lower() not in _SET_TIME or t.pos_ != "NOUN":
            continue
        det = next((c for c in t.children if c.dep_ == "det" and c.lower_ == "no"), None)
        if det is not None:
            found.append([det, t])
        elif t.dep_ in ("dobj", "nsubjpass") and any(c.dep_ == "neg" for c in t.head.children):
            found.append([t])
    return found


def _glued_number(tok: Token) -> bool:
    """A token that holds an amount glued to other characters ("raised-$100,000", "30bn",
    "US$5m"): text pasted from web pages loses spaces, and the tokenizer then keeps the number
    inside a word. It is still an amount when the number reads as one; digits that end a code
    ("F-16", "COVID-19", "G7") name a thing and count nothing."""
    text = tok.text
    if tok.like_num or not re.search(r"\d", text) or re.search(r"[A-Za-z]-?\d", text):
        return False
    return bool(amounts(text))


def _partitive(group: list[Token]) -> bool:
    """"One of the creators", "one of 12 candidates": "one" picks a member of a group; "one
    another" is a pronoun ("the delegations sat opposite one another"). Neither counts
    anything, so it answers no "how many" or "how old"."""
    last = group[-1]
    nxt = last.doc[last.i + 1] if last.i + 1 < len(last.doc) else None
    return len(group) == 1 and last.lower_ == "one" and nxt is not None and nxt.lower_ in ("of", "another")


# "How big / how large / what size" can be answered by a headcount ("a crowd of 10,000 people").
_HEADCOUNT_MEASURES = re.compile(r"\bhow (?:big|large)\b|\bwhat size\b", re.IGNORECASE)


def _counts_people(group: list[Token]) -> bool:
    """Whether a number counts people ("*Four* Swiss men were killed", "*2,000* workers walked
    out"): people are counted, not measured, so the number is no length, age, distance, height,
    speed or frequency, and answers no "how long" or "how old" (a crowd's size is the exception:
    `_HEADCOUNT_MEASURES`). The counted noun is the one the number modifies, its commonest sense a
    person (`lexicon.is_person_noun`) or people ("Four *people* were killed")."""
    last = group[-1]
    head = last.head
    people = is_person_noun(head.lemma_) or is_kind_of(head.lemma_, "people")
    return last.dep_ == "nummod" and head.pos_ == "NOUN" and people


def _measures_time(question: str) -> bool:
    """Whether a measure question can be answered by a length of time: "how long", "how old",
    "how often" can; "how big", "how high", "how far" ask for a size or a distance, and "30
    million years ago" is no size of a continent."""
    return bool(TIME_MEASURED.search(question))


def _counts_time(question: str) -> bool:
    """Whether "how many / how much" counts units of time ("How many days did the strike
    last?"): only then does a number inside a date or a length of time answer it."""
    return bool(TIME_COUNTED.search(question))


def _hops(sources: list[Token], targets: set[int], limit: int) -> int | None:
    """Fewest dependency links from any source token to a target token (within a sentence)."""
    queue = deque((t, 0) for t in sources)
    seen = {t.i for t in sources}
    while queue:
        tok, d = queue.popleft()
        if tok.i in targets:
            return d
        if d == limit:
            continue
        for nxt in [tok.head, *tok.children]:
            if nxt.i not in seen:
                seen.add(nxt.i)
                queue.append((nxt, d + 1))
    return None


def _named_place(group: list[Token]) -> list[Token]:
    """A place value with the place noun it names: in "the cities of Pokrovsk, Toretsk and Chasiv
    Yar", "the county of Kent", "the port of Odesa", the name *is* the city, county or port
    (English's appositive "of"), so it stands wherever that noun stands in the sentence, not
    two links farther. Only nouns whose commonest sense is a place (`lexicon.is_place_noun`),
    so "the capital of France" still places France two links from "capital"."""
    inside = {t.i for t in group}
    root = next((t for t in group if t.head.i not in inside or t.head.i == t.i), group[-1])
    while root.dep_ == "conj" and root.head.i != root.i:  # "Pokrovsk, Toretsk and ...": the first
        root = root.head
    of = root.head
    if root.dep_ == "pobj" and of.lower_ == "of" and of.head.pos_ == "NOUN" and is_place_noun(of.head.lemma_):
        return [*group, of.head]
    return group


def _matches(value: list[Token], claim_value: list[Token], abbreviations: dict[str, str], e: EvidenceSentence,
             kind: str | None = None) -> bool:  # fmt: skip
    """Whether an evidence value and a claim value are the same value."""
    a, b = " ".join(t.text for t in value), " ".join(t.text for t in claim_value)
    if kind == "date":
        return same_date(b, e.published_at, a, e.published_at, backed=True) or fold(a) == fold(b)
    if amounts(a) & amounts(b):
        return True
    return fold(a) == fold(b) or same_name(a, b, abbreviations) or fold(b) in fold(a)


def focus_tokens(doc: Doc, question: Question) -> set[int]:
    """The tokens of a sentence that say what the question is about, in its words or others for
    the same thing; words that are not names when there are any (a name locates the story; the
    relation asked about is in the other words: "led", "delegation"); a word of a name the
    question mentions is part of that name ("the bank" says nothing of a question's "Deutsche Bank").
    A title written before a name is capitalised and tagged a proper noun ("*Judge* Peter Lodder",
    "*Coach* Jane Doe"), but it is still the common noun for the kind of person the question asks
    about ("Which judge ...?"), as is a narrower word for that kind ("*Foreign Minister* Sergei
    Lavrov" for "Which diplomat ...?": `asked_person`). So is the last word of a name that is the
    noun the question picks ("the Dolmabahçe *Palace*" for "In which palace ...?", "the Labour
    *Party*" for "Which party ...?"): the name says which one of them it is."""
    forms = question.forms
    found = [t for t in doc if _term(t) in forms or asked_person(t, question)]
    plain = {
        t.i for t in found
        if (t.pos_ != "PROPN" or asked_person(t, question) or _names_picked(t, question))
        and _term(t) not in question.name_terms
    }  # fmt: skip
    # What the question times its answer by ("before this *meeting*") is where the answer is not:
    # the date of this meeting is no answer to when they last talked before it.
    timed = {t.i for t in found if t.i in plain and _term(t) not in question.reference}
    return timed or plain or {t.i for t in found}


def _names_picked(tok: Token, question: Question) -> bool:
    """Whether a proper noun is the noun the question's "which" picks, ending a name: "Palace" in
    "the Dolmabahçe Palace" for "In which palace ...?" (not "Palace" that starts "Palace Hotel")."""
    return question.picked is not None and _term(tok) == question.picked and tok.dep_ != "compound"


def asked_person(tok: Token, question: Question) -> bool:
    """Whether a noun (or a title, which is tagged a proper noun) is one of the kinds of person the
    question names, or a narrower kind ("minister" for "diplomat", `lexicon.is_kind_of`)."""
    if tok.pos_ not in ("NOUN", "PROPN") or not question.persons:
        return False
    lemma = tok.lemma_.lower()
    return lemma in question.persons or any(is_kind_of(lemma, p) for p in question.persons)


def states_relation(sentence_terms: set[str], question: Question) -> bool:
    """Whether a sentence speaks of the relation the question asks about: it has the
    question's main verb ("won" for "Who won the final?"), another word for it ("headed" for
    "led": `Question.found_in`) or a more general one ("increased" for "grew":
    `Question.broader`), or at least two and half of the question's words ("nine civilians were
    killed when a drone hit a minibus" for "How many civilians died when a drone hit a
    minibus?"): a sentence that only shares the topic
    ("the final was played in Paris") does not."""
    said = question.found_in(sentence_terms)  # in the question's words or others for the same thing
    if not question.verb or question.verb in said or question.broader & sentence_terms:
        return True
    plain = question.focus - question.name_terms or question.focus  # names locate the story, not the relation
    shared = len(plain & said)
    return shared >= 2 and shared >= len(plain) / 2


def anchored(claim: Doc, evidence: list[EvidenceSentence], question: Question, abbreviations: dict[str, str]) -> bool:
    """Whether a value the claim gives is, in some evidence sentence, the value of the kind
    asked that stands nearest to the question's words (or at most `NEAREST_SLACK` links
    farther than the nearest, for parses that attach a clause one link off): within `MAX_HOPS` dependency links in
    a sentence that `states_relation`, within `CLOSE_HOPS` in any other ("Kremlin spokesman
    Dmitry Peskov" names the spokesman whatever the sentence goes on to say). Where the sentence
    says the question's main verb, or another word for it, the value must stand within
    `MAX_HOPS` of that word: in "the delegation sent by Putin was weak, and the Russian *leader*
    afraid", "leader" says "headed", but not of Putin's delegation."""
    claim_values = value_tokens(claim, question, abbreviations)
    if not claim_values:
        return False
    # asked where someone went, not where from: the place a going starts is no answer (`_origin`)
    asked_where_to = question.moves and not re.search(r"\bfrom\b", question.text, re.IGNORECASE)
    for e in evidence:
        ev = parse(e.text)
        focus = focus_tokens(ev, question)
        before = _sentence_before(e, evidence)
        said = terms(ev)
        before_doc = parse(before.text) if before is not None else None
        if before_doc is not None and (pronoun := _pronoun_for(ev, before_doc, question)) is not None:
            focus |= {pronoun.i}  # "He was 90." after "Chuck Berry ... has died": "He" is Berry
            said |= terms(before_doc)  # and the two sentences are one thought
        if not focus or about_another(ev, question, abbreviations):
            continue
        relation = relation_tokens(ev, question)
        values = [(g, _sources(g, question)) for g in value_tokens(ev, question, abbreviations) if not _titled_otherwise(g, question)]
        if asked_where_to:
            values = [(g, src) for g, src in values if not _origin(g)]
        # "an investigation to find the *attackers*" for "Who attacked ...?": the doers of what was
        # asked (a noun for the relation) are being looked for; only a name given them says who they are
        sought = [t for t in ev if question.kind == "name" and t.i in relation and t.pos_ == "NOUN" and _sought(t)]
        if sought:  # a name said of them ("the attacker, named as ...") is in their noun's phrase
            phrase = {w.i for t in sought for w in t.subtree}
            values = [(g, src) for g, src in values if all(t.i in phrase for t in g)]
        if relation:  # the value must be said of the word that says the relation, or name a focus word itself
            distances = [(g, _nearest(_hops(src, relation, MAX_HOPS), _hops(src, focus, CLOSE_HOPS))) for g, src in values]
        else:
            limit = MAX_HOPS if states_relation(said, question) else CLOSE_HOPS
            distances = [(g, _hops(src, focus, limit)) for g, src in values]
        # A value said of what the question times its answer by ("*Friday's* meeting" for "before
        # this meeting") is that event's, not the answer.
        refs = {t.i for t in ev if _term(t) in question.reference}
        near = [(g, d) for g, d in distances if d is not None and (not refs or _hops(g, refs, CLOSE_HOPS) is None)]
        if not near:
            continue
        nearest = min(d for _, d in near)
        if any(d <= nearest + NEAREST_SLACK and any(_matches(g, cv, abbreviations, e, question.kind) for cv in claim_values) for g, d in near):
            return True
    return False


def _sought(tok: Token) -> bool:
    """Whether a word names one who is being looked for: the object of a verb of searching in
    its base form or its -ing form ("launched an investigation to find the *attackers*", "police
    are hunting the *gunman*", "searching for the *driver*"). Who that is is not yet known, so a
    name elsewhere in the sentence (the searchers') does not say who did it."""
    verb = tok.head
    if tok.dep_ == "pobj" and verb.lower_ == "for":
        verb = verb.head
    elif tok.dep_ != "dobj":
        return False
    searching = is_searching(verb_lemma(verb.lower_, verb.lemma_.lower()))
    return verb.pos_ == "VERB" and verb.tag_ in ("VB", "VBG") and searching


def _titled_otherwise(group: list[Token], question: Question) -> bool:
    """Whether a name is given with a title for another kind of person than the question asks
    about: for "What was the name of the *student* arrested?", "spokesman Pierre-Henry
    Brandet" or "Brandet, the *spokesman*," names the spokesman, not the student. A name with no
    title, or with the question's own (or another word for it), may be the one asked for."""
    if question.kind != "name" or not question.persons or question.organisation_asked or question.name_asked:
        return False  # asked for a company, "Zalando, the online *retailer*" names one
    inside = {t.i for t in group}
    near = [c for t in group for c in t.children if c.i not in inside and c.dep_ in ("compound", "appos")]
    root = next((t for t in group if t.head.i not in inside), None)
    if root is not None and root.dep_ == "appos":
        near.append(root.head)
    titles = [t for t in near if t.pos_ == "NOUN" and is_person_noun(t.lemma_)]
    return bool(titles) and not any(_term(t) in question.forms or asked_person(t, question) for t in titles)


def _sources(group: list[Token], question: Question) -> list[Token]:
    """Where a value stands in its sentence, for counting links to the question's words."""
    return _named_place(group) if question.kind == "place" else group


_PERSONAL = {"he", "she", "they", "it"}


def _sentence_before(e: EvidenceSentence, evidence: list[EvidenceSentence]) -> EvidenceSentence | None:
    """The evidence sentence that comes right before `e` in its article, if it is given."""
    return next((x for x in evidence if x.doc_id == e.doc_id and 0 <= e.start - x.end <= 2), None)


def _pronoun_for(doc: Doc, before: Doc, question: Question) -> Token | None:
    """The personal pronoun that opens a sentence ("*He* was 90.", "*They* were travelling to
    Dublin") when the sentence before it is about what the question names: its subject holds a
    word of the question, in any of its forms. English news names a person or thing and goes on
    with a pronoun; the pronoun then says that name."""
    first = next((t for t in doc if not t.is_punct), None)
    if first is None or first.lower_ not in _PERSONAL or first.pos_ != "PRON" or not first.dep_.startswith("nsubj"):
        return None
    subject = next((t for t in before if t.dep_.startswith("nsubj") and t.head.dep_ == "ROOT"), None)
    about = subject is not None and any(_term(t) in question.forms for t in subject.subtree)
    return first if about else None


def relation_tokens(doc: Doc | Span, question: Question) -> set[int]:
    """The tokens that say the question's main verb, in its word, another for it, or a more
    general one that still says much ("increased" for "grew": `lexicon.broader`); asked where
    someone went by a way of going ("fly to"), any way of going ("travelling to")."""
    if not question.verb:
        return set()
    forms = question.alike.get(question.verb, frozenset()) | {question.verb} | question.broader
    found = {t.i for t in doc if _term(t) in forms}
    if question.moves:  # where someone flew is where they went; "left Paris for Rome" says it too
        found |= {t.i for t in doc if t.pos_ == "VERB" and (is_motion(t.lemma_) or is_departure(t.lemma_))}
    return found


def _origin(group: list[Token]) -> bool:
    """Whether a place value is where a going starts: the object of "from", or the direct object
    of a verb of going away ("left *Philadelphia* for Buffalo", "departed *Heathrow*"). It is
    not where someone went to."""
    root = next((t for t in group if t.head.i not in {g.i for g in group}), group[0])
    if root.dep_ == "pobj" and root.head.lower_ == "from":
        return True
    return root.dep_ == "dobj" and root.head.pos_ == "VERB" and is_departure(root.head.lemma_)


def about_another(doc: Doc | Span, question: Question, abbreviations: dict[str, str]) -> bool:
    """Whether a sentence speaks of another one of what the question asks about: a noun the
    question qualifies with a name ("the *Russian* delegation", "*Apple*'s chief executive") is
    qualified here only with names known to be others ("*Ukraine*'s delegation", "*Samsung*'s
    chief executive"). Who led Ukraine's delegation does not answer who led Russia's. Likewise
    a person the question names by office ("president") that is said here only inside a title
    for another office ("*vice* president": `lexicon.another_office`)."""
    if _other_office(doc, question) or _done_by_another(doc, question, abbreviations):
        return True
    if not question.qualified:
        return False
    here = qualifiers(doc)
    for noun, asked in question.qualified.items():
        theirs = here.get(noun)
        if theirs and all(_known_apart(a, b, abbreviations) for a in asked for b in theirs):
            return True
    return False


def _done_by_another(doc: Doc | Span, question: Question, abbreviations: dict[str, str]) -> bool:
    """Whether the sentence says the relation asked about only of a doer known to be another
    than the question's ("*Zelenskiy* stated he had spoken by phone with Trump" does not say
    with whom *Lavrov* spoke), and does not name the question's doer at all."""
    if question.doer is None or name_in(question.doer[0], mentions(doc), abbreviations):
        return False  # a sentence that names the doer asked about may say it of them ("..., Spain in 1985")
    doers = []
    relation = relation_tokens(doc, question)
    for tok in (t for t in doc if t.i in relation and t.pos_ == "VERB"):
        subject = doer(tok)
        if subject is None or not subject.ent_type_:
            return False  # said of someone unnamed here: nothing to tell apart
        ent = next((e for e in tok.doc.ents if e.start <= subject.i < e.end), None)
        doers.append((ent.text if ent is not None else subject.text, subject.ent_type_))
    return bool(doers) and all(_known_apart(question.doer, d, abbreviations) for d in doers)


def _other_office(doc: Doc | Span, question: Question) -> bool:
    """Whether each mention here of a person noun of the question sits in a title for another
    office that the question does not say ("*vice* president" for "president")."""
    said = fold(question.text)
    for person in question.persons:
        here = [t for t in doc if t.pos_ in ("NOUN", "PROPN") and t.lemma_.lower() == person]
        if here and all(
            any(m.dep_ in ("compound", "amod") and fold(m.text) not in said and another_office(m.lemma_, t.lemma_)
                for m in t.lefts)
            for t in here
        ):  # fmt: skip
            return True
    return False


def _known_apart(a: tuple[str, str], b: tuple[str, str], abbreviations: dict[str, str]) -> bool:
    """Whether two qualifying names (text, entity label) surely name different things: two
    countries, by any of their forms ("Russian" / "Ukraine"), or two people or two organisations
    by no rule of `rag.nlp.names`. A name the tables do not place ("European", a region, a city
    not listed as a capital) decides nothing."""
    (x, x_label), (y, y_label) = a, b
    if same_name(x, y, abbreviations):
        return False
    gx, gy = country_group(x), country_group(y)
    if gx is not None or gy is not None:
        return gx is not None and gy is not None and gx != gy
    return x_label == y_label and x_label in ("PERSON", "ORG")


def _nearest(*distances: int | None) -> int | None:
    found = [d for d in distances if d is not None]
    return min(found) if found else None


def _term(tok: Token) -> str | None:
    found = terms([tok])
    return next(iter(found)) if found else None


def answers(
    text: str, evidence: list[EvidenceSentence], question: Question, abbreviations: dict[str, str],
    min_focus: float = MIN_FOCUS,
) -> str:  # fmt: skip
    """'' when the sentence answers the question from its evidence, else why not."""
    doc = parse(text)
    if question.focus:
        seen = terms(doc) | set().union(*(terms(parse(e.text)) for e in evidence))
        covered = len(question.found_in(seen)) / len(question.focus)
        # A question that says what it is about ("about war reparations") is answered only by a
        # sentence that speaks of that, in its words or others for it: the answer itself, not only
        # a sentence it cites (a cited sentence can say several things, and the answer another of them).
        if covered < min_focus or not question.topic <= question.found_in(terms(doc)):
            return "it is not about what the question asks"
    if about_another(doc, question, abbreviations) or (
        evidence and all(about_another(parse(e.text), question, abbreviations) for e in evidence)
    ):
        return "it speaks of another one than the question asks about"
    if question.kind is None:
        new = terms(doc) - question.focus
        return "" if new or _new_number(doc, question) or _says_none(doc) else "it only restates the question"
    if not anchored(doc, evidence, question, abbreviations):
        return f"its evidence does not give the {question.kind} asked for"
    return ""


def _new_number(doc: Doc, question: Question) -> bool:
    """Whether a sentence states a number the question does not: "Debbie was Category *4* when
    it hit Queensland" answers "What category was Debbie?" though its words are all the
    question's (a number is no content word, but it is what was asked)."""
    asked = {t.lower_ for t in parse(question.text) if t.like_num}
    return any(t.like_num and t.lower_ not in asked for t in doc)


_NONE = re.compile(r"\b(?:nothing|none|nobody|no one|neither|nowhere)\b")  # English's negative pronouns


def _says_none(doc: Doc) -> bool:
    """Whether a sentence answers with a negative pronoun ("Nothing.", "None of them did"): it
    says that what was asked is empty, which is an answer, though it adds no content word."""
    return bool(_NONE.search(fold(doc.text)))


# English adjectives that say how surely something is known ("it is not *clear* why", "the cause
# remains *unclear*"), besides the participles of verbs of knowing ("unknown", "undisclosed").
_SURE = {"clear", "certain", "sure", "apparent", "evident"}


def says_not_known(text: str) -> bool:
    """Whether a sentence says that something is not known or not made known: its main verb is
    a verb of knowing or making known, negated ("The cause of death was not *released*", "has
    not been *determined*", "police did not *say* why"), or its predicate is an adjective of
    knowing, negated or with "un-" ("it was not immediately *clear*", "remains *unknown*").
    A sentence that reports it ("..., police said") says it too.
    Such a sentence answers no question; it says the articles cannot."""
    doc = parse(text)
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return False
    said = next((c for c in root.children if c.dep_ == "ccomp"), None)
    if said is not None and not any(c.dep_ == "neg" for c in root.children) and _reports(root):
        root = said  # "It is unclear how the fire began, police said": what the police said is the sentence's claim
    negated = any(c.dep_ == "neg" for c in root.children)
    if negated and root.pos_ == "VERB" and is_knowing(verb_lemma(root.lower_, root.lemma_.lower())):
        return True
    for adj in (c for c in root.children if c.dep_ in ("acomp", "oprd") and c.pos_ in ("ADJ", "VERB")):
        word = adj.lower_
        base = word[2:] if word.startswith("un") else word
        if not (negated or word != base or any(c.dep_ == "neg" for c in adj.children)):
            continue
        if base in _SURE or is_knowing(participle_verb(base)):
            return True
    return False


def _reports(verb: Token) -> bool:
    """Whether a verb reports what its clause says: one of knowing or making known ("police *said*",
    "officials *confirmed*", `lexicon.is_knowing`)."""
    return verb.pos_ == "VERB" and is_knowing(verb_lemma(verb.lower_, verb.lemma_.lower()))


def about_the_subject(evidence: list[EvidenceSentence], question: Question, abbreviations: dict[str, str],
                      surroundings: dict[str, str]) -> bool:  # fmt: skip
    """Whether the evidence is about what the question names: at least half of the question's
    names (one at least) occur, in any allowed form, in the cited sentences' articles
    (`surroundings`: chunk id -> its article's title and retrieved passages). A sentence about
    another story ("the project is led by ..." in an article on trains) does not answer a
    question about a telescope project, however well its words fit."""
    if not question.names:
        return True
    text = " ".join(surroundings.get(e.chunk_id, e.text) for e in evidence)
    named = mentions(parse(text))
    found = sum(
        1 for n in question.names
        if name_in(n, named, abbreviations) or fold(n) in fold(text) or short_form_of(n, named)
        or country_mentioned(n, text) or written_damaged(n, text)
    )  # fmt: skip
    return found >= max(1, len(question.names) / 2)


def check(text: str, cited: list[EvidenceSentence], shown: list[EvidenceSentence], question: Question,
          abbreviations: dict[str, str], context: dict[int, EvidenceSentence],
          surroundings: dict[str, str] | None = None) -> Verdict:  # fmt: skip
    """Keep (with the evidence ids that back it), re-point, or drop one draft sentence.
    `context` gives, for an evidence id, the sentence before it in its article, when shown."""
    if not re.search(r"[A-Za-z0-9]", text):
        return Verdict(False, "empty")
    if looping(text):
        return Verdict(False, "repetitive")
    if cut_short(text):
        return Verdict(False, "cut short")

    def with_context(evs: list[EvidenceSentence]) -> list[EvidenceSentence]:
        extra = [context[e.id] for e in evs if e.id in context and context[e.id] not in evs]
        return evs + extra

    tries = [cited] if cited else []
    tries += [[e] for e in sorted(shown, key=lambda e: -e.score) if [e] != cited]
    reason = "no evidence backs it"
    for evs in tries:
        why = supports(text, with_context(evs), question, abbreviations)
        if why:
            if evs is cited:
                reason = why
            continue
        if surroundings is not None and not about_the_subject(evs, question, abbreviations, surroundings):
            reason = "its evidence is about another story than the one the question names"
            continue
        off = answers(text, with_context(evs), question, abbreviations)
        if off:
            return Verdict(False, off)
        return Verdict(True, evidence=[e.id for e in _needed(text, evs, question, abbreviations, with_context)])
    return Verdict(False, reason)


def _needed(text: str, evidence: list[EvidenceSentence], question: Question, abbreviations: dict[str, str],
            with_context) -> list[EvidenceSentence]:  # fmt: skip
    """The cited sentences the claim needs: each one without which it still is backed and still
    answers is dropped, so a citation always points at something the claim rests on (models cite
    every sentence on the topic, and a reader who follows a citation should find the claim there)."""
    kept = list(evidence)
    for e in list(evidence):
        if len(kept) == 1:
            break
        rest = [x for x in kept if x is not e]
        if not supports(text, with_context(rest), question, abbreviations) and not answers(
            text, with_context(rest), question, abbreviations
        ):
            kept = rest
    return kept
