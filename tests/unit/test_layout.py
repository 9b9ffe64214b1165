"""The house: components and pipeline in `rag/`, the service in `service/`, the eval suite in
`eval/`; each imports only downward, and the commands of the upper ones reach `rag` by entry points."""

from __future__ import annotations

import argparse
import ast
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from rag import cli

ROOT = Path(__file__).resolve().parents[2]
ABOVE = {"rag": {"service", "eval"}, "service": {"eval"}, "eval": {"service"}}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, anywhere in it (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            found.add("<__import__>")
    return found


@pytest.mark.parametrize("package", sorted(ABOVE))
def test_each_package_imports_only_downward(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & (ABOVE[package] | {"<__import__>"}))
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {p: w for p, w in wrong.items() if w}


def test_commands_of_packages_above_come_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:

    def fake_entry_points(group: str) -> list[EntryPoint]:
        assert group == cli.COMMANDS
        return [
            EntryPoint("greet", f"{__name__}:register_greet", group),
            EntryPoint("ask", f"{__name__}:register_greet", group),  # a built-in name is not replaced
            EntryPoint("broken", "no_such_package_anywhere:register", group),  # not installed: no command
        ]

    monkeypatch.setattr(cli, "entry_points", fake_entry_points)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("ask")
    cli.add_registered_commands(sub)
    assert sorted(sub.choices) == ["ask", "greet"]
    assert parser.parse_args(["greet", "--name", "Ada"]).name == "Ada"


def register_greet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name")


def test_the_package_declares_the_service_and_eval_commands() -> None:
    """pyproject.toml names a `register` function that exists for each command of the group."""
    import importlib
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][cli.COMMANDS]
    assert set(declared) == {"serve", "slack", "eval"}
    for target in declared.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))


def test_bench_finds_the_eval_suites_starter_by_its_entry_point() -> None:
    from eval.baselines import bench_starter
    from rag import bench

    assert bench.registered_starter() is bench_starter
