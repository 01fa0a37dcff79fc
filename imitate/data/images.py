"""Images of seeds and records: checked when the seeds are read, kept by path and sha256, sent as
OpenAI image content parts.

A seed names its images in `image` (one path) or `images` (a list of paths), or the columns given
with --image-field / --images-field; a relative path is relative to the seed file's folder. Each is
opened when the seeds are read, so a missing, unreadable or unsupported image stops collect with the
seed file and line before anything is sent. A record keeps `images: [{"path", "sha256"}]`
(the absolute path, the sha256 of the file's bytes), never the pixels; the request key hashes the
sha256 (and --max-image-side), so an edited image is asked again and an unchanged one is not.

On the wire (`content_parts`) each image becomes {"type": "image_url", "image_url": {"url":
"data:image/png;base64,..."}}, downscaled first so that its longer side is at most --max-image-side
(an image already small enough is sent as its own bytes). The images come before the question's
text in the user turn, the order the vision-language student is trained with (imitate.vision.student).
"""
from __future__ import annotations

import base64
import hashlib
import io
from functools import lru_cache
from pathlib import Path
from typing import Callable

from imitate.errors import UserError

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}  # OpenAI's
DEFAULT_MAX_SIDE = 1024
IMAGE_BYTES = 1700   # what Budget counts for an image: ~850 tokens at its start ratio (OpenAI: 765 at 1024 px)


def seed_images(row: dict, image_field: str, images_field: str, base: Path | None,
                fail: Callable[[str], UserError]) -> list[dict]:
    """[{"path", "sha256"}] of a seed's image fields (none: []), each image checked."""
    paths = []
    one, many = row.get(image_field), row.get(images_field)
    if one not in (None, ""):
        if not isinstance(one, str):
            raise fail(f"`{image_field}` must be a path to an image file, got {type(one).__name__}")
        paths.append(one)
    if many not in (None, "", []):
        if isinstance(many, str):
            many = [many]
        if isinstance(many, (list, tuple)):   # records written by collect: [{"path", "sha256"}]
            many = [p.get("path") if isinstance(p, dict) else p for p in many]
        if not isinstance(many, (list, tuple)) or not all(isinstance(p, str) and p for p in many):
            raise fail(f"`{images_field}` must be a list of paths to image files")
        paths.extend(many)
    return [check_image(p, base, fail) for p in paths]


def check_image(path: str, base: Path | None, fail: Callable[[str], UserError]) -> dict:
    """{"path": absolute path, "sha256"} of an image file that PIL reads in one of FORMATS."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    p = p.resolve()
    if not p.is_file():
        raise fail(f"image {path!r} not found ({p})")
    try:
        data = p.read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
    except UnidentifiedImageError:
        raise fail(f"image {path!r} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise fail(f"image {path!r} cannot be read: {e}") from None
    if fmt not in FORMATS:
        raise fail(f"image {path!r} is {fmt}; supported formats: {', '.join(FORMATS)}")
    return {"path": str(p), "sha256": hashlib.sha256(data).hexdigest()}


@lru_cache(maxsize=64)
def data_uri(path: str, sha256: str, max_side: int) -> str:
    """The image as a base64 data URI, its longer side at most `max_side` (the sha256 is part of the
    cache key, so an image edited since it was read is not sent stale: it fails the check)."""
    from PIL import Image

    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise UserError("image changed since the seeds were read (sha256 differs): re-run", path)
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format
        if max(img.size) > max_side:
            img.load()
            scale = max_side / max(img.size)
            small = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
            fmt = "JPEG" if fmt == "JPEG" and small.mode == "RGB" else "PNG"
            buf = io.BytesIO()
            small.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            data = buf.getvalue()
    return f"data:{FORMATS[fmt]};base64,{base64.b64encode(data).decode('ascii')}"


def content_parts(text: str, images: list[dict], max_side: int) -> list[dict]:
    """An OpenAI user content list: the images (data URIs), then the text."""
    parts = [{"type": "image_url", "image_url": {"url": data_uri(im["path"], im["sha256"], max_side)}}
             for im in images]
    return parts + [{"type": "text", "text": text}]


def has_images(messages: list[dict]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in messages)


def load_pil(images: list[dict]) -> list:
    """The records' images as RGB PIL images (for training), checked against their sha256."""
    from PIL import Image

    out = []
    for im in images:
        try:
            data = Path(im["path"]).read_bytes()
        except OSError as e:
            raise UserError(f"cannot read the record's image: {e.strerror}", im["path"]) from None
        if hashlib.sha256(data).hexdigest() != im["sha256"]:
            raise UserError("image changed since it was collected (sha256 differs)", im["path"])
        with Image.open(io.BytesIO(data)) as img:
            out.append(img.convert("RGB"))
    return out


IMAGE_PLACEHOLDER = "<image>"   # LLaMA-Factory's: one per image, in the text, matched with the `images` column


def export_row(row: dict, fmt: str, rec: dict | None) -> dict:
    """An export row (imitate.stages.export) with the record's images: `images` (their paths) and one
    `<image>` per image at the start of the first user turn, LLaMA-Factory's multimodal convention."""
    paths = [im["path"] for im in (rec or {}).get("images") or () if isinstance(im, dict) and im.get("path")]
    if not paths:
        return row
    tag = IMAGE_PLACEHOLDER * len(paths)
    if fmt == "openai":
        i = next(i for i, m in enumerate(row["messages"]) if m["role"] == "user")
        row["messages"][i] = {**row["messages"][i], "content": tag + row["messages"][i]["content"]}
    elif fmt == "sharegpt":
        i = next(i for i, t in enumerate(row["conversations"]) if t["from"] == "human")
        row["conversations"][i] = {**row["conversations"][i], "value": tag + row["conversations"][i]["value"]}
    elif row.get("history"):
        row["history"][0][0] = tag + row["history"][0][0]
    else:
        row["instruction"] = tag + row["instruction"]
    return {**row, "images": paths}


def export_rows(rows: list[dict]) -> list[dict]:
    """When any row has images, every row gets an `images` list (one column type for the file)."""
    if any("images" in r for r in rows):
        return [r if "images" in r else {**r, "images": []} for r in rows]
    return rows
