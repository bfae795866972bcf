"""Mutations of files for the fuzz suite: damaged bytes, JSON, CSV, headers, and things that are
not files at all (FIFOs, folders, devices, dangling links) where a file should be."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import zlib
from pathlib import Path


def link_tree(src: Path, dest: Path) -> Path:
    """A copy of a folder whose files are hard links (cheap); mutate with :func:`replace_file`."""
    shutil.copytree(src, dest, copy_function=os.link)
    return dest


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` as a new file at ``path`` (breaking a hard link, never writing through it)."""
    if path.is_symlink() or path.exists():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    path.write_bytes(data)


def flip_bits(data: bytes, rng: random.Random, n: int | None = None) -> bytes:
    """``n`` random bit flips (1-32 by default), anywhere in the file."""
    out = bytearray(data)
    for _ in range(n or rng.choice([1, 1, 2, 4, 8, 32])):
        if out:
            at = rng.randrange(len(out))
            out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A generic damage of a file's bytes: flips, truncation, zeroed or random runs, junk."""
    kind = rng.choice(["flip", "flip", "flip", "truncate", "zero_run", "random_run", "append", "empty",
                       "head_only", "garbage"])  # fmt: skip
    n = len(data)
    if kind == "flip":
        return kind, flip_bits(data, rng)
    if kind == "truncate":
        return kind, data[: rng.randrange(0, max(n, 1))]
    if kind == "zero_run" and n:
        a = rng.randrange(n)
        b = min(n, a + rng.choice([1, 16, 256, 4096]))
        return kind, data[:a] + bytes(b - a) + data[b:]
    if kind == "random_run" and n:
        a = rng.randrange(n)
        b = min(n, a + rng.choice([1, 16, 256, 4096]))
        return kind, data[:a] + rng.randbytes(b - a) + data[b:]
    if kind == "append":
        return kind, data + rng.randbytes(rng.choice([1, 100, 5000]))
    if kind == "empty":
        return kind, b""
    if kind == "head_only":
        return kind, data[: rng.choice([4, 8, 12, 32, 64])]
    return "garbage", rng.randbytes(max(16, min(n, 4096)))


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(
        b"IEND", b""
    )


def jpeg_bytes(rng: random.Random) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), tuple(rng.randrange(256) for _ in range(3))).save(buf, format="JPEG")
    return buf.getvalue()


def wav_header(rate: int, channels: int, bits: int, data_len: int) -> bytes:
    """A WAV header (fmt + data) that may declare anything."""
    u32, u16 = 0xFFFFFFFF, 0xFFFF
    fmt = struct.pack("<HHIIHH", 1, channels & u16, rate & u32, (rate * channels * bits // 8) & u32,
                      (channels * bits // 8) & u16, bits & u16)  # fmt: skip
    return (b"RIFF" + struct.pack("<I", (36 + data_len) & u32) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_len & u32))  # fmt: skip


HOSTILE_VALUES: list = [
    None, "", "x", "../../etc/passwd", "/abs/path", -1, 0, 1e30, -1e30, float("nan"), float("inf"),
    1e9, 2**63, 2**64 + 5, [], {}, [1, 2], {"a": 1}, True, "x" * 10000, "\u0000", 3.5, "1e999",
    [[[[[]]]]], ["a", "b"], [1e30, 1e30, -1e30, 5, 7, 1e30],
]  # fmt: skip


def mutate_json_value(doc, rng: random.Random):
    """Replace (or delete) one random node of a JSON document with a hostile value."""
    paths: list[tuple] = []

    def walk(node, path: tuple) -> None:
        paths.append(path)
        if len(paths) > 20000:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node[:50]):
                walk(v, (*path, i))

    walk(doc, ())
    # Favour the deeper nodes: they are what the readers index into.
    path = max(rng.sample(paths, min(3, len(paths))), key=len) if len(paths) > 1 else ()
    if not path:
        return rng.choice(HOSTILE_VALUES)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if rng.random() < 0.15:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(HOSTILE_VALUES)
    return doc


def json_mutation(text: str, rng: random.Random) -> tuple[str, bytes]:
    """A JSON file damaged in its structure, its values, its nesting or its bytes."""
    kind = rng.choice(["value", "value", "value", "value", "deep", "bytes", "not_json", "type"])
    if kind == "deep":
        depth = rng.choice([1000, 200_000])
        return kind, ("[" * depth + "]" * depth).encode()
    if kind == "bytes":
        return byte_mutation(text.encode(), rng)
    if kind == "not_json":
        return kind, rng.choice([b"", b"{", b"\xff\xfe{}", b"null", b"[1,2,3]", b"\"str\"", b"NaN"])
    doc = json.loads(text)
    if kind == "type":
        return kind, json.dumps(rng.choice([[], 5, "text", None, [doc]])).encode()
    for _ in range(rng.choice([1, 1, 2, 4])):
        doc = mutate_json_value(doc, rng)
    return kind, json.dumps(doc, allow_nan=True).encode()


HOSTILE_CELLS = ["", "../../x", "/abs/x", "x" * 5000, "-1", "nan", "1e309", "99999999999999999999",
                 "a,b", '"', "\x00", "train\n", "é", "  ", "..", "."]  # fmt: skip


def csv_mutation(text: str, rng: random.Random) -> tuple[str, bytes]:
    """A metadata CSV with hostile cells, short or long rows, a broken header, or bad bytes."""
    lines = text.splitlines()
    kind = rng.choice(["cell", "cell", "cell", "short_row", "long_row", "header", "bytes", "dup_row",
                       "empty"])  # fmt: skip
    if kind == "bytes":
        return byte_mutation(text.encode(), rng)
    if kind == "empty":
        return kind, b""
    if kind == "header" and lines:
        cells = lines[0].split(",")
        cells[rng.randrange(len(cells))] = rng.choice(["", "nome", "split "])
        lines[0] = ",".join(cells)
    elif len(lines) > 1:
        i = rng.randrange(1, len(lines))
        cells = lines[i].split(",")
        if kind == "cell":
            cells[rng.randrange(len(cells))] = rng.choice(HOSTILE_CELLS)
        elif kind == "short_row":
            cells = cells[: rng.randrange(len(cells))]
        elif kind == "long_row":
            cells += ["extra"]
        elif kind == "dup_row":
            lines.append(lines[i])
        lines[i] = ",".join(cells)
    return kind, "\n".join(lines).encode("utf-8", "surrogatepass")



def special(path: Path, rng: random.Random) -> str:
    """Put a non-regular or missing thing where a file should be."""
    kind = rng.choice(["fifo", "fifo", "dir", "missing", "dev_zero", "dangling"])
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere-at-all")
    return kind


