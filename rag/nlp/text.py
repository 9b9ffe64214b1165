"""Folding, stems and stopwords: one place for the word-level tools that ingest, the
keyword index, answering and eval share."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my no nor not of
    off on once only or other our ours out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours said says say told stated according also would
    one's there's it's according per via many much""".split()
)

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’.]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)*")

_stemmer = Stemmer.Stemmer("english")

# Irregular English verbs the Porter stemmer leaves apart from their base ("took"/"take").
_IRREGULAR = {
    "took": "take", "taken": "take", "led": "lead", "met": "meet", "held": "hold", "began": "begin",
    "begun": "begin", "gave": "give", "given": "give", "made": "make", "went": "go", "gone": "go",
    "came": "come", "saw": "see", "seen": "see", "told": "tell", "sent": "send", "spoke": "speak",
    "spoken": "speak", "left": "leave", "brought": "bring", "thought": "think", "won": "win",
    "wrote": "write", "written": "write", "chose": "choose", "chosen": "choose", "fought": "fight",
    "struck": "strike", "sought": "seek", "kept": "keep", "paid": "pay", "lost": "lose", "found": "find",
    "broke": "break", "broken": "break", "drew": "draw", "drawn": "draw", "knew": "know", "known": "know",
    "rose": "rise", "risen": "rise", "fell": "fall", "fallen": "fall", "became": "become", "wore": "wear",
    "worn": "wear", "sat": "sit", "stood": "stand", "heard": "hear", "meant": "mean", "felt": "feel",
    "sold": "sell", "bought": "buy", "built": "build", "spent": "spend", "hit": "hit", "cut": "cut",
}  # fmt: skip
# Unit abbreviations of the metric system: "1,000km" is "1,000 kilometres".
_UNITS = {"km": "kilometre", "kms": "kilometres", "kilometer": "kilometre", "kilometers": "kilometres",
          "kg": "kilogram", "kgs": "kilograms"}  # fmt: skip


# Typographic dashes, primes and quotes, one ASCII character each (folding keeps positions).
_MARKS = {
    **dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-"),
    **dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u2032\u0060\u00b4"), "'"),
    **dict.fromkeys(map(ord, "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"), '"'),
}


def fold_marks(text: str) -> str:
    """No accents, ASCII quotes and dashes, the case kept (for readers to whom "US" is not "us").

    Writers and sites differ in typography, not in what they say: "Dolmabahçe — “POWs”" and
    'Dolmabahce - "POWs"' are the same words."""
    text = unicodedata.normalize("NFKD", text.translate(_MARKS))
    return "".join(c for c in text if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case, no accents, ASCII quotes and dashes."""
    return fold_marks(text).lower()


def tokens(text: str) -> list[str]:
    """Words and numbers; accents are dropped ("Schrödinger" is one word, "Schrodinger")."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _TOKEN.findall(text.replace("-", " ").replace("–", " ").replace("—", " "))


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    word = fold(word).strip("'’.")
    word = _UNITS.get(word, word)
    return _stemmer.stemWord(_IRREGULAR.get(word, word))


def content_stems(text: str, names_too: bool = True) -> set[str]:
    """Stems of the words that carry meaning (no stopwords, no numbers; no names unless `names_too`)."""
    return {
        stem(t)
        for t in tokens(text)
        if not t[0].isdigit() and fold(t) not in STOPWORDS and len(t) > 1 and (names_too or not t[0].isupper())
    }
