"""Prompt templates live as files in `prompts/`; this loads them by name."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rag.settings import PROJECT_ROOT

PROMPTS_DIR = PROJECT_ROOT / "prompts"


@lru_cache
def load(name: str, directory: Path = PROMPTS_DIR) -> str:
    path = directory / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"Prompt '{name}' not found: expected {path}.")
    return path.read_text(encoding="utf-8").strip()
