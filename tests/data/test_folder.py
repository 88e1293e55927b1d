from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from al_loop.core.errors import DataError
from al_loop.data import IGNORE, load_folder, make_synthetic, read_classes, write_folder


def write_image(root: Path, name: str, hw=(8, 10), bgr=(0, 0, 255)) -> Path:
    path = root / "images" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*hw, 3), bgr, dtype=np.uint8))
    return path


def write_mask(root: Path, name: str, mask: np.ndarray) -> Path:
    path = root / "masks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask)
    return path


def write_classes_yaml(root: Path, text: str = "- background\n- thing\n- other\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "classes.yaml"
    path.write_text(text)
    return path


def ids(hw=(8, 10), value=1) -> np.ndarray:
    mask = np.zeros(hw, dtype=np.uint8)
    mask[2:5, 3:7] = value
    return mask


# --- reading -------------------------------------------------------------------------------------


def test_reads_images_as_rgb_and_masks_as_ids(tmp_path):
    write_image(tmp_path, "a.png", bgr=(0, 0, 255))  # pure red in OpenCV's BGR order
    write_mask(tmp_path, "a.png", ids())
    data = load_folder(tmp_path)
    assert data.names == ["a"]
    assert data.images.shape == (1, 8, 10, 3)
    assert tuple(data.images[0, 0, 0]) == (255, 0, 0)
    np.testing.assert_array_equal(data.masks[0], ids())
    assert data.meta["has_mask"].tolist() == [True]
    assert data.meta["native_hw"].tolist() == [[8, 10]]


def test_without_classes_yaml_classes_come_from_the_largest_id(tmp_path):
    write_image(tmp_path, "a.png")
    write_image(tmp_path, "b.jpg")
    write_mask(tmp_path, "a.png", ids(value=2))
    mask_b = ids(value=1)
    mask_b[0, 0] = IGNORE  # ignore does not count as a class
    write_mask(tmp_path, "b.png", mask_b)
    data = load_folder(tmp_path)
    assert [c.name for c in data.classes] == ["class0", "class1", "class2"]
    assert data.names == ["a", "b"]


def test_classes_yaml_list_and_mapping_forms(tmp_path):
    listed = write_classes_yaml(
        tmp_path / "list", "- {name: bg, color: [1, 2, 3]}\n- {name: cat}\n- dog\n"
    )
    mapped = write_classes_yaml(tmp_path / "map", "1: cat\n0: {name: bg, color: [1, 2, 3]}\n")
    classes = read_classes(listed)
    assert [c.name for c in classes] == ["bg", "cat", "dog"]
    assert classes[0].color == (1, 2, 3)
    assert len({c.color for c in classes}) == 3  # palette fills missing colours, distinct
    assert [c.name for c in read_classes(mapped)] == ["bg", "cat"]


@pytest.mark.parametrize(
    "text",
    ["- bg\n- bg\n", "0: bg\n2: cat\n", "- {name: bg, colour: [1, 2, 3]}\n", "{]", "[]"],
)
def test_bad_classes_yaml_names_the_file(tmp_path, text):
    path = write_classes_yaml(tmp_path, text)
    with pytest.raises(DataError, match="classes.yaml"):
        read_classes(path)


def test_grayscale_alpha_and_16_bit_images_become_rgb_uint8(tmp_path):
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images/gray.png"), np.full((8, 10), 100, np.uint8))
    cv2.imwrite(str(tmp_path / "images/rgba.png"), np.full((8, 10, 4), (0, 255, 0, 7), np.uint8))
    cv2.imwrite(str(tmp_path / "images/deep.png"), np.full((8, 10, 3), 65535, np.uint16))
    write_classes_yaml(tmp_path)
    data = load_folder(tmp_path)
    assert data.names == ["deep", "gray", "rgba"]
    assert data.images.dtype == np.uint8
    assert tuple(data.images[0, 0, 0]) == (255, 255, 255)
    assert tuple(data.images[1, 0, 0]) == (100, 100, 100)
    assert tuple(data.images[2, 0, 0]) == (0, 255, 0)


def test_palette_and_grey_as_rgb_masks_read_as_ids(tmp_path):
    write_image(tmp_path, "a.png")
    write_image(tmp_path, "b.png")
    (tmp_path / "masks").mkdir()
    palette = Image.fromarray(ids(value=2), mode="P")
    palette.putpalette([0, 0, 0, 10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 9))
    palette.save(tmp_path / "masks/a.png")  # VOC style: cv2 would expand it to colours
    cv2.imwrite(str(tmp_path / "masks/b.png"), np.repeat(ids(value=1)[..., None], 3, axis=2))
    data = load_folder(tmp_path)
    np.testing.assert_array_equal(data.masks[0], ids(value=2))
    np.testing.assert_array_equal(data.masks[1], ids(value=1))


def test_resizing_keeps_mask_ids_and_images_of_any_size(tmp_path):
    write_image(tmp_path, "big.png", hw=(40, 60))
    write_image(tmp_path, "small.png", hw=(10, 12))
    mask = np.zeros((40, 60), np.uint8)
    mask[:, 30:] = 2
    mask[:5] = IGNORE
    write_mask(tmp_path, "big.png", mask)
    write_classes_yaml(tmp_path)
    data = load_folder(tmp_path, hw=(16, 24))
    assert data.images.shape == (2, 16, 24, 3)
    assert set(np.unique(data.masks[0])) == {0, 2, IGNORE}
    assert data.meta["native_hw"].tolist() == [[40, 60], [10, 12]]


def test_images_without_masks_form_a_pool(tmp_path):
    write_image(tmp_path, "a.png")
    write_image(tmp_path, "b.png")
    write_classes_yaml(tmp_path)
    assert load_folder(tmp_path).masks is None
    write_mask(tmp_path, "b.png", ids())
    data = load_folder(tmp_path)
    assert data.meta["has_mask"].tolist() == [False, True]
    assert (data.masks[0] == IGNORE).all()
    np.testing.assert_array_equal(data.masks[1], ids())


def test_hidden_and_non_image_files_are_skipped(tmp_path):
    write_image(tmp_path, "a.png")
    (tmp_path / "images/.DS_Store").write_bytes(b"junk")
    (tmp_path / "images/README.txt").write_text("notes")
    write_classes_yaml(tmp_path)
    assert load_folder(tmp_path).names == ["a"]


# --- one-line errors that name the file ----------------------------------------------------------


def test_missing_images_folder(tmp_path):
    with pytest.raises(DataError, match=r"images.*missing images folder"):
        load_folder(tmp_path)


def test_empty_pool(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match=r"images: no images"):
        load_folder(tmp_path)


def test_corrupt_image(tmp_path):
    write_image(tmp_path, "a.png")
    (tmp_path / "images/broken.jpg").write_bytes(b"not a jpeg at all")
    write_classes_yaml(tmp_path)
    with pytest.raises(DataError, match=r"broken\.jpg: unreadable or corrupt image"):
        load_folder(tmp_path)


def test_missing_mask_when_required(tmp_path):
    write_image(tmp_path, "a.png")
    write_image(tmp_path, "b.png")
    write_mask(tmp_path, "a.png", ids())
    with pytest.raises(DataError, match=r"b\.png: no mask"):
        load_folder(tmp_path, require_masks=True)


def test_mask_size_differs_from_image(tmp_path):
    write_image(tmp_path, "a.png", hw=(8, 10))
    write_mask(tmp_path, "a.png", ids(hw=(10, 8)))
    with pytest.raises(DataError, match=r"masks.a\.png: size 10x8 differs from its image 8x10"):
        load_folder(tmp_path, hw=(8, 8))  # checked at native size, before any resize


def test_colour_mask(tmp_path):
    write_image(tmp_path, "a.png")
    colour = np.zeros((8, 10, 3), np.uint8)
    colour[2:5, 3:7] = (0, 0, 128)
    write_mask(tmp_path, "a.png", colour)
    with pytest.raises(DataError, match=r"masks.a\.png: mask has 3 colour channels"):
        load_folder(tmp_path)


def test_unknown_class_id(tmp_path):
    write_image(tmp_path, "a.png")
    write_mask(tmp_path, "a.png", ids(value=7))
    write_classes_yaml(tmp_path)
    with pytest.raises(DataError, match=r"masks.a\.png: unknown class id 7 \(3 classes"):
        load_folder(tmp_path)


def test_mask_without_image(tmp_path):
    write_image(tmp_path, "a.png")
    write_mask(tmp_path, "a.png", ids())
    write_mask(tmp_path, "orphan.png", ids())
    with pytest.raises(DataError, match=r"orphan\.png: mask without an image"):
        load_folder(tmp_path)


def test_non_png_mask(tmp_path):
    write_image(tmp_path, "a.png")
    write_mask(tmp_path, "a.jpg", ids())
    with pytest.raises(DataError, match=r"a\.jpg: masks must be PNG"):
        load_folder(tmp_path)


def test_duplicate_image_names(tmp_path):
    write_image(tmp_path, "a.png")
    write_image(tmp_path, "a.jpg")
    with pytest.raises(DataError, match=r"a\.png: same name as .*a\.jpg"):
        load_folder(tmp_path)


def test_sizes_differ_without_hw(tmp_path):
    write_image(tmp_path, "a.png", hw=(8, 10))
    write_image(tmp_path, "b.png", hw=(9, 10))
    write_classes_yaml(tmp_path)
    with pytest.raises(DataError, match=r"b\.png: size 9x10 differs from 8x10 of .*a\.png"):
        load_folder(tmp_path)


def test_pool_without_masks_needs_classes_yaml(tmp_path):
    write_image(tmp_path, "a.png")
    with pytest.raises(DataError, match=r"classes\.yaml: missing"):
        load_folder(tmp_path)


# --- writing -------------------------------------------------------------------------------------


def test_write_then_load_round_trips(tmp_path):
    data = make_synthetic(3, hw=(32, 32), seed=5)
    write_folder(data, tmp_path / "export")
    again = load_folder(tmp_path / "export", require_masks=True)
    assert again.names == data.names
    assert again.classes == data.classes
    np.testing.assert_array_equal(again.images, data.images)  # PNG is lossless
    np.testing.assert_array_equal(again.masks, data.masks)


def test_write_keeps_partial_masks_partial(tmp_path):
    data = make_synthetic(2, hw=(16, 16))
    data.meta["has_mask"] = np.array([True, False])
    write_folder(data, tmp_path)
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["synth_00000.png"]
    assert load_folder(tmp_path).meta["has_mask"].tolist() == [True, False]


def test_write_refuses_a_folder_with_images(tmp_path):
    write_image(tmp_path, "old.png")
    with pytest.raises(DataError, match=r"images: not empty"):
        write_folder(make_synthetic(1, hw=(16, 16)), tmp_path)
