"""Read a run folder and draw it: shared by notebooks/inspect_run.ipynb and `imitate report`.

    from imitate import inspect as insp
    run = insp.load_run("runs/demo")       # RunData: DataFrames and stats dicts, None when absent
    insp.fig_drop_reasons(run)              # a matplotlib Figure, or NotRunYet
    insp.show(insp.fig_loss_curve, run)     # the figure, or prints "not run yet: ..." instead
"""
from __future__ import annotations

from imitate.inspect.figures import (FIGURES, category_counts, fig_answer_length, fig_categories, fig_drop_reasons,
                                     fig_eval, fig_language_mix, fig_loss_curve, fig_select, fig_teacher_usage)
from imitate.inspect.load import NotRunYet, RunData, add_columns, load_run, read_frame, script_language, stages
from imitate.inspect.tables import (TABLES, answer_length_table, collect_summary, dropped_examples, eval_against_base,
                                    eval_examples, eval_table, failed_table, finetune_summary, select_examples, shorten,
                                    teacher_table)

__all__ = ["FIGURES", "TABLES", "NotRunYet", "RunData", "add_columns", "answer_length_table",
           "category_counts", "collect_summary", "dropped_examples", "eval_against_base", "eval_examples",
           "eval_table", "failed_table", "fig_answer_length", "fig_categories", "fig_drop_reasons", "fig_eval",
           "fig_language_mix", "fig_loss_curve", "fig_select", "fig_teacher_usage", "select_examples",
           "finetune_summary", "load_run", "read_frame", "script_language", "shorten", "show", "stages",
           "teacher_table"]


def show(fn, run: RunData, **kwargs):
    """fn(run, **kwargs), or None after printing 'not run yet: ...' when its stage has not run.

    In a notebook the returned Figure or DataFrame displays itself as the cell's last value.
    """
    try:
        return fn(run, **kwargs)
    except NotRunYet as e:
        print(f"not run yet: {fn.__name__} {e}")
        return None
