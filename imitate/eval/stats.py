"""What eval's scores can tell: each model against the base question by question (gained, lost, the
exact sign test) on reference accuracy, filter pass and the teacher's answers' NLL, a sentence that says
what they show, the intervals of reference accuracy, and the table the terminal prints."""
from __future__ import annotations

import math

from imitate.eval.scores import by_category, gap


def stats(recs: list[dict]) -> dict:
    """Scores per model (overall and per category), in the order the records name the models, and each
    model's gap to the teacher: the base's before training, each student's after."""
    present = list(dict.fromkeys(r["model"] for r in recs))
    scores = {m: by_category([r for r in recs if r["model"] == m]) for m in present}
    gaps = {}
    t = scores.get("teacher")
    for m, s in scores.items():
        if t and m != "teacher":
            gaps[m] = {"all": gap(t["all"], s["all"]),
                       "categories": {c: gap(t["categories"][c], v) for c, v in s["categories"].items()
                                      if c in t["categories"]}}
    return {"scores": scores, "gap": gaps}


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact sign test (McNemar's, on the questions where two models differ): the chance of a
    split at least this uneven if a gain and a loss were equally likely."""
    n, k = gained + lost, min(gained, lost)
    return round(min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n), 4) if n else 1.0


def _flag(ok):
    """A pass/fail score as a comparison: +1 where the model passes and the base fails, -1 the reverse."""
    def compare(base: dict, model: dict) -> int | None:
        b, m = ok(base), ok(model)
        return None if b is None or m is None else int(bool(m)) - int(bool(b))
    return compare


def _closer(base: dict, model: dict) -> int | None:
    """teacher_nll: +1 where the model finds the teacher's answer likelier per token than the base does."""
    if not base.get("teacher_tokens") or not model.get("teacher_tokens"):
        return None
    b, m = base["teacher_nll"] / base["teacher_tokens"], model["teacher_nll"] / model["teacher_tokens"]
    return (m < b) - (m > b)


# score -> compare(base record, model record): +1 gained, -1 lost, 0 the same, None not comparable
PAIRED = {"reference_accuracy": _flag(lambda r: r["correct"]), "filter_pass": _flag(lambda r: r["drop_reason"] is None),
          "teacher_nll": _closer}


def against_base(recs: list[dict]) -> dict:
    """Each other model against the base, question by question: {model: {score: {gained, lost, n, p}}}
    (teacher_nll: gained = questions whose teacher answer the model finds likelier than the base does)."""
    base = {r["seed_id"]: r for r in recs if r["model"] == "base"}
    out = {}
    for m in dict.fromkeys(r["model"] for r in recs if base and r["model"] != "base"):
        pairs = [(base[r["seed_id"]], r) for r in recs if r["model"] == m and r["seed_id"] in base]
        out[m] = {}
        for score, compare in PAIRED.items():
            moves = [c for c in (compare(b, a) for b, a in pairs) if c is not None]
            gained, lost = moves.count(1), moves.count(-1)
            if moves:
                out[m][score] = {"gained": gained, "lost": lost, "n": len(moves), "p": sign_test(gained, lost)}
    return out


def verdict(paired: dict) -> str:
    """One sentence per student: did it get closer to the teacher than the base, beyond chance? From the
    paired tests on teacher_nll and reference accuracy."""
    parts = []
    for m, d in paired.items():
        if m == "teacher":
            continue
        nll, ref = d.get("teacher_nll"), d.get("reference_accuracy")
        bits = []
        if nll:
            beyond = "beyond chance" if nll["p"] < 0.05 else "not beyond chance"
            side = "closer to" if nll["gained"] >= nll["lost"] else "farther from"
            bits.append(f"{side} the teacher's answers than the base on {max(nll['gained'], nll['lost'])} of "
                        f"{nll['n']} questions ({min(nll['gained'], nll['lost'])} the other way; p {nll['p']:.3f}, "
                        f"{beyond})")
        if ref:
            tell = "beyond chance" if ref["p"] < 0.05 else \
                f"too few changed answers to tell from chance on {ref['n']} questions"
            bits.append(f"right where the base was wrong on {ref['gained']}, wrong where it was right on "
                        f"{ref['lost']} (p {ref['p']:.3f}: {tell})")
        if bits:
            parts.append(f"{m}: " + "; ".join(bits) + ".")
    return " ".join(parts)


def paired_lines(paired: dict) -> list[str]:
    """The terminal's lines for against_base: one per score, each model's gains and losses and p."""
    lines = []
    for score in PAIRED:
        cells = [f"{m} +{d[score]['gained']} -{d[score]['lost']} (p {d[score]['p']:.3f})"
                 for m, d in paired.items() if score in d]
        if cells:
            lines.append(f"  {score}: " + ", ".join(cells))
    if lines:
        lines.insert(0, "against the base, questions gained and lost (teacher_nll: closer to the teacher's answer or "
                        "farther; p: two-sided sign test; small p: unlikely by chance on these questions, not across "
                        "seeds or draws of the teacher's answers):")
    return lines


def table(st: dict) -> str:
    """The overall scores, one row each, models side by side, then the gaps."""
    scores, gaps = st["scores"], st["gap"]
    cols = [(m, s["all"]) for m, s in scores.items()] + [(f"gap {m}", g["all"]) for m, g in gaps.items()]

    def cell(row: str, s: dict) -> str:
        if row == "judge win/tie/loss":
            return "/".join(str(s["judge"][k]) for k in ("win", "tie", "loss")) if s.get("judge") else "-"
        v = s.get(row)
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    rows = ["answers", "reference_accuracy", "filter_pass", "judge win/tie/loss", "judge_margin", "teacher_nll",
            "mean_words", "language_match"]
    lines = [[""] + [name for name, _ in cols]] + [[r] + [cell(r, s) for _, s in cols] for r in rows]
    lines = lines[:1] + [ln for ln in lines[1:] if any(c != "-" for c in ln[1:])]   # no judge: no judge rows
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
