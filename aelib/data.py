"""Reading, normalising, splitting and caching image data sets.

Any folder of photos (CelebA-HQ as downloaded, UTKFace, a user's own) becomes a
uint8 array of shape (N, size, size, 3): every image is converted to 8-bit RGB,
centre-cropped to a square and resized, as the paper prepares CelebA-HQ at
128x128. Arrays are cached under :func:`aelib.config.cache_dir`, keyed by the
source files and the parameters, so a second run reads one ``.npz``.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from aelib.config import (
    DEFAULT_SEED,
    DEFAULT_SPLIT,
    EMBEDDED_TEST_SET,
    IMAGE_EXTENSIONS,
    IMAGE_SIZE,
    MAX_PIXELS,
    cache_dir,
    portable_path,
    project_root,
)
from aelib.errors import AelibError, InputError
from aelib.outputs import atomic_output, progress_bar

EMBEDDED_CROPS_PER_PHOTO = 100
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class Dataset:
    """Images of one source, split deterministically.

    Attributes:
        name: what the data is, for labelling results ("embedded", or the folder).
        train, val, test: uint8 arrays of shape (N, H, W, 3).
        test_names: the source file (or crop) of each test image.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_names: tuple[str, ...]


CONVERSION_STRIP_ROWS = 512


def has_transparency(image: Image.Image) -> bool:
    """Whether any pixel of image is less than fully opaque (an alpha channel of 255 everywhere is none)."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return False
    return image.convert("RGBA").getchannel("A").getextrema()[0] < 255


def to_rgb_uint8(image: Image.Image) -> np.ndarray:
    """Converts a Pillow image of any mode to an (H, W, 3) uint8 array.

    Grayscale is replicated, palette images are expanded, 16- and 32-bit
    integer images are scaled to 8 bits (Pillow's own conversion would clip
    them), and transparency is composited over white.
    """
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(np.rint(values * (255.0 / scale)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "F":
        gray = np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if image.mode != "RGB":
        return np.asarray(image.convert("RGB"))
    # Strip by strip: a 12000x12000 photo then needs its Pillow image and the array, not a third copy besides.
    pixels = np.empty((image.height, image.width, 3), np.uint8)
    for top in range(0, image.height, CONVERSION_STRIP_ROWS):
        bottom = min(top + CONVERSION_STRIP_ROWS, image.height)
        pixels[top:bottom] = np.asarray(image.crop((0, top, image.width, bottom)))
    return pixels


def center_crop_resize(pixels: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Crops the largest centred square and resizes it to size x size (Lanczos)."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(pixels[top : top + side, left : left + side])
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(square)


@contextmanager
def _opened(path: Path, max_pixels: int, content: bytes | None = None) -> Iterator[Image.Image]:
    """The Pillow image at path (or of its bytes, content), header read and size checked; failures as one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            with Image.open(path if content is None else io.BytesIO(content)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise InputError(
                        f"{path} is {width}x{height}, {width * height:,} pixels; "
                        f"the limit is {max_pixels:,} (--max-pixels)"
                    )
                yield image
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except Image.DecompressionBombError as error:
        raise InputError(f"{path} is too large for Pillow ({error})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise InputError(f"cannot read {path} as an image ({error})") from None
    except MemoryError:
        raise InputError(f"{path} does not fit in memory") from None


def image_size(path: str | Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(height, width) of an image file from its header alone, after the checks of :func:`read_image`."""
    with _opened(Path(path), max_pixels) as image:
        return image.height, image.width


GREY_MODES = ("1", "L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
"""Pillow modes of one-channel images (bilevel, 8-bit, 16- and 32-bit integer, float)."""


def read_image(
    path: str | Path,
    max_pixels: int = MAX_PIXELS,
    content: bytes | None = None,
    transparency: str = "white",
    keep_grey: bool = False,
) -> np.ndarray:
    """Reads one image file as an (H, W, 3) uint8 array, or (H, W) for a grey one when keep_grey.

    Args:
        path: an image file Pillow can read (named in errors).
        max_pixels: refuse images with more pixels than this before decoding
            them (Pillow's own decompression-bomb limit, 179 MP, applies too).
        content: the file's bytes, when they have been read already; path is then only its name.
        transparency: what becomes of pixels that are not fully opaque: "white", composited over white
            (data sets, whose images are pictures to learn from); "refuse", a one-line error (the codec,
            whose files hold no alpha channel and must not drop one silently).
        keep_grey: return a one-channel image (:data:`GREY_MODES`) as (H, W), so that the codec can say it is
            grey and it comes back grey; otherwise grey is repeated into R, G and B.

    Raises:
        AelibError: the file is missing, empty, not an image, corrupt, or too large; or transparent,
            when transparency is "refuse".
    """
    if transparency not in ("white", "refuse"):
        raise InputError(f"transparency must be 'white' or 'refuse', got {transparency!r}")
    with _opened(Path(path), max_pixels, content) as image:
        image.load()
        if transparency == "refuse" and has_transparency(image):
            raise InputError(
                f"{path} has transparent pixels, and .aec files hold no alpha channel; "
                "flatten it onto a background first (e.g. convert in.png -background white -flatten out.png)"
            )
        grey = keep_grey and image.mode in GREY_MODES
        pixels = to_rgb_uint8(image)
        return np.ascontiguousarray(pixels[..., 0]) if grey else pixels


def list_images(folder: str | Path) -> list[Path]:
    """All image files below folder, recursively, in sorted order.

    Raises:
        AelibError: the folder does not exist, is not a folder, or holds no images.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {folder}")
    return paths


def load_folder(
    folder: str | Path, size: int = IMAGE_SIZE, use_cache: bool = True
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Loads every readable image below folder as an (N, size, size, 3) uint8 array.

    Unreadable or corrupt files are skipped, counted and named in one warning.

    Args:
        folder: any folder of images, searched recursively.
        size: side of the square output images.
        use_cache: read and write the processed array under ``cache_dir()``.

    Returns:
        The images and, for each, its path relative to folder.

    Raises:
        AelibError: the folder is missing or empty, or no file in it is readable.
    """
    folder = Path(folder)
    paths = list_images(folder)
    cache_file = _cache_path(folder, paths, size)
    if use_cache and cache_file.exists():
        with np.load(cache_file) as cached:
            return cached["images"], tuple(str(n) for n in cached["names"])

    images, names = _read_all(folder, paths, lambda pixels: center_crop_resize(pixels, size))
    array = np.stack(images)
    if use_cache:
        with atomic_output(cache_file) as temporary:
            np.savez(temporary, images=array, names=np.array(names))
    return array, tuple(names)


def _read_all(folder: Path, paths: list[Path], prepare) -> tuple[list[np.ndarray], list[str]]:
    """prepare(pixels) of every readable file of paths, with its path relative to folder; unreadable or corrupt
    files are skipped, counted and named in one warning.

    Raises:
        AelibError: no file is readable.
    """
    images, names, skipped = [], [], []
    for path in progress_bar(paths, len(paths), f"reading {folder.name or folder}", "img"):
        try:
            images.append(prepare(read_image(path)))
            names.append(str(path.relative_to(folder)))
        except AelibError:
            skipped.append(str(path.relative_to(folder)))
    if skipped:
        shown = ", ".join(skipped[:10]) + (" …" if len(skipped) > 10 else "")
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {folder}: {shown}", stacklevel=3)
    if not images:
        raise InputError(f"none of the {len(paths)} image files in {folder} could be read")
    return images, names


def load_photos(folder: str | Path, multiple: int = 64) -> tuple[np.ndarray, tuple[str, ...]]:
    """Every readable image below folder at its own resolution, as one (N, H, W, 3) uint8 array.

    Portrait images are transposed to landscape, and every image is centre-cropped to the largest height and
    width, multiples of multiple, that all of them have (481×321 BSDS500 photos: 448×320), so that random crops
    of any of them can be batched and the codec's transforms, which halve the sides six times, fit exactly.
    Unreadable or corrupt files are skipped, counted and named in one warning.

    Raises:
        AelibError: no file is readable, or the smallest image is below multiple on a side.
    """
    folder = Path(folder)

    def landscape(pixels: np.ndarray) -> np.ndarray:
        return pixels if pixels.shape[1] >= pixels.shape[0] else pixels.transpose(1, 0, 2)

    images, names = _read_all(folder, list_images(folder), landscape)
    height = min(image.shape[0] for image in images) // multiple * multiple
    width = min(image.shape[1] for image in images) // multiple * multiple
    if height == 0 or width == 0:
        raise InputError(f"the smallest image in {folder} is below {multiple} pixels on a side")
    cropped = [
        image[(image.shape[0] - height) // 2 :][:height, (image.shape[1] - width) // 2 :][:, :width] for image in images
    ]
    return np.stack(cropped), tuple(names)


def load_photo_splits(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The train/ and val/ folders of a photo set split by its makers (BSDS500's), by :func:`load_photos`.

    Raises:
        AelibError: folder has no train/ or val/ folder, or they hold no readable images.
    """
    folder = Path(folder)
    for split in ("train", "val"):
        if not (folder / split).is_dir():
            raise InputError(
                f"{folder} has no {split}/ folder: --preset photos trains on a set split into train/ and val/"
            )
    return load_photos(folder / "train")[0], load_photos(folder / "val")[0]


def embedded_photos() -> dict[str, np.ndarray]:
    """The photos that installed wheels ship, so everything runs with no data at all.

    scikit-image's astronaut, coffee, chelsea, rocket, motorcycle (left view),
    Hubble deep field and retina; scikit-learn's china and flower; matplotlib's
    Grace Hopper. Two of them are faces.
    """
    import matplotlib.cbook
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = {
        name: getattr(skimage.data, name)()
        for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")
    }
    photos["motorcycle_left"] = skimage.data.stereo_motorcycle()[0]
    sample = load_sample_images()
    for filename, pixels in zip(sample.filenames, sample.images):
        photos[Path(filename).stem] = pixels
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        photos["grace_hopper"] = to_rgb_uint8(image)
    return photos


EMBEDDED_TEST_PHOTOS = ("immunohistochemistry", "colorwheel", "camera", "coins", "moon", "grass", "gravel", "brick")
"""scikit-image's images that make the embedded second test set; none is among :func:`embedded_photos`."""


def embedded_test_photos() -> dict[str, np.ndarray]:
    """The embedded default's second test set: 8 images shipped inside scikit-image, at their own size.

    A stained tissue slide (512x512) and a synthetic colour wheel (370x371) in colour; the cameraman,
    coins, the moon and grass, gravel and brick textures in grey (as RGB). None of them is a source of
    the embedded training crops, so, like Kodak for the face study, they show how the models do on
    pictures they never saw, at sizes other than 128x128.
    """
    import skimage.data

    return {name: to_rgb_uint8(Image.fromarray(getattr(skimage.data, name)())) for name in EMBEDDED_TEST_PHOTOS}


@dataclass(frozen=True)
class EvaluationSet:
    """Images evaluated at their own size besides the held-out split.

    Attributes:
        name: the set's name in file names ("kodak", "embedded").
        images: RGB uint8 arrays, each of its own size.
        names: one name per image.
        description: what the set is, in words, for tables and figures.
    """

    name: str
    images: list[np.ndarray]
    names: tuple[str, ...]
    description: str


def test_set_name(source: str | Path) -> str:
    """The name of a second test set in file names: "embedded", or the folder's name in lower case."""
    if str(source) == EMBEDDED_TEST_SET:
        return EMBEDDED_TEST_SET
    return Path(source).resolve().name.lower().replace(" ", "_")


def describe_test_set(source: str | Path) -> str:
    """A second test set in words, for tables and READMEs."""
    if str(source) == EMBEDDED_TEST_SET:
        names = ", ".join(EMBEDDED_TEST_PHOTOS)
        return f"{len(EMBEDDED_TEST_PHOTOS)} images shipped with scikit-image ({names}), each at its own size"
    return f"{source}, each image at its own size"


def load_test_set(source: str | Path) -> EvaluationSet:
    """A second test set: a folder of images (searched recursively), or :data:`EMBEDDED_TEST_SET`.

    Raises:
        AelibError: the folder is missing or holds no image.
    """
    if str(source) == EMBEDDED_TEST_SET:
        photos = embedded_test_photos()
        return EvaluationSet(EMBEDDED_TEST_SET, list(photos.values()), tuple(photos), describe_test_set(source))
    folder = Path(source)
    paths = list_images(folder)
    return EvaluationSet(
        test_set_name(folder),
        [read_image(path) for path in paths],
        tuple(str(path.relative_to(folder)) for path in paths),
        f"{folder.name} ({len(paths)} images at their own size)",
    )


def embedded_crops(
    size: int = IMAGE_SIZE, crops_per_photo: int = EMBEDDED_CROPS_PER_PHOTO, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The embedded default data set: a fixed set of random square crops of :func:`embedded_photos`.

    Each crop has a random side between size and the photo's shorter side and
    a random position, and is resized to size x size, so the set mixes close-ups
    and wide views. The same seed gives the same crops on any machine.

    Returns:
        The crops as an (N, size, size, 3) uint8 array and a name for each.
    """
    rng = np.random.default_rng(seed)
    crops, names = [], []
    for photo_name, pixels in sorted(embedded_photos().items()):
        height, width = pixels.shape[:2]
        for index in range(crops_per_photo):
            side = int(rng.integers(size, min(height, width) + 1))
            top = int(rng.integers(0, height - side + 1))
            left = int(rng.integers(0, width - side + 1))
            crops.append(center_crop_resize(pixels[top : top + side, left : left + side], size))
            names.append(f"{photo_name}#{index:03d}")
    return np.stack(crops), tuple(names)


def describe_source(source: str | Path | None) -> str:
    """What a data source is, in words, for labelling every output made from it: its name and where it lies
    (from the checkout's root, as the README's commands name it, when it lies beside the checkout)."""
    if source is None:
        return "embedded default (crops of the photos shipped with scikit-image, scikit-learn, matplotlib)"
    return f"{Path(source).resolve().name} ({portable_path(source, project_root())})"


def split_indices(count: int, fractions: tuple[float, float, float] = DEFAULT_SPLIT, seed: int = DEFAULT_SEED):
    """Deterministic train/validation/test index arrays for count items.

    Every split gets at least one item when count >= 3.
    """
    if count < 3:
        raise InputError(f"need at least 3 images to split into train/validation/test, got {count}")
    order = np.random.default_rng(seed).permutation(count)
    n_val = max(1, int(round(fractions[1] * count)))
    n_test = max(1, int(round(fractions[2] * count)))
    n_train = count - n_val - n_test
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def load_dataset(
    source: str | Path | None = None,
    size: int = IMAGE_SIZE,
    seed: int = DEFAULT_SEED,
    fractions: tuple[float, float, float] = DEFAULT_SPLIT,
    limit: int | None = None,
) -> Dataset:
    """Loads and splits a data set: a folder of images, or the embedded default when source is None.

    Args:
        source: folder of images (searched recursively), or None for the embedded default.
        size: side of the square images.
        seed: seed of the split (and of the embedded crops).
        fractions: train, validation and test fractions.
        limit: keep only this many images (a fixed random subset), for quick runs.
    """
    if source is None:
        images, names = embedded_crops(size=size, seed=seed)
        name = "embedded"
    else:
        images, names = load_folder(source, size=size)
        name = str(source)
    if limit is not None and limit < len(images):
        keep = np.sort(np.random.default_rng(seed + 1).permutation(len(images))[:limit])
        images, names = images[keep], tuple(names[i] for i in keep)
    train, val, test = split_indices(len(images), fractions, seed)
    return Dataset(
        name=name,
        train=images[train],
        val=images[val],
        test=images[test],
        test_names=tuple(names[i] for i in test),
    )


def _cache_path(folder: Path, paths: list[Path], size: int) -> Path:
    """A cache file named by a hash of the source files (path, size, mtime) and the parameters."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": _CACHE_FORMAT, "size": size, "root": str(folder.resolve())}).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return cache_dir() / f"{folder.resolve().name or 'root'}-{size}px-{digest.hexdigest()[:16]}.npz"
