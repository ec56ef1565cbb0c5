"""The package's layout is the pipeline: every module lives in a stage folder and imports only from its own stage
or the stages below it (docs/architecture.md), and no module is oversized. (No import cycle:
tests/test_vocabulary.py::test_the_package_has_no_import_cycle.)"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tfaxdnn"

#: stages, bottom first; a module may import its own stage and those listed before it
STAGES = ("core", "data", "models", "multipliers", "quant", "ops", "plan", "layers", "rewrite", "hardware", "xai",
          "search", "graphs", "cli")
#: modules outside the stages: the package's front door and thin re-exports of public names
FRONT = ("__init__", "__main__", "nn")
MAX_LINES = 400


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = rel.parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(name, path):
    """Every ``tfaxdnn`` module ``name`` imports (module level or inside functions)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "tfaxdnn")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "tfaxdnn":
                continue
            out.add(mod)
            for a in node.names:  # `from tfaxdnn.x import y` where y is a submodule
                if (ROOT.parent / (mod.replace(".", "/") + f"/{a.name}.py")).exists() or \
                        (ROOT.parent / mod.replace(".", "/") / a.name / "__init__.py").exists():
                    out.add(f"{mod}.{a.name}")
    return out


def _stage(module):
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in FRONT:
        return None
    return STAGES.index(parts[1])


def test_every_module_belongs_to_a_stage():
    loose = [n for n, _ in _modules() if len(n.split(".")) > 1 and n.split(".")[1] not in STAGES + FRONT]
    assert not loose, f"modules outside the stage folders: {loose}"


def test_no_module_imports_a_higher_stage():
    upward = []
    for name, path in _modules():
        own = _stage(name)
        if own is None:
            continue
        for target in _imports(name, path):
            st = _stage(target)
            if st is not None and st > own:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that run up the pipeline:\n" + "\n".join(sorted(upward))


@pytest.mark.parametrize("name,path", list(_modules()), ids=[n for n, _ in _modules()])
def test_module_size(name, path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines (limit {MAX_LINES}): split it by idea"
