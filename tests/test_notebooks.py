"""Every notebook in notebooks/ is stored without outputs and runs top to bottom on the fixture run.

The run folder is injected papermill-style: a cell setting `run_dir` goes right after the cell
tagged "parameters". Kernel "python3" resolves to this interpreter (jupyter_client swaps a kernel
argv of `python` for sys.executable), so run the tests with .venv/bin/python.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SKIP = {"kd_walkthrough.ipynb": "tested by its owner separately"}


def params(paths):
    return [pytest.param(p, id=p.name, marks=[pytest.mark.skip(SKIP[p.name])] if p.name in SKIP else [])
            for p in paths]


def execute(nb, run_dir: Path | None = None):
    """Run `nb` in notebooks/ (where Jupyter starts), with run_dir injected after the parameters cell."""
    if run_dir is not None:
        at = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None)
        assert at is not None, "the notebook needs a cell tagged 'parameters'"
        cell = nbformat.v4.new_code_cell(f"run_dir = {str(run_dir)!r}",
                                         metadata={"tags": ["injected-parameters"]})
        nb.cells.insert(at + 1, cell)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    return nb


def outputs(nb, kind: str) -> list:
    """All outputs of one kind: 'image/png', 'text/html', 'stream' or 'error'."""
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if kind == "stream" and o.output_type == "stream":
                out.append(o.text)
            elif kind == "error" and o.output_type == "error":
                out.append(o)
            elif kind in o.get("data", {}):
                out.append(o.data[kind])
    return out


def test_notebooks_found():
    assert any(p.name == "inspect_run.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


def test_kernel_is_this_interpreter():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    assert outputs(execute(nb), "stream")[0].strip() == sys.prefix


@pytest.mark.parametrize("path", params(NOTEBOOKS))
def test_notebook_runs_on_the_fixture(path):
    nb = execute(nbformat.read(path, as_version=4), FIXTURE)
    assert not outputs(nb, "error")
    if path.name == "inspect_run.ipynb":
        assert len(outputs(nb, "image/png")) == 8  # every figure drawn
        assert not any("not run yet" in s for s in outputs(nb, "stream"))
        assert any("&lt;script&gt;" in h for h in outputs(nb, "text/html"))  # the dropped-examples table
        assert not any("Images and answers" in h for h in outputs(nb, "text/html"))   # a text run: no section
        cell = next(c for c in nb.cells if "images" in c.metadata.get("tags", []))
        assert cell.outputs == []   # nothing visible, not even None


@pytest.mark.parametrize("keep, images", [(["collected.jsonl"], 4), (["finetune_stats.json"], 1), ([], 0)],
                         ids=["only-collected", "only-finetune", "empty"])
def test_inspect_run_on_partial_runs(tmp_path, keep, images):
    for name in keep:
        shutil.copy(FIXTURE / name, tmp_path / name)
    nb = execute(nbformat.read(ROOT / "notebooks" / "inspect_run.ipynb", as_version=4), tmp_path)
    assert len(outputs(nb, "image/png")) == images
    assert any("not run yet" in s for s in outputs(nb, "stream"))


def test_inspect_run_shows_thumbnails_for_a_run_with_images(tmp_path):
    import hashlib
    import json

    from imitate.vision import drawn
    seeds = drawn.draw(tmp_path / "set", n_per_kind=1)
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "kept.jsonl", "w") as f:
        for s in map(json.loads, seeds.read_text().splitlines()):
            img = (seeds.parent / s["image"]).resolve()
            f.write(json.dumps({"id": s["id"], "category": s["category"], "reference": s["reference"],
                                "images": [{"path": str(img), "sha256": hashlib.sha256(img.read_bytes()).hexdigest()}],
                                "messages": [{"role": "user", "content": s["question"]},
                                             {"role": "assistant", "content": f"It is {s['reference']}."}]}) + "\n")
    nb = execute(nbformat.read(ROOT / "notebooks" / "inspect_run.ipynb", as_version=4), run)
    assert not outputs(nb, "error")
    cell = next(c for c in nb.cells if "images" in c.metadata.get("tags", []))
    page = cell.outputs[0].data["text/html"]
    assert page.startswith("<h2>Images and answers</h2>") and page.count('<img alt="') == 5
    assert "What colour is the square?" in page and "data:image/png;base64," in page
    evals = next(c for c in nb.cells if "eval-examples" in c.metadata.get("tags", [])).outputs
    assert [o.output_type for o in evals] == ["stream"]   # no eval.jsonl: "not run yet", nothing else


def test_inspect_run_shows_thumbnails_beside_eval_examples(tmp_path):
    from test_vision_thumbs import run_with_images, with_eval
    run = with_eval(*run_with_images(tmp_path, n=2))
    nb = execute(nbformat.read(ROOT / "notebooks" / "inspect_run.ipynb", as_version=4), run)
    assert not outputs(nb, "error")
    cell = next(c for c in nb.cells if "eval-examples" in c.metadata.get("tags", []))
    page = next(o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    assert page.count('<img alt="') == 2 and "What is 2 plus 3?" in page and "No idea &lt;i&gt;" in page
