"""A wheel (not an editable install) carries the shipped seeds and prompts: collect works from it."""
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import ROOT


def test_wheel_install_runs_collect_dry_run_from_another_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = wheels.glob("imitate-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", "--prefix",
                    str(venv), str(wheel)], check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies come from the test's own environment (a path entry, not its .pth files, so
    # the editable imitate of that environment stays out)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(py), "-c", "import imitate; print(imitate.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), where
    r = subprocess.run([str(py), "-m", "imitate", "collect", "--run", "r", "--dry-run"], cwd=elsewhere,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "_shipped/seeds/seeds.jsonl" in r.stdout and "dry run: 216 requests" in r.stdout
    assert not (elsewhere / "r").exists()
