"""One function per figure about a run folder: each takes a RunData and returns a matplotlib Figure,
or raises NotRunYet when the stage it draws has not written its files.

Figures are built with `matplotlib.figure.Figure`, not pyplot: no global state, no GUI backend, so
report.html renders them headless (Agg) and a notebook shows them with `%matplotlib inline`.
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from imitate.inspect.load import NotRunYet, RunData

MAX_PANELS = 12  # answer-length histograms: the biggest categories only
# Fonts tried for glyphs DejaVu Sans lacks (Korean, Chinese, Japanese category names): Debian's
# fonts-noto-cjk, then other common ones. Only installed ones are listed; without any, CJK draws as boxes.
CJK_FONTS = ["Noto Sans CJK KR", "Noto Sans CJK JP", "Noto Sans CJK SC", "NanumGothic", "Source Han Sans KR",
             "WenQuanYi Zen Hei", "Droid Sans Fallback"]


def use_font_fallback() -> list[str]:
    """Set matplotlib's font list to DejaVu Sans then the installed CJK fonts; returns the list.
    matplotlib caches the fonts it found on first use, so a CJK font installed since then (apt install
    fonts-noto-cjk) is added from the system's font files here."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed & set(CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if any(k in path for k in ("CJK", "Nanum", "WenQuanYi", "DroidSansFallback")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):   # an unreadable font file: skip it
                    continue
        installed = {f.name for f in font_manager.fontManager.ttflist}
    fonts = ["DejaVu Sans", *[f for f in CJK_FONTS if f in installed]]
    matplotlib.rcParams["font.family"] = fonts
    return fonts


use_font_fallback()


def _whole_counts(ax, axis: str = "x") -> None:
    """Ticks of a count axis at whole numbers only."""
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def _counts(stats: dict | None, key: str, df: pd.DataFrame | None) -> pd.Series | None:
    """Records per category, from filter_stats when present, else counted from the frame."""
    if stats and isinstance(stats.get(key), dict):
        return pd.Series(stats[key], dtype="int64")
    if df is not None:
        return df["category"].value_counts()
    return None


def category_counts(run: RunData) -> pd.DataFrame:
    """category, before (collected), after (kept), kept_pct; NaN where a side is not there yet."""
    before = _counts(run.filter_stats, "categories_before", run.collected)
    after = _counts(run.filter_stats, "categories_after", run.kept)
    if before is None and after is None:
        raise NotRunYet(f"needs collected.jsonl, kept.jsonl or filter_stats.json in {run.path}")
    sides = {k: v for k, v in (("before", before), ("after", after)) if v is not None}
    df = pd.DataFrame(sides).fillna(0).astype("int64").reindex(columns=["before", "after"])
    df["kept_pct"] = (100 * df["after"] / df["before"].where(df["before"] > 0)).round(1)
    df = df.sort_values(["before", "after"], ascending=False)
    return df.rename_axis("category").reset_index()


def fig_categories(run: RunData) -> Figure:
    """Records per category before and after the filter (horizontal grouped bars)."""
    df = category_counts(run).iloc[::-1]  # biggest on top
    fig = Figure(figsize=(7, 0.5 + 0.45 * len(df) + 1), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(df))
    for shift, col, label in ((0.2, "before", "collected"), (-0.2, "after", "kept")):
        if df[col].notna().any():
            bars = ax.barh(y + shift, df[col].fillna(0), height=0.4, label=label)
            ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_yticks(y, df["category"])
    ax.set_xlabel("records")
    _whole_counts(ax)
    ax.set_title("Records per category, before and after the filter")
    fig.legend(loc="outside right upper")
    return fig


def fig_drop_reasons(run: RunData) -> Figure:
    """Dropped records per drop reason (filter:code), most frequent on top."""
    run.need_any("filter_stats", "dropped")
    if run.filter_stats and isinstance(run.filter_stats.get("reasons"), dict):
        counts = pd.Series(run.filter_stats["reasons"], dtype="int64")
    else:
        counts = run.dropped["drop_reason"].fillna("(no reason)").value_counts()
    counts = counts.sort_values()
    fig = Figure(figsize=(7, 1 + 0.4 * max(len(counts), 2)), layout="constrained")
    ax = fig.subplots()
    if counts.empty:
        ax.text(0.5, 0.5, "nothing was dropped", ha="center", va="center", transform=ax.transAxes)
    else:
        bars = ax.barh(counts.index.astype(str), counts.values, color="tab:red")
        ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_xlabel("records dropped")
    _whole_counts(ax)
    ax.set_title(f"Drop reasons ({int(counts.sum())} dropped)")
    return fig


def fig_answer_length(run: RunData) -> Figure:
    """Answer length in characters per category: collected and kept overlaid, one panel each."""
    run.need_any("collected", "kept")
    frames = [(name, df) for name, df in (("collected", run.collected), ("kept", run.kept))
              if df is not None and len(df)]
    if not frames:
        raise NotRunYet(f"collected.jsonl and kept.jsonl are empty in {run.path}")
    cats = frames[0][1]["category"].value_counts().index[:MAX_PANELS]
    ncols = min(3, len(cats))
    nrows = math.ceil(len(cats) / ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.4 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, cat in zip(axes, cats):
        values = [df.loc[df["category"] == cat, "answer_chars"] for _, df in frames]
        top = max(int(v.max()) for v in values if len(v)) if any(len(v) for v in values) else 1
        bins = np.linspace(0, max(top, 1), 16)
        for (name, _), v in zip(frames, values):
            ax.hist(v, bins=bins, alpha=0.6, label=f"{name} ({len(v)})")
        _whole_counts(ax, "y")
        ax.set_title(str(cat), fontsize=10)
        ax.set_xlabel("answer characters", fontsize=8)
        ax.legend(fontsize=7)
    for ax in axes[len(cats):]:
        ax.set_visible(False)
    fig.suptitle("Answer length per category")
    return fig


def fig_language_mix(run: RunData) -> Figure | str:
    """Answers per language and category (stacked bars), for collected and kept side by side; one
    sentence instead when every answer is in one language."""
    run.need_any("collected", "kept")
    frames = [(n, df) for n, df in (("collected", run.collected), ("kept", run.kept)) if df is not None]
    langs = sorted(set().union(*(set(df["language"]) for _, df in frames)))
    if len(langs) == 1:
        return f"Every answer is in one language: {langs[0]}."
    fig = Figure(figsize=(4.5 * len(frames), 3.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(frames), squeeze=False)).ravel()
    colors = {lang: f"C{i % 10}" for i, lang in enumerate(langs)}
    for ax, (name, df) in zip(axes, frames):
        table = pd.crosstab(df["category"], df["language"]).reindex(columns=langs, fill_value=0)
        left = np.zeros(len(table))
        for lang in langs:
            ax.barh(table.index.astype(str), table[lang], left=left, label=lang, color=colors[lang])
            left += table[lang].to_numpy()
        share = (df["language"].value_counts(normalize=True) * 100).round(0)
        ax.set_title(f"{name}: " + ", ".join(f"{k} {v:.0f}%" for k, v in share.items()), fontsize=10)
        ax.set_xlabel("records")
        _whole_counts(ax)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="language", loc="outside right upper")
    fig.suptitle("Language mix (the record's language field, else a guess from the text)")
    return fig


def fig_teacher_usage(run: RunData) -> Figure:
    """Teacher tokens per model (prompt and completion) and completion tokens per answer."""
    run.need_any("collect_stats", "collected")
    stats = run.collect_stats or {}
    df = run.collected
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    if df is not None and len(df):
        per = df.groupby("teacher_model")[["prompt_tokens", "completion_tokens"]].sum()
    else:
        per = pd.DataFrame({"prompt_tokens": [stats.get("prompt_tokens", 0)],
                            "completion_tokens": [stats.get("completion_tokens", 0)]}, index=["all"])
    names = per.index.astype(str)
    left.barh(names, per["prompt_tokens"], label="prompt")
    left.barh(names, per["completion_tokens"], left=per["prompt_tokens"], label="completion")
    left.set_xlim(0, 1.35 * max(float((per["prompt_tokens"] + per["completion_tokens"]).max()), 1))
    left.set_xlabel("tokens")
    left.set_title("Tokens per teacher")
    left.legend(fontsize=8)
    if df is not None and df["completion_tokens"].notna().any():
        for name, group in df.groupby("teacher_model"):
            right.hist(group["completion_tokens"].dropna().astype(float), bins=15, alpha=0.6, label=name)
        _whole_counts(right, "y")
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "no per-record usage", ha="center", va="center", transform=right.transAxes)
    right.set_xlabel("completion tokens per answer")
    right.set_title("Answer length in tokens")
    rate, wall = stats.get("completion_tokens_per_s"), stats.get("wall_s")
    speed = f"{rate:.1f} completion tokens/s over {wall:.0f} s" if rate is not None and wall else \
        "throughput unknown (no collect_stats.json)"
    fig.suptitle(f"Teacher usage: {speed}")
    return fig


def fig_loss_curve(run: RunData) -> Figure:
    """Training loss per step, held-out loss during training, and held-out loss before and after."""
    run.need("finetune_stats")
    st = run.finetune_stats
    hist = pd.DataFrame([h for h in st.get("log_history") or [] if isinstance(h, dict)])
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    if "loss" in hist and "step" in hist:
        train = hist.dropna(subset=["loss"])
        ax.plot(train["step"], train["loss"], marker=".", label="train loss")
    if "eval_loss" in hist and "step" in hist:
        ev = hist.dropna(subset=["eval_loss"])
        ax.plot(ev["step"], ev["eval_loss"], marker="o", linestyle="--", label="held-out loss")
    title = "Fine-tuning loss"
    before, after = st.get("eval_loss_before"), st.get("eval_loss_after")
    for value, label, color in ((before, "held-out before", "tab:gray"), (after, "held-out after", "tab:green")):
        if value is not None:
            ax.axhline(value, color=color, linestyle=":", label=f"{label}: {value:.3f}")
    if before is not None and after is not None:
        title += f": held-out {before:.3f} → {after:.3f}"
    if not ax.lines:
        ax.text(0.5, 0.5, "no loss logged", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    return fig


def fig_eval(run: RunData) -> Figure:
    """Reference accuracy and filter pass rate per category: base, each student and teacher side by side."""
    run.need("eval_stats")
    scores = run.eval_stats["scores"]
    models = list(scores)
    cats = sorted({c for m in models for c in scores[m]["categories"]}, reverse=True)
    fig = Figure(figsize=(9, 1.5 + 0.6 * len(cats)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    y, h = np.arange(len(cats)), 0.8 / max(1, len(models))
    for ax, key, title in zip(axes, ("reference_accuracy", "filter_pass"), ("Reference accuracy", "Filter pass rate")):
        for j, m in enumerate(models):
            values = [scores[m]["categories"].get(c, {}).get(key) for c in cats]
            bars = ax.barh(y + (j - (len(models) - 1) / 2) * h, [np.nan if v is None else v for v in values],
                           height=h, label=m)
            # a score of 0 draws no bar: its label tells it from a score the model has none of
            ax.bar_label(bars, labels=["" if v is None else f"{v:.2g}" for v in values], padding=2, fontsize=7)
        ax.set_xlim(0, 1.15)   # room for the label of a full bar
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.set_title(title)
    axes[0].set_yticks(y, cats)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
    fig.suptitle("Before (base) and after training (students), and the teacher")
    return fig


def fig_select(run: RunData) -> Figure:
    """Each scorer's values, selected and left out stacked, with the budget's line where one scorer ranks."""
    run.need("scores", "select_stats")
    df = run.scores
    by = run.select_stats["by"]
    fig = Figure(figsize=(4 * len(by), 3), layout="constrained")
    for ax, name in zip(np.atleast_1d(fig.subplots(1, len(by))), by):
        values = pd.to_numeric(df["scores"].map(lambda s: s.get(name)), errors="coerce")
        picked = df["selected"].astype(bool)
        bins = np.histogram_bin_edges(values.dropna(), bins=20) if values.notna().any() else 10
        ax.hist([values[picked].dropna(), values[~picked].dropna()], bins=bins, stacked=True,
                label=["selected", "left out"], color=["tab:green", "tab:gray"])
        if len(by) == 1 and picked.any():   # the budget: the lowest value that made it
            ax.axvline(values[picked].min(), color="black", linestyle="--", label="budget")
        ax.set_title(name)
        _whole_counts(ax, "y")
    ax.legend(fontsize=8)
    fig.suptitle(f"select: {run.select_stats['selected']} of {run.select_stats['records']} records "
                 f"(budget {run.select_stats['budget']})")
    return fig


FIGURES = [fig_categories, fig_drop_reasons, fig_answer_length, fig_language_mix, fig_teacher_usage,
           fig_select, fig_loss_curve, fig_eval]
