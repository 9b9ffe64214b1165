"""Prompt templates are package data (`rag/prompts/*.txt`), loaded by name.

They are model-neutral: no model's name or chat markup (the server applies its model's chat
template). A deployment can replace any of them with a file of the same name in the folder
set by `RAG_PROMPTS_DIR`; the packaged one is used for every name that folder lacks.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from rag.settings import get_settings


def load(name: str) -> str:
    return _load(name, get_settings().prompts_dir)


@lru_cache
def _load(name: str, directory: Path | None) -> str:
    if directory is not None:
        if not directory.is_dir():
            raise FileNotFoundError(f"RAG_PROMPTS_DIR is {directory}, which is not a folder: set it to a folder of prompt files or unset it.")
        override = directory / f"{name}.txt"
        if override.is_file():
            return override.read_text(encoding="utf-8").strip()
    packaged = resources.files("rag") / "prompts" / f"{name}.txt"
    if not packaged.is_file():
        raise FileNotFoundError(f"Prompt '{name}' not found in the package (rag/prompts/{name}.txt).")
    return packaged.read_text(encoding="utf-8").strip()
