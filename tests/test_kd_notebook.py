"""notebooks/kd_walkthrough.ipynb runs top to bottom (embedded teacher, tiny student, CPU)."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "kd_walkthrough.ipynb"


@pytest.mark.slow
def test_kd_walkthrough_runs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "store it without outputs"
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3
    assert "KL(teacher || teacher):        0.0" in text
    assert "regressor.pt" in text  # the trainer saved the regressor beside the student
    mse = text.split("MSE ")[1].split()
    assert float(mse[2]) < float(mse[0])  # fitting the regressor lowered the feature loss
