"""House rules that import-linter cannot express (run by `make lint`; exits 1 on a violation).

- no module over MAX_MODULE_LINES lines and no function over MAX_FUNCTION_LINES lines,
  except the files in EXEMPT (each with its reason);
- no radlens import inside a function or method, except in `radlens.cli` (the CLI imports a
  command's stack only when that command runs, to keep `radlens --help` fast);
- no module-level ``__getattr__`` (lazy re-exports hide the real import graph);
- no ``_private`` name (or ``_private`` module) imported from another module;
- every package's ``__init__`` declares ``__all__``, and a module is imported directly only from
  inside its own package (or a package below it): everything else imports the package.

Usage: python scripts/check_architecture.py [SRC_ROOT]   (default: src/radlens)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
EXEMPT = {
    # Cython pure-Python-mode kernel: one compilation unit; splitting it needs .pxd files and a
    # build change, and the compiled labeler's speed comes from keeping its loops in one module.
    "reports/kernel.py": "compiled labeler kernel",
    # Alembic migrations are generated, frozen history: they are never edited after release.
    "service/migrations/": "database migrations",
}


def _exempt(rel: str) -> bool:
    return any(rel == key or (key.endswith("/") and rel.startswith(key)) for key in EXEMPT)


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def _resolve(node: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    here = module.split(".") if is_pkg else module.split(".")[:-1]
    here = here[: len(here) - (node.level - 1)]
    return ".".join(here + ([node.module] if node.module else []))


class Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.top = root.name
        self.files = {p: _module_name(root, p) for p in sorted(root.rglob("*.py"))}
        self.modules = {name: (p, pkg) for p, (name, pkg) in self.files.items()}
        self.problems: list[str] = []

    def is_package(self, name: str) -> bool:
        return name in self.modules and self.modules[name][1]

    def report(self, path: Path, line: int, message: str) -> None:
        self.problems.append(f"{path.relative_to(self.root.parent.parent)}:{line}: {message}")

    def run(self) -> list[str]:
        for path, (module, is_pkg) in self.files.items():
            rel = path.relative_to(self.root).as_posix()
            if _exempt(rel):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            self.check_sizes(path, tree)
            self.check_imports(path, tree, module, is_pkg)
            if is_pkg:
                self.check_init(path, tree)
        return self.problems

    def check_sizes(self, path: Path, tree: ast.Module) -> None:
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            self.report(path, 1, f"module has {n} lines (max {MAX_MODULE_LINES}): split it")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    self.report(path, node.lineno, f"function {node.name}() has {length} lines "
                                f"(max {MAX_FUNCTION_LINES}): split it")
            top_level = node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and top_level:
                self.report(path, node.lineno, "module-level __getattr__: import names directly")

    def check_imports(self, path: Path, tree: ast.Module, module: str, is_pkg: bool) -> None:
        in_cli = module == f"{self.top}.cli" or module.startswith(f"{self.top}.cli.")
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or in_cli:
                continue
            for node in ast.walk(fn):
                targets = self._targets(node, module, is_pkg)
                if any(t == self.top or t.startswith(self.top + ".") for t, _ in targets):
                    self.report(path, node.lineno, f"radlens import inside {fn.name}(): "
                                "import at module level (only radlens.cli imports lazily)")
        for node in ast.walk(tree):
            for target, name in self._targets(node, module, is_pkg):
                if not target.startswith(self.top):
                    continue
                if name and name.startswith("_") and not name.startswith("__"):
                    self.report(path, node.lineno, f"imports private name {name!r} from {target}")
                self.check_boundary(path, node.lineno, module, is_pkg, target, name)

    def _targets(self, node: ast.AST, module: str, is_pkg: bool) -> list[tuple[str, str | None]]:
        if isinstance(node, ast.Import):
            return [(a.name, None) for a in node.names]
        if isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_pkg)
            return [(base, a.name) for a in node.names]
        return []

    def check_boundary(self, path: Path, line: int, module: str, is_pkg: bool, target: str,
                       name: str | None) -> None:
        if name and f"{target}.{name}" in self.modules:  # `from pkg import submodule`
            target = f"{target}.{name}"
        if target not in self.modules or self.is_package(target):
            return
        owner = target.rpartition(".")[0]  # the package the imported module belongs to
        here = module if is_pkg else module.rpartition(".")[0]
        if here == owner or here.startswith(owner + "."):
            return
        if owner == self.top:  # top-level modules (errors, __main__) are their own package
            return
        self.report(path, line, f"imports module {target} from outside its package: "
                    f"import from {owner} (its __init__ and __all__) instead")

    def check_init(self, path: Path, tree: ast.Module) -> None:
        if path.parent == self.root:
            return
        names = {t.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                 for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                 if isinstance(t, ast.Name)}
        if "__all__" not in names:
            self.report(path, 1, "package __init__ has no __all__")


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "src" / "radlens"
    problems = Checker(root).run()
    for p in problems:
        print(p)
    print(f"architecture: {len(problems)} problem(s) in {root}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
