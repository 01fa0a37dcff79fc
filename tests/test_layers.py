"""The house rules the code keeps by itself: layers that only import downward, no import loops, no stage
importing another, no module over MAX_LINES, and every TRL/transformers training config built with the
device rule's dtype (imitate.device.precision). Read from the source with ast: lazy imports count too."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "imitate"
MAX_LINES = 400

# The layers, lowest first; a module may import from its own layer and the ones below. docs/architecture.md
# states the same order (checked below).
LAYERS = [
    ("ground", ("errors", "progress", "shipped", "config", "rundir", "device", "decode", "embedded", "text")),
    ("data", ("data",)),
    ("domain", ("filters", "train", "teacher", "collect", "questions", "select", "distill", "vision", "eval",
                "inspect")),
    ("stages", ("stages",)),
    ("entry", ("cli", "__main__", "__init__")),
]
TOP = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = modules()


def resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(mod: str) -> set[str]:
    """The imitate modules `mod` imports (a package's __init__ counts as the package)."""
    path = MODULES[mod]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        out |= {r for n in names if n.split(".")[0] == "imitate" and (r := resolve(n)) and r != mod}
    # a module inside a package may use the package's own __init__
    return {r for r in out if not (MODULES[r].name == "__init__.py" and mod.startswith(r + "."))}


GRAPH = {m: imports(m) for m in MODULES}


def layer(mod: str) -> int:
    parts = mod.split(".")
    return TOP["__init__" if len(parts) == 1 else parts[1]]


def test_every_module_has_a_layer():
    assert [m for m in MODULES if len(m.split(".")) > 1 and m.split(".")[1] not in TOP] == []


def upward(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} -> {t}" for m, ts in graph.items() for t in ts if layer(t) > layer(m)]


def stage_to_stage(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} -> {t}" for m, ts in graph.items() for t in ts
            if m.startswith("imitate.stages.") and t.startswith("imitate.stages.")]


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_imports_only_point_down():
    assert upward(GRAPH) == []


def test_no_stage_imports_another():
    assert stage_to_stage(GRAPH) == []


def test_no_import_loops():
    assert loops(GRAPH) == []


def test_the_checks_can_fail():
    """An upward import, a stage importing a stage and a loop, planted in copies of the graph, are found."""
    assert upward({**GRAPH, "imitate.errors": {"imitate.stages.collect"}}) == ["imitate.errors -> imitate.stages.collect"]
    assert stage_to_stage({"imitate.stages.eval": {"imitate.stages.filter"}}) != []
    assert loops({**GRAPH, "imitate.device": {"imitate.errors"}, "imitate.errors": {"imitate.device"}}) == [
        ["imitate.device", "imitate.errors"]]


def test_modules_stay_small():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_architecture_doc_states_the_layer_order():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    line = " → ".join(name for name, _ in LAYERS)
    assert line in text, f"docs/architecture.md should state the layers as: {line}"


TRAINING_CONFIGS = {"SFTConfig", "TrainingArguments", "GKDConfig"}


def configs_without_the_device_rule(text: str) -> list[int]:
    """Lines where a training config is built without `**precision(...)` (imitate.device)."""
    bad = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in TRAINING_CONFIGS and not any(
                    k.arg is None and isinstance(k.value, ast.Call)
                    and getattr(k.value.func, "id", getattr(k.value.func, "attr", None)) == "precision"
                    for k in node.keywords):
                bad.append(node.lineno)
    return bad


def sources():
    for folder in ("imitate", "tests", "benchmarks"):
        for p in (ROOT / folder).rglob("*.py"):
            yield p, p.read_text(encoding="utf-8")
    import json
    for p in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(p.read_text(encoding="utf-8"))["cells"]
        code = "\n".join(re.sub(r"^[!%].*$", "", "".join(c["source"]), flags=re.M)
                         for c in cells if c["cell_type"] == "code")
        yield p, code


def test_every_training_config_takes_the_device_rule():
    bad = [f"{p.relative_to(ROOT)}:{line}" for p, text in sources() for line in configs_without_the_device_rule(text)]
    assert bad == []
    assert configs_without_the_device_rule("SFTConfig(output_dir='x', use_cpu=True)") == [1]
    assert configs_without_the_device_rule("SFTConfig(output_dir='x', **precision(dev))") == []
