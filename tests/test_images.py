"""parley.images: checking what a client sends, and the file store that keeps it."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import random
import struct
import threading
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageOps, ImageStat
from PIL.JpegImagePlugin import get_sampling

from parley.config import Settings
from parley.errors import ImageRejected, RateLimited
from parley.images import (
    DatabaseImageStore,
    DecodedImage,
    FileImageStore,
    decode_image,
    decode_in,
    open_image,
    reencode,
)
from parley.model import Draft, now_ms
from parley.pools import WorkPool
from parley.store import SqlStore

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


def test_file_store_keeps_the_bytes_out_of_the_row(tmp_path: Path) -> None:
    assert FileImageStore(tmp_path).draft_data(decode(b64(PNG))) is None


async def test_file_store_reads_the_file(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    image = decode(b64(PNG))
    store.put(5, image)
    assert await store.read(5, image.name) == tmp_path / "5" / image.name
    assert await store.read(6, image.name) is None
    assert await store.read(5, "../5/" + image.name) is None


async def open_store(path: Path) -> SqlStore:
    return await SqlStore.open(f"sqlite+aiosqlite:///{path}")


async def store_image(store: SqlStore, images: DatabaseImageStore, image: DecodedImage) -> int:
    """A message with ``image`` in a new chat, its bytes as ``images`` gives them; the chat's id."""
    user = await store.create_user("alice", "alice", "hash")
    assert user is not None
    chat = await store.create_chat("room", user.id, None)
    assert chat is not None
    draft = Draft(chat_id=chat.id, chat=chat.name, user_id=user.id, login=user.login, text=None,
                  image=image.name, image_size=image.size, image_data=images.draft_data(image),
                  nonce=None, created_ms=now_ms())
    assert images.put(chat.id, image) is False
    [result] = await store.insert_messages([draft])
    assert result.message is not None
    return chat.id


async def test_database_image_store_keeps_no_files(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "t.db")
    try:
        images = DatabaseImageStore(store)
        image = decode(b64(PNG))
        assert images.draft_data(image) == image.data
        chat_id = await store_image(store, images, image)
        assert await images.read(chat_id, image.name) == image.data
        images.discard(chat_id, image.name)
        images.drop_chat(chat_id)
        assert [p for p in stored(tmp_path) if not p.startswith("t.db")] == []
    finally:
        await store.close()


async def test_database_image_store_reads_the_chats_row(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "t.db")
    try:
        images = DatabaseImageStore(store)
        image = decode(b64(PNG))
        chat_id = await store_image(store, images, image)
        assert await images.read(chat_id + 1, image.name) is None
        assert await images.read(chat_id, "0" * 32 + ".png") is None
        assert await images.read(chat_id, "../" + image.name) is None
        assert await store.delete_chat(chat_id) is True
        assert await images.read(chat_id, image.name) is None
    finally:
        await store.close()


# --------------------------------------------------------------------------- the stored copy


def reopen(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_the_copy_is_the_same_for_the_same_image(fmt: str) -> None:
    data = noise_picture(fmt)
    first, second = decode(b64(data)), decode(b64(data))
    assert first.data == second.data
    assert first.name == second.name


def noise_picture(fmt: str, size: tuple[int, int] = (64, 48), **options: object) -> bytes:
    pixels = random.Random(7).randbytes(3 * size[0] * size[1])
    buf = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buf, fmt, **options)
    return buf.getvalue()


def test_png_text_chunks_exif_and_icc_profile_are_dropped() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(buf, "PNG", pnginfo=info, exif=exif.tobytes(),
                                          icc_profile=b"\0" * 200)
    data = buf.getvalue()
    assert b"<script>" in data
    stored = decode(b64(data)).data
    for chunk in (b"tEXt", b"eXIf", b"iCCP", b"<script>", b"PhoneMaker"):
        assert chunk not in stored
    assert stored == PNG
    assert reopen(stored).tobytes() == reopen(data).tobytes()


def test_png_with_a_zip_in_a_private_chunk_is_stored_without_it() -> None:
    iend = PNG.rindex(b"IEND") - 4
    data = PNG[:iend] + png_chunk(b"zIPs", b"PK\x03\x04evil.html<script>") + PNG[iend:]
    stored = decode(b64(data)).data
    assert b"PK\x03\x04" not in stored
    assert stored == PNG


def test_palette_png_keeps_its_palette_and_transparency() -> None:
    picture = Image.new("P", (4, 4), 1)
    picture.putpalette([0, 0, 0, 255, 0, 0])
    buf = io.BytesIO()
    picture.save(buf, "PNG", transparency=0)
    img = reopen(decode(b64(buf.getvalue())).data)
    assert img.mode == "P"
    assert img.info["transparency"] == 0
    assert img.convert("RGBA").getpixel((0, 0)) == (255, 0, 0, 255)


def exif_jpeg(orientation: int, *, subsampling: int = 2, quality: int = 90) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    picture = Image.new("RGB", (40, 20), "white")
    picture.paste((200, 0, 0), (0, 0, 20, 20))
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=quality, subsampling=subsampling, exif=exif.tobytes(),
                 comment=b"secret comment")
    return buf.getvalue()


def test_jpeg_without_orientation_keeps_its_tables_and_drops_exif_gps_and_comments() -> None:
    data = exif_jpeg(1)
    stored = decode(b64(data)).data
    assert b"Exif" not in stored
    assert b"secret comment" not in stored
    source, copy = reopen(data), reopen(stored)
    assert copy.size == (40, 20)
    assert copy.quantization == source.quantization
    assert get_sampling(copy) == get_sampling(source) == 2
    assert dict(copy.getexif()) == {}


@pytest.mark.parametrize(("orientation", "size"), [(3, (40, 20)), (6, (20, 40)), (8, (20, 40))])
def test_jpeg_is_turned_upright_at_high_quality_with_its_subsampling(
        orientation: int, size: tuple[int, int]) -> None:
    data = exif_jpeg(orientation, subsampling=1)
    copy = reopen(decode(b64(data)).data)
    assert copy.size == size
    assert dict(copy.getexif()) == {}
    assert get_sampling(copy) == 1
    expected = ImageOps.exif_transpose(reopen(data))
    assert expected is not None
    assert largest_difference(copy, expected) <= 24  # a red and white edge, quality 95


def test_turned_jpeg_photo_loses_little() -> None:
    source = reopen(photo("JPEG", quality=90))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    source.save(buf, "JPEG", quality="keep", exif=exif.tobytes())
    copy = reopen(decode(b64(buf.getvalue())).data)
    expected = source.transpose(Image.Transpose.ROTATE_270)
    assert copy.size == expected.size == (192, 256)
    assert max(ImageStat.Stat(ImageChops.difference(copy, expected)).mean) < 1
    assert largest_difference(copy, expected) <= 8


def photo(fmt: str, **options: object) -> bytes:
    """256 x 192, smooth like a photo: blurred noise over a gradient."""
    noise = Image.frombytes("RGB", (256, 192), random.Random(7).randbytes(3 * 256 * 192))
    gradient = Image.linear_gradient("L").resize((256, 192)).convert("RGB")
    picture = Image.blend(noise.filter(ImageFilter.GaussianBlur(3)), gradient, 0.5)
    buf = io.BytesIO()
    picture.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize("quality", [75, 90])
def test_jpeg_copy_of_a_photo_loses_little(quality: int) -> None:
    data = photo("JPEG", quality=quality)
    copy = reopen(decode(b64(data)).data)
    assert max(ImageStat.Stat(ImageChops.difference(copy, reopen(data))).mean) < 0.1
    assert largest_difference(copy, reopen(data)) <= 4


def largest_difference(a: Image.Image, b: Image.Image) -> int:
    """The largest difference of one channel of one pixel, of 255."""
    extrema = ImageChops.difference(a, b).getextrema()
    return max(high for _, high in extrema)  # type: ignore[union-attr]  # RGB: one pair a band


def animated(fmt: str, frames: int, size: tuple[int, int] = (8, 8), **options: object) -> bytes:
    """``frames`` frames, each a colour unlike the one before."""
    colours = [(255, 0, 0), (0, 0, 255), (0, 128, 0)]
    pictures = [Image.new("RGB", size, colours[i % 3]) for i in range(frames)]
    buf = io.BytesIO()
    pictures[0].save(buf, fmt, save_all=True, append_images=pictures[1:], duration=40, loop=0,
                     **options)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_keeps_its_first_100_frames(fmt: str) -> None:
    data = animated(fmt, 150, **({"lossless": True} if fmt == "WEBP" else {}))
    assert reopen(data).n_frames == 150
    stored = decode(b64(data)).data
    assert (b"VP8L" in stored) == (fmt == "WEBP")  # a lossless animation stays lossless
    copy = Image.open(io.BytesIO(stored))
    assert (copy.format, copy.n_frames, copy.size) == (fmt, 100, (8, 8))
    assert copy.info["loop"] == 0
    colours = []
    for i in (0, 1, 2, 99):
        copy.seek(i)
        copy.load()
        assert copy.info["duration"] == 40
        colours.append(copy.convert("RGB").getpixel((4, 4)))
    assert colours == [(255, 0, 0), (0, 0, 255), (0, 128, 0), (255, 0, 0)]


def test_animation_frames_stay_within_max_pixels_together() -> None:
    data = animated("GIF", 10, (100, 100))
    upload = open_image(b64(data), max_bytes=MB, max_pixels=35_000)
    assert upload.frames == 3
    assert Image.open(io.BytesIO(reencode(upload, max_bytes=MB).data)).n_frames == 3


def test_lossless_webp_stays_lossless() -> None:
    data = noise_picture("WEBP", lossless=True)
    stored = decode(b64(data)).data
    assert stored[12:16] == b"VP8L"
    assert reopen(stored).tobytes() == reopen(data).tobytes()


def test_lossy_webp_stays_lossy_and_close() -> None:
    data = photo("WEBP", quality=80)
    assert data[12:16] == b"VP8 "
    stored = decode(b64(data)).data
    assert stored[12:16] == b"VP8 "
    diff = ImageStat.Stat(ImageChops.difference(reopen(stored), reopen(data)))
    assert max(diff.mean) < 2  # mean error of a channel, of 255


def test_webp_exif_is_dropped_and_its_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buf, "WEBP", lossless=True, exif=exif.tobytes())
    stored = decode(b64(buf.getvalue())).data
    assert b"PhoneMaker" not in stored
    assert b"EXIF" not in stored
    assert reopen(stored).size == (20, 40)


# --------------------------------------------------------------------------- the header


@pytest.mark.parametrize(
    ("data", "fmt", "mode", "frames"),
    [(image_bytes("PNG", (100, 50)), "PNG", "RGB", 1),
     (image_bytes("JPEG", (100, 50)), "JPEG", "RGB", 1),
     (bilevel_png(100, 50), "PNG", "1", 1),
     (animated("GIF", 7, (100, 50)), "GIF", "P", 7)],
)
def test_open_image_reads_the_header_and_estimates_the_memory(
        data: bytes, fmt: str, mode: str, frames: int) -> None:
    upload = open_image(b64(data), max_bytes=MB, max_pixels=1_000_000)
    assert (upload.data, upload.format, upload.width, upload.height) == (data, fmt, 100, 50)
    assert (upload.mode, upload.frames) == (mode, frames)
    per_pixel = 4 * (frames + 1) if frames > 1 else 2 * (1 if mode in ("1", "P") else 4)
    assert upload.memory == 100 * 50 * per_pixel + 3 * len(data)


def test_the_memory_of_the_largest_picture_fits_the_default_budget() -> None:
    upload = open_image(b64(big_png()), max_bytes=5 * MB, max_pixels=40_000_000)
    assert upload.memory == 5000 * 5000 * 8 + 3 * len(big_png())
    assert upload.memory < Settings().image_memory


def test_a_copy_over_twice_max_bytes_is_refused() -> None:
    data = noise_picture("PNG", (64, 64))
    upload = open_image(b64(data), max_bytes=MB, max_pixels=1_000_000)
    with pytest.raises(ImageRejected) as info:
        reencode(upload, max_bytes=len(data) // 3)
    assert info.value.reason == "copy too large"


# --------------------------------------------------------------------------- the pool


async def test_decode_in_a_pool_whose_budget_is_spent_is_rate_limited() -> None:
    pool = WorkPool("t", threads=2, queue=2, budget=10 * MB)
    gate = threading.Event()
    try:
        blocker = asyncio.ensure_future(pool.run_costing(9 * MB, gate.wait, 5))
        await asyncio.sleep(0)
        small = await decode_in(pool, b64(PNG), max_bytes=MB, max_pixels=1_000_000)
        assert small.data == PNG
        with pytest.raises(RateLimited) as info:
            await decode_in(pool, b64(image_bytes("PNG", (500, 500))), max_bytes=MB,
                            max_pixels=1_000_000)
        assert info.value.answer("chat", "message") == {
            "Type": "chat", "Command": "message", "Status": "rate limited"}
        gate.set()
        assert await blocker is True
        await asyncio.sleep(0.01)  # the release is scheduled from the worker thread
        assert (pool.jobs, pool.spent) == (0, 0)
        image = await decode_in(pool, b64(image_bytes("PNG", (500, 500))), max_bytes=MB,
                                max_pixels=1_000_000)
        assert image.name.endswith(".png")
    finally:
        gate.set()
        pool.close()
