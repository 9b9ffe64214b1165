"""Small text tools shared by citation checks and conflict detection."""

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
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "dozen": 12, "million": 1_000_000,
}  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’.]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*(?=\s+[\"“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = re.compile(r"\b(?:U\.S|U\.K|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|vs|Gen|Col|Lt|Sgt|Sen|Rep|Gov|Prof)\.$")
_MARKER = re.compile(r"\s*\[(\d+)\]")

_stemmer = Stemmer.Stemmer("english")


def fold(text: str) -> str:
    """Lower case, no accents, ASCII quotes and dashes."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(str.maketrans("‘’‚‛“”„‟–—―−", "''''\"\"\"\"----")).lower()


def split_sentences(text: str) -> list[str]:
    """Sentences, keeping abbreviations such as U.S. inside."""
    text = text.strip()
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        pieces.append(text[start : m.end()])
        start = m.end()
    pieces.append(text[start:])
    out: list[str] = []
    for piece in pieces:
        if out and _ABBREVIATIONS.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        elif piece.strip():
            out.append(piece.strip())
    return out


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of `split_sentences(text)` within text."""
    spans, cursor = [], 0
    for sentence in split_sentences(text):
        start = text.find(sentence.split(" ")[0], cursor)
        start = cursor if start < 0 else start
        end = start + len(sentence)
        spans.append((start, min(end, len(text))))
        cursor = end
    return spans


def windows(passage: str) -> list[str]:
    """Each sentence of the passage, then each pair of consecutive sentences."""
    sentences = split_sentences(passage) or [passage]
    return sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:])]


def best_window(reference: str, passage: str) -> str:
    """The one or two consecutive sentences of the passage that share most words with `reference`."""
    ref = content_stems(reference)
    return max(windows(passage), key=lambda w: len(ref & content_stems(w)) / (1 + 0.02 * len(w)))


def tokens(text: str) -> list[str]:
    """Words and numbers; accents are dropped ("Schrödinger" is one word, "Schrodinger")."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _TOKEN.findall(text.replace("-", " ").replace("–", " ").replace("—", " "))


# Irregular verbs the stemmer leaves apart from their base form ("took" vs "take").
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
}  # fmt: skip


# Unit abbreviations and spellings: "1,000km" is "1,000 kilometers".
_SAME = {
    "km": "kilometre", "kms": "kilometres", "kilometer": "kilometre", "kilometers": "kilometres",
    "kg": "kilogram", "kgs": "kilograms",
}  # fmt: skip
# Stems the answer checks read as one ("headed the delegation" is "led" it); not the keyword
# index, where "head" is mostly a noun ("at the head of its team").
_SYNONYMS = [{"head", "lead"}]


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    word = fold(word).strip("'’.")
    word = _SAME.get(word, word)
    return _stemmer.stemWord(_IRREGULAR.get(word, word))


def content_stems(text: str, names_too: bool = True) -> set[str]:
    """Stems of the words that carry meaning (no stopwords, no numbers; no names unless `names_too`)."""
    return {
        stem(t)
        for t in tokens(text)
        if not t[0].isdigit() and fold(t) not in STOPWORDS and len(t) > 1 and (names_too or not t[0].isupper())
    }


def word_pairs(*texts: str) -> list[tuple[str, str, str]]:
    """(stem of the two words joined, stem of each) for adjacent words of the texts."""
    pairs = []
    for text in texts:
        found = [t for t in tokens(text) if not t[0].isdigit()]
        pairs += [(stem(a + b), stem(a), stem(b)) for a, b in zip(found, found[1:])]
    return pairs


def read_alike(words: set[str], pairs: list[tuple[str, str, str]]) -> set[str]:
    """A passage's stems as the checks read them: plus the synonyms of its words, and the
    parts of each compound it writes joined that `pairs` (see `word_pairs`) write as two
    words (a passage saying "frontline" also says "front" and "line" to a question about
    the "front line")."""
    extra: set[str] = set()
    for group in _SYNONYMS:
        if words & group:
            extra |= group
    for joined, a, b in pairs:
        if joined in words:
            extra |= {a, b}
    return words | extra


def numbers(text: str) -> set[float]:
    """Numbers written as digits or words: '1,000', 'nine', 'a dozen'."""
    found: set[float] = set()
    for t in tokens(text):
        if t[0].isdigit():
            digits = re.sub(r"(?<=\d),(?=\d{3})", "", t).rstrip(".")
            try:
                found.add(float(digits))
            except ValueError:
                continue
        elif fold(t) in NUMBER_WORDS:
            found.add(float(NUMBER_WORDS[fold(t)]))
    return found


def names(text: str) -> set[str]:
    """Capitalised words that are not stopwords: people, places, organisations."""
    out = set()
    for t in tokens(text):
        if t[0].isupper() and fold(t) not in STOPWORDS and fold(t) not in NUMBER_WORDS and len(t) > 1:
            out.add(re.sub(r"['’]s?$", "", t).rstrip("'’."))  # Russia's -> Russia; Colonies stays
    return out


# Names that mean the same place: a report may say "U.S." where the answer says "American".
ALIASES = [
    {"us", "usa", "american", "americans", "america", "states", "washington"},
    {"uk", "britain", "british", "kingdom", "england", "london"},
    {"eu", "european", "europe", "brussels"},
    {"russia", "russian", "russians", "moscow", "kremlin"},
    {"ukraine", "ukrainian", "ukrainians", "kyiv", "kiev"},
    {"turkey", "turkish", "ankara", "turkiye"},
]


def name_in(name: str, text_names: set[str], aliases: bool = True) -> bool:
    """'Zelensky' matches 'Zelenskiy' and 'Zelenskyy'; 'U.S' matches 'US'; 'American' matches
    'U.S.' (unless `aliases` is off)."""
    key = fold(name).replace(".", "")
    folded = {fold(o).replace(".", "") for o in text_names}
    if aliases and any(key in group and group & folded for group in ALIASES):
        return True
    for other in text_names:
        o = fold(other).replace(".", "")
        if o == key or (len(key) >= 6 and len(o) >= 6 and o[:6] == key[:6]):
            return True
        if key.endswith("s") and o == key[:-1] or o.endswith("s") and o[:-1] == key:
            return True  # Russians / Russian
    return False


# Other ways models cite: "[1, 2]", "[1-3]", "[Source 1]", "(Source 2)".
_MARKER_GROUP = re.compile(r"\[\s*(\d+(?:\s*(?:,|-|–|and)\s*\d+)+)\s*\]")
_SOURCE_MARKER = re.compile(r"[\[(]\s*(?:[Ss]ource|[Pp]assage)\s+(\d+)\s*[\])]")


def _expand_group(match: re.Match) -> str:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|and)\s*", match.group(1)):
        low, _, high = re.sub(r"\s*[-–]\s*", "-", part).partition("-")
        first, last = int(low), int(high or low)
        numbers += range(first, last + 1) if 0 <= last - first < 10 else [first, last]
    return "".join(f"[{n}]" for n in numbers)


def normalise_markers(text: str) -> str:
    """Every citation written as single markers: "[1, 2]" is "[1][2]", "(Source 3)" is "[3]"."""
    return _SOURCE_MARKER.sub(r"[\1]", _MARKER_GROUP.sub(_expand_group, text))


def markers(text: str) -> list[int]:
    return [int(m) for m in _MARKER.findall(text)]


def strip_markers(text: str) -> str:
    text = re.sub(r"\b(?:[Aa]ccording to|[Aa]s stated in|[Ss]ee|[Ii]n)\s*(?:source\s*)?\[\d+\]\s*,?\s*", "", text)
    text = re.sub(r"\(?\s*(?:[Ss]ources?\s*)?\[\d+\](?:\s*,?\s*\[\d+\])*\s*\)?", "", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.sub(r"[,;:]+([.!?])", r"\1", text)
    text = re.sub(r"\s{2,}", " ", text).strip()
    return text[:1].upper() + text[1:]
