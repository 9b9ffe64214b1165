"""Names and the other ways a text may write them.

Two mentions name the same thing when one of these general rules of English news says so:
  - the same words, ignoring case, accents and punctuation ("U.S." / "US");
  - a person's surname or fuller name ("Putin" / "Vladimir Putin");
  - a spelling variant of a long word (rapidfuzz ratio >= `FUZZY`: "Zelensky" / "Zelenskiy",
    but not "Christopher" / "Christina");
  - a country, its people, its capital (journalists write "Moscow" for Russia's government)
    and its other names, from `countryinfo`'s table ("France" / "French", "UK" / "Britain");
  - an abbreviation: the initials of a name ("UN" / "United Nations"), or an abbreviation
    the text itself defines ("the Federal Reserve (Fed)").
No list of actors is typed here: everything comes from the tables above or from the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from rag.nlp.text import STOPWORDS, fold

if TYPE_CHECKING:  # the keyword index reads abbreviations at ingest without loading spaCy
    from spacy.tokens import Doc

FUZZY = 88  # rapidfuzz ratio for spelling variants; words of 5+ letters only
NAME_LABELS = {"PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"}


def key(name: str) -> str:
    """A name folded for comparison: "the U.S.'s" -> "us"."""
    name = re.sub(r"['’]s$", "", name.strip())
    name = re.sub(r"^the\s+", "", fold(name))
    return re.sub(r"[^a-z0-9 ]", "", name.replace("-", " ")).strip()


def _countries() -> dict[str, int]:
    """Every name, demonym, capital and alternative spelling of a country -> a group number."""
    return _country_table()[0]


def _capitals() -> frozenset[str]:
    """The capitals among those forms, folded by `key`."""
    return _country_table()[1]


@lru_cache(maxsize=1)
def _country_table() -> tuple[dict[str, int], frozenset[str]]:
    from countryinfo import all_countries

    groups: dict[str, int] = {}
    all_capitals: set[str] = set()
    population: dict[int, int] = {}
    for i, country in enumerate(all_countries()):
        info = country.info()
        population[i] = int(info.get("population") or 0)
        forms = {info.get("name") or "", info.get("demonym") or ""}
        capitals = info.get("capital") or []
        for capital in [capitals] if isinstance(capitals, str) else capitals:
            city = re.split(r",|\s+\w\.", capital)[0]  # "Washington D.C." -> "Washington"
            forms.add(city)
            all_capitals.add(key(city))
        forms |= {f for f in info.get("altSpellings") or [] if isinstance(f, str)}
        iso = info.get("ISO") or {}
        forms |= {iso.get("alpha2") or "", iso.get("alpha3") or ""}
        if info.get("demonym"):
            forms.add(info["demonym"] + "s")  # "Russians"
        # A formal name "<state> of <name>" is written by its name alone ("United States of
        # *America*", "Republic of *Korea*", "Commonwealth of *Australia*").
        forms |= {f.rsplit(" of ", 1)[1] for f in forms if " of " in f}
        for form in forms:
            k = key(form)
            # A form two countries share ("American") belongs to the more populous one.
            if len(k) >= 2 and (k not in groups or population[groups[k]] < population[i]):
                groups[k] = i
    return groups, frozenset(all_capitals)


def country_group(name: str) -> int | None:
    return _countries().get(key(name))


def names_a_country(name: str) -> bool:
    """Whether `name` is a country's name or its people's (not its capital's: "Vienna" is a city,
    and so is a city-state's "Singapore")."""
    return country_group(name) is not None and key(name) not in _capitals()


def country_forms(name: str) -> set[str]:
    """Every form of the country `name` names ("America" -> "american", "us", "usa", "washington",
    ...), folded by `key`; empty when it names no country."""
    group = country_group(name)
    return {k for k, g in _countries().items() if g == group} if group is not None else set()


def country_mentioned(name: str, text: str) -> bool:
    """Whether `text` mentions the country `name` names, by any of its forms, also as a word
    inside a longer name: an organisation's name carries its country ("the *British* Association
    of Dermatologists" mentions the UK, "the *French* foreign ministry" France). False when
    `name` is no country."""
    group = country_group(name)
    if group is None:
        return False
    words = re.findall(r"[A-Za-z][\w.'’-]*", text)
    for n in (1, 2, 3):
        for i in range(len(words) - n + 1):
            if words[i][:1].isupper() and country_group(" ".join(words[i : i + n])) == group:
                return True
    return False


def initials(name: str) -> str:
    """"United Nations" -> "un"; words in lower case ("of", "the") are skipped."""
    return "".join(w[0] for w in name.split() if w[:1].isupper()).lower()


# The lower-case words inside a name ("Food *and* Drug Administration", "Bank *of* England"):
# English's connectives and articles, a closed class.
_LINK = r"(?:(?:of|and|for|the|on|in|de|du|la|&)\s+)*"


def defined_abbreviations(text: str) -> dict[str, str]:
    """Abbreviations a text defines: "the Federal Reserve (Fed)" and "Fed (Federal Reserve)"
    give {"fed": "federal reserve"}. The long form is capitalised words, with the lower-case
    connectives of names between them (`_LINK`); the short form is one word (`_abbreviates`)."""
    found = {}
    for long, short in re.findall(rf"((?:[A-Z][\w&.-]*\s+{_LINK}){{1,6}}?[A-Z][\w&.-]*)\s+\(([A-Z][\w.&-]{{1,9}})\)", text):
        for start in range(len(long.split())):
            candidate = " ".join(long.split()[start:])
            if candidate[:1].isupper() and _abbreviates(short, candidate):
                found[key(short)] = key(candidate)
                break
    for short, long in re.findall(rf"\b([A-Z][\w.&-]{{1,9}})\s+\(((?:[A-Z][\w&.-]*\s+{_LINK}){{0,6}}[A-Z][\w&.-]*)\)", text):
        if _abbreviates(short, long):
            found[key(short)] = key(long)
    return found


def _abbreviates(short: str, long: str) -> bool:
    """Whether `short` abbreviates `long`: its initials ("UN"), its first word's start ("Fed"),
    or its letters in order with the first at the start of `long`'s first word, by the rule of
    Schwartz & Hearst (2003) for abbreviations defined in text ("Rex" for "Regional Express",
    "Ofcom" for "Office of Communications", "BoE" for "Bank of England")."""
    s = key(short).replace(" ", "")
    if len(s) < 2 or len(long.split()) < 1:
        return False
    words = [w for w in long.split() if w[:1].isupper()]
    if s == initials(long) or (len(s) >= 3 and bool(words) and fold(words[0]).startswith(s)):
        return True
    return len(long.split()) <= min(len(s) + 5, 2 * len(s)) and _letters_in_order(s, key(long))


def _letters_in_order(short: str, long: str) -> bool:
    """Schwartz & Hearst's match: `short`'s first letter begins `long`, and its other letters
    occur after it in order (found right to left, each as far right as it can be)."""
    if not short or not long or long[0] != short[0]:
        return False
    i = len(long) - 1
    for c in reversed(short[1:]):
        while i > 0 and long[i] != c:
            i -= 1
        if i <= 0:
            return False
        i -= 1
    return True


def same_name(a: str, b: str, abbreviations: dict[str, str] | None = None) -> bool:
    """Whether mentions `a` and `b` name the same person, place or organisation (rules above)."""
    ka, kb = key(a), key(b)
    if not ka or not kb:
        return False
    if ka == kb or ka.replace(" ", "") == kb.replace(" ", ""):
        return True
    wa, wb = ka.split(), kb.split()
    if _part_of(wa, wb) or _part_of(wb, wa) or _reordered(wa, wb):
        return True
    ga, gb = country_group(ka), country_group(kb)
    if ga is not None and ga == gb:
        return True
    for short, long in ((ka, b), (kb, a)):
        if " " not in short and len(short) >= 2 and short == initials(long) and len(long.split()) >= 2:
            return True
    if abbreviations:
        for x, y in ((ka, kb), (kb, ka)):
            if abbreviations.get(x) in (y, " ".join(y.split()[-len(abbreviations.get(x, "").split()) :])):
                return True
    return _spelled_alike(wa, wb)


def _part_of(short: list[str], long: list[str]) -> bool:
    """"putin" in "vladimir putin": the shorter name's words end the longer one, or the
    shorter is a surname-and-more within it. Stopwords alone never match."""
    if len(short) >= len(long):
        return False
    meaningful = [w for w in short if w not in STOPWORDS and len(w) > 1]
    if not meaningful:
        return False
    n = len(short)
    return any(long[i : i + n] == short for i in range(len(long) - n + 1))


def _reordered(wa: list[str], wb: list[str]) -> bool:
    """The same two or more words in another order, as English writes an institution's name both
    ways: "the Justice Department" / "the Department of Justice", "the Defence Ministry" / "the
    Ministry of Defence"."""
    a, b = {w for w in wa if w not in STOPWORDS}, {w for w in wb if w not in STOPWORDS}
    return len(a) >= 2 and a == b


def _spelled_alike(wa: list[str], wb: list[str]) -> bool:
    """Transliterations: the last words (surnames) are long and nearly the same."""
    x, y = wa[-1], wb[-1]
    if len(x) < 5 or len(y) < 5:
        return False
    if len(wa) > 1 and len(wb) > 1 and fuzz.ratio(wa[0], wb[0]) < FUZZY:
        return False
    return fuzz.ratio(x, y) >= FUZZY


def mentions(doc: Doc) -> list[str]:
    """The names a parsed text mentions: its named entities of the kinds above, and runs
    of proper nouns the entity recogniser missed. A sentence's first word counts only if
    it is a proper noun."""
    found: list[str] = []
    covered: set[int] = set()
    for ent in doc.ents:
        covered.update(range(ent.start, ent.end))  # a date or an amount ("March") is no name either
        if ent.label_ in NAME_LABELS:
            found.append(ent.text)
    run: list[str] = []
    for tok in doc:
        if tok.pos_ == "PROPN" and tok.i not in covered and tok.text[:1].isupper():
            run.append(tok.text)
            continue
        if run:
            found.append(" ".join(run))
            run = []
    if run:
        found.append(" ".join(run))
    return [n for n in dict.fromkeys(found) if key(n) and key(n) not in STOPWORDS]


# What a text keeps of a character its encoding lost: the Unicode replacement character (one per
# byte it could not decode) or a question mark, as converters write them.
_LOST_CHARACTER = "(?:\ufffd{1,4}|\\?)"


def written_damaged(name: str, text: str) -> bool:
    """Whether `text` writes `name` with its non-ASCII letters lost to a broken encoding ("The
    D\\ufffd\\ufffdil agreed" for "Dáil", "RT?'s" for "RTÉ's", "S\\ufffdo Paulo" for "São Paulo"):
    scraped and converted news often carries such damage, which strikes exactly the characters
    outside ASCII. Loose on purpose, like `short_form_of`: used only to decide whether a
    question's name occurs at all, never to back a claim."""
    if name.isascii() or ("\ufffd" not in text and "?" not in text):
        return False
    pattern = "".join(re.escape(c) if c.isascii() else f"(?:{re.escape(c)}|{_LOST_CHARACTER})" for c in name)
    return re.search(rf"(?<!\w){pattern}(?!\w)", text, re.IGNORECASE) is not None


def short_form_of(name: str, others: list[str]) -> bool:
    """Whether `name` may be a clipped form of one of `others` ("Fed" of "Federal Reserve"):
    one word of 3-5 letters that begins the first word of a longer name. Loose on purpose:
    used only to decide whether a question's name occurs at all, never to back a claim."""
    k = key(name)
    if " " in k or not 3 <= len(k) <= 5:
        return False
    return any(len(key(o).split()) >= 2 and key(o).split()[0].startswith(k) and key(o).split()[0] != k for o in others)


def name_in(name: str, others: list[str], abbreviations: dict[str, str] | None = None) -> bool:
    return any(same_name(name, o, abbreviations) for o in others)
