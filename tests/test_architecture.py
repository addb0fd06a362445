"""The architecture's rules, read from the source (docs/architecture.md).

Each rule is checked on the real tree, and each check is shown to fail on a small
synthetic tree that breaks that rule, so none of these tests can pass vacuously.

Rules:

* layers: a package under ``sim/`` imports only the layers below it (table ``ALLOWED``);
  in particular the engines (``sim.cohort``, ``sim.patient``) never import each other and
  ``sim.decision`` imports no engine;
* nothing under ``sim/`` imports the model catalogue ``cohorts`` (ready models are found
  through the ``hta_sim.models`` entry points);
* no module imports another module's underscore names (a private module may be imported
  only from inside its own package);
* the version comes from ``sim._version``, never from the package ``__init__``;
* lazy name maps (``attach(__name__, {...})`` in a package ``__init__``) count as imports;
* no library module is longer than ``MAX_LINES`` (Numba kernel modules excepted).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "sim"

#: Modules directly under sim/ that belong to no layer.
BASE = {"errors", "results", "_lazy", "_version", "_config", "_process"}
#: Layer -> the layers (besides itself and the base) it may import, anywhere in a file.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "model": set(),
    "params": {"model"},
    "decision": {"model", "params"},
    "survival": {"model", "params"},
    "cohort": {"model", "params", "decision", "survival"},
    "patient": {"model", "params", "decision", "survival"},
    "psm": {"model", "params", "decision", "survival"},
    "plots": {"decision", "survival"},
    "experiment": {"model", "params", "decision", "cohort", "patient", "plots", "survival", "psm"},
    "facade": {"model", "params", "decision", "cohort", "patient", "plots", "experiment", "survival", "psm"},
}
#: What a base module may import lazily (inside a function): results.py's icer()/matrices().
BASE_LAZY = {"results": {"decision"}}
MAX_LINES = 500
KERNELS = {"_kernels.py"}


@dataclass(frozen=True)
class Import:
    """One import found in a file: the module imported, the names taken, where."""

    module: str
    names: tuple[str, ...]
    line: int
    nested: bool  # inside a function or method


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``sim.decision.voi`` -> ``decision``; ``sim.errors`` -> ``base``; ``sim`` -> ``facade``."""
    parts = module.split(".")
    if parts[0] != "sim":
        return "outside"
    if len(parts) == 1 or parts[1] == "__main__":
        return "facade"
    return "base" if parts[1] in BASE else parts[1]


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import of a file (top level and nested), relative ones resolved, plus lazy maps."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    consts = _string_constants(tree)
    found: list[Import] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    found.append(Import(a.name, (), child.lineno, nested))
            elif isinstance(child, ast.ImportFrom):
                mod = child.module or ""
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([mod] if mod else []))
                found.append(Import(mod, tuple(a.name for a in child.names), child.lineno, nested))
            elif isinstance(child, ast.Call) and getattr(child.func, "id", None) == "attach":
                for arg in child.args:
                    if isinstance(arg, ast.Dict):
                        for v in arg.values:
                            target = _string(v, consts)
                            if target:
                                mod, _, attr = target.partition(":")
                                found.append(Import(mod, (attr,) if attr else (), child.lineno, True))
            visit(child, inner)

    visit(tree, False)
    return found


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to string literals (``_D = "sim.decision"``, also in tuples)."""
    consts: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.Tuple)):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            names = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
            for n, v in zip(names, values, strict=False):
                if isinstance(n, ast.Name) and isinstance(v, ast.Constant) and isinstance(v.value, str):
                    consts[n.id] = v.value
    return consts


def _string(node: ast.AST, consts: dict[str, str]) -> str | None:
    """The value of a string literal, or of an f-string of literals and module constants (``f"{_D}.voi"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else consts.get(getattr(v.value, "id", ""), "?")
                       for v in node.values)
    return None


def is_module(module: str, root: Path) -> bool:
    p = root.parent.joinpath(*module.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def violations(root: Path) -> list[str]:
    """Every broken rule in the package at ``root`` (a folder named ``sim``), as messages."""
    out = []
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        mine = layer_of(me)
        rel = path.relative_to(root.parent)
        for imp in imports_of(path, root):
            mod = imp.module
            where = f"{rel}:{imp.line}"
            top = mod.split(".")[0]
            if top == "cohorts":
                out.append(f"{where}: imports the model catalogue {mod!r} (use the hta_sim.models entry points)")
                continue
            if top != "sim":
                continue
            if mod == "sim" and "__version__" in imp.names:
                out.append(f"{where}: takes __version__ from the package; import it from sim._version")
            theirs = layer_of(mod)
            if theirs not in ("base", "facade", mine) and theirs not in ALLOWED[mine]:
                lazy_ok = imp.nested and theirs in BASE_LAZY.get(me.split(".")[-1] if mine == "base" else "", set())
                if not lazy_ok:
                    out.append(f"{where}: layer {mine!r} ({me}) imports layer {theirs!r} ({mod})")
            facade_names = [n for n in imp.names if n != "__version__" and not is_module(f"sim.{n}", root)]
            if mod == "sim" and mine != "facade" and facade_names:
                out.append(f"{where}: imports {', '.join(facade_names)} from the package facade 'sim'; "
                           f"import from the defining module")
            for name in imp.names:
                if not name.startswith("_") or name.startswith("__"):
                    continue
                sub = f"{mod}.{name}"
                if is_module(sub, root):
                    if not me.startswith(mod + ".") and me != mod:
                        out.append(f"{where}: imports the private module {sub!r} from outside its package")
                elif mod != me:
                    out.append(f"{where}: imports the underscore name {name!r} of {mod!r}; make it public or "
                               f"move the code")
        if path.name not in KERNELS:
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_LINES:
                out.append(f"{rel}: {n} lines, more than {MAX_LINES}; split it by job")
    return out


# ---------------------------------------------------------------------------- the real tree
def test_the_library_keeps_every_rule():
    broken = violations(SIM)
    assert broken == [], "\n".join(broken)


def test_the_checker_sees_the_real_layers():
    """The rules above would be vacuous if the checker found no imports: it finds the known ones."""
    found = {(module_name(p, SIM), i.module)
             for p in SIM.rglob("*.py") for i in imports_of(p, SIM)}
    assert ("sim.cohort.engine", "sim.model.arrays") in found
    assert ("sim", "sim.decision.voi") in found  # a lazy map entry counts as an import
    assert {layer_of(m) for m, _ in found} >= {"model", "params", "cohort", "patient", "decision", "experiment",
                                                 "plots", "base", "facade"}


def test_pyproject_declares_the_ready_models_as_entry_points():
    import tomllib

    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["hta_sim.models"]
    assert set(eps) >= {"omt_vs_cabg", "hiv_chancellor", "thr_briggs"}
    assert all(v.startswith("cohorts.") for v in eps.values())


def lazy_name_clashes(root: Path) -> list[str]:
    """Lazy names of a package that are also the name of one of its submodules.

    Importing the submodule binds the module to that name on the package, so
    ``from package import name`` would give the module instead of the function.
    """
    out = []
    for init in sorted(root.rglob("__init__.py")):
        package = module_name(init, root)
        for imp in imports_of(init, root):
            if not imp.names:  # a name mapped to a module is meant to be the module
                continue
            for name in imp.names:
                if is_module(f"{package}.{name}", root):
                    out.append(f"{init.relative_to(root.parent)}: lazy name {name!r} is also the module "
                               f"{package}.{name}; rename the module")
    return out


def test_no_lazy_name_is_also_a_submodule():
    clashes = lazy_name_clashes(SIM)
    assert clashes == [], "\n".join(clashes)


def test_a_lazy_name_that_is_also_a_submodule_is_found(tmp_path):
    root = _tree(tmp_path, {"decision/nnt.py": "def nnt(): pass\n",
                            "decision/__init__.py": "from sim._lazy import attach\n"
                                                    "a, b, c = attach(__name__, {'nnt': 'sim.decision.nnt:nnt'})\n"})
    assert any("lazy name 'nnt'" in c for c in lazy_name_clashes(root))


# ---------------------------------------------------------------------------- each rule can fail
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sim"
    for rel, text in {"__init__.py": "", "errors.py": "", "_version.py": "__version__ = '0'\n",
                      "model/__init__.py": "", "model/spec.py": "", "decision/__init__.py": "",
                      "decision/core.py": "", "cohort/__init__.py": "", "cohort/engine.py": "",
                      "cohort/_kernels.py": "", "patient/__init__.py": "", "patient/engine.py": "",
                      **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.mark.parametrize(("files", "expected"), [
    ({"cohort/engine.py": "from sim.patient.engine import run\n"},
     "layer 'cohort' (sim.cohort.engine) imports layer 'patient'"),
    ({"patient/engine.py": "def f():\n    import sim.cohort.engine\n"}, "layer 'patient'"),
    ({"decision/core.py": "def f():\n    from sim.cohort.engine import run_cohort\n"}, "layer 'decision'"),
    ({"model/spec.py": "from sim.decision.core import icers\n"}, "layer 'model'"),
    ({"decision/__init__.py": "from sim._lazy import attach\n"
                              "__getattr__, __dir__, __all__ = attach(__name__, {'x': 'sim.cohort.engine:x'})\n"},
     "layer 'decision'"),
    ({"cohort/engine.py": "def f():\n    import cohorts\n"}, "imports the model catalogue"),
    ({"experiment/__init__.py": "", "experiment/cli.py": "from cohorts.omt_vs_cabg import build\n"},
     "imports the model catalogue"),
    ({"cohort/engine.py": "from sim.model.spec import _check\n"}, "imports the underscore name '_check'"),
    ({"patient/engine.py": "from sim.cohort import _kernels\n"}, "imports the private module 'sim.cohort._kernels'"),
    ({"cohort/engine.py": "from sim import __version__\n"}, "takes __version__ from the package"),
    ({"model/spec.py": "x = 1\n" * (MAX_LINES + 1)}, "more than 500"),
])
def test_each_rule_fails_when_broken(tmp_path, files, expected):
    broken = violations(_tree(tmp_path, files))
    assert any(expected in b for b in broken), broken


def test_allowed_imports_pass_in_a_synthetic_tree(tmp_path):
    ok = {"cohort/engine.py": "from sim.cohort import _kernels\nfrom sim.model.spec import Model\n"
                              "from sim.decision.core import icers\nfrom sim._version import __version__\n",
          "patient/engine.py": "from sim.errors import HtaError\n", "cohort/_kernels.py": "x = 1\n" * 600}
    assert violations(_tree(tmp_path, ok)) == []
