"""Thumbnails of a run's images next to the teacher's answers: a section of report.html, and HTML a
notebook shows with IPython.display.HTML(examples_html("runs/r1")).

Records with images are read from kept.jsonl, else collected.jsonl; each thumbnail is the image
downscaled to THUMB pixels on its longer side, inline as a PNG data URI (the page stays one file).
A run without image records gets no section. An image that moved or changed since it was collected
reads "image missing" or "image changed" in place of its thumbnail. The eval examples of image
questions get the same thumbnails (frame_html, drawn by report.html's eval section).
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
from pathlib import Path

THUMB = 128
ANSWER_CHARS = 400


def thumbnail(path: str, sha256: str | None = None, side: int = THUMB) -> str:
    """An <img> of the image at `path`, at most `side` pixels, or a note when it cannot be shown."""
    from PIL import Image

    try:
        data = Path(path).read_bytes()
    except OSError:
        return f'<span class="missing">image missing: {html.escape(path)}</span>'
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        return f'<span class="missing">image changed since it was collected: {html.escape(path)}</span>'
    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail((side, side))
        buf = io.BytesIO()
        img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).name)}" src="data:image/png;base64,{b64}">'


def image_records(run_dir: str | Path, n: int) -> tuple[str, list[dict]]:
    """(file name, the first n records with images) of kept.jsonl, else collected.jsonl."""
    from imitate.data.records import iter_jsonl

    for name in ("kept.jsonl", "collected.jsonl"):
        path = Path(run_dir) / name
        if path.is_file():
            recs = [r for _, r in iter_jsonl(path, allow_torn_tail=True) if r.get("images")]
            return name, recs[:n]
    return "", []


def examples_html(run_dir: str | Path, n: int = 6) -> str:
    """An HTML table: thumbnails, question, the teacher's answer, the reference ('' without images)."""
    from imitate.data.records import turn

    name, recs = image_records(run_dir, n)
    if not recs:
        return ""
    rows = []
    for r in recs:
        thumbs = " ".join(thumbnail(im.get("path", ""), im.get("sha256")) for im in r["images"])
        answer = turn(r, "assistant")
        answer = answer if len(answer) <= ANSWER_CHARS else answer[:ANSWER_CHARS] + " …"
        rows.append(f"<tr><td>{thumbs}</td><td>{html.escape(turn(r, 'user'))}</td><td>{html.escape(answer)}</td>"
                    f"<td>{html.escape(str(r.get('reference', '')))}</td></tr>")
    return (f'<p class="meta">the first {len(recs)} records with images in {name}</p>'
            "<table><tr><th>image</th><th>question</th><th>teacher's answer</th><th>reference</th></tr>"
            + "".join(rows) + "</table>")


def _cell(value) -> str:
    """A table cell's text, escaped; None, NaN and pandas' NA read as empty (as pandas' na_rep="")."""
    try:
        missing = value is None or bool(value != value)
    except TypeError:   # pandas' NA has no truth value
        missing = True
    return "" if missing else html.escape(str(value))


def frame_html(df, column: str = "images") -> str:
    """A DataFrame of examples as an HTML table: each row's thumbnails first (its `column` holds
    [{path, sha256}], maybe empty), in place of that column; every other cell escaped. report.html draws
    the eval examples of image questions with it; in a notebook: HTML(frame_html(insp.eval_examples(run)))."""
    cols = [c for c in df.columns if c != column]
    head = "<tr><th>image</th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>"
    rows = []
    for ims, vals in zip(df[column], df[cols].itertuples(index=False, name=None)):
        thumbs = " ".join(thumbnail(im.get("path", ""), im.get("sha256")) for im in ims or ())
        rows.append(f"<tr><td>{thumbs}</td>" + "".join(f"<td>{_cell(v)}</td>" for v in vals) + "</tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def section(run, examples: int = 3) -> list[str]:
    """report.html's "Images" section for a loaded run (a RunData or a folder); [] without images."""
    block = examples_html(getattr(run, "path", run), n=max(examples, 1) * 2)
    return ["<h2>Images and answers</h2>", '<p class="meta">stage: collect, filter</p>', block] if block else []
