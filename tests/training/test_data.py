"""Dataset loaders on tiny files written in each dataset's real on-disk format, and the augmentations:
documented shapes, value ranges, per-sample draws, determinism."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from training.augment import (
    AUGMENTATIONS,
    augmentation_for,
    cpu_transform,
    random_crop_flip,
    random_resized_crop,
)
from training.data import DataBundle, StreamBundle, load_dataset
from training.data.torchvision_sets import CIFAR10_STATS
from training.fast import LoaderFeed, TensorFeed

torch.set_num_threads(1)


def write_cifar(root, n_per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        images[name] = (data, labels)
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, "labels": labels}, fh)
    return images


def test_cifar10_reads_the_pickle_format_as_uint8_nchw(tmp_path):
    images = write_cifar(tmp_path)
    b = load_dataset("cifar10", tmp_path)
    assert isinstance(b, DataBundle) and b.num_classes == 10 and b.augment == "cifar"
    assert b.x_train.shape == (20, 3, 32, 32) and b.x_train.dtype == torch.uint8 and b.x_test.shape == (4, 3, 32, 32)
    data, labels = images["data_batch_2"]
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values, each row-major 32×32
    assert int(b.x_train[4, 1, 2, 3]) == int(data[0, 1024 + 2 * 32 + 3])
    assert b.y_train[4:8].tolist() == labels
    x, y = b.inputs("test")
    mean, std = CIFAR10_STATS
    expected = (torch.from_numpy(images["test_batch"][0][0, :1024].reshape(32, 32)).float() / 255 - mean[0]) / std[0]
    torch.testing.assert_close(x[0, 0], expected)


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 6), ("test", 3)):
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": np.zeros((n, 3072), np.uint8), "fine_labels": list(range(90, 90 + n)),
                         "coarse_labels": [0] * n}, fh)
    b = load_dataset("cifar100", tmp_path)
    assert b.num_classes == 100 and b.y_train.tolist() == [90, 91, 92, 93, 94, 95]


def test_svhn_reads_mat_files_and_maps_label_10_to_0(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "svhn"
    folder.mkdir()
    x = np.arange(32 * 32 * 3 * 2, dtype=np.uint32).reshape(32, 32, 3, 2).astype(np.uint8)
    for split in ("train", "test"):
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": np.array([[10], [3]], np.uint8)})
    b = load_dataset("svhn", tmp_path)
    assert b.x_train.shape == (2, 3, 32, 32) and b.y_train.tolist() == [0, 3]
    assert int(b.x_train[1, 2, 5, 7]) == int(x[5, 7, 2, 1])
    assert b.augment == "crop"  # no flip for digits


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn"])
def test_missing_files_without_network_name_the_folder(tmp_path, monkeypatch, name):
    monkeypatch.setenv("THERMOSCOPE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as err:
        load_dataset(name, tmp_path / "nothing")
    assert str(tmp_path / "nothing") in str(err.value) and "put" in str(err.value)
    assert "\n" not in str(err.value)


def write_folder(root, side, classes=("ant", "bee", "cat"), train=4, test=2, test_name="test", seed=0):
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), (test_name, test)):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def test_small_image_folder_becomes_an_in_memory_bundle(tmp_path):
    write_folder(tmp_path, 8, test_name="val")
    b = load_dataset(f"folder:{tmp_path}", tmp_path)
    assert isinstance(b, DataBundle) and b.num_classes == 3 and b.x_train.shape == (12, 3, 8, 8)
    assert b.x_train.dtype == torch.uint8 and sorted(set(b.y_test.tolist())) == [0, 1, 2]
    x, _ = b.inputs("train")
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)  # its own statistics


def test_large_image_folder_streams_with_imagenet_transforms(tmp_path):
    write_folder(tmp_path, 80)
    b = load_dataset(f"folder:{tmp_path}", tmp_path)
    assert isinstance(b, StreamBundle) and b.input_shape == (3, 224, 224)
    feed = LoaderFeed(b, augmentation_for("resnet18", b), torch.device("cpu"), workers=0)
    batches = list(feed.train_batches(epoch=1, seed=3, batch_size=5))
    assert [len(y) for _, y, _ in batches] == [5, 5, 2] and batches[0][0].shape == (5, 3, 224, 224)
    again = list(feed.train_batches(epoch=1, seed=3, batch_size=5))
    torch.testing.assert_close(batches[0][0], again[0][0])  # seeded by (seed, epoch)
    other = next(iter(feed.train_batches(epoch=2, seed=3, batch_size=5)))
    assert not torch.equal(other[0], batches[0][0])
    x_test, y_test = next(iter(feed.test_batches(4)))
    assert x_test.shape == (4, 3, 224, 224)
    # two ranks of the same global batch hold its two halves
    halves = [next(iter(feed.train_batches(1, 3, 6, rank=r, world=2)))[1] for r in range(2)]
    full = next(iter(feed.train_batches(1, 3, 6)))[1]
    assert torch.cat(halves).tolist() == full.tolist()


def test_folder_errors_say_what_to_do(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="test/<class>"):
        load_dataset(f"folder:{tmp_path}", tmp_path)
    with pytest.raises(FileNotFoundError, match="put its class folders in"):
        load_dataset("imagenet100", tmp_path)
    write_folder(tmp_path / "imagenet100", 80, classes=("n1", "n2"), train=1, test=1)
    with pytest.raises(RuntimeError, match="has 2 class folders, imagenet100 has 100"):
        load_dataset("imagenet100", tmp_path)


def test_imagenet_folder_loads_with_the_class_count(tmp_path):
    # imagenet100's layout with 100 class folders of one tiny image each
    write_folder(tmp_path / "imagenet100", 72, classes=tuple(f"n{i:03d}" for i in range(100)), train=1, test=1,
                 test_name="val")
    b = load_dataset("imagenet100", tmp_path)
    assert isinstance(b, StreamBundle) and b.num_classes == 100
    x, y = b.inputs("test", limit=10)
    assert x.shape == (10, 3, 224, 224) and len(set(y.tolist())) == 10  # evenly spaced: every pick another class


# ---- augmentations -------------------------------------------------------------------------------------

def test_crop_flip_draws_per_sample_and_each_output_is_a_crop_of_the_padded_image():
    base = torch.arange(3 * 8 * 8, dtype=torch.int64).view(1, 3, 8, 8) % 251 + 1  # no zeros: padding shows
    x = base.repeat(16, 1, 1, 1).to(torch.uint8)
    out = random_crop_flip(x, 4, True, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert len({tuple(o.flatten().tolist()) for o in out}) > 8  # not one crop for the whole batch
    padded = torch.nn.functional.pad(x[:1], (4, 4, 4, 4))[0]
    candidates = [padded[:, i : i + 8, j : j + 8] for i in range(9) for j in range(9)]
    candidates += [c.flip(-1) for c in candidates]
    assert all(any(torch.equal(o, c) for c in candidates) for o in out)
    flipped = sum(any(torch.equal(o, c) for c in candidates[81:]) for o in out)
    assert 0 < flipped < len(out)  # some samples mirrored, some not


def test_crop_without_flip_never_mirrors():
    x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).repeat(32, 1, 1, 1)
    out = random_crop_flip(x, 0, False, torch.Generator().manual_seed(1))
    assert torch.equal(out, x)  # pad 0, no flip: the identity


def test_cifar_pipeline_shapes_ranges_and_determinism():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    b = DataBundle("t", x, torch.zeros(64, dtype=torch.long), x[:8], torch.zeros(8, dtype=torch.long), 10,
                   mean=CIFAR10_STATS[0], std=CIFAR10_STATS[1], augment="cifar")
    feed = TensorFeed(b, augmentation_for("resnet18", b), torch.device("cpu"))
    xb, yb, n = next(iter(feed.train_batches(epoch=1, seed=0, batch_size=32)))
    assert xb.shape == (32, 3, 32, 32) and xb.dtype == torch.float32 and n == 32
    lo = torch.tensor([(0 - m) / s for m, s in zip(*CIFAR10_STATS)]).view(1, 3, 1, 1)
    hi = torch.tensor([(1 - m) / s for m, s in zip(*CIFAR10_STATS)]).view(1, 3, 1, 1)
    assert (xb >= lo - 1e-5).all() and (xb <= hi + 1e-5).all()
    assert torch.isclose(xb, lo.expand_as(xb)).any()  # zero padding (black) appears
    again = next(iter(feed.train_batches(epoch=1, seed=0, batch_size=32)))[0]
    torch.testing.assert_close(xb, again)
    assert feed.eval_batch(8).shape == (8, 3, 32, 32)


def test_vit_pipeline_is_224_with_half_normalisation():
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    b = DataBundle("t", x, torch.zeros(6, dtype=torch.long), x, torch.zeros(6, dtype=torch.long), 10,
                   mean=CIFAR10_STATS[0], std=CIFAR10_STATS[1], augment="cifar")
    aug = augmentation_for("vit_b16", b)
    assert aug.name == "vit" and aug.input_shape(b) == (3, 224, 224) and aug.stats(b) == ((0.5,) * 3, (0.5,) * 3)
    out = aug.train(x, *aug.stats(b), torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 224, 224) and out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5
    test = aug.test(x, *aug.stats(b))
    assert test.shape == (6, 3, 224, 224)
    # the analysis keeps stored-size inputs and lets the ViT resize them: the same 224-px input up to rounding
    stored = aug.test_stored(x, *aug.stats(b))
    assert stored.shape == (6, 3, 32, 32)
    resized = torch.nn.functional.interpolate(stored, size=(224, 224), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resized, test, atol=1e-6, rtol=0)
    from lab.jobs.pipeline import model_inputs
    from training.config import make_config

    xs, ys = model_inputs(b, "test", make_config(arch="vit_b16", dataset="cifar10", ood=()), b, 10_000)
    assert xs.shape == (6, 3, 32, 32) and torch.equal(xs, stored) and ys.shape == (6,)


def test_random_resized_crop_geometry():
    x = torch.rand(4, 3, 16, 16)
    whole = random_resized_crop(x, 16, (1.0, 1.0), (1.0, 1.0), flip=False)
    torch.testing.assert_close(whole, x, atol=1e-5, rtol=0)  # full-area square crop at the same size = identity
    crops = random_resized_crop(x[:1].repeat(8, 1, 1, 1), 16, (0.05, 1.0), gen=torch.Generator().manual_seed(0))
    assert len({round(float(c.sum()), 3) for c in crops}) == 8  # a different crop per sample


def test_timm_imagenet_transform_matches_the_appendix(tmp_path):
    import torchvision.transforms as T

    b = StreamBundle("i", tmp_path, tmp_path, ("a",))
    train = cpu_transform(b, "train")
    rrc = train.transforms[0]
    assert rrc.scale == (0.08, 1) and tuple(round(r, 4) for r in rrc.ratio) == (0.75, 1.3333)
    jitter = next(t for t in train.transforms if isinstance(t, T.ColorJitter))
    assert jitter.brightness == jitter.contrast == jitter.saturation == pytest.approx((0.6, 1.4)) and jitter.hue is None
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (260, 300, 3), dtype=np.uint8))
    assert train(img).shape == (3, 224, 224) and cpu_transform(b, "test")(img).shape == (3, 224, 224)
    vit = cpu_transform(b, "train", "vit_b16")
    assert vit.transforms[0].scale == (0.05, 1) and float(vit(img).min()) >= -1 - 1e-5
    assert set(AUGMENTATIONS.names()) == {"cifar", "crop", "imagenet", "vit", "none"}


def test_device_colour_jitter_is_per_sample_and_keeps_the_range():
    from training.augment import colour_jitter

    x = torch.rand(1, 3, 8, 8).repeat(16, 1, 1, 1)
    out = colour_jitter(x, 0.4, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert len({round(float(o.sum()), 4) for o in out}) == 16
    torch.testing.assert_close(colour_jitter(x, 0.0), x)  # strength 0: the identity
    grey = x.mean(1, keepdim=True).repeat(1, 3, 1, 1)
    g = colour_jitter(grey, 0.4, torch.Generator().manual_seed(1))
    torch.testing.assert_close(g[:, 0], g[:, 1])  # no hue: a grey image stays grey
    img = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8)
    train = AUGMENTATIONS.get("imagenet").train(img, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                                                torch.Generator().manual_seed(0))
    assert train.shape == (4, 3, 224, 224)
