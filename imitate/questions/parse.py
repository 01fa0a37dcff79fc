"""Read what the teacher wrote: a list of new questions, one evolved question, a judgement.

Small models write lists in many shapes; `parse_list` accepts them all and returns the items
without their numbering. The rule: a line that starts with a list marker starts an item; lines
right after it (no blank line between) continue it; anything else (a preamble, a heading, trailing
commentary after a blank line) is not a question. With no marker anywhere, each line that ends
with a question mark is taken as one question.
"""
from __future__ import annotations

import re

# Numbered "1." "2)" "(3)" "3-" "#4", bullets "-" "*" "•", "Question 1:", "Q1.", Korean "질문 1:" "1번.".
_MARKER = re.compile(
    r"""^\s*(?:
        \#{1,6}\s*(?=\d)                                      # a markdown heading before a number
    )?(?:
        \(\d{1,3}\)                                           # (3)
      | \d{1,3}\s*(?:[.):](?!\d)|-(?=\s)|번\.?)               # 1.  2)  3:  4 -  5번
      | [-*•·▪●◦–](?=\s)                                      # bullets
      | (?:question|q|instruction|task|질문|문제)\s*\#?\d{1,3}\s*[.:)\-]?   # Question 1:  Q2.  질문 3:
    )\s*""", re.I | re.X)
# Labels a model puts before the text of one item: "Question:", "**New question:**", "질문:".
_LABEL = re.compile(r"^(?:\*\*)?\s*(?:new\s+)?(?:question|instruction|task|질문|문제)\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*",
                    re.I)
_QUESTION_END = re.compile(r"[?？]\s*$")
_EVOL_LABEL = re.compile(r"^\s*(?:\*\*)?\s*#*\s*(?:rewritten|created|new|evolved)\s+(?:prompt|question|instruction)"
                         r"\s*#*\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?\s*", re.I)


def clean_item(text: str) -> str:
    """Strip markdown emphasis, an item label, surrounding quotes and spaces."""
    text = text.strip()
    text = _LABEL.sub("", text)
    if text.startswith("**") and text.count("**") == 2 and text.endswith("**"):
        text = text[2:-2].strip()
    text = re.sub(r"\s+", " ", text).strip()
    while len(text) >= 2 and text[0] + text[-1] in ('""', "''", "“”", "‘’", "``", "「」"):
        text = text[1:-1].strip()
    return text


def parse_list(text: str) -> list[str]:
    """The items of a numbered or bulleted list in `text`, numbering stripped, empties dropped."""
    items: list[str] = []
    current: list[str] | None = None   # the lines of the item being read
    blank_since = False
    for line in text.splitlines():
        if not line.strip():
            blank_since = True
            continue
        m = _MARKER.match(line)
        if m:
            current = [line[m.end():]]
            items.append(current)
        elif current is not None and (not blank_since or not "".join(current).strip()):
            current.append(line)       # continuation (also after "Question 1:" alone on its line)
        else:
            current = None             # preamble, heading or trailing commentary
        blank_since = False
    out = [clean_item(" ".join(parts)) for parts in items]
    out = [q for q in out if q]
    if out:
        return out
    return [clean_item(line) for line in text.splitlines() if _QUESTION_END.search(line) and clean_item(line)]


def clean_evolved(text: str) -> str:
    """The question in an evolution answer: a leading "#Rewritten Prompt#:" label (the answer
    prefix the prompt ends with, often echoed) and surrounding quotes removed. A copy of the
    prompt's words anywhere else is left for the `copied_prompt` rule to see."""
    text = text.strip()
    text = _EVOL_LABEL.sub("", text, count=1).strip()
    if "\n" not in text:
        return clean_item(text)
    # Several lines (a question with a table or code): keep the lines, only outer quotes go.
    while len(text) >= 2 and text[0] + text[-1] in ('""', "''", "“”"):
        text = text[1:-1].strip()
    return text


def parse_judgement(text: str) -> bool | None:
    """The equality judge's verdict: True for "Equal", False for "Not Equal", None when unclear."""
    t = text.strip().lower()
    if re.search(r"\bnot\s+equal\b|\bunequal\b|\bdifferent\b|같지\s*않|다르", t):
        return False
    if re.search(r"\bequal\b|\bsame\b|같", t):
        return True
    return None
