"""Events named instead of dates ("before the talks", "since the merger was announced"), dated by
the articles that report them, on two unrelated domains (trade negotiations and an airline merger)
plus an event reported at two separate times and one no article reports: real Chroma, the real
embedding model, the stand-in LLM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rag.pipeline import Pipeline
from tests.conftest import make_settings

REFERENCE = datetime(2017, 6, 15, 12, 0, tzinfo=UTC)

# (id, date, title, text)
ARTICLES = [
    # Trade: the minister's stance before the Geneva talks, the talks, what she said after them.
    ("trade-jan", "2017-01-20", "Minister rules out steel quotas",
     "The trade minister, Helen Ostrova, said the country would never accept quotas on its steel exports "
     "and warned that tariffs on machinery were unfair to exporters."),
    ("trade-talks", "2017-03-06", "Trade talks open in Geneva",
     "Trade talks between the two governments opened in Geneva on Monday. Delegations discussed steel "
     "quotas and machinery tariffs behind closed doors."),
    ("trade-talks-end", "2017-03-09", "Geneva talks end without a deal",
     "The talks in Geneva ended on Thursday without agreement on steel, and both delegations flew home."),
    ("trade-apr", "2017-04-12", "Minister accepts a steel quota",
     "The trade minister, Helen Ostrova, said the country could live with a quota on steel exports if "
     "machinery tariffs were lowered."),
    # Airlines: the chief executive before and after the merger was announced.
    ("air-jan", "2016-01-20", "Northwind reports record profit",
     "Northwind Airways reported a record annual profit. Its chief executive, Sara Lind, said the airline "
     "would stay independent and keep its own routes."),
    ("air-merger", "2016-02-15", "Northwind and Bluesky announce merger",
     "Northwind Airways and Bluesky announced a merger on Monday that will create the largest carrier in "
     "the region."),
    ("air-unions", "2016-02-17", "Unions attack airline merger",
     "Pilots' unions criticised the merger announced by Northwind and Bluesky, fearing job cuts."),
    ("air-may", "2016-05-03", "Northwind chief on integration",
     "Sara Lind, Northwind's chief executive, said joint routes with Bluesky would start in the autumn and "
     "that no pilots would lose their jobs."),
    # The same words for two separate occurrences: two elections, two years apart.
    ("vote-2015", "2015-05-08", "Harbour party wins the election",
     "The Harbour party won the general election with a majority of twelve seats."),
    ("vote-2017", "2017-06-09", "Hung parliament after the election",
     "The general election left no party with a majority; the Harbour party lost its majority."),
    ("tax-2016", "2016-09-01", "Harbour party promises lower taxes",
     "The Harbour party promised lower income taxes for families and more money for hospitals."),
]


@pytest.fixture(scope="module")
def events(tmp_path_factory, fake_llm) -> Iterator[Pipeline]:
    settings = make_settings(tmp_path_factory.mktemp("events") / "data", openai_base_url=fake_llm.base_url,
                             llm_model="fake", auto_seed=False, reference_date=REFERENCE)  # fmt: skip
    with Pipeline(settings, start_llm=False) as pipeline:
        for doc_id, date, title, text in ARTICLES:
            pipeline.ingest_record({"id": doc_id, "title": title, "text": text, "published_at": date}, doc_id)
        yield pipeline


@pytest.mark.parametrize(
    ("question", "prep", "event"),
    [
        ("What did the governor say before the talks?", "before", "the talks"),
        ("What did the minister say prior to the budget?", "prior to", "the budget"),
        ("What did he say ahead of the vote?", "ahead of", "the vote"),
        ("Who was manager until the takeover?", "until", "the takeover"),
        ("Who scored after Marsh was sent off?", "after", "Marsh was sent off"),
        ("What was the unemployment rate before the Fed's March rate rise?", "before", "the Fed's March rate rise"),
    ],
)
def test_events_are_the_object_or_clause_of_before_and_after(question, prep, event):
    from rag.when import question_time

    [found] = question_time(question, REFERENCE).events
    assert (found.prep, found.event) == (prep, event)


@pytest.mark.parametrize(
    "question",
    ["What did the governor say before 5 May 2017?", "Who resigned as chairman after six months?",
     "What happened after that?", "What happened before it?", "Who scored after 5pm?", "Who won the derby?"],
)  # fmt: skip
def test_dates_lengths_and_pronouns_are_no_events(question):
    from rag.when import question_time

    assert question_time(question, REFERENCE).events == []


def _plan_and_search(pipeline: Pipeline, question: str, k: int = 6):
    from rag import when

    plan = when.plan(question, None, pipeline.settings)
    passages = when.retrieve(pipeline.retriever, plan, k, pipeline.settings)
    return plan, passages


def _days(passages) -> list[str]:
    return sorted(f"{p.published_at:%Y-%m-%d}" for p in passages)


def test_before_an_event_searches_the_articles_published_before_its_first_report(events: Pipeline):
    plan, passages = _plan_and_search(events, "What did the trade minister say before the talks?")
    [event] = plan.events
    assert (event.date.date().isoformat(), event.doc_id, event.reports) == ("2017-03-06", "trade-talks", 2)
    assert "Trade talks open in Geneva" in event.note and "on or before 6 March 2017" in event.note
    assert passages and all(d <= "2017-03-06" for d in _days(passages))
    found = [p.doc_id for p in passages]
    assert "trade-jan" in found[:2] and not {"trade-apr", "trade-talks-end"} & set(found)
    unbounded = [p.doc_id for p in events.search("What did the trade minister say?", k=3)]
    assert "trade-apr" in unbounded, "without the event the later statement competes"

    plan, passages = _plan_and_search(events, "What did the trade minister say since the talks?")
    assert passages and all(d >= "2017-03-06" for d in _days(passages))
    assert "trade-apr" in {p.doc_id for p in passages[:3]} and "trade-jan" not in {p.doc_id for p in passages}


def test_an_event_given_as_a_clause_is_dated_in_another_domain(events: Pipeline):
    question = "What did the Northwind chief executive say before the merger was announced?"
    plan, passages = _plan_and_search(events, question)
    [event] = plan.events
    assert (event.date.date().isoformat(), event.doc_id) == ("2016-02-15", "air-merger")
    assert event.event == "the merger was announced" and event.reports == 2
    assert passages and all(d <= "2016-02-15" for d in _days(passages))
    assert "air-jan" in {p.doc_id for p in passages[:2]} and "air-may" not in {p.doc_id for p in passages}

    after = "What did the Northwind chief executive say after the merger was announced?"
    plan, passages = _plan_and_search(events, after)
    assert "air-may" in {p.doc_id for p in passages} and all(d >= "2016-02-15" for d in _days(passages))


def test_an_event_reported_at_separate_times_makes_no_filter_and_says_so(events: Pipeline):
    plan, passages = _plan_and_search(events, "What did the Harbour party promise before the election?")
    [event] = plan.events
    assert event.date is None and "2 separate times" in event.note and "8 May 2015" in event.note
    assert plan.filters is None or plan.filters.published_before is None
    assert {"vote-2015", "vote-2017", "tax-2016"} <= {p.doc_id for p in passages}, "nothing dropped"


def test_an_event_no_article_reports_makes_no_filter_and_says_so(events: Pipeline):
    plan, passages = _plan_and_search(events, "What did the trade minister say after the eclipse?")
    [event] = plan.events
    assert event.date is None and event.reports == 0 and "no article reports 'the eclipse'" in event.note
    assert {"trade-jan", "trade-apr"} <= {p.doc_id for p in passages}, "nothing dropped"


def test_the_answer_shows_the_event_date_and_article(events: Pipeline):
    answer = events.ask("What did the trade minister say before the talks?")
    assert answer.citations and {c.doc_id for c in answer.citations} <= {"trade-jan", "trade-talks"}, answer
    [event] = answer.time.events
    assert event.expression == "before the talks" and event.doc_id == "trade-talks"
    assert answer.time.published_before < datetime(2017, 3, 7, tzinfo=UTC)
    # The same through a search: dated again, the same passages (no stale cached result).
    first = [p.chunk_id for p in events.search("What did the trade minister say before the talks?")]
    assert first == [p.chunk_id for p in events.search("What did the trade minister say before the talks?")]


def test_http_answer_time_carries_the_event(events: Pipeline):
    import httpx

    from service.settings import ServiceSettings
    from tests.fixtures.http_server import ServiceServer

    question = "What did the Northwind chief executive say before the merger was announced?"
    with ServiceServer(events, ServiceSettings(api_keys=None)) as server:
        r = httpx.post(server.base_url + "/v1/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    [event] = r.json()["time"]["events"]
    assert event["date"].startswith("2016-02-15") and event["doc_id"] == "air-merger"
    assert r.json()["citations"] and {c["doc_id"] for c in r.json()["citations"]} <= {"air-jan", "air-merger"}
    assert r.json()["time"]["published_before"].startswith("2016-02-15T23:59:59")
