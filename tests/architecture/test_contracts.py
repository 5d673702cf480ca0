"""The house rules hold on the real tree, and the checks fail when a rule is broken.

`make lint` runs import-linter (layer contracts in pyproject.toml) and
scripts/check_architecture.py; these tests show that both really fail on a violation, by
planting one in a copy of the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "check_architecture.py"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def copy_package(tmp_path: Path) -> Path:
    """src/radlens copied to tmp_path/src/radlens (no caches, no compiled kernel)."""
    dest = tmp_path / "src" / "radlens"
    shutil.copytree(
        ROOT / "src" / "radlens", dest, ignore=shutil.ignore_patterns("__pycache__", "*.so")
    )
    return dest


def plant(module: Path, line: str) -> None:
    """Append `line` to a module of the copy."""
    module.write_text(module.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")


def run_checker(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECKER), str(root)], capture_output=True, text=True, check=False
    )


def run_lint_imports(tmp_path: Path) -> subprocess.CompletedProcess:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    section = config["tool"]["importlinter"]
    lines = ["[tool.importlinter]", f'root_package = "{section["root_package"]}"']
    for contract in section["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        for key, value in contract.items():
            lines.append(f"{key} = {value!r}".replace("'", '"'))
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_checker_passes_on_the_tree() -> None:
    result = run_checker(ROOT / "src" / "radlens")
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("core/options.py", "def late():\n    from radlens.errors import DataError\n    return 1",
         "radlens import inside late()"),
        ("data/splits.py", "def __getattr__(name):\n    raise AttributeError(name)",
         "module-level __getattr__"),
        ("explain/overlays.py", "from radlens.explain.localization import _private_helper  # noqa",
         "imports private name '_private_helper'"),
        ("evaluation/metrics.py", "def long():\n" + "    x = 1\n" * 85, "function long() has"),
        ("service/app.py", "from radlens.training.loop import train  # noqa",
         "imports module radlens.training.loop from outside its package"),
    ],
)  # fmt: skip
def test_checker_fails_on_a_planted_violation(
    tmp_path: Path, module: str, line: str, expected: str
) -> None:
    root = copy_package(tmp_path)
    plant(root / module, line)
    result = run_checker(root)
    assert result.returncode == 1
    assert expected in result.stdout


@pytest.mark.slow
def test_lint_imports_passes_on_the_tree_and_fails_on_an_upward_import(tmp_path: Path) -> None:
    if not LINT_IMPORTS.is_file():
        pytest.fail(f"{LINT_IMPORTS} not installed (dev dependency import-linter)")
    copy_package(tmp_path)
    clean = run_lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout[-3000:]
    # data is below training: an import of training from data breaks the layers contract
    plant(tmp_path / "src" / "radlens" / "data" / "splits.py", "import radlens.training  # noqa")
    bad = run_lint_imports(tmp_path)
    assert bad.returncode != 0
    assert "radlens.data is not allowed to import radlens.training" in bad.stdout
    assert "BROKEN" in bad.stdout


@pytest.mark.slow
def test_lint_imports_fails_when_the_service_imports_the_phantom(tmp_path: Path) -> None:
    copy_package(tmp_path)
    plant(tmp_path / "src" / "radlens" / "service" / "files.py", "import radlens.phantom  # noqa")
    bad = run_lint_imports(tmp_path)
    assert bad.returncode != 0
    assert "radlens.service is not allowed to import radlens.phantom" in bad.stdout
