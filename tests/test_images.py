"""parley.images: checking what a client sends, and the file store that keeps it."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import random
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from parley.errors import ImageRejected
from parley.images import DatabaseImageStore, DecodedImage, FileImageStore, decode_image

MB = 1024 * 1024


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6), color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode(text: str, *, max_bytes: int = MB, max_pixels: int = 1_000_000) -> DecodedImage:
    return decode_image(text, max_bytes=max_bytes, max_pixels=max_pixels)


def rejected(text: str, *, max_bytes: int = MB, max_pixels: int = 1_000_000) -> str:
    """Decode ``text``, which must be refused; the reason (for the log)."""
    with pytest.raises(ImageRejected) as info:
        decode(text, max_bytes=max_bytes, max_pixels=max_pixels)
    assert info.value.answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "failed to attach image"}
    return info.value.reason


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int) -> bytes:
    """A complete, valid 1-bit greyscale PNG of zeros: tiny in bytes, huge in pixels."""
    header = struct.pack("!IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\0" * (1 + (width + 7) // 8)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(row * height, 9)) + png_chunk(b"IEND", b""))


PNG = image_bytes("PNG")


@functools.cache
def big_png() -> bytes:
    """5000 x 5000 of one colour: 25 Mpixels in less than 100 KB."""
    return image_bytes("PNG", (5000, 5000))


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp")]
)
def test_accepted_format(fmt: str, ext: str) -> None:
    data = image_bytes(fmt)
    image = decode(b64(data))
    assert image.name == f"{hashlib.md5(image.data).hexdigest()}.{ext}"
    assert image.size == len(image.data)
    with Image.open(io.BytesIO(image.data)) as img:
        assert (img.format, img.size, img.mode) == (fmt, (8, 6), "P" if fmt == "GIF" else "RGB")


def test_extension_comes_from_content_not_from_data_url() -> None:
    data = image_bytes("GIF")
    image = decode("data:image/png;base64," + b64(data))
    assert image.name == f"{hashlib.md5(data).hexdigest()}.gif"


def test_data_url_prefix() -> None:
    assert decode("data:image/png;base64," + b64(PNG)).data == PNG


def test_base64_with_newlines() -> None:
    wrapped = base64.encodebytes(image_bytes("JPEG")).decode()
    assert "\n" in wrapped.strip()
    assert decode(wrapped).data == image_bytes("JPEG")


def test_small_bilevel_png_is_accepted() -> None:
    data = bilevel_png(100, 100)
    assert decode(b64(data)).name.endswith(".png")


# --------------------------------------------------------------------------- refused


def test_not_base64() -> None:
    assert rejected("this is not base64!") == "not base64"


def test_empty() -> None:
    assert rejected("") == "image empty or too large"


def test_data_url_with_nothing_after_it() -> None:
    assert rejected("data:image/png;base64,") == "image empty or too large"


def test_truncated_png() -> None:
    assert rejected(b64(PNG[: len(PNG) // 2])) == "not an image"


def test_png_header_then_garbage() -> None:
    assert rejected(b64(PNG[:33] + b"garbage" * 20)) == "not an image"


def test_png_with_garbage_pixel_data() -> None:
    data = PNG[:33] + png_chunk(b"IDAT", b"garbage" * 10) + png_chunk(b"IEND", b"")
    assert rejected(b64(data)) == "not an image"


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_valid_image_of_refused_format(fmt: str) -> None:
    assert rejected(b64(image_bytes(fmt))) == "not an image"


def test_text() -> None:
    assert rejected(b64(b"Hey, there is somebody?")) == "not an image"


def test_seed_example_is_not_an_image() -> None:
    assert rejected("WW91IGEgcGlkb3IK") == "not an image"


def test_one_byte_over_max_bytes() -> None:
    assert rejected(b64(PNG), max_bytes=len(PNG) - 1) == "image empty or too large"


def test_exactly_max_bytes() -> None:
    assert decode(b64(PNG), max_bytes=len(PNG)).data == PNG


def noise_png(side: int) -> bytes:
    """A PNG of random pixels: it does not compress, so its size is about 3 * side**2."""
    pixels = random.Random(side).randbytes(3 * side * side)
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buf, "PNG")
    return buf.getvalue()


def test_base64_with_newlines_exactly_max_bytes() -> None:
    data = noise_png(200)  # about 120 KB: 2,100 line breaks in MIME base64
    wrapped = base64.encodebytes(data).decode()
    assert decode(wrapped, max_bytes=len(data)).data == data


def test_base64_far_over_max_bytes_is_refused_before_decoding() -> None:
    assert rejected("A" * 10_000, max_bytes=100) == "image too large"


def test_too_many_pixels() -> None:
    data = big_png()
    assert len(data) < 100_000
    assert rejected(b64(data), max_pixels=5000 * 5000 - 1) == "too many pixels"


def test_exactly_max_pixels() -> None:
    data = big_png()
    assert decode(b64(data), max_pixels=5000 * 5000).data == data


def test_decompression_bomb_over_twice_the_pillow_limit() -> None:
    data = bilevel_png(20_000, 20_000)  # 400 Mpixels, valid, about 40 KB
    assert rejected(b64(data), max_bytes=100 * MB, max_pixels=10**12) == "not an image"


def test_decompression_bomb_over_the_pillow_limit() -> None:
    data = bilevel_png(10_000, 10_000)  # 100 Mpixels: Pillow only warns; decode_image refuses
    with warnings.catch_warnings():
        # Outside pytest's "warnings are errors": the refusal must be decode_image's own.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert rejected(b64(data), max_bytes=100 * MB, max_pixels=10**12) == "not an image"


# --------------------------------------------------------------------------- FileImageStore


def stored(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_writes_the_bytes(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    image = decode(b64(PNG))
    assert store.put(5, image) is True
    assert (tmp_path / "images" / "5" / image.name).read_bytes() == PNG
    assert stored(tmp_path / "images") == [f"5/{image.name}"]


def test_put_twice(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    assert store.put(5, image) is True
    assert store.put(5, image) is False
    assert stored(tmp_path) == [f"5/{image.name}"]


def test_put_same_image_in_two_chats(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    assert store.put(1, image) is True
    assert store.put(2, image) is True
    assert stored(tmp_path) == [f"1/{image.name}", f"2/{image.name}"]


def test_put_refuses_a_bad_name(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    with pytest.raises(ValueError, match="bad image name"):
        store.put(1, DecodedImage(PNG, "../../evil.png"))
    assert stored(tmp_path) == []


def test_path(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    store.put(5, image)
    assert store.path(5, image.name) == tmp_path / "5" / image.name


def test_path_of_missing_image(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    assert store.path(5, "0" * 32 + ".png") is None


def test_path_in_another_chat(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    store.put(5, image)
    assert store.path(6, image.name) is None


@pytest.mark.parametrize(
    "name",
    [
        "../5/{md5}.png",
        "..%2F5%2F{md5}.png",
        "{md5}.png/../{md5}.png",
        "{md5}.PNG",
        "{md5}.bmp",
        "{md5}",
        "{md5}.png\n",
        "{upper}.png",
        "{md5}0.png",
        "x{md5}.png",
        ".incoming-x",
        "",
        ".",
        "..",
    ],
)
def test_path_refuses_names_outside_the_pattern(tmp_path: Path, name: str) -> None:
    store = FileImageStore(tmp_path / "images")
    image = decode(b64(PNG))
    store.put(5, image)
    md5 = image.name.split(".")[0]
    (tmp_path / "images" / "5" / f"{md5}.PNG").write_bytes(PNG)
    (tmp_path / "images" / "5" / f"{md5}.bmp").write_bytes(PNG)
    assert store.path(5, name.format(md5=md5, upper=md5.upper())) is None


def test_discard(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    store.put(5, image)
    store.discard(5, image.name)
    assert store.path(5, image.name) is None
    assert stored(tmp_path) == []


def test_discard_missing_image(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    store.discard(5, "0" * 32 + ".png")
    assert stored(tmp_path) == []


def test_put_after_discard(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    store.put(5, image)
    store.discard(5, image.name)
    assert store.put(5, image) is True


def test_drop_chat(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    png, gif = decode(b64(PNG)), decode(b64(image_bytes("GIF")))
    store.put(5, png)
    store.put(5, gif)
    store.put(6, png)
    store.drop_chat(5)
    assert store.path(5, png.name) is None
    assert store.path(5, gif.name) is None
    assert store.path(6, png.name) == tmp_path / "6" / png.name
    assert stored(tmp_path) == [f"6/{png.name}"]


def test_drop_missing_chat(tmp_path: Path) -> None:
    FileImageStore(tmp_path).drop_chat(9)
    assert stored(tmp_path) == []


def test_file_store_is_not_in_the_database(tmp_path: Path) -> None:
    assert FileImageStore(tmp_path).in_database is False


def test_database_image_store_keeps_no_files(tmp_path: Path) -> None:
    store = DatabaseImageStore()
    image = decode(b64(PNG))
    assert store.in_database is True
    assert store.put(5, image) is False
    assert store.path(5, image.name) is None
    store.discard(5, image.name)
    store.drop_chat(5)
