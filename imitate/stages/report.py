"""Write DIR/report.html: one self-contained page about a run folder, for people who don't open notebooks.

The page holds the figures of notebooks/inspect_run.ipynb (drawn by imitate.inspect, embedded as
base64 PNG) and its tables. A stage that has not run shows as a "not run yet" section. All record
text is HTML-escaped. The page loads nothing from elsewhere, so it can be mailed or archived as is.

    python -m imitate report --run runs/demo
"""
from __future__ import annotations

import base64
import html
import io
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from imitate.config import opt, to_dict
from imitate.data.records import atomic_open, write_json
from imitate.errors import UserError
from imitate.rundir import DEFAULT, STAGES, RunDir

READS, WRITES = STAGES["report"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
img { max-width: 100%; }
table { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td { max-width: 28em; overflow-wrap: break-word; }
.scroll { overflow-x: auto; max-width: 100%; }
.outcome { font-size: 1.25em; }
.missing { color: #8a5a00; background: #fff6e0; padding: .5em .8em; border-left: 4px solid #e0a000; }
.error { color: #900; background: #fde; padding: .5em .8em; border-left: 4px solid #c00; }
.meta { color: #666; }
"""


@dataclass
class Config:
    run: Path = opt(Path(DEFAULT), "run folder to report on (holds collected.jsonl, kept.jsonl, ...)")
    out: Path | None = opt(None, "where to write the page; unset: RUN/report.html")
    examples: int = opt(3, "dropped examples shown per drop reason, and eval examples where student and "
                        "teacher disagree")

    def __post_init__(self):
        self.run = Path(self.run)
        if not self.run.exists():
            raise UserError("run folder not found", self.run)
        if not self.run.is_dir():
            raise UserError("not a folder: --run takes the run folder", self.run)
        self.out = Path(self.out) if self.out is not None else RunDir(self.run).report
        if self.examples < 0:
            raise UserError(f"--examples must be 0 or more, got {self.examples}")


def _sections(examples: int):
    """(title, stage that writes the data, functions drawing it) in page order."""
    from imitate import inspect as insp

    def dropped(run):
        return insp.dropped_examples(run, per_reason=examples)

    def disagreements(run):
        return insp.eval_examples(run, n=examples)

    def legend(run):
        """How to read the eval table."""
        run.need("eval_stats")
        return ("Each row is one score per model. A gap column is teacher − model: a smaller gap after training "
                "is closer to the teacher. teacher_nll is the negative log-likelihood of the teacher's answers "
                "under each local model, in nats per answer token: lower is closer (the teacher has none). "
                "The second table counts, question by question, what each model gets right (or past the "
                "filters) that the base did not, and the reverse; its p is the sign test's: small means "
                "unlikely by chance on these questions, though another seed or draw of the teacher's answers "
                "can still move it. The examples are questions where the last student scored and the teacher "
                "disagree.")

    dropped.__name__ = "dropped_examples"
    disagreements.__name__ = "eval_examples"
    return [
        ("Records per category", "collect, filter", [insp.fig_categories, insp.category_counts]),
        ("Drop reasons", "filter", [insp.fig_drop_reasons]),
        (f"Dropped examples ({examples} per reason)", "filter", [dropped]),
        ("Answer length per category", "collect, filter", [insp.fig_answer_length, insp.answer_length_table]),
        ("Language mix", "collect, filter", [insp.fig_language_mix]),
        ("Teacher usage and throughput", "collect",
         [insp.fig_teacher_usage, insp.collect_summary, insp.teacher_table, insp.failed_table]),
        ("Selection", "select", [insp.fig_select, insp.select_examples]),
        ("Fine-tuning", "finetune", [insp.fig_loss_curve, insp.finetune_summary]),
        ("Evaluation: before and after training, and the teacher", "eval",
         [insp.fig_eval, legend, insp.eval_table, insp.eval_against_base, disagreements]),
    ]


def figure_html(fig, alt: str) -> str:
    """The figure as an <img> holding its PNG inline (base64), so the page needs no other file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table_html(df) -> str:
    """A DataFrame as an HTML table that scrolls sideways on a narrow screen; every cell escaped. A table
    with an `images` column (the eval examples of image questions) shows their thumbnails instead."""
    if "images" in df.columns:
        from imitate.vision.thumbs import frame_html
        table = frame_html(df)
    else:
        df = df.rename(columns=lambda c: str(c).replace("_pct", " %").replace("_", " "))   # headers in words
        table = df.to_html(index=False, escape=True, na_rep="", border=0, float_format=lambda x: f"{x:.4g}")
    return f'<div class="scroll">{table}</div>'



def item_html(fn, run, missing: str | None = None) -> str:
    """One figure or table; a missing stage reads 'not run yet' (or `missing`), a failure an error note
    (and a warning), an empty table a line saying so."""
    from imitate.inspect import NotRunYet

    try:
        value = fn(run)
    except NotRunYet as e:
        return f'<p class="missing">{html.escape(missing or f"not run yet: {e}")}</p>'
    except Exception as e:  # one broken figure should not cost the whole page
        print(f"warning: report: {fn.__name__} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return f'<p class="error">could not draw {fn.__name__}: {html.escape(f"{type(e).__name__}: {e}")}</p>'
    if hasattr(value, "savefig"):
        return figure_html(value, fn.__doc__.splitlines()[0] if fn.__doc__ else fn.__name__)
    if isinstance(value, str):
        return f"<p>{html.escape(value)}</p>"
    if value.empty:
        return f'<p class="meta">none: {html.escape(fn.__doc__.splitlines()[0] if fn.__doc__ else fn.__name__)}</p>'
    return table_html(value)


def summary_html(run) -> list[str]:
    """The page's first section: kept share and top drop reasons, the eval table, the settings."""
    from imitate.inspect import NotRunYet, summary

    parts = ['<h2 id="summary">Summary</h2>']
    try:
        parts.append(f'<p class="outcome">{html.escape(summary.kept_line(run))}</p>')
    except NotRunYet:
        parts.append('<p class="missing">not filtered yet: run `imitate filter`</p>')
    parts.append("<h3>Did the student get closer to the teacher?</h3>")
    if run.eval_stats and run.eval_stats.get("verdict"):
        parts.append(f'<p class="outcome">{html.escape(run.eval_stats["verdict"])}</p>')
    parts.append(item_html(summary.eval_overview, run, "not evaluated yet: run `imitate eval` after finetune"))
    parts.append("<h3>Settings</h3>")
    parts.append(item_html(summary.settings, run))
    return parts


def render(run, examples: int = 3) -> str:
    """The whole page for a loaded RunData."""
    from imitate import inspect as insp

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>Run {html.escape(run.path.resolve().name)}</h1>",
             f'<p class="meta">{html.escape(str(run.path.resolve()))} · generated {when}</p>',
             *summary_html(run), "<h2>Stages</h2>", table_html(insp.stages(run))]
    for title, stage, fns in _sections(examples):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(f'<p class="meta">stage: {html.escape(stage)}</p>')
        seen = set()
        for fn in fns:
            block = item_html(fn, run)
            if block not in seen:  # one "not run yet" per section, not one per figure
                parts.append(block)
                seen.add(block)
    from imitate.vision.thumbs import section as images_section  # thumbnails next to the answers
    parts += images_section(run, examples)
    body = "\n".join(parts)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>imitate report: {html.escape(run.path.resolve().name)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def run(cfg: Config) -> int:
    import matplotlib

    matplotlib.use("Agg")  # headless: no display needed, same pixels everywhere
    from imitate.inspect import load_run

    data = load_run(cfg.run)
    page = render(data, cfg.examples)
    with atomic_open(cfg.out) as f:
        f.write(page)
    write_json(RunDir(cfg.run).report_config, to_dict(cfg))
    print(f"wrote {cfg.out}")
    return 0
