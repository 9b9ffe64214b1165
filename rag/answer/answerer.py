"""From question and passages to a verified `Answer`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

from rag.answer import prompts
from rag.answer.conflicts import find_conflicts
from rag.answer.relevance import answers, best_sentence
from rag.answer.short import in_source, tighten
from rag.answer.text import best_window, split_sentences, strip_markers
from rag.answer.verify import Claim, Verified, question_terms_missing, verify
from rag.llm.client import ChatLLM, Completion, Message
from rag.schema import Answer, Citation, Conflict, ConflictClaim, Passage, Timings, Usage
from rag.settings import Settings

ABSTAIN_TEXT = "The articles don't say."


def _quote(text: str) -> str:
    """Passage text as the model sees it: one line, no bracketed numbers it could take for sources."""
    return re.sub(r"\s+", " ", text.replace("[", "(").replace("]", ")")).strip()


class Answerer:
    def __init__(self, llm: ChatLLM, settings: Settings, known: Callable[[str], bool] = lambda word: True) -> None:
        self.llm = llm
        self.settings = settings
        self.known = known  # whether a word occurs anywhere in the corpus

    def messages(self, question: str, passages: list[Passage]) -> list[Message]:
        sources = "\n\n".join(f"[{i}] {_quote(p.text)}" for i, p in enumerate(passages, 1))
        return [
            {"role": "system", "content": prompts.load("answer_system")},
            {
                "role": "user",
                "content": prompts.load("answer_user").format(passages=sources, question=question.strip()),
            },
        ]

    def precheck(self, question: str, passages: list[Passage]) -> str | None:
        """A reason to abstain without asking the model, or None."""
        if not passages:
            return "no passage matched the question"
        best = max((p.dense_score or 0.0) for p in passages)
        if best < self.settings.min_dense_score and not any(p.keyword_score for p in passages):
            return f"best passage similarity {best:.2f} is below {self.settings.min_dense_score}"
        missing = question_terms_missing(question, passages, self.known)
        if missing:
            return f"no passage mentions {', '.join(missing)}"
        return None

    def answer(
        self, question: str, passages: list[Passage], timings: Timings, more: list[Passage] | None = None
    ) -> Answer:
        for item in self.stream(question, passages, timings, more):
            if isinstance(item, Answer):
                return item
        raise AssertionError("stream ended without an answer")

    def stream(
        self, question: str, passages: list[Passage], timings: Timings, more: list[Passage] | None = None
    ) -> Iterator[str | Answer]:
        """Yields the model's text deltas as they come, then the verified `Answer`.

        `passages` go to the model; `more` (the next-ranked ones) are only read: they may back
        a sentence the model wrote, or report what disagrees with the answer."""
        started = time.perf_counter()
        reason = self.precheck(question, passages)
        if reason:
            yield self._abstain(question, timings, unsupported=[], note=reason)
            return
        completion = Completion()
        if self.settings.stream_tokens:
            for delta in self.llm.stream(self.messages(question, passages), completion):
                if timings.first_token_ms is None:
                    timings.first_token_ms = round((time.perf_counter() - started) * 1000, 1)
                yield delta
        else:
            completion = self.llm.complete(self.messages(question, passages))
        timings.generate_ms = round((time.perf_counter() - started) * 1000, 1)
        yield self.finish(question, passages, completion, timings, more)

    def finish(
        self, question: str, passages: list[Passage], completion: Completion, timings: Timings,
        more: list[Passage] | None = None,
    ) -> Answer:  # fmt: skip
        started = time.perf_counter()
        shown = len(passages)
        # The model saw `passages`; a sentence it wrote may also be backed by the next-ranked ones.
        passages = passages + list(more or [])
        checked = verify(completion.text, question, passages, shown)
        claims, unsupported, quoted = _answering_claims(question, passages, shown, checked)
        if not claims:
            answer = self._abstain(question, timings, unsupported, usage=completion.usage)
            timings.verify_ms = round((time.perf_counter() - started) * 1000, 1)
            return answer
        # Number the passages in the order the answer first cites them.
        order: dict[int, int] = {}
        for claim in claims:
            for i in claim.passages:
                order.setdefault(i, len(order) + 1)
        citations = [_citation(order[i], passages[i]) for i in order]
        sentences = [_with_markers(c.text, [order[i] for i in c.passages]) for c in claims]
        findings = find_conflicts(claims, passages, question)
        for finding in findings:
            for i, _ in finding.sides:
                if i not in order:
                    order[i] = len(order) + 1
                    citations.append(_citation(order[i], passages[i]))
            sentences.append(finding.sentence(order))
        conflicts = [
            Conflict(
                about=f.about,
                claims=[ConflictClaim(marker=order[i], doc_id=passages[i].doc_id, quote=words) for i, words in f.sides],
            )
            for f in findings
        ]
        timings.verify_ms = round((time.perf_counter() - started) * 1000, 1)
        return Answer(
            answer=" ".join(sentences),
            abstained=False,
            citations=citations,
            conflicts=conflicts,
            model=self.llm.model,
            timings=timings,
            question=question,
            unsupported=unsupported,
            usage=completion.usage,
            quoted=quoted,
        )

    def shorten(self, question: str, answer: Answer) -> str | None:
        """The few words of a verified answer that answer the question, or None. The words
        must occur in the answer or in a passage it cites, and say more than the question
        (rules in `rag.answer.short`); anything else is dropped."""
        if answer.abstained:
            return None
        text = " ".join(
            s for s in split_sentences(strip_markers(answer.answer)) if not s.startswith("The reports differ")
        )
        prompt = prompts.load("short_answer").format(answer=text, question=question.strip())
        completion = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=24)
        answer.usage.prompt_tokens += completion.usage.prompt_tokens
        answer.usage.completion_tokens += completion.usage.completion_tokens
        short = completion.text.strip().splitlines()[0].strip(" \"'“”‘’.") if completion.text.strip() else ""
        sources = " ".join([answer.answer] + [c.text for c in answer.citations])
        spelled = in_source(short, sources) if short else None
        short = tighten(spelled, question) if spelled else ""
        return short if short and len(short) < len(text) else None

    def _abstain(
        self, question: str, timings: Timings, unsupported: list[str], usage: Usage | None = None, note: str = ""
    ) -> Answer:
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
                "no sentence of the model's answer is backed by a passage"
                if unsupported
                else "the model found no answer in the passages"
            ),
        )


def _answering_claims(
    question: str, passages: list[Passage], shown: int, checked: Verified
) -> tuple[list[Claim], list[str], bool]:
    """(claims, unsupported sentences, quoted): the model's verified sentences if they answer
    the question; else the sentence of a passage the model was shown (the first `shown`)
    that does, quoted; else no claim (abstain)."""
    claims, unsupported = checked.claims, list(checked.unsupported)
    windows = [best_window(c.text, passages[c.passages[0]].text) for c in claims]
    if claims and not answers(question, [c.text for c in claims], windows):
        unsupported += [c.text for c in claims]  # true to the passages, but not an answer to the question
        claims = []
    if not claims and not checked.model_abstained:
        found = best_sentence(question, passages[:shown])
        if found:
            return [Claim(text=found[1], passages=[found[0]])], unsupported, True
    return claims, unsupported, False


def _citation(marker: int, p: Passage) -> Citation:
    return Citation(
        marker=marker, doc_id=p.doc_id, title=p.title, chunk_id=p.chunk_id,
        start=p.start, end=p.end, text=p.text, score=p.score, url=p.url,
    )  # fmt: skip


def _with_markers(sentence: str, marks: list[int]) -> str:
    """'The talks lasted two hours.' + [1, 3] -> 'The talks lasted two hours [1][3].';
    'He said "enough is enough?"' + [1] -> 'He said "enough is enough" [1]?'."""
    tags = "".join(f"[{m}]" for m in marks)
    body = sentence.rstrip()
    end, quotes = "", ""
    while body and body[-1] in ".!?\"”’'":
        if body[-1] in ".!?":
            end = end or body[-1]
        else:
            quotes = body[-1] + quotes
        body = body[:-1]
    return f"{body}{quotes} {tags}{end or '.'}"
