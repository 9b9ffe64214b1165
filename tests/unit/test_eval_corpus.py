"""`rag eval --gold FILE --corpus DIR`: a gold set asked over its own corpus, in its own collection.

Stand-in LLM, real Chroma and real embeddings; the corpus is written here, on two unrelated
subjects (a harbour lighthouse, a cheese market), as the JSON records eval/usnews.py writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import cli
from rag.pipeline import Pipeline

ARTICLES = {
    "light-1": {
        "title": "Harbour lighthouse relit after restoration",
        "text": "The Kerrow Point lighthouse was relit on Saturday after a two-year restoration that cost "
        "4.2 million euros. The keeper's cottage now houses a small museum about the 1911 lamp. "
        "Volunteers from the harbour trust repainted the tower in its original red and white bands.",
        "published_at": "2017-03-04",
        "url": "https://example.org/lighthouse",
        "source": "example.org",
    },
    "cheese-1": {
        "title": "Alpine cheese market draws record crowd",
        "text": "More than 18,000 visitors came to the autumn cheese market in Valdorno, organisers said on "
        "Sunday. Forty-two dairies from three valleys sold their wheels in the town square, and a "
        "goat cheese from the Lanza farm won the tasting prize.",
        "published_at": "2017-02-12",
        "source": "example.net",
    },
    "cheese-2": {
        "title": "Valdorno market: prices up",
        "text": "Cheese prices at the Valdorno market rose by about a tenth this year, dairy farmers said, "
        "blaming the cost of winter feed. The market runs every October.",
        "published_at": "2017-02-13",
        "source": "example.com",
    },
}
GOLD = [
    {"id": "t1", "question": "How much did the Kerrow Point lighthouse restoration cost?",
     "facts": [["4.2 million euros", "4.2 million"]], "sources": ["light-1"], "answerable": True, "conflict": False},
    {"id": "t2", "question": "How many visitors came to the Valdorno cheese market?",
     "facts": [["18,000", "18000"]], "sources": ["cheese-1"], "answerable": True, "conflict": False},
    {"id": "t3", "question": "Who opened the Valdorno cheese market?",
     "facts": [], "sources": [], "answerable": False, "conflict": False},
]  # fmt: skip


def write_corpus(folder: Path, articles: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        stale.unlink()
    for doc_id, record in articles.items():
        (folder / f"{doc_id}.json").write_text(json.dumps({"id": doc_id, **record}), encoding="utf-8")
    return folder


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in GOLD), encoding="utf-8")
    return path


def collection_docs(settings, name: str) -> set[str]:
    with Pipeline(settings.model_copy(update={"collection": name, "auto_seed": False}), start_llm=False) as p:
        return {d.doc_id for d in p.documents()}


def run(settings, gold: Path, corpus: Path, out: Path) -> int:
    return cli.main(["--gold", str(gold), "--corpus", str(corpus), "--out", str(out), "--quiet"], settings=settings)


def test_corpus_run_uses_its_own_collection_and_scores_over_it(fake_settings, gold_file: Path, tmp_path: Path, capsys):
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    assert run(fake_settings, gold_file, corpus, tmp_path / "out") == 0
    assert "3 new, 0 changed" in capsys.readouterr().err
    assert collection_docs(fake_settings, "eval_tiny") == set(ARTICLES)  # no seed articles mixed in
    doc = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert doc["summary"]["n_questions"] == 3 and doc["summary"]["n_answerable"] == 2
    for q in doc["questions"]:
        assert {p["doc_id"] for p in q["passages"]} <= set(ARTICLES)
    answerable = [q for q in doc["questions"] if q["answerable"]]
    assert all(q["hit_at_k"] == 1.0 for q in answerable)  # the right article, found among the others
    assert collection_docs(fake_settings, "eval_seeds") == set()  # the default gold collection is untouched


def test_an_unchanged_corpus_is_not_reingested_and_a_changed_one_replaces_the_collection(
    fake_settings, gold_file: Path, tmp_path: Path, capsys
):
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    assert run(fake_settings, gold_file, corpus, tmp_path / "a") == 0
    capsys.readouterr()
    assert run(fake_settings, gold_file, corpus, tmp_path / "b") == 0
    assert "0 new, 0 changed" in capsys.readouterr().err
    changed = {k: v for k, v in ARTICLES.items() if k != "cheese-2"}
    changed["light-1"] = {**ARTICLES["light-1"], "text": ARTICLES["light-1"]["text"] + " It was first lit in 1911."}
    write_corpus(corpus, changed)
    assert run(fake_settings, gold_file, corpus, tmp_path / "c") == 0
    assert "0 new, 1 changed" in capsys.readouterr().err
    assert collection_docs(fake_settings, "eval_tiny") == set(changed)  # cheese-2 is gone


def test_a_corpus_without_a_gold_source_a_missing_corpus_or_squad_is_a_clear_error(
    fake_settings, gold_file: Path, tmp_path: Path, capsys
):
    corpus = write_corpus(tmp_path / "corpus", {k: v for k, v in ARTICLES.items() if k != "light-1"})
    assert run(fake_settings, gold_file, corpus, tmp_path / "out") == 2
    assert "has no article light-1" in capsys.readouterr().err
    assert run(fake_settings, gold_file, tmp_path / "nowhere", tmp_path / "out") == 2
    assert "no such file or folder" in capsys.readouterr().err
    squad = ["--squad", str(tmp_path / "s.json"), "--corpus", str(corpus), "--out", str(tmp_path / "o")]
    assert cli.main(squad, settings=fake_settings) == 2
    assert "--corpus goes with --gold" in capsys.readouterr().err


def test_collection_name_comes_from_the_gold_file():
    assert cli.corpus_collection(Path("eval/gold/usnews.jsonl")) == "eval_usnews"
    assert cli.corpus_collection(Path("my gold (v2).jsonl")) == "eval_my_gold_v2"
