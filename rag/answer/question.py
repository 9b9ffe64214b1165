"""What a question asks: the kind of value that answers it and the words it is about.

The kind comes from the question's interrogative (closed-class words of English): "how
many/much" asks for an amount, "how long/far/old" for a measure, "when" for a date,
"who" for a name, "where" for a place. "What/which + noun" asks for what the noun says
("what year" is a date, "which city" a place, "what percentage" an amount, "which judge",
whose noun is a kind of person, a name; so do "which company", an organisation, and "which
palace", somewhere one can be). Anything
else (what, why, how) asks for no particular kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spacy.tokens import Doc, Token

from rag.nlp import lexicon
from rag.nlp.names import NAME_LABELS, country_forms, mentions
from rag.nlp.parse import parse
from rag.nlp.text import STOPWORDS, stem

_KIND_PATTERNS = [
    ("amount", r"^how (?:many|much)\b|\bhow (?:many|much)\b|\b(?:what|which) (?:number|percentage|share|proportion|amount|"
               r"sum|price|cost|fee|figure|total|rate|score|level)\b"),
    ("measure", r"\bhow (?:long|far|old|big|large|tall|high|deep|wide|often|fast)\b|\bwhat (?:size|length|distance|age)\b"),
    ("date", r"^when\b|\bwhen (?:did|does|do|was|were|is|will|has|had)\b|\b(?:what|which) (?:days?|dates?|months?|years?|"
             r"weeks?|times?|hours?|seasons?|decades?|century|centuries)\b|\bon what day\b|\bsince when\b"),
    ("name", r"^(?:who|whom|whose)\b|\b(?:who|whom|whose) (?:\w+ )?(?:is|was|did|does|led|has|had|will|were|are)\b"),
    # one word may stand between "which" and the noun ("which two towns", "which Syrian town")
    ("place", r"^where\b|\bwhere (?:did|does|do|was|were|is|are|will)\b|\b(?:what|which) (?:\w+ )?(?:cit(?:y|ies)|"
              r"countr(?:y|ies)|towns?|places?|regions?|states?|provinces?|venues?|locations?|capitals?|villages?|"
              r"count(?:y|ies)|districts?|continents?)\b"),
]  # fmt: skip
_COMPILED = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _KIND_PATTERNS]
# Words that only say what kind of answer is wanted, not what it is about.
_KIND_WORDS = {stem(w) for w in "many much long far old big large time day date month year week hour number kind type "
               "name happen exact specific percentage amount city country town place region state province venue "
               "location village county district continent cities countries counties".split()}  # fmt: skip
_CONTENT_POS = {"NOUN", "PROPN", "VERB", "ADJ", "NUM", "ADV"}
# spaCy's stop list (built for topic models) also holds nouns and adjectives that carry what a
# question is about ("How long is the *front* line?", "the *last* match", "which *side*"):
# those count as content words here.
_CONTENT_STOP_WORDS = frozenset(
    "front back bottom top side part name amount call move show full empty serious whole first last third former "
    "latter next".split()
)
# Light verbs carry little of the relation asked about ("What did he say?", "What happened?").
# "Hold", "occur" and "happen" only say that an event took place ("Where were the talks held?").
LIGHT_VERBS = {stem(w) for w in "be have do make take get give go come happen occur hold say tell use put set see show".split()}


def kind_of(question: str, doc: Doc | None = None) -> str | None:
    """'amount', 'measure', 'date', 'name', 'place' or None."""
    found = next((kind for kind, pattern in _COMPILED if pattern.search(question.strip())), None)
    doc = doc if doc is not None else parse(question)
    return found or _asks_for_a_person(doc) or _asks_for_a_named_kind(doc)


def _asks_for_a_person(doc: Doc) -> str | None:
    """'name' when "which" or "what" picks a noun whose commonest sense is a kind of person
    ("Which *judge* granted asylum?", "What British *officials* criticised the plan?"): the
    answer is then someone's name, as for "who". So does "the name of" such a noun ("What was
    the *name of the student* arrested?")."""
    for tok in doc:  # "the *name of* the student arrested"
        of = next((c for c in tok.children if c.dep_ == "prep" and c.lower_ == "of"), None)
        picked = next((c for c in of.children if c.dep_ == "pobj"), None) if of is not None else None
        if tok.lemma_.lower() == "name" and picked is not None and picked.pos_ == "NOUN" and lexicon.is_person_noun(picked.lemma_):
            return "name"
    noun = _picked_noun(doc)
    return "name" if noun is not None and lexicon.is_person_noun(noun.lemma_) else None


def _asks_for_a_named_kind(doc: Doc) -> str | None:
    """'name' when "which" or "what" picks a noun whose commonest sense is an organisation ("Which
    *company* did he leave?", "Which *party* does she lead?") or a name ("What *brand* ...?",
    "What *nickname* ...?"): a name answers it, as it answers "who"; 'place' when it picks
    somewhere one can be ("In which *palace* ...?", "On which *road* ...?", "At which *base*
    ...?"): a place's name answers it, as it answers "where" (`lexicon.is_organisation_noun`,
    `lexicon.is_name_noun`, `lexicon.is_site_noun`)."""
    noun = _picked_noun(doc)
    if noun is None:
        return None
    if lexicon.is_organisation_noun(noun.lemma_) or lexicon.is_name_noun(noun.lemma_):
        return "name"
    return "place" if lexicon.is_site_noun(noun.lemma_) else None


def _picked_noun(doc: Doc) -> Token | None:
    """The noun the question's first "which" or "what" picks: the next one, past words that
    describe it ("which two British *officials*", "which fighter *jet*": the last noun of a
    compound is its head); read from the words, as the parser does not always attach "which" to
    its noun. None when a verb comes first ("What did he say?")."""
    for tok in doc:
        if tok.lower_ not in ("which", "what"):
            continue
        nouns = []
        for nxt in doc[tok.i + 1 : tok.i + 6]:
            if nxt.pos_ == "NOUN":
                nouns.append(nxt)
            elif nouns or nxt.pos_ not in ("ADJ", "NUM", "PROPN"):
                break
        return nouns[-1] if nouns else None
    return None


def term(tok: Token) -> str | None:
    """The stem of a content word (its lemma, stemmed), or None for function words."""
    if tok.pos_ not in _CONTENT_POS or not any(c.isalpha() for c in tok.text):
        return None
    if tok.is_stop and tok.lower_ not in _CONTENT_STOP_WORDS:
        return None
    if tok.pos_ == "PROPN":
        return stem(tok.text.lower())
    lemma = tok.lemma_.lower()
    if tok.pos_ == "VERB":
        lemma = lexicon.verb_lemma(tok.lower_, lemma)  # "fined" is "fine", not "fin"
    if lemma in STOPWORDS:
        return None
    # The lemma undoes irregular forms ("children" -> "child"); on a word the lemmatizer does
    # not know it can add letters ("unfilled" -> "unfille"), and the same word then stems two
    # ways. A real lemma never stems longer than its inflected form does: take the shorter.
    by_lemma, by_word = stem(lemma), stem(tok.lower_)
    return by_word if len(by_word) < len(by_lemma) else by_lemma


def terms(doc: Doc | list[Token]) -> set[str]:
    return {t for t in (term(tok) for tok in doc) if t}


@dataclass
class Question:
    text: str
    kind: str | None
    focus: set[str]  # stems of the words the question is about
    names: list[str] = field(default_factory=list)  # names it mentions
    verb: str | None = None  # stem of its main verb, the relation asked about ("won", "led"), unless light
    # focus stem -> stems of other words for the same thing ("led": "headed", "leader"; `rag.nlp.lexicon`)
    alike: dict[str, frozenset[str]] = field(default_factory=dict)
    # noun stem -> the names (text, entity label) that say whose or which it is ("the *Russian* delegation")
    qualified: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # stems of more general words for its main verb ("increased" for "grew"; `lexicon.broader`):
    # they say the relation, less precisely; the checks accept them, evidence choice does not use them
    broader: frozenset[str] = frozenset()
    moves: bool = False  # it asks where to, and its verb is a way of going ("Where did she fly to?")
    # the name (text, entity label) that does what its main verb says ("did *Lavrov* speak"), if any
    doer: tuple[str, str] | None = None
    # stems of the nouns it says it is about ("What did Russia demand *about* war *reparations*?")
    topic: set[str] = field(default_factory=set)
    # stems of the nouns it times the answer by ("last talk *before this meeting*"): a reference, not the answer's
    reference: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)  # stems of all its content words, the kind words too
    persons: frozenset[str] = frozenset()  # lemmas of its nouns that name a kind of person ("president")
    several: bool = False  # it asks for several ("*Which officials* criticised ...?"): `asks_for_several`
    # it asks for a kind of person by name ("Which *judge* ...?", "the name of the *student*"):
    # a person's name answers it, not an organisation's
    person_asked: bool = False
    # the stem of the noun its "which" or "what" picks ("In which *palace* ...?"), if any
    picked: str | None = None
    organisation_asked: bool = False  # that noun is an organisation ("Which *company* ...?")
    name_asked: bool = False  # that noun is a name ("What *brand* ...?", "What *nickname* ...?")
    within_a_country: bool = False  # that noun is a place inside a country ("Near which *town* ...?")

    def found_in(self, sentence_terms: set[str]) -> set[str]:
        """The focus stems a sentence says, in the question's own words or in others for the same
        thing ("Who *led* the delegation?" is said by "Medinsky *headed* the delegation")."""
        return {f for f in self.focus if f in sentence_terms or self.alike.get(f, frozenset()) & sentence_terms}

    @property
    def forms(self) -> set[str]:
        """Every stem that says a focus word: the focus and the other words for each."""
        return set(self.focus).union(*self.alike.values())

    @property
    def name_terms(self) -> set[str]:
        """The focus stems that come from the names it mentions."""
        # Read in the question's own parse: a name parsed alone is often no noun at all ("Zelensky"
        # alone is tagged an interjection, which has no content word).
        words = {w for n in self.names for w in n.split()}
        return {t for t in terms([tok for tok in parse(self.text) if tok.text in words])}

    @classmethod
    def read(cls, text: str) -> Question:
        doc = parse(text)
        words = terms(doc)
        focus = words - _KIND_WORDS - {term(t) for t in doc if _frames(t) or _passes_time(t)}
        root = _root_verb(doc)
        verb = _unless_light(root)
        kind = kind_of(text, doc)
        return cls(
            text=text, kind=kind, focus=focus, names=mentions(doc),
            verb=term(verb) if verb is not None else None, alike=_alike(doc, focus), qualified=qualifiers(doc),
            broader=_broader(verb), doer=_named_doer(verb), topic=_nouns_after(doc, _TOPIC_PREPOSITIONS),
            reference=_only_after(doc, _TIME_PREPOSITIONS), words=words,
            persons=frozenset(t.lemma_.lower() for t in doc if t.pos_ == "NOUN" and lexicon.is_person_noun(t.lemma_)),
            several=asks_for_several(doc), person_asked=kind == "name" and _asks_for_a_person(doc) == "name",
            picked=term(picked) if (picked := _picked_noun(doc)) is not None else None,
            organisation_asked=kind == "name" and picked is not None and lexicon.is_organisation_noun(picked.lemma_),
            name_asked=kind == "name" and picked is not None and lexicon.is_name_noun(picked.lemma_),
            within_a_country=kind == "place" and picked is not None and lexicon.is_within_a_country(picked.lemma_),
            # "go" is light, but asked where something was going, it still asks where to
            moves=kind == "place" and root is not None and lexicon.is_motion(root.lemma_),
        )  # fmt: skip


def asks_for_several(doc: Doc) -> bool:
    """Whether the question asks for several things: "which" or "what" before a plural noun
    ("Which British *officials* ...?", "Around which *cities* ...?")."""
    for t in doc:
        if t.lower_ not in ("which", "what"):
            continue
        run = []  # the words of its noun phrase, read in order (the parse of "which" varies)
        for nxt in doc[t.i + 1 :]:
            if nxt.pos_ not in ("ADJ", "NUM", "NOUN", "PROPN"):
                break
            run.append(nxt)
        nouns = [n for n in run if n.pos_ == "NOUN"]
        if nouns and nouns[-1].tag_ in ("NNS", "NNPS"):
            return True
    return False


def qualifiers(doc: Doc | list[Token]) -> dict[str, list[tuple[str, str]]]:
    """Noun stem -> the names (text, entity label) that say whose or which one it is: a name before
    it ("the *Russian* delegation", "*Apple*'s chief executive") or after "of" ("the chief
    executive *of Apple*")."""
    out: dict[str, list[tuple[str, str]]] = {}
    for tok in doc:
        if tok.pos_ != "NOUN" or not (noun := term(tok)):
            continue
        names = [c for c in tok.children if c.dep_ in ("amod", "compound", "poss", "nmod") and _is_name(c)]
        names += [p for c in tok.children if c.dep_ == "prep" and c.lower_ == "of" for p in c.children
                  if p.dep_ == "pobj" and _is_name(p)]  # fmt: skip
        if names:
            out.setdefault(noun, []).extend((_name_text(n), n.ent_type_) for n in names)
    return out


def _is_name(tok: Token) -> bool:
    return tok.pos_ == "PROPN" or tok.ent_type_ in NAME_LABELS


def _name_text(tok: Token) -> str:
    """The whole name a token is part of ("Rustem Umerov" for "Umerov")."""
    ent = next((e for e in tok.doc.ents if e.start <= tok.i < e.end), None)
    return ent.text if ent is not None else tok.text


def _alike(doc: Doc, focus: set[str]) -> dict[str, frozenset[str]]:
    """Other words for each focus word that is not a name (names have their own forms:
    `rag.nlp.names`; of a country's, its one-word forms count here too). The commonest verbs ("go", "take") are never taken as another word for
    anything: a sentence that says "went" says little about dying, though "go" is in WordNet's
    sense of "die"."""
    out: dict[str, frozenset[str]] = {}
    for tok in doc:
        stem_ = term(tok)
        if stem_ in focus and tok.pos_ != "PROPN":
            out[stem_] = (lexicon.alike(tok.lemma_, tok.pos_) - LIGHT_VERBS) | {stem_}
        elif stem_ in focus and (forms := country_forms(tok.text)):
            # a country is also said by its people's name, its capital, its other names
            # ("an *American* backstop" speaks of America)
            out[stem_] = frozenset(stem(f) for f in forms if " " not in f) | {stem_}
    # Two words of a compound are also written as one ("front line" / "frontline", "cease fire" /
    # "ceasefire", "health care" / "healthcare"): the one word says each of them.
    for a, b in zip(doc, doc[1:]):
        if a.head == b and a.dep_ in ("compound", "amod") and term(a) in out and term(b) in out:
            joined = stem((a.text + b.text).lower())
            out[term(a)] |= {joined}
            out[term(b)] |= {joined}
    return out


_TOPIC_PREPOSITIONS = {"about", "concerning", "regarding"}  # English prepositions that name a topic
_TIME_PREPOSITIONS = {"before", "after", "since", "until", "till", "following"}  # ... that time by an event


def _nouns_after(doc: Doc, prepositions: set[str]) -> set[str]:
    """Stems of the nouns that follow one of these prepositions in the question."""
    return {
        found
        for tok in doc
        if tok.lower_ in prepositions and tok.dep_ == "prep"
        for obj in tok.children
        if obj.dep_ == "pobj" and obj.pos_ == "NOUN" and (found := term(obj))
    }


def _only_after(doc: Doc, prepositions: set[str]) -> set[str]:
    """`_nouns_after`, less the words the question also says elsewhere ("when did Italy last
    reach a *final* before this *final*": "final" is also what is asked about)."""
    inside = {t.i for tok in doc if tok.lower_ in prepositions and tok.dep_ == "prep" for t in tok.subtree}
    elsewhere = {found for t in doc if t.i not in inside and (found := term(t))}
    return _nouns_after(doc, prepositions) - elsewhere


def doer(verb: Token) -> Token | None:
    """The subject of a verb; for a pronoun subject of a reported or joined clause, the subject
    of the verb that governs it ("Zelenskiy stated that *he* had spoken": Zelenskiy)."""
    for _ in range(3):
        subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subject is not None and subject.pos_ != "PRON":
            return subject
        if verb.dep_ not in ("ccomp", "xcomp", "advcl", "conj") or verb.head is verb:
            return None
        verb = verb.head
    return None


def _named_doer(verb: Token | None) -> tuple[str, str] | None:
    subject = doer(verb) if verb is not None else None
    if subject is None or not _is_name(subject) or subject.ent_type_ not in NAME_LABELS:
        return None
    return _name_text(subject), subject.ent_type_


def _broader(verb: Token | None) -> frozenset[str]:
    """More general words for the main verb, the light verbs left out (they say nothing)."""
    return lexicon.broader(verb.lemma_, "VERB") - LIGHT_VERBS if verb is not None else frozenset()


def _root_verb(doc: Doc) -> Token | None:
    """The verb the question is built on, light or not: its root verb (else its first verb that
    is not an auxiliary or a modifier), or the verb a semi-modal frames ("is *going* to open" ->
    "open")."""
    verbs = [t for t in doc if t.pos_ == "VERB" and t.dep_ not in ("aux", "auxpass", "amod", "acl", "relcl")]
    root = next((t for t in verbs if t.dep_ == "ROOT"), verbs[0] if verbs else None)
    if root is not None and _frames(root):
        root = next(c for c in root.children if c.dep_ == "xcomp")
    return root


def _unless_light(root: Token | None) -> Token | None:
    """The question's root verb as its main verb (`main_verb`), or None when it is a light verb
    or there is none."""
    found = term(root) if root is not None and not _passes_time(root) else None
    return root if found and found not in LIGHT_VERBS and found not in _KIND_WORDS else None


# "How many days ...", "how much time ...": the question counts units of time; "how long / old /
# often": it measures a length of time (the checks read dates and lengths as values for these).
TIME_COUNTED = re.compile(r"\bhow (?:many|much)\b(?:\W+\w+)?\W+(?:seconds?|minutes?|hours?|days?|nights?|weeks?|months?|"
                           r"years?|decades?|centuries|times?)\b", re.IGNORECASE)  # fmt: skip
TIME_MEASURED = re.compile(r"\bhow (?:long|old|often)\b|\bwhat (?:length|age)\b", re.IGNORECASE)

# English verbs whose object is a stretch of time: one *spends* 42 days in prison, talks *last* two
# hours, a year *passes*, a trip *takes* a week. Asked how many days someone spent in prison, a
# report that he "served 42 days in a California prison" or "was held there for 42 days" answers
# it: the verb says only that the time went by, and what is asked about is the rest of the question.
_TIME_VERBS = {"spend", "last", "pass", "take"}
_HOW_LONG = re.compile(r"\bhow long\b", re.IGNORECASE)


def _passes_time(tok: Token) -> bool:
    """Whether a question's verb only carries the length of time it asks for ("How many days did
    he *spend* in prison?", "How long did the talks *last*?")."""
    text = tok.doc.text
    return (
        tok.pos_ == "VERB" and tok.lemma_.lower() in _TIME_VERBS
        and bool(TIME_COUNTED.search(text) or _HOW_LONG.search(text))
    )  # fmt: skip


# English semi-modals built on a verb: "is *supposed* to happen", "is *going* to open" say that
# something is expected or planned; what is asked about is the verb they frame.
_SEMI_MODALS = {"suppose", "go"}


def _frames(tok: Token) -> bool:
    """Whether a verb is a semi-modal framing another ("supposed" in "is supposed to happen")."""
    return (
        tok.pos_ == "VERB" and tok.lemma_.lower() in _SEMI_MODALS
        and any(c.dep_ in ("aux", "auxpass") for c in tok.children)
        and any(c.dep_ == "xcomp" and c.pos_ in ("VERB", "AUX") for c in tok.children)
    )  # fmt: skip


def main_verb(doc: Doc) -> str | None:
    """The stem of the question's main verb ("Who *won* the final?"), or None when it is a
    light verb or there is none. A verb that only says which thing is meant ("the coin
    *stolen* from the museum", "the team that *won*") is not the relation asked about."""
    verb = _unless_light(_root_verb(doc))
    return term(verb) if verb is not None else None
