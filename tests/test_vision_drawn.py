"""The drawn image set: deterministic bytes, and each reference read back from the pixels."""
import json
from collections import Counter

import numpy as np
from PIL import Image

from imitate.vision import drawn


def components(mask: np.ndarray) -> int:
    """4-connected components of a bool image."""
    seen = np.zeros_like(mask)
    n = 0
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        n += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            a, b = stack.pop()
            for u, v in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                if 0 <= u < mask.shape[0] and 0 <= v < mask.shape[1] and mask[u, v] and not seen[u, v]:
                    seen[u, v] = True
                    stack.append((u, v))
    return n


def test_drawn_set_is_deterministic_and_truthful(tmp_path):
    seeds = drawn.draw(tmp_path / "a")
    again = drawn.draw(tmp_path / "b")
    rows = [json.loads(x) for x in seeds.read_text().splitlines()]
    assert len(rows) == len(drawn.KINDS) * drawn.KINDS_N == 40
    assert seeds.read_bytes() == again.read_bytes()
    for r in rows:
        assert (seeds.parent / r["image"]).read_bytes() == (again.parent / r["image"]).read_bytes()
    assert sum(p.stat().st_size for p in seeds.parent.glob("*.png")) < 100_000
    for kind in drawn.KINDS:   # the references vary within each kind
        assert len({r["reference"] for r in rows if r["category"] == kind}) >= 2

    words = {}
    for r in rows:
        px = np.asarray(Image.open(seeds.parent / r["image"]).convert("RGB")).astype(int)
        dark = px.sum(-1) < 100
        kind, ref = r["category"], r["reference"]
        if kind == "circles":
            assert components(dark) == int(ref), r
        elif kind == "square":
            colours = Counter(map(tuple, px.reshape(-1, 3)))
            colours.pop(drawn.BACKGROUND)
            assert colours.most_common(1)[0][0] == drawn.COLOURS[ref], r
        elif kind == "bars":
            blue = (px == drawn.COLOURS["blue"]).all(-1)
            heights = [blue[:, 8 + i * 22 + 7].sum() for i in range(4)]
            assert "ABCD"[int(np.argmax(heights))] == ref, r
        elif kind == "shape":
            ys, xs = np.nonzero(dark)
            fill = dark.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
            want = {"square": (0.95, 1.01), "circle": (0.7, 0.85), "triangle": (0.4, 0.6)}[ref]
            assert want[0] <= fill <= want[1], (r, fill)
        elif kind == "sign":
            panel = px[18:57, 8:drawn.SIZE - 8]
            white = (panel == 255).all(-1)
            assert 30 < white.sum() < white.size // 2, r   # a word in white on the red panel
            key = white.tobytes()
            assert words.setdefault(ref, key) == key       # the same word, the same pixels
    assert len(set(words.values())) == len(words) >= 2     # different words, different pixels


def test_cli_draws_into_a_folder(tmp_path, capsys):
    assert drawn.main([str(tmp_path / "set")]) == 0
    assert "40 images" in capsys.readouterr().out
    assert len(list((tmp_path / "set").glob("*.png"))) == 40
    assert drawn.main([]) == 2
