"""A small image set drawn with PIL, with seed questions whose answers are known.

    python -m imitate.vision.drawn OUT_DIR      # OUT_DIR/*.png and OUT_DIR/seeds.jsonl

Nothing is shipped as a binary: the images are drawn from code, the same bytes on every run of one
Pillow version (a seeded random.Random picks every count, colour and word), so tests and the demo
draw them where they need them. Five kinds, KINDS_N of each (40 images of 96 x 96 pixels, about 40 KB):

  circles  "How many circles are in the picture?"   reference: the count, 1..6
  square   "What colour is the square?"             reference: the colour name
  bars     "Which bar is the tallest?"              reference: its letter, A..D
  sign     "What does the sign say?"                reference: the word
  shape    "What shape is shown?"                   reference: circle, square or triangle

The seeds are plain `question` records with `image` (a path relative to seeds.jsonl), `category`
(the kind) and `reference`, the form collect reads.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SIZE = 96
KINDS_N = 8
COLOURS = {"red": (220, 30, 30), "green": (30, 160, 60), "blue": (30, 70, 220), "yellow": (235, 200, 20),
           "purple": (130, 40, 170), "orange": (245, 130, 20)}
WORDS = ("STOP", "OPEN", "EXIT", "SALE", "WAIT", "PARK", "SLOW", "HELP")
SHAPES = ("circle", "square", "triangle")
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def _canvas():
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    return img, ImageDraw.Draw(img)


def circles(rng: random.Random):
    """1..6 black discs of radius 7 that neither touch each other nor the border."""
    n = rng.randint(1, 6)
    img, d = _canvas()
    centres: list[tuple[int, int]] = []
    r = 7
    while len(centres) < n:
        c = (rng.randint(r + 3, SIZE - r - 4), rng.randint(r + 3, SIZE - r - 4))
        if all((c[0] - x) ** 2 + (c[1] - y) ** 2 > (2 * r + 6) ** 2 for x, y in centres):
            centres.append(c)
    for x, y in centres:
        d.ellipse((x - r, y - r, x + r, y + r), fill=INK)
    return img, "How many circles are in the picture?", str(n)


def square(rng: random.Random):
    """One filled square of a named colour, placed at random."""
    name = rng.choice(sorted(COLOURS))
    side = rng.randint(30, 50)
    x, y = rng.randint(5, SIZE - side - 5), rng.randint(5, SIZE - side - 5)
    img, d = _canvas()
    d.rectangle((x, y, x + side - 1, y + side - 1), fill=COLOURS[name])
    return img, "What colour is the square?", name


def bars(rng: random.Random):
    """Four labelled bars A..D of distinct heights."""
    from PIL import ImageFont
    heights = rng.sample(range(12, 70, 4), 4)
    img, d = _canvas()
    font = ImageFont.load_default(size=11)
    base = SIZE - 16
    for i, h in enumerate(heights):
        x = 8 + i * 22
        d.rectangle((x, base - h, x + 14, base), fill=COLOURS["blue"])
        d.text((x + 3, base + 2), "ABCD"[i], fill=INK, font=font)
    d.line((4, base, SIZE - 4, base), fill=INK)
    return img, "Which bar is the tallest?", "ABCD"[heights.index(max(heights))]


def sign(rng: random.Random):
    """A red sign with a white word on a grey post."""
    from PIL import ImageFont
    word = rng.choice(WORDS)
    img, d = _canvas()
    d.rectangle((SIZE // 2 - 3, 50, SIZE // 2 + 3, SIZE - 4), fill=(120, 120, 120))
    d.rectangle((8, 18, SIZE - 9, 56), fill=COLOURS["red"])
    font = ImageFont.load_default(size=20)
    w = d.textlength(word, font=font)
    d.text(((SIZE - w) / 2, 25), word, fill=(255, 255, 255), font=font)
    return img, "What does the sign say?", word


def shape(rng: random.Random):
    """One black circle, square or triangle."""
    name = rng.choice(SHAPES)
    img, d = _canvas()
    c, r = SIZE // 2 + rng.randint(-10, 10), rng.randint(20, 30)
    if name == "circle":
        d.ellipse((c - r, c - r, c + r, c + r), fill=INK)
    elif name == "square":
        d.rectangle((c - r, c - r, c + r, c + r), fill=INK)
    else:
        d.polygon([(c, c - r), (c - r, c + r), (c + r, c + r)], fill=INK)
    return img, "What shape is shown?", name


KINDS = {"circles": circles, "square": square, "bars": bars, "sign": sign, "shape": shape}


def draw(out_dir: str | Path, n_per_kind: int = KINDS_N, seed: int = 0) -> Path:
    """Draw the set into out_dir; return out_dir/seeds.jsonl. Same arguments, same bytes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, fn in KINDS.items():
        rng = random.Random(f"{seed}:{kind}")
        for i in range(n_per_kind):
            img, question, reference = fn(rng)
            name = f"{kind}_{i:02d}.png"
            img.save(out / name, format="PNG", optimize=False)
            rows.append({"id": f"{kind}-{i:02d}", "question": question, "category": kind,
                         "reference": reference, "image": name})
    seeds = out / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return seeds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m imitate.vision.drawn OUT_DIR   (draws the images and OUT_DIR/seeds.jsonl)",
              file=sys.stderr)
        return 2
    seeds = draw(argv[0])
    print(f"{len(KINDS) * KINDS_N} images and their seed questions: {seeds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
