import numpy as np
import pytest
from conftest import shared_folder
from PIL import Image

from aelib.data import (
    center_crop_resize,
    embedded_crops,
    list_images,
    load_dataset,
    load_folder,
    read_image,
    split_indices,
)
from aelib.errors import AelibError


@pytest.fixture
def mixed_folder(tmp_path, photos):
    """One file of each awkward kind, some in a subfolder."""
    (tmp_path / "sub").mkdir()
    Image.fromarray(photos[0]).convert("L").save(tmp_path / "gray.png")
    rgba = np.dstack([photos[1], np.full(photos[1].shape[:2], 255, np.uint8)])
    rgba[:8, :8, 3] = 0  # a transparent corner composites to white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "sub" / "rgba.png")
    sixteen = photos[2][..., 0].astype(np.uint16) * 257
    Image.fromarray(sixteen).save(tmp_path / "sub" / "deep.png")
    Image.fromarray(photos[3]).save(tmp_path / "wide.jpg", quality=95)
    Image.fromarray(photos[0]).quantize(16).save(tmp_path / "palette.bmp")
    Image.fromarray(photos[0]).save(tmp_path / "photo.webp")
    whole = tmp_path / "whole.jpg"
    Image.fromarray(photos[1]).save(whole, quality=90)
    (tmp_path / "truncated.jpg").write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    (tmp_path / "notes.png").write_text("this is not an image")
    (tmp_path / "readme.txt").write_text("ignored: not an image extension")
    return tmp_path


def test_any_mode_becomes_rgb_uint8(mixed_folder, photos):
    gray = read_image(mixed_folder / "gray.png")
    assert gray.shape == (64, 64, 3) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    rgba = read_image(mixed_folder / "sub" / "rgba.png")
    assert rgba.shape == (64, 64, 3)
    assert (rgba[:8, :8] == 255).all()
    np.testing.assert_array_equal(rgba[8:, 8:], photos[1][8:, 8:])
    deep = read_image(mixed_folder / "sub" / "deep.png")
    np.testing.assert_array_equal(deep[..., 1], photos[2][..., 0])  # 16-bit scaled back to 8 bits exactly
    assert read_image(mixed_folder / "palette.bmp").shape == (64, 64, 3)


@pytest.mark.parametrize("name", ["truncated.jpg", "notes.png"])
def test_bad_files_raise_one_clear_error(mixed_folder, name):
    with pytest.raises(AelibError, match="cannot read"):
        read_image(mixed_folder / name)


def test_folder_loader_skips_and_names_bad_files(mixed_folder):
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable file\(s\).*notes.png.*truncated.jpg"):
        images, names = load_folder(mixed_folder, size=32)
    assert images.shape == (7, 32, 32, 3) and images.dtype == np.uint8
    assert "sub/rgba.png" in names and "readme.txt" not in names
    again, _ = load_folder(mixed_folder, size=32)  # second read comes from the cache
    np.testing.assert_array_equal(images, again)


def test_empty_and_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(AelibError, match=f"no images .* found in {tmp_path}"):
        list_images(tmp_path)
    with pytest.raises(AelibError, match="image folder not found: .*missing"):
        load_folder(tmp_path / "missing")


def test_center_crop_resize_takes_the_middle_square():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = 200
    out = center_crop_resize(image, size=40)
    assert out.shape == (40, 40, 3)
    assert (out == 200).all()


def test_split_is_deterministic_disjoint_and_complete():
    train, val, test = split_indices(100, (0.8, 0.1, 0.1), seed=7)
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    assert sorted(np.concatenate([train, val, test])) == list(range(100))
    np.testing.assert_array_equal(train, split_indices(100, (0.8, 0.1, 0.1), seed=7)[0])
    assert not np.array_equal(train, split_indices(100, (0.8, 0.1, 0.1), seed=8)[0])


def test_embedded_default_is_fixed_and_real():
    images, names = embedded_crops(size=32, crops_per_photo=3, seed=1)
    again, _ = embedded_crops(size=32, crops_per_photo=3, seed=1)
    assert images.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(images, again)
    assert any(n.startswith("astronaut#") for n in names) and any(n.startswith("grace_hopper#") for n in names)
    assert images.std() > 30  # photos, not flat fills


def test_embedded_dataset_splits():
    dataset = load_dataset(None, size=32, limit=50)
    assert dataset.name == "embedded"
    assert len(dataset.train) + len(dataset.val) + len(dataset.test) == 50
    assert len(dataset.test_names) == len(dataset.test)


def test_reads_the_shared_face_and_kodak_images():
    faces = sorted(shared_folder("utkface").glob("*.jpg"))[:5]
    for path in faces:
        assert read_image(path).shape == (200, 200, 3)
    kodak = read_image(shared_folder("kodak") / "kodim01.png")
    assert kodak.shape in ((512, 768, 3), (768, 512, 3))
    assert center_crop_resize(kodak).shape == (128, 128, 3)


def test_the_embedded_second_test_set_ships_with_scikit_image_and_is_held_out():
    import skimage.data

    from aelib.config import EMBEDDED_TEST_SET
    from aelib.data import EMBEDDED_TEST_PHOTOS, embedded_photos, load_test_set

    second = load_test_set(EMBEDDED_TEST_SET)
    assert second.name == EMBEDDED_TEST_SET and second.names == EMBEDDED_TEST_PHOTOS
    assert all(image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 for image in second.images)
    camera = second.images[second.names.index("camera")]
    np.testing.assert_array_equal(camera[..., 0], skimage.data.camera())  # grey becomes three equal channels
    assert camera.shape == (512, 512, 3)
    training_sources = embedded_photos()
    for image in second.images:
        assert not any(
            image.shape == source.shape and np.array_equal(image, source) for source in training_sources.values()
        )


def test_a_folder_test_set_keeps_its_layout_and_sizes(tmp_path, photos):
    from aelib.data import load_test_set

    (tmp_path / "My Set" / "inner").mkdir(parents=True)
    Image.fromarray(photos[0]).save(tmp_path / "My Set" / "a.png")
    Image.fromarray(photos[1][:40]).save(tmp_path / "My Set" / "inner" / "b.png")
    second = load_test_set(tmp_path / "My Set")
    assert second.name == "my_set"
    assert second.names == ("a.png", "inner/b.png") and second.images[1].shape == (40, 64, 3)


def test_the_codec_refuses_transparent_pixels_in_one_line_but_takes_an_opaque_alpha_channel(tmp_path):
    from aelib.data import read_image
    from aelib.errors import AelibError

    rgba = np.full((16, 16, 4), 200, np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert np.array_equal(read_image(tmp_path / "opaque.png", transparency="refuse"), rgba[..., :3])
    rgba[0, 0, 3] = 254  # one pixel, barely see-through
    Image.fromarray(rgba, "RGBA").save(tmp_path / "glass.png")
    with pytest.raises(AelibError, match="glass.png has transparent pixels.*no alpha channel"):
        read_image(tmp_path / "glass.png", transparency="refuse")
    assert read_image(tmp_path / "glass.png").shape == (16, 16, 3)  # data sets composite over white
    grey_alpha = Image.fromarray(np.zeros((8, 8, 2), np.uint8), "LA")
    grey_alpha.save(tmp_path / "la.png")
    with pytest.raises(AelibError, match="transparent"):
        read_image(tmp_path / "la.png", transparency="refuse")


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_a_grey_image_can_be_read_as_one_channel(tmp_path, mode):
    from aelib.data import read_image

    values = np.arange(64, dtype=np.uint16).reshape(8, 8) * (1 if mode == "L" else 257)
    Image.fromarray(values.astype(np.uint8) if mode == "L" else values).save(tmp_path / "grey.png")  # uint16: I;16
    kept = read_image(tmp_path / "grey.png", keep_grey=True)
    assert kept.shape == (8, 8) and np.array_equal(kept, np.arange(64, dtype=np.uint8).reshape(8, 8))
    assert read_image(tmp_path / "grey.png").shape == (8, 8, 3)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "black.png")
    assert read_image(tmp_path / "black.png", keep_grey=True).shape == (8, 8, 3)  # RGB stays RGB, even if grey-looking


def test_photos_keep_their_resolution_turned_landscape_and_cropped_to_a_common_shape(tmp_path):
    from aelib.data import load_photo_splits, load_photos

    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (150, 200, 3), np.uint8)
    tall = rng.integers(0, 256, (210, 140, 3), np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    Image.fromarray(tall).save(tmp_path / "tall.png")
    (tmp_path / "broken.png").write_text("not an image")
    images, names = load_photos(tmp_path, multiple=64)
    assert names == ("tall.png", "wide.png") and images.shape == (2, 128, 192, 3)
    # the smallest sides, landscape: 140 x 200 (tall turned) and 150 x 200 → 128 x 192, each cut from its middle
    np.testing.assert_array_equal(images[1], wide[11:139, 4:196])
    np.testing.assert_array_equal(images[0], tall.transpose(1, 0, 2)[6:134, 9:201])
    with pytest.raises(AelibError, match="has no train/ folder"):
        load_photo_splits(tmp_path)
    with pytest.raises(AelibError, match="below 256 pixels"):
        load_photos(tmp_path, multiple=256)


def test_the_shared_bsds500_photos_load_as_448_by_320():
    from aelib.data import load_photo_splits

    train, val = load_photo_splits(shared_folder("bsds500"))
    assert train.shape == (200, 320, 448, 3) and val.shape == (100, 320, 448, 3)
