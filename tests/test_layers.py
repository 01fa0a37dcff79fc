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
    ("domain", ("filters", "train", "teacher", "collect", "questions", "distill", "vision", "eval", "inspect")),
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


def test_imports_only_point_down():
    up = [f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if layer(t) > layer(m)]
    assert up == []


def test_no_stage_imports_another():
    stages = [f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts
              if m.startswith("imitate.stages.") and t.startswith("imitate.stages.")]
    assert stages == []


def test_no_import_loops():
    seen, loops = {}, []   # Tarjan's strongly connected components

    def visit(v, stack, low, on):
        seen[v] = low[v] = len(seen)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in seen:
                visit(w, stack, low, on)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], seen[w])
        if low[v] == seen[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))

    low: dict = {}
    for v in GRAPH:
        if v not in seen:
            visit(v, [], low, set())
    assert loops == []


def test_the_checks_can_fail(monkeypatch):
    """An upward import and a loop, planted in a copy of the graph, are found."""
    graph = {**GRAPH, "imitate.errors": GRAPH["imitate.errors"] | {"imitate.stages.collect"}}
    assert any(layer(t) > layer(m) for m, ts in graph.items() for t in ts)
    monkeypatch.setattr(__import__(__name__), "GRAPH", {**GRAPH, "imitate.device": {"imitate.errors"},
                                                        "imitate.errors": {"imitate.device"}})
    try:
        test_no_import_loops()
    except AssertionError:
        return
    raise AssertionError("a planted loop was not found")


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
