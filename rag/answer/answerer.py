"""From question and passages to a checked `Answer`, evidence first.

passages -> evidence sentences (numbered; `evidence.select`) -> the model's draft sentences,
each with the evidence ids it rests on (`generate`, JSON constrained by a schema) -> each
draft checked against the sentences it cites (`check`): kept, re-pointed or dropped ->
when none is left, the evidence sentence that answers is quoted, or the answer abstains ->
disagreeing reports (`conflicts`) -> `Answer` with structured sentences and citations that
name the exact sentences behind them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import cache, partial

from rag.answer import check, conflicts, evidence, prompts
from rag.answer.generate import Draft, generate, parse_reply
from rag.answer.question import Question
from rag.answer.short import as_cited, tighten
from rag.llm.client import ChatLLM, Completion
from rag.nlp.names import (
    country_mentioned, defined_abbreviations, mentions, name_in, same_name, short_form_of, written_damaged,
)
from rag.nlp.parse import parse_many
from rag.schema import (
    Answer,
    AnswerSentence,
    Citation,
    CitedSentence,
    Conflict,
    ConflictClaim,
    EvidenceSentence,
    Passage,
    Timings,
    Usage,
)
from rag.settings import Settings

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "The articles don't say."
MAX_OTHERS = 2  # evidence sentences quoted for the other things a question asks for several of


# A news story names who and what it is about in its lead, its first paragraph of one or two
# sentences (the "inverted pyramid"); later paragraphs say "he" or "the blogger". 500 characters
# hold two sentences of ~40 words.
LEAD_CHARS = 500
Openings = Callable[[list[str], int], dict[str, str]]  # doc ids, characters -> doc id -> opening
Leads = Callable[[], dict[str, str]]  # the retrieved articles' leads, read (once) when asked for


def article_context(passages: list[Passage], leads: dict[str, str] | None = None) -> dict[str, str]:
    """Chunk id -> what the question's subject may be named in: the article's title, its lead
    (`leads`: doc id -> the article's first `LEAD_CHARS` characters, when known) and every
    retrieved passage of that article. An article tells one story, and names its subject once
    or twice ("the UK" in its third paragraph) where a later passage says only "the
    positions", so the passage a sentence comes from is too narrow a window to ask which story
    it belongs to; another article is a different story."""
    leads = leads or {}
    texts: dict[str, list[str]] = {}
    for p in passages:
        texts.setdefault(p.doc_id, [p.title, leads.get(p.doc_id, "")])
        if p.text not in texts[p.doc_id]:
            texts[p.doc_id].append(p.text)
    return {p.chunk_id: " ".join(texts[p.doc_id]) for p in passages}


def _leads(openings: Openings | None, passages: list[Passage]) -> dict[str, str]:
    """The articles' leads (`openings`), or none when they cannot be read: they only widen what a
    sentence's story is read in, and a store that fails here must not lose the answer."""
    if openings is None:
        return {}
    try:
        return openings(list(dict.fromkeys(p.doc_id for p in passages)), LEAD_CHARS)
    except Exception:
        log.warning("could not read the articles' leads; answering without them", exc_info=True)
        return {}


def _unnamed(names: list[str], texts: list[str], abbreviations: dict[str, str]) -> list[str]:
    """The names no text names in any form `rag.nlp.names` allows."""
    text = " ".join(texts)
    named = [n for doc in parse_many(texts) for n in mentions(doc)]  # parses cached
    return [
        n for n in names
        if not name_in(n, named, abbreviations) and n.lower() not in text.lower() and not short_form_of(n, named)
        and not country_mentioned(n, text) and not written_damaged(n, text)
    ]  # fmt: skip


class Answerer:
    def __init__(self, llm: ChatLLM, settings: Settings) -> None:
        self.llm = llm
        self.settings = settings

    def precheck(
        self, question: Question, passages: list[Passage], abbreviations: dict[str, str],
        leads: Leads | None = None,
    ) -> str | None:  # fmt: skip
        """A reason to abstain without asking the model, or None: no passage, none similar
        enough, or a name the question asks about that no passage, nor the title or the lead of
        its article (`leads`), names in any form (a headline names the story's subject, "March
        Madness", which its passages may only call "the tournament"; a lead names the "he" of a
        later paragraph). Leads are read only when a name is missing from the rest."""
        if not passages:
            return "no passage matched the question"
        best = max((p.dense_score or 0.0) for p in passages)
        if best < self.settings.min_dense_score and not any(p.keyword_score for p in passages):
            return f"best passage similarity {best:.2f} is below {self.settings.min_dense_score}"
        texts = [*dict.fromkeys(p.title for p in passages if p.title), *(p.text for p in passages)]
        missing = _unnamed(question.names, texts, abbreviations)
        if missing and leads is not None:
            missing = _unnamed(missing, [*texts, *leads().values()], abbreviations)
        if missing:
            return f"no passage mentions {', '.join(missing)}"
        return None

    def answer(
        self, question: str, passages: list[Passage], timings: Timings, more: list[Passage] | None = None,
        abbreviations: dict[str, str] | None = None, openings: Openings | None = None,
    ) -> Answer:  # fmt: skip
        for item in self.stream(question, passages, timings, more, abbreviations, openings):
            if isinstance(item, Answer):
                return item
        raise AssertionError("stream ended without an answer")

    def stream(
        self, question: str, passages: list[Passage], timings: Timings, more: list[Passage] | None = None,
        abbreviations: dict[str, str] | None = None, openings: Openings | None = None,
    ) -> Iterator[str | list[EvidenceSentence] | Answer]:  # fmt: skip
        """Yields the evidence shown to the model (a list), then the answer's text as the
        model writes it, then the checked `Answer`.

        `passages` are the top-ranked ones; `more` (the next-ranked) are only read, for
        reports that disagree. `abbreviations` (short -> long form) are those other articles
        define for names in the question (`KeywordIndex.abbreviations`); the passages' own
        definitions are added to them. `openings` (the store's) reads the articles' leads, for
        telling which story a sentence belongs to (`article_context`)."""
        started = time.perf_counter()
        q = Question.read(question)
        everything = passages + list(more or [])
        abbreviations = {**(abbreviations or {}), **defined_abbreviations(" ".join(p.text for p in everything))}
        leads = cache(partial(_leads, openings, everything))  # read by the precheck or the checks, once
        reason = self.precheck(q, everything, abbreviations, leads)
        # Sentences are picked from every retrieved passage: a sentence-level choice can reach past
        # the top passages, and the budget, not the passage count, bounds the prompt.
        shown = [] if reason else evidence.select(
            q, everything, self.settings.evidence_sentences, self.settings.evidence_words
        )  # fmt: skip
        timings.evidence_ms = round((time.perf_counter() - started) * 1000, 1)
        yield shown
        if reason or not shown:
            yield self._abstain(q.text, timings, [], note=reason or "no evidence sentence")
            return
        completion = Completion()
        for delta in generate(self.llm, q.text, shown, completion, stream=self.settings.stream_tokens):
            if timings.first_token_ms is None:
                timings.first_token_ms = round((time.perf_counter() - started) * 1000, 1)
            yield delta
        timings.generate_ms = round((time.perf_counter() - started) * 1000, 1)
        yield self.finish(q, shown, everything, completion, timings, abbreviations, leads)

    def finish(
        self, q: Question, shown: list[EvidenceSentence], everything: list[Passage], completion: Completion,
        timings: Timings, abbreviations: dict[str, str], leads: Leads | None = None,
    ) -> Answer:  # fmt: skip
        started = time.perf_counter()
        drafts = parse_reply(completion.text)
        surroundings = article_context(everything, leads() if leads is not None else None)
        kept, unsupported = self._checked(drafts or [], q, shown, abbreviations, surroundings)
        quoted = False
        if not kept and (drafts or q.kind):
            # Nothing the model wrote holds (or it found nothing, though an evidence sentence gives
            # a value of the kind asked right next to the question's words): quote what answers.
            floor = check.MIN_FOCUS_QUOTED if drafts else check.MIN_FOCUS_OVERRULED
            found = self._quote(q, shown, abbreviations, floor, surroundings)
            if found:
                kept, quoted = [found], True
        if kept and q.several:
            kept += self._others(q, kept, shown, abbreviations, surroundings)
        if not kept:
            answer = self._abstain(q.text, timings, unsupported, usage=completion.usage, shown=shown)
            timings.verify_ms = round((time.perf_counter() - started) * 1000, 1)
            return answer
        cited = [e for s in kept for e in shown if e.id in s.evidence]
        findings = conflicts.find(q, cited, evidence.pool(everything))
        answer = self._render(q, kept, findings, shown, everything, completion, timings, unsupported, quoted)
        if q.kind is None and all(check.says_not_known(s.text) for s in kept):
            # "The cause of death was not released [1]": a cited, honest reply that the articles
            # do not give what was asked. It is kept for the reader, and flagged as an abstention.
            # (Asked for a date, "no date was set" is an answer: `check.unset_time`.)
            answer.abstained = True
            answer.abstain_reason = "the articles say that what was asked is not known"
        timings.verify_ms = round((time.perf_counter() - started) * 1000, 1)
        return answer

    def _checked(
        self, drafts: list[Draft], q: Question, shown: list[EvidenceSentence], abbreviations: dict[str, str],
        surroundings: dict[str, str],
    ) -> tuple[list[AnswerSentence], list[str]]:  # fmt: skip
        by_id = {e.id: e for e in shown}
        context = {
            e.id: prev for prev, e in zip(shown, shown[1:])
            if prev.doc_id == e.doc_id and prev.end <= e.start and evidence.opens_mid_thought(e.text)
        }  # the sentence before, when shown, of one that cannot be read alone ("He said ...")
        kept: list[AnswerSentence] = []
        unsupported: list[str] = []
        seen: set[str] = set()
        for draft in drafts:
            written = check.clean(draft.text)
            # A loop is cut where it starts repeating and what it said first is checked; the looping
            # sentence itself is reported as removed. With nothing said first, the loop is checked (and dropped).
            text = check.unloop(written) or written
            if not text or text.lower() in seen:
                continue
            seen.add(text.lower())
            if text != written:
                unsupported.append(written)
            cited = [by_id[i] for i in draft.evidence if i in by_id]
            verdict = check.check(text, cited, shown, q, abbreviations, context, surroundings)
            if verdict.ok:
                kept.append(AnswerSentence(text=_sentence(text), evidence=verdict.evidence or []))
            else:
                unsupported.append(text)
        return kept, unsupported

    def _quote(
        self, q: Question, shown: list[EvidenceSentence], abbreviations: dict[str, str], min_focus: float,
        surroundings: dict[str, str],
    ) -> AnswerSentence | None:  # fmt: skip
        """The best-scored evidence sentence that answers the question by itself, quoted."""
        for e in sorted(shown, key=lambda e: -e.score):
            if check.looping(e.text) or not check.about_the_subject([e], q, abbreviations, surroundings):
                continue
            if not check.answers(e.text, [e], q, abbreviations, min_focus):
                return AnswerSentence(text=_sentence(e.text), evidence=[e.id], kind="quote")
        return None

    def _others(
        self, q: Question, kept: list[AnswerSentence], shown: list[EvidenceSentence], abbreviations: dict[str, str],
        surroundings: dict[str, str],
    ) -> list[AnswerSentence]:  # fmt: skip
        """For a question that asks for several and an answer that names one, the shown evidence
        sentences that answer it by themselves with another value (at most `MAX_OTHERS`), quoted.
        A small model often names one of several ("Which officials criticised the plan?"
        answered with one official when the evidence names two in two sentences)."""
        used = {i for s in kept for i in s.evidence}
        said = parse_many([" ".join(s.text for s in kept)])[0]
        have = [" ".join(t.text for t in g) for g in check.value_tokens(said, q, abbreviations)]
        found: list[AnswerSentence] = []
        if len(have) != 1:
            return found  # it names several already, or no value to tell another from
        for e in sorted(shown, key=lambda e: -e.score):
            if len(found) == MAX_OTHERS:
                break
            if e.id in used or check.looping(e.text) or not check.about_the_subject([e], q, abbreviations, surroundings):
                continue
            if check.answers(e.text, [e], q, abbreviations, check.MIN_FOCUS_QUOTED):
                continue
            values = conflicts.stated_values(e, q)
            if values and not any(same_name(values[0].words, h, abbreviations) for h in have):
                found.append(AnswerSentence(text=_sentence(e.text), evidence=[e.id], kind="quote"))
                have.append(values[0].words)
        return found

    def _render(
        self, q: Question, kept: list[AnswerSentence], findings: list[conflicts.Finding], shown: list[EvidenceSentence],
        everything: list[Passage], completion: Completion, timings: Timings, unsupported: list[str], quoted: bool,
    ) -> Answer:  # fmt: skip
        markers = _Markers()
        by_id = {e.id: e for e in shown}
        for s in kept:
            s.markers = list(dict.fromkeys(markers.cite(by_id[i]) for i in s.evidence))
        records = [_conflict(f, markers) for f in findings]
        kept += [_conflict_sentence(r) for r in records]
        return Answer(
            answer=" ".join(render(s) for s in kept),
            abstained=False,
            citations=markers.citations(everything),
            conflicts=records,
            model=self.llm.model,
            timings=timings,
            question=q.text,
            unsupported=unsupported,
            usage=completion.usage,
            quoted=quoted,
            sentences=kept,
            evidence=shown,
        )

    def shorten(self, question: str, answer: Answer) -> str | None:
        """The few words of a checked answer that answer the question, or None. The words
        must occur in the answer or in a passage it cites, and say more than the question
        (rules in `rag.answer.short`); anything else is dropped."""
        if answer.abstained:
            return None
        text = " ".join(s.text for s in answer.sentences if s.kind != "conflict")
        prompt = prompts.load("short_answer").format(answer=text, question=question.strip())
        completion = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=24)
        answer.usage.prompt_tokens += completion.usage.prompt_tokens
        answer.usage.completion_tokens += completion.usage.completion_tokens
        short = completion.text.strip().splitlines()[0].strip(" \"'“”‘’.") if completion.text.strip() else ""
        cited = " ".join(c.text for c in answer.citations)
        spelled = as_cited(short, cited, answer.answer) if short else None
        short = tighten(spelled, question) if spelled else ""
        return short if short and len(short) < len(text) else None

    def _abstain(
        self, question: str, timings: Timings, unsupported: list[str], usage: Usage | None = None, note: str = "",
        shown: list[EvidenceSentence] | None = None,
    ) -> Answer:  # fmt: skip
        return Answer(
            answer=ABSTAIN_TEXT,
            abstained=True,
            model=self.llm.model,
            timings=timings,
            question=question,
            unsupported=unsupported,
            usage=usage or Usage(),
            abstain_reason=note
            or (
                "no sentence of the model's answer is backed by the evidence or answers the question"
                if unsupported
                else "the model found no answer in the evidence"
            ),
            evidence=shown or [],
        )


class _Markers:
    """Citation numbers in the order the answer first cites them: one per passage, naming the
    exact sentences of it that back the answer."""

    def __init__(self) -> None:
        self.marker: dict[str, int] = {}
        self.spans: dict[str, list[EvidenceSentence]] = {}

    def cite(self, e: EvidenceSentence) -> int:
        n = self.marker.setdefault(e.chunk_id, len(self.marker) + 1)
        if all((s.start, s.end) != (e.start, e.end) for s in self.spans.setdefault(e.chunk_id, [])):
            self.spans[e.chunk_id].append(e)
        return n

    def citations(self, everything: list[Passage]) -> list[Citation]:
        chunk_of = {p.chunk_id: p for p in everything}
        found = []
        for chunk_id, n in self.marker.items():
            p = chunk_of.get(chunk_id)
            if p is None:  # a sentence from the pool always comes from a retrieved passage
                continue
            sentences = [CitedSentence(evidence_id=e.id, doc_id=e.doc_id, start=e.start, end=e.end, text=e.text)
                         for e in self.spans[chunk_id]]  # fmt: skip
            found.append(Citation(
                marker=n, doc_id=p.doc_id, title=p.title, chunk_id=p.chunk_id, start=p.start, end=p.end, text=p.text,
                score=p.score, url=p.url, sentences=sentences, published_at=p.published_at,
            ))  # fmt: skip
        return sorted(found, key=lambda c: c.marker)


def _conflict(f: conflicts.Finding, markers: _Markers) -> Conflict:
    claims = [ConflictClaim(marker=markers.cite(e), doc_id=e.doc_id, quote=words, published_at=e.published_at)
              for e, words in f.sides]  # fmt: skip
    return Conflict(about=f.about, claims=claims)


def _conflict_sentence(c: Conflict) -> AnswerSentence:
    """'The reports differ on X: "a" [1]; "b" [2].' When the sides come from articles of
    different dates, each side says its date and the latest is marked: a later report may
    correct an earlier one, and the reader should know which is newer."""
    dates = {claim.published_at.date() for claim in c.claims if claim.published_at}
    dated = len(dates) > 1 and all(claim.published_at for claim in c.claims)
    parts = []
    for claim in c.claims:
        when = ""
        if dated:
            day = claim.published_at.date()
            when = f" ({day:%-d %B %Y}{', the latest' if day == max(dates) else ''})"
        parts.append(f'"{claim.quote}" [{claim.marker}]{when}')
    return AnswerSentence(text=f"The reports differ on {c.about}: {'; '.join(parts)}.", kind="conflict",
                          markers=[claim.marker for claim in c.claims])  # fmt: skip


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?\"'”’" else text + "."


def render(s: AnswerSentence) -> str:
    """'The talks lasted two hours.' + [1, 3] -> 'The talks lasted two hours [1][3].';
    'He said "enough is enough?"' + [1] -> 'He said "enough is enough" [1]?'."""
    if s.kind == "conflict" or not s.markers:
        return s.text
    tags = "".join(f"[{m}]" for m in s.markers)
    body = s.text.rstrip()
    end, quotes = "", ""
    while body and body[-1] in ".!?\"”’'":
        if body[-1] in ".!?":
            end = end or body[-1]
        else:
            quotes = body[-1] + quotes
        body = body[:-1]
    return f"{body}{quotes} {tags}{end or '.'}"
