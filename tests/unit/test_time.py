"""Time in questions and explicit date filters, on dated articles of two unrelated domains (a
football club's season and a central bank's rate decisions): real Chroma, the real embedding
model, the stand-in LLM; the CLI in-process; the HTTP API over real HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from rag.cli import main
from rag.pipeline import Pipeline
from rag.schema import Filters
from rag.settings import get_settings
from rag.when import question_time, resolve, since_until, states_time, take_filter_tokens
from service.settings import ServiceSettings
from tests.conftest import make_settings
from tests.fixtures.http_server import ServiceServer
from tests.fixtures.slack_api import slack_api_fixture  # noqa: F401 - the `slack_api` fixture

REFERENCE = datetime(2017, 6, 15, 12, 0, tzinfo=UTC)

# (id, date, publisher, author, title, text): three rate decisions and three match reports.
ARTICLES = [
    ("bank-mar", "2017-03-16", "Finance Daily", "Ann Reed", "Central bank holds interest rates",
     "The central bank held its main interest rate at 0.25 percent on Thursday. The governor said "
     "inflation was rising more slowly than expected and the committee voted seven to two."),
    ("bank-may", "2017-05-04", "Finance Daily", "Ann Reed", "Central bank signals a rate rise",
     "The central bank kept interest rates at 0.25 percent but signalled a rise later in the year. "
     "The governor told reporters that wages were growing and the committee voted six to three."),
    ("bank-jun", "2017-06-14", "Economy Wire", "Raj Patel", "Central bank raises interest rates",
     "The central bank raised its main interest rate to 0.5 percent on Wednesday, the first rise in "
     "a decade. The governor said inflation had reached 2.9 percent and the committee voted five to four."),
    ("match-mar", "2017-03-04", "Sport Weekly", "Tom Hale", "Rovers beat United in the derby",
     "Rovers beat United 2-1 in the derby on Saturday. Their striker Lee Marsh scored both goals "
     "before a crowd of 31,000 and the manager praised the defence."),
    ("match-may", "2017-05-20", "Sport Weekly", "Tom Hale", "Rovers draw with City",
     "Rovers drew 1-1 with City on Saturday. Their striker Lee Marsh scored a penalty and the "
     "manager said the title race was not over."),
    ("match-jun", "2017-06-10", "Goal Post", None, "Rovers win the cup final",
     "Rovers won the cup final 3-0 against Athletic on Saturday. Their striker Lee Marsh scored "
     "twice and the manager lifted his first trophy."),
]
BY_ID = {a[0]: a for a in ARTICLES}


def _record(a: tuple) -> dict:
    doc_id, date, publisher, author, title, text = a
    record = {"id": doc_id, "title": title, "text": text, "published_at": date, "source": publisher}
    return record | ({"author": author} if author else {})


@pytest.fixture(scope="module")
def dated(tmp_path_factory, fake_llm) -> Iterator[Pipeline]:
    """The six dated articles (no seeds), the question's reference date fixed at 15 June 2017."""
    settings = make_settings(tmp_path_factory.mktemp("time") / "data", openai_base_url=fake_llm.base_url,
                             llm_model="fake", auto_seed=False, reference_date=REFERENCE)  # fmt: skip
    with Pipeline(settings, start_llm=False) as pipeline:
        for a in ARTICLES:
            pipeline.ingest_record(_record(a), a[0])
        yield pipeline


@pytest.mark.parametrize(
    ("question", "may_state_time"),
    [
        ("What did the central bank decide in 2017?", True),
        ("Did rates rise in the 1990s?", True),
        ("What did the bank do on 3/15?", True),
        ("What happened on 2017-03-15, 15.03.2017 or 15/03/2017?", True),
        ("Who scored on the 5th?", True),
        ("Who scored in the 2016-17 season?", True),
        ("Who scored six days ago?", True),  # a date word
        ("Why was the bank fined $1.5m?", False),
        ("How many of the 4,000 staff lost 24% of their pay?", False),
        ("Who scored in the 2-0 win?", False),
        ("Why is the Xbox 2 late?", False),
    ],
)
def test_a_number_is_read_as_a_time_only_when_it_can_be_a_date(question: str, may_state_time: bool):
    """Money, scores, counts and percentages (of finance and sport questions) do not make the
    question worth parsing for time; years, numeric dates and days of the month do."""
    assert states_time(question) is may_state_time


def _dates(passages) -> set[str]:
    return {f"{p.published_at:%Y-%m-%d}" for p in passages}


# --- resolving phrases ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "after", "before"),
    [
        ("What did the central bank decide last week?", "2017-06-05", "2017-06-15"),
        ("Who scored for Rovers yesterday?", "2017-06-14", "2017-06-15"),  # reported that day or since
        ("What did the governor say in the past month?", "2017-05-15", "2017-06-15"),
        ("How many goals has Marsh scored this year?", "2017-01-01", "2017-06-15"),
        ("What did the governor say before 5 May 2017?", None, "2017-05-04"),
        ("What did the manager say after April 2017?", "2017-05-01", None),
        ("How did Rovers play since May?", "2017-05-01", None),
        ("Who scored in the last 7 days?", "2017-06-08", "2017-06-15"),
        ("Who did Rovers play three days ago?", "2017-06-12", "2017-06-15"),
    ],
)
def test_time_words_in_questions_of_both_domains_become_date_filters(question, after, before):
    found = question_time(question, REFERENCE)
    assert (found.after and f"{found.after:%Y-%m-%d}") == after
    assert (found.before and f"{found.before:%Y-%m-%d}") == before
    assert not found.newest_first and found.period is None


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("What did the central bank decide in March?", "2017-03-01", "2017-03-31"),
        ("Who won the derby on 4 March?", "2017-03-04", "2017-03-04"),
        ("What did the bank do between March and May?", "2017-03-01", "2017-05-31"),
        ("How did the economy grow in 2016?", "2016-01-01", "2016-12-31"),
        ("Which cyclone hit the city in the 1970s?", "1970-01-01", "1979-12-31"),
    ],
)
def test_named_periods_are_a_preference_for_articles_of_or_about_them(question, start, end):
    found = question_time(question, REFERENCE)
    assert (f"{found.period.start:%Y-%m-%d}", f"{found.period.end:%Y-%m-%d}") == (start, end)
    assert found.after is None and found.before is None, "reports of a period are often published after it"


@pytest.mark.parametrize(
    "question",
    [
        "How many people died in the 2004 tsunami?",  # a year naming an event
        "What were the bank's inflation figures for 2016?",  # the period a figure covers: reported later
        "What did the governor say before the talks?",  # an event, not a date: not resolved
        "How many goals did Marsh score in the 2016-17 season?",  # a season, not a date
        "What will the bank decide next week?",  # the future: no article is published then
        "Who resigned as chairman after six months?",  # a length of time, not a date
        "Who is the manager of Rovers?",
    ],
)
def test_dates_that_do_not_say_when_something_was_reported_make_no_filter(question):
    assert not question_time(question, REFERENCE).filters


@pytest.mark.parametrize(
    "question",
    ["What is the latest interest rate decision?", "Who scored in Rovers' most recent match?",
     "What is the newest signing?", "What is the current interest rate?", "Who won the last derby?"],
)  # fmt: skip
def test_latest_is_a_recency_preference_not_a_filter(question):
    found = question_time(question, REFERENCE)
    assert found.newest_first and not found.filters


def test_last_as_a_verb_asks_for_no_recency():
    assert not question_time("How long did the rate freeze last?", REFERENCE).newest_first


def test_since_until_accept_iso_dates_and_phrases_and_refuse_the_rest():
    after, before = since_until("7 days ago", "2017-06-14", REFERENCE)
    assert after == datetime(2017, 6, 8, tzinfo=UTC)
    assert before == datetime(2017, 6, 14, 23, 59, 59, 999999, tzinfo=UTC), "until takes in the whole day"
    assert resolve("March 2017", REFERENCE).end.day == 31
    with pytest.raises(Exception, match="not a date; write an ISO date"):
        since_until("soonish", None, REFERENCE)
    with pytest.raises(Exception, match="swap them"):
        since_until("2017-06-01", "2017-05-01", REFERENCE)


def test_slack_tokens_become_filters_and_leave_the_question():
    text, filters = take_filter_tokens('since:2017-05-01 until:"last week" who scored for Rovers?', REFERENCE)
    assert text == "who scored for Rovers?"
    assert filters.published_after == datetime(2017, 5, 1, tzinfo=UTC) and filters.published_before.day == 15
    assert take_filter_tokens("who scored?", REFERENCE) == ("who scored?", None)


# --- retrieval and answers -------------------------------------------------------------


def test_last_week_keeps_only_that_weeks_articles(dated: Pipeline):
    passages = dated.search("What did the central bank decide last week?", k=4)
    assert passages and _dates(passages) <= {"2017-06-10", "2017-06-14"}
    assert passages[0].doc_id == "bank-jun"
    sport = dated.search("Who scored for Rovers last week?", k=4)
    assert sport and sport[0].doc_id == "match-jun" and _dates(sport) <= {"2017-06-10", "2017-06-14"}


def test_in_march_keeps_march_articles_in_both_domains(dated: Pipeline):
    bank = dated.search("What did the central bank decide in March?", k=4)
    match = dated.search("Who scored for Rovers in March?", k=4)
    assert bank[0].doc_id == "bank-mar" and match[0].doc_id == "match-mar"
    assert _dates(bank + match) <= {"2017-03-04", "2017-03-16"}, "no other article names a date in March"
    unfiltered = dated.search("What did the central bank decide?", k=6)
    assert len(_dates(unfiltered)) > 2, "without time words every date is searched"


def test_a_later_article_about_a_named_period_counts(dated: Pipeline):
    """A report published after the period it is about is found by the date it names."""
    dated.ingest_record({"id": "review", "title": "Rovers' season review", "published_at": "2017-06-13",
                         "text": "Looking back, Rovers' derby win on 4 March was the turning point: Lee Marsh "
                                 "scored both goals that afternoon."}, "review")  # fmt: skip
    try:
        found = {p.doc_id for p in dated.search("Who scored for Rovers in March?", k=4)}
        assert {"match-mar", "review"} <= found and not found & {"match-may", "match-jun"}
    finally:
        dated.remove("review")


def test_the_latest_puts_the_newest_article_first_without_filtering(dated: Pipeline):
    for question, newest, older in [
        ("What is the latest central bank interest rate decision?", "bank-jun", {"bank-mar", "bank-may"}),
        ("What was the most recent Rovers match result?", "match-jun", {"match-mar", "match-may"}),
    ]:
        passages = dated.search(question, k=4)
        assert passages[0].doc_id == newest
        assert older & {p.doc_id for p in passages}, "older articles are still there: a preference, not a filter"


def test_explicit_filters_and_question_time_both_apply(dated: Pipeline):
    filters = Filters(published_after=datetime(2017, 5, 1, tzinfo=UTC))
    passages = dated.search("What did the central bank decide this year?", k=4, filters=filters)
    assert passages and _dates(passages) <= {"2017-05-04", "2017-05-20", "2017-06-10", "2017-06-14"}


def test_a_date_filtered_search_by_chroma_ranks_as_exact_search(dated: Pipeline):
    """Both ways a date range is applied when Chroma searches (a collection too large to search
    in memory) give the exact filtered ranking: the range applied to the nearest chunks found
    unfiltered, with the dates the keyword index holds (when enough of them fall in it), and
    Chroma's own filtered query (when too few do), for questions of both domains; a chunk the
    keyword index does not hold has no dates there (the retriever then leaves it to Chroma)."""
    retriever = dated.retriever
    mirror = retriever.mirror()  # exact search over every chunk, filters applied in numpy
    assert mirror is not None
    spring = Filters(published_after=datetime(2017, 4, 1, tzinfo=UTC))  # 4 of the 6 articles
    march = Filters(published_before=datetime(2017, 3, 31, tzinfo=UTC))  # 2
    unknown = retriever.keyword.metadata_of(["no-such-chunk"])
    assert unknown == [None] and retriever.keyword.metadata_of([mirror.hits[0].chunk_id])[0]["doc_id"]
    for question in ["What did the central bank do with interest rates?", "How many goals did Lee Marsh score?"]:
        query = retriever.embed_query(question)
        for filters, n in ((spring, 2), (march, 1), (spring, 5), (march, 3)):  # enough in range; too few
            exact = [(h.chunk_id, round(h.cosine, 4)) for h in mirror.nearest(query, n, filters)]
            chroma = [(cid, round(cos, 4)) for cid, cos in retriever._nearest(query, n, filters)]
            assert chroma == exact and exact, (question, filters, n)


def test_a_date_filtered_search_reads_more_neighbours_for_a_narrower_range(dated: Pipeline, monkeypatch):
    """How many neighbours are read unfiltered follows the range's share of the collection (twice
    what would hold n of them), a range that holds nothing costs no filtered query, and a range too
    narrow for `FILTER_MAX_UNFILTERED` goes to Chroma's filter: each gives the exact filtered
    ranking, for questions of both domains."""
    import rag.retrieve

    retriever = dated.retriever
    mirror = retriever.mirror()
    calls: list[tuple[int, bool]] = []
    nearest = retriever.store.nearest

    def spy(query, n, filters=None):
        calls.append((n, filters is not None))
        return nearest(query, n, filters)

    monkeypatch.setattr(retriever.store, "nearest", spy)
    monkeypatch.setattr(rag.retrieve, "FILTER_OVERSAMPLE", 1)
    spring = Filters(published_after=datetime(2017, 4, 1, tzinfo=UTC))  # 4 of the 6 articles
    march = Filters(published_before=datetime(2017, 3, 31, tzinfo=UTC))  # 2
    empty = Filters(published_after=datetime(2018, 1, 1, tzinfo=UTC))  # none
    live = retriever.keyword.count_dated(Filters())[1]
    for question in ["What did the central bank do with interest rates?", "How many goals did Lee Marsh score?"]:
        query = retriever.embed_query(question)
        for filters, n in ((spring, 1), (march, 1), (empty, 2)):
            calls.clear()
            in_range = retriever.keyword.count_dated(filters)[0]
            exact = [(h.chunk_id, round(h.cosine, 4)) for h in mirror.nearest(query, n, filters)]
            found = [(cid, round(cos, 4)) for cid, cos in retriever._nearest(query, n, filters)]
            assert found == exact, (question, filters, n)
            wanted = -(-2 * n * live // in_range) if in_range else n
            assert calls == [(wanted, False)], (filters, calls)
        assert retriever._nearest(query, 1, empty) == []
        calls.clear()
        monkeypatch.setattr(rag.retrieve, "FILTER_MAX_UNFILTERED", 1)
        exact = [(h.chunk_id, round(h.cosine, 4)) for h in mirror.nearest(query, 1, march)]
        assert [(cid, round(cos, 4)) for cid, cos in retriever._nearest(query, 1, march)] == exact
        assert calls == [(1, True)], "too narrow a range for the unfiltered read: Chroma's filter"
        monkeypatch.setattr(rag.retrieve, "FILTER_MAX_UNFILTERED", 2000)


def test_a_period_with_no_article_gets_an_honest_abstention(dated: Pipeline):
    answer = dated.ask("What did the central bank decide in 2015?")
    assert answer.abstained and "nothing" in answer.answer and "2015" in answer.answer
    assert answer.time and answer.time.period_start.year == 2015 and answer.time.expressions == ["in 2015"]


def test_citations_carry_date_source_and_author(dated: Pipeline):
    answer = dated.ask("What did the central bank decide last week?")
    assert not answer.abstained and answer.citations, answer
    for c in answer.citations:
        _, date, publisher, author, _, _ = BY_ID[c.doc_id]
        assert f"{c.published_at:%Y-%m-%d}" == date and c.source == publisher and c.author == author
    assert answer.time.reference_date == REFERENCE
    docs = {d.doc_id: d for d in dated.documents()}
    assert docs["match-jun"].source == "Goal Post" and docs["match-jun"].author is None


def test_the_host_stands_for_the_source_when_no_publisher_is_given(dated: Pipeline):
    text = "Rovers signed the defender Paul Stone from Athletic for a club record fee."
    url = "https://www.example-news.org/sport/stone"
    dated.ingest_record({"id": "wire", "text": text, "url": url, "published_at": "2017-06-12"}, "wire")
    try:
        hit = dated.search("Which defender did Rovers sign?", k=1)[0]
        assert hit.doc_id == "wire" and hit.source == "example-news.org"
    finally:
        dated.remove("wire")


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, fake_llm, monkeypatch):
    """`rag` in-process against a fresh data dir holding the dated articles."""
    data = tmp_path / "cli"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_AUTO_SEED", "false")
    monkeypatch.setenv("RAG_REFERENCE_DATE", REFERENCE.isoformat())
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("RAG_LLM_MODEL", "fake")
    monkeypatch.setenv("RAG_MODEL_DIR", str(make_settings(data).models_path))
    get_settings.cache_clear()
    articles = tmp_path / "articles.json"
    articles.write_text(json.dumps([_record(a) for a in ARTICLES]))
    main(["ingest", str(articles)])
    yield
    get_settings.cache_clear()


def test_cli_since_until_filter_and_citations_show_date_and_source(cli_env, capsys):
    capsys.readouterr()
    main(["ask", "--json", "--since", "2017-05-01", "--until", "2017-05-31", "What did the central bank decide?"])
    answer = json.loads(capsys.readouterr().out)
    assert answer["citations"] and {c["doc_id"] for c in answer["citations"]} <= {"bank-may", "match-may"}
    assert answer["citations"][0]["source"] == "Finance Daily"

    main(["ask", "--since", "7 days ago", "What did the central bank decide?"])
    out = capsys.readouterr().out
    assert "(bank-jun, 2017-06-14, Economy Wire, by Raj Patel" in out

    main(["ask", "--until", "2016-12-31", "What did the central bank decide?"])
    nothing = "I found nothing about this in the articles published on or before 31 December 2016"
    assert nothing in capsys.readouterr().out


def test_cli_refuses_a_date_it_cannot_read(cli_env, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "--since", "the day after the derby", "Who scored?"])
    assert exit_.value.code == 2
    assert "--since: 'the day after the derby' is not a date; write an ISO date" in capsys.readouterr().err


# --- HTTP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(dated: Pipeline) -> Iterator[httpx.Client]:
    with ServiceServer(dated, ServiceSettings(api_keys=None)) as server, \
            httpx.Client(base_url=server.base_url, timeout=60) as c:  # fmt: skip
        yield c


def test_http_ask_since_until_and_question_time(client):
    r = client.post("/v1/ask", json={"question": "What did the central bank decide?", "since": "March 2017",
                                     "until": "2017-03-31"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert {c["doc_id"] for c in body["citations"]} <= {"bank-mar", "match-mar"} and body["citations"]
    c = body["citations"][0]
    assert c["published_at"].startswith("2017-03-16") and c["source"] == "Finance Daily" and c["author"] == "Ann Reed"
    assert body["time"]["published_before"].startswith("2017-03-31")

    r = client.post("/v1/search", json={"question": "Who scored for Rovers last week?"})
    assert r.status_code == 200 and r.json()["passages"][0]["doc_id"] == "match-jun"
    # Another reference date moves "last week": the May match is then the one found.
    r = client.post("/v1/search", json={"question": "Who scored for Rovers last week?", "reference_date": "2017-05-25"})
    assert {p["doc_id"] for p in r.json()["passages"]} == {"match-may"}


def test_http_published_after_still_works_and_chat_takes_filters(client):
    r = client.post("/v1/chat", json={"messages": [{"role": "user", "content": "What did the central bank decide?"}],
                                      "published_after": "2017-06-01T00:00:00"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert {c["doc_id"] for c in r.json()["citations"]} <= {"bank-jun", "match-jun"}


def test_openai_endpoint_takes_the_filters_as_extra_body_fields(client):
    r = client.post("/v1/chat/completions", json={
        "model": "news-rag", "messages": [{"role": "user", "content": "What did the central bank decide?"}],
        "since": "2017-05-01", "until": "2017-05-31"})  # fmt: skip
    assert r.status_code == 200, r.text
    rag = r.json()["rag"]
    assert rag["citations"] and {c["doc_id"] for c in rag["citations"]} <= {"bank-may", "match-may"}
    assert "2017-05-04, Finance Daily" in r.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/ask", {"since": "whenever"}),
        ("/v1/search", {"until": "the talks"}),
        ("/v1/ask", {"since": "2017-06-01", "until": "2017-05-01"}),
    ],
)
def test_http_bad_dates_are_400_saying_what_to_write(client, path, extra):
    r = client.post(path, json={"question": "What did the central bank decide?", **extra})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "ISO date" in message or "swap them" in message


def test_http_bad_date_on_the_openai_endpoint_is_400(client):
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Who scored?"}],
                                                  "since": "someday"})  # fmt: skip
    assert r.status_code == 400 and "ISO date" in r.json()["error"]["message"]


def test_http_empty_period_abstains_not_500(client):
    r = client.post("/v1/ask", json={"question": "Who scored for Rovers?", "until": "1999-01-01"})
    assert r.status_code == 200 and r.json()["abstained"] and "nothing" in r.json()["answer"]


# --- sources from feeds and pages ----------------------------------------------------------


def test_feed_and_page_articles_carry_their_publication_and_author(tmp_path):
    """A page's declared site name wins; else the feed's title; an entry stored from the feed's
    own text keeps the entry's author."""
    from rag.ingest.feeds import ingest_urls
    from tests.fixtures.news_site import BASE_DATE, NewsServer, atom, news_page, rss, story

    settings = make_settings(tmp_path / "data", auto_seed=False)
    with NewsServer() as server, Pipeline(settings, start_llm=False) as pipeline:
        site, base = server.site, server.base_url
        (t0, p0), (t1, p1), (t2, p2) = story(0), story(1), story(2)
        site_name = '<meta property="og:site_name" content="The Daily Ledger">'
        author_meta = '<meta name="author"'
        declared = news_page(t0, p0, author="Maria Okafor").replace(author_meta, site_name + author_meta)
        site.put("/a.html", declared)
        site.put("/b.html", news_page(t1, p1, author="Li Wei"))  # no site name of its own
        site.put("/feed.rss", rss([{"title": t0, "link": base + "/a.html", "guid": "a", "date": BASE_DATE},
                                   {"title": t1, "link": base + "/b.html", "guid": "b", "date": BASE_DATE}],
                                  title="Coastal News Feed"), "application/rss+xml")  # fmt: skip
        site.failing["/c.html"] = (404, {})
        site.put("/wire.atom", atom([{"title": t2, "link": base + "/c.html", "guid": "c", "date": BASE_DATE,
                                      "author": "Ana Ruiz", "content": "<p>" + " ".join(p2) + "</p>"}],
                                    title="Harbour Wire"), "application/atom+xml")  # fmt: skip
        ingest_urls([base + "/feed.rss", base + "/wire.atom"], pipeline.ingest_articles,
                    settings.feeds_state_path, min_interval_s=0)  # fmt: skip
        docs = {d.title: d for d in pipeline.documents()}
        assert (docs[t0].source, docs[t0].author) == ("The Daily Ledger", "Maria Okafor")
        assert (docs[t1].source, docs[t1].author) == ("Coastal News Feed", "Li Wei")
        assert (docs[t2].source, docs[t2].author) == ("Harbour Wire", "Ana Ruiz")
        hit = pipeline.search("How much crab was landed in Whitby?", k=1)[0]
        assert hit.title == t1 and hit.source == "Coastal News Feed" and hit.author == "Li Wei"


def test_an_uploaded_document_takes_source_and_author(client):
    r = client.post("/v1/documents", json={"id": "upload-1", "text": "Rovers appointed Jo Bell as assistant coach "
                                           "on a two-year contract.", "published_at": "2017-06-13",
                                           "source": "Club Site", "author": "Press Office"})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    try:
        hit = client.post("/v1/search", json={"question": "Who became assistant coach at Rovers?", "k": 1}).json()
        assert hit["passages"][0]["doc_id"] == "upload-1"
        assert (hit["passages"][0]["source"], hit["passages"][0]["author"]) == ("Club Site", "Press Office")
    finally:
        client.delete("/v1/documents/upload-1")


# --- Slack ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slack_service(dated: Pipeline, slack_api) -> Iterator[str]:
    from tests.fixtures.slack_api import serve_app
    from tests.unit.test_slack import slack_app

    with serve_app(slack_app(dated, dated.settings, slack_api)) as url:
        yield url


def test_slack_since_until_tokens_filter_and_sources_show_date_and_publication(slack_service, slack_api):
    from tests.fixtures.slack_api import event_body
    from tests.unit.test_slack import block_text, mention, send, wait_answer

    event = mention(slack_api, "since:2017-05-01 until:2017-05-31 What did the central bank decide?")
    assert send(slack_service, event_body(event)).status_code == 200
    [reply] = wait_answer(slack_api, "C0NEWS01", event["ts"])
    text = block_text(reply["blocks"])
    assert "Central bank signals a rate rise" in text and "2017-05-04 · Finance Daily · by Ann Reed" in text
    assert "Central bank raises interest rates" not in text and "Central bank holds" not in text

    event = mention(slack_api, 'since:"the day of the derby" Who scored?')
    send(slack_service, event_body(event))
    [reply] = wait_answer(slack_api, "C0NEWS01", event["ts"])
    assert "is not a date; write an ISO date" in reply["text"]


def test_http_stream_of_an_empty_period_ends_with_the_abstention(client):
    from tests.fixtures.http_server import sse_events

    with client.stream("POST", "/v1/ask", json={"question": "Who scored for Rovers in 2015?", "stream": True}) as r:
        events = list(sse_events(r))
    names = [e for e, _ in events]
    assert r.status_code == 200 and names[-2:] == ["citations", "done"] and "error" not in names
    answer = json.loads(events[-2][1])
    assert answer["abstained"] and "2015" in answer["answer"] and answer["time"]["expressions"] == ["in 2015"]


def test_http_search_repeated_gives_the_same_passages_for_periods_and_recency(client):
    for question in ("Who scored for Rovers in March?", "What is the latest central bank decision?"):
        first = client.post("/v1/search", json={"question": question}).json()["passages"]
        again = client.post("/v1/search", json={"question": question}).json()["passages"]
        assert [p["chunk_id"] for p in again] == [p["chunk_id"] for p in first]
    assert first[0]["doc_id"] == "bank-jun"


# --- the chat page's date range --------------------------------------------------------------


def _page_body(page: str, question: str, since: str, until: str) -> dict:
    """The /v1/ask body the served page's own `askBody` builds from its inputs (run by Node)."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to run the chat page's script")
    function = re.search(r"function askBody\(question, since, until\) \{.*?\n\}", page, flags=re.S)
    assert function, "the chat page has no askBody function"
    script = function.group(0) + f"\nconsole.log(JSON.stringify(askBody(...{json.dumps([question, since, until])})));"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_chat_page_since_until_inputs_filter_the_answer(client):
    from tests.fixtures.http_server import sse_events

    page = client.get("/")
    assert page.status_code == 200
    for name in ("since", "until"):
        assert re.search(rf'<input id="{name}" name="{name}"', page.text), f"no {name} input on the page"
    question = "What did the central bank decide?"
    assert _page_body(page.text, question, "", "  ") == {"question": question, "stream": True}, "empty: not sent"
    body = _page_body(page.text, question, " 2017-05-01 ", "May 2017")
    assert body == {"question": question, "stream": True, "since": "2017-05-01", "until": "May 2017"}
    with client.stream("POST", "/v1/ask", json=body, headers={"Accept": "text/event-stream"}) as r:
        events = list(sse_events(r))
    assert r.status_code == 200 and events[-2][0] == "citations"
    answer = json.loads(events[-2][1])
    assert answer["citations"] and {c["doc_id"] for c in answer["citations"]} <= {"bank-may", "match-may"}
    assert answer["time"]["published_after"].startswith("2017-05-01")
    assert answer["time"]["published_before"].startswith("2017-05-31")
    bad = client.post("/v1/ask", json=_page_body(page.text, question, "soonish", ""))
    assert bad.status_code == 400 and "ISO date" in bad.json()["error"]["message"], "the page shows this message"


def test_slack_thread_follow_ups_keep_the_threads_since_until(slack_service, slack_api):
    """A follow-up in the thread asks within the first message's dates; one with its own dates
    asks within those."""
    from tests.fixtures.slack_api import event_body
    from tests.unit.test_slack import block_text, mention, send, wait_answer

    def shown_dates(reply: dict) -> set[str]:
        return set(re.findall(r"\b2017-\d\d-\d\d\b", block_text(reply["blocks"])))

    def follow_up(text: str, count: int) -> dict:
        follow = slack_api.add_user_message("C0NEWS09", "U0ALICE1", text, thread_ts=first["ts"])
        send(slack_service, event_body({"type": "message", "channel": "C0NEWS09", "channel_type": "channel", **follow}))
        return wait_answer(slack_api, "C0NEWS09", first["ts"], count=count)[-1]

    first = mention(slack_api, "since:2017-05-01 until:2017-05-31 What did the central bank decide?", "C0NEWS09")
    send(slack_service, event_body(first))
    [reply] = wait_answer(slack_api, "C0NEWS09", first["ts"])
    assert shown_dates(reply) and shown_dates(reply) <= {"2017-05-04", "2017-05-20"}

    reply = follow_up("And how did the committee vote?", 2)
    assert shown_dates(reply) and shown_dates(reply) <= {"2017-05-04", "2017-05-20"}, block_text(reply["blocks"])

    reply = follow_up("since:2017-06-01 And how did the committee vote?", 3)
    assert shown_dates(reply) and shown_dates(reply) <= {"2017-06-10", "2017-06-14"}, block_text(reply["blocks"])
