"""Photometric augmentation: rand-augment ops, rand-cutout, the batched entry point."""

import time

import cv2
import numpy as np
import pytest

from selfpose3d_core.training.augment import (
    FACTOR_OPS,
    OPS,
    PhotometricAugmentConfig,
    RandAugment,
    apply_cutout,
    apply_op,
    augment_image,
    augment_views,
    autocontrast,
    brightness,
    color,
    contrast,
    cutout_boxes,
    equalize,
    sharpness,
)


def natural_image(seed: int = 0, h: int = 96, w: int = 128, lo: int = 0,
                  hi: int = 255) -> np.ndarray:
    """A smooth colourful (h, w, 3) uint8 image with values in about [lo, hi]."""
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 4)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = np.stack([xx / w, yy / h, 1 - xx / w], axis=-1)
    v = 0.5 * smooth + 0.5 * ramp
    v = (v - v.min()) / (v.max() - v.min())
    return np.rint(lo + v * (hi - lo)).astype(np.uint8)


def luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


# --------------------------------------------------------------------------- single ops

class TestFactorOps:
    @pytest.mark.parametrize("op", sorted(FACTOR_OPS))
    def test_factor_one_is_identity(self, op):
        img = natural_image(1)
        out = apply_op(img, op, 1.0)
        np.testing.assert_array_equal(out, img)
        assert out is not img

    @pytest.mark.parametrize("op", sorted(FACTOR_OPS))
    def test_magnitude_zero_of_policy_is_identity(self, op):
        img = natural_image(2)
        policy = RandAugment(ops=(op,), num_ops=3, op_prob=1.0, max_magnitude=0.0)
        np.testing.assert_array_equal(policy(img, np.random.default_rng(0)), img)

    @pytest.mark.parametrize("op", OPS)
    def test_dtype_shape_and_input_untouched(self, op):
        img = natural_image(3, h=37, w=53)
        before = img.copy()
        for f in (0.1, 1.9):
            out = apply_op(img, op, f)
            assert out.dtype == np.uint8 and out.shape == img.shape
        np.testing.assert_array_equal(img, before)

    def test_brightness_moves_mean(self):
        img = natural_image(4, lo=40, hi=200)
        m = img.mean()
        assert brightness(img, 1.4).mean() > m + 10
        assert brightness(img, 0.6).mean() < m - 10
        assert brightness(img, 0.0).max() == 0
        np.testing.assert_allclose(brightness(img, 0.5).astype(float), img / 2.0, atol=0.51)

    def test_contrast_moves_std_keeps_mean(self):
        img = natural_image(5, lo=60, hi=190)
        s, m = luma(img).std(), luma(img).mean()
        hi, lo = contrast(img, 1.5), contrast(img, 0.5)
        assert luma(hi).std() > 1.3 * s and luma(lo).std() < 0.6 * s
        assert abs(luma(lo).mean() - m) < 1.0
        flat = contrast(img, 0.0)
        assert np.ptp(flat) == 0 and abs(int(flat[0, 0, 0]) - m) <= 0.5 + 1e-9

    def test_color_zero_is_greyscale(self):
        img = natural_image(6)
        g = color(img, 0.0)
        np.testing.assert_array_equal(g[..., 0], g[..., 1])
        np.testing.assert_array_equal(g[..., 1], g[..., 2])
        np.testing.assert_allclose(g[..., 0], luma(img), atol=1.0)

    def test_color_saturates(self):
        img = natural_image(7, lo=50, hi=200)
        spread = np.ptp(img.astype(int), axis=2).mean()
        assert np.ptp(color(img, 1.8).astype(int), axis=2).mean() > 1.5 * spread
        assert np.ptp(color(img, 0.3).astype(int), axis=2).mean() < 0.5 * spread

    def test_sharpness_blurs_and_sharpens_interior_only(self):
        img = np.zeros((40, 40, 3), np.uint8)
        img[:, 20:] = 200  # a vertical edge

        def grad(x):
            return np.abs(np.diff(x[1:-1, :, 0].astype(int), axis=1)).max()

        soft, sharp = sharpness(img, 0.0), sharpness(img, 2.0)
        assert grad(soft) < grad(img) < grad(sharp)
        # sharp = 2·x − S: undershoot clipped at 0, overshoot 400 − 10·200/13 ≈ 246
        assert sharp[5, 19, 0] == 0 and sharp[5, 20, 0] == round(400 - 2000 / 13)
        assert 0 < soft[5, 19, 0] < 200 and 0 < soft[5, 20, 0] < 200
        # PIL's SMOOTH kernel: left of the edge only the right column (3 × 200) is bright
        assert soft[5, 19, 0] == round(3 * 200 / 13)
        # the one-pixel border is never filtered (as PIL)
        for out in (soft, sharp):
            for edge in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1]):
                np.testing.assert_array_equal(out[edge], img[edge])

    @pytest.mark.parametrize("fn", [brightness, contrast, color, sharpness])
    def test_negative_factor_rejected(self, fn):
        with pytest.raises(ValueError, match="-0.5"):
            fn(natural_image(0), -0.5)


class TestAutocontrast:
    def test_full_range_is_identity(self):
        img = natural_image(8)
        img[0, 0], img[0, 1] = 0, 255  # each channel spans 0..255
        for c in range(3):
            assert img[..., c].min() == 0 and img[..., c].max() == 255
        np.testing.assert_array_equal(autocontrast(img), img)

    def test_stretches_each_channel(self):
        img = natural_image(9, lo=90, hi=150)
        img[..., 2] = np.clip(img[..., 2], 100, 120)
        out = autocontrast(img)
        for c in range(3):
            assert out[..., c].min() == 0 and out[..., c].max() == 255
        # linear: order preserved
        order = np.argsort(img[..., 0].ravel(), kind="stable")
        assert np.all(np.diff(out[..., 0].ravel()[order].astype(int)) >= 0)

    def test_flat_channel_unchanged(self):
        img = natural_image(10, lo=50, hi=100)
        img[..., 1] = 77
        out = autocontrast(img)
        assert np.all(out[..., 1] == 77) and out[..., 0].max() == 255


class TestEqualize:
    def test_spreads_low_contrast_and_flattens_histogram(self):
        img = natural_image(11, h=128, w=160, lo=100, hi=140)
        out = equalize(img)
        for c in range(3):
            ch = out[..., c]
            assert ch.min() <= 10 and ch.max() >= 240
            # the CDF of an equalised channel is close to the uniform one
            q = np.quantile(ch, [0.25, 0.5, 0.75])
            np.testing.assert_allclose(q, [64, 128, 191], atol=20)
        assert img.std() < 15 < out.std()

    def test_close_to_opencv_equalize(self):
        img = natural_image(12, lo=30, hi=180)
        ours = equalize(img).astype(int)
        ref = np.stack([cv2.equalizeHist(np.ascontiguousarray(img[..., c]))
                        for c in range(3)], axis=-1).astype(int)
        assert np.abs(ours - ref).max() <= 4  # PIL's and OpenCV's tables differ by rounding

    def test_single_level_unchanged(self):
        img = np.full((20, 30, 3), 91, np.uint8)
        np.testing.assert_array_equal(equalize(img), img)
        np.testing.assert_array_equal(autocontrast(img), img)


@pytest.mark.parametrize("fn", [autocontrast, equalize, lambda x: brightness(x, 1.2)])
class TestInvalidImages:
    def test_float_image(self, fn):
        with pytest.raises(ValueError, match="float32"):
            fn(natural_image(0).astype(np.float32))

    def test_wrong_shape(self, fn):
        with pytest.raises(ValueError, match=r"\(16, 16\)"):
            fn(np.zeros((16, 16), np.uint8))
        with pytest.raises(ValueError, match=r"\(16, 16, 4\)"):
            fn(np.zeros((16, 16, 4), np.uint8))

    def test_not_an_array(self, fn):
        with pytest.raises(ValueError, match="list"):
            fn([[0, 0, 0]])


def test_non_contiguous_input_is_fine():
    img = natural_image(13)
    view = img[:, ::-1]  # negative stride
    np.testing.assert_array_equal(apply_op(view, "contrast", 1.0), view)
    np.testing.assert_array_equal(sharpness(view, 0.5), sharpness(view.copy(), 0.5))


def test_unknown_op():
    with pytest.raises(ValueError, match="'solarize'"):
        apply_op(natural_image(0), "solarize", 1.0)


# --------------------------------------------------------------------------- policy

class TestRandAugment:
    def test_plan_ranges(self):
        policy = RandAugment(num_ops=2, op_prob=1.0, max_magnitude=0.5, max_delta=0.9)
        plans = policy.sample(np.random.default_rng(0), 500)
        assert all(len(p) == 2 for p in plans)
        names = [s.name for p in plans for s in p]
        assert set(names) == set(OPS)  # all ops get drawn
        factors = np.array([s.factor for p in plans for s in p if s.name in FACTOR_OPS])
        assert factors.min() >= 1 - 0.45 - 1e-12 and factors.max() <= 1 + 0.45 + 1e-12
        assert (factors < 1).any() and (factors > 1).any()  # both signs

    def test_op_prob(self):
        policy = RandAugment(num_ops=2, op_prob=0.5)
        plans = policy.sample(np.random.default_rng(1), 2000)
        mean_len = np.mean([len(p) for p in plans])
        assert abs(mean_len - 1.0) < 0.1
        none = RandAugment(num_ops=2, op_prob=0.0).sample(np.random.default_rng(1), 10)
        assert all(p == () for p in none)

    def test_deterministic(self):
        img = natural_image(14)
        policy = RandAugment(op_prob=1.0)
        a = policy(img, np.random.default_rng(7))
        b = policy(img, np.random.default_rng(7))
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- cutout

class TestCutout:
    def test_boxes_sizes_and_count(self):
        rng = np.random.default_rng(0)
        boxes = cutout_boxes(rng, (320, 256), 400, (20, 40))
        assert boxes.shape == (400, 4) and boxes.dtype == np.int64
        side = boxes[:, 2] - boxes[:, 0]
        np.testing.assert_array_equal(side, boxes[:, 3] - boxes[:, 1])
        assert side.min() == 20 and side.max() == 40
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        assert (centre >= -0.5).all() and (centre[:, 0] < 320 + 0.5).all()
        assert (centre[:, 1] < 256 + 0.5).all()
        assert cutout_boxes(rng, (320, 256), 0, (20, 40)).shape == (0, 4)

    def test_fill_exactly_the_clipped_squares(self):
        rng = np.random.default_rng(1)
        img = np.zeros((100, 120, 3), np.uint8)
        boxes = np.array([[10, 20, 35, 45], [-10, -5, 20, 25], [110, 90, 140, 120]])
        out = apply_cutout(img, boxes, "grey", 128)
        expect = np.zeros((100, 120), bool)
        expect[20:45, 10:35] = expect[0:25, 0:20] = expect[90:100, 110:120] = True
        np.testing.assert_array_equal(out[..., 0] == 128, expect)
        assert (out == 128).all(axis=2).sum() == expect.sum()
        assert (img == 0).all()  # input untouched
        noisy = apply_cutout(img, boxes[:1], "noise", rng=rng)
        patch = noisy[20:45, 10:35].astype(float)
        assert 100 < patch.mean() < 155 and patch.std() > 50
        assert (noisy[~expect] == 0).all()

    def test_augment_views_cutout_count_and_sizes(self):
        # only cutout, one square per view, far-from-border check on the result
        cfg = PhotometricAugmentConfig(enable_rand_augment=False, cutout_count=(1, 1),
                                       cutout_size=(20, 40), cutout_fill="grey",
                                       cutout_grey=200)
        imgs = np.zeros((60, 128, 160, 3), np.uint8)
        out = augment_views(imgs, np.random.default_rng(3), cfg)
        sides = []
        for v in range(len(out)):
            mask = (out[v] == 200).all(axis=2)
            ys, xs = np.nonzero(mask)
            h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
            assert mask.sum() == h * w  # one filled rectangle
            touches = ys.min() == 0 or xs.min() == 0 or ys.max() == 127 or xs.max() == 159
            if not touches:
                assert h == w and 20 <= h <= 40
                sides.append(h)
            assert (out[v][~mask] == 0).all()
        assert len(sides) > 20

    def test_augment_views_count_range(self):
        cfg = PhotometricAugmentConfig(enable_rand_augment=False, cutout_count=(2, 4),
                                       cutout_size=(20, 20))
        imgs = np.zeros((40, 256, 320, 3), np.uint8)
        out = augment_views(imgs, np.random.default_rng(4), cfg)
        n_px = (out == 128).all(axis=3).sum(axis=(1, 2))
        # overlaps and borders only lower the area: at most 4·400, at least one full square
        assert n_px.max() <= 4 * 400 and n_px.min() >= 400
        assert (n_px > 2 * 400).any()

    def test_cutout_prob(self):
        cfg = PhotometricAugmentConfig(enable_rand_augment=False, cutout_prob=0.0)
        imgs = np.full((4, 64, 64, 3), 7, np.uint8)
        np.testing.assert_array_equal(augment_views(imgs, np.random.default_rng(0), cfg), imgs)

    def test_noise_needs_rng(self):
        with pytest.raises(ValueError, match="rng"):
            apply_cutout(np.zeros((8, 8, 3), np.uint8), np.array([[0, 0, 4, 4]]), "noise")

    def test_bad_boxes(self):
        with pytest.raises(ValueError, match=r"\(3,\)"):
            apply_cutout(np.zeros((8, 8, 3), np.uint8), np.array([0, 0, 4]))


# --------------------------------------------------------------------------- batch

class TestAugmentViews:
    def test_shape_dtype_and_input_untouched(self):
        imgs = np.stack([natural_image(s, h=64, w=80) for s in range(5)])
        before = imgs.copy()
        out = augment_views(imgs, np.random.default_rng(0))
        assert out.shape == imgs.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(imgs, before)

    def test_deterministic_by_seed_and_independent_per_view(self):
        img = natural_image(15, h=64, w=80)
        imgs = np.stack([img] * 6)
        cfg = PhotometricAugmentConfig(op_prob=1.0, cutout_fill="noise")
        a = augment_views(imgs, np.random.default_rng(42), cfg)
        b = augment_views(imgs, np.random.default_rng(42), cfg)
        c = augment_views(imgs, np.random.default_rng(43), cfg)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        # same input in every view, but each view gets its own draw
        assert len({v.tobytes() for v in a}) == len(a)

    def test_single_image_matches_batch_of_one(self):
        img = natural_image(16, h=64, w=80)
        a = augment_image(img, np.random.default_rng(5))
        b = augment_views(img[None], np.random.default_rng(5))[0]
        np.testing.assert_array_equal(a, b)

    def test_all_disabled_is_identity(self):
        imgs = np.stack([natural_image(s, h=32, w=40) for s in range(3)])
        cfg = PhotometricAugmentConfig(enable_rand_augment=False, enable_cutout=False)
        np.testing.assert_array_equal(augment_views(imgs, np.random.default_rng(0), cfg), imgs)

    def test_invalid_inputs(self):
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="float64"):
            augment_views(np.zeros((2, 16, 16, 3)), rng)
        with pytest.raises(ValueError, match=r"\(16, 16, 3\)"):
            augment_views(np.zeros((16, 16, 3), np.uint8), rng)
        with pytest.raises(ValueError, match=r"\(2, 16, 16, 1\)"):
            augment_views(np.zeros((2, 16, 16, 1), np.uint8), rng)
        with pytest.raises(ValueError, match="dict"):
            augment_views(np.zeros((2, 16, 16, 3), np.uint8), rng, {"num_ops": 1})

    def test_speed(self):
        """5 views of 320×256 in well under 10 ms (measured ~1–4 ms on one core)."""
        imgs = np.stack([natural_image(s, h=256, w=320) for s in range(5)])
        rng = np.random.default_rng(0)
        cfg = PhotometricAugmentConfig(op_prob=1.0, cutout_fill="noise")
        augment_views(imgs, rng, cfg)
        n = 20
        t0 = time.perf_counter()
        for _ in range(n):
            augment_views(imgs, rng, cfg)
        ms = (time.perf_counter() - t0) / n * 1e3
        assert ms < 25.0, f"augment_views took {ms:.1f} ms"  # slack for loaded CI machines


# --------------------------------------------------------------------------- config

class TestConfig:
    def test_defaults_match_reference(self):
        cfg = PhotometricAugmentConfig()
        assert cfg.ops == OPS and cfg.num_ops == 2 and cfg.cutout_size == (20, 40)
        assert cfg.cutout_fill == "grey" and cfg.cutout_grey == 128

    def test_round_trip(self):
        cfg = PhotometricAugmentConfig(ops=("color", "equalize"), cutout_count=(1, 3),
                                       cutout_fill="noise", max_magnitude=0.5)
        assert PhotometricAugmentConfig.from_dict(cfg.to_dict()) == cfg

    def test_from_dict_coerces(self):
        cfg = PhotometricAugmentConfig.from_dict({"num_ops": 3.0, "op_prob": 1,
                                                  "cutout_size": [10, 30],
                                                  "ops": ["brightness"]})
        assert cfg.num_ops == 3 and cfg.op_prob == 1.0 and cfg.cutout_size == (10, 30)
        assert cfg.ops == ("brightness",)

    def test_unknown_key_rejected(self):
        with pytest.raises(ValueError, match="cutout_colour"):
            PhotometricAugmentConfig.from_dict({"cutout_colour": 3})

    @pytest.mark.parametrize("data, needle", [
        ({"num_ops": 2.5}, "2.5"),
        ({"enable_cutout": "yes"}, "yes"),
        ({"ops": ["contrast", "solarize"]}, "solarize"),
        ({"ops": []}, "ops"),
        ({"max_magnitude": 1.5}, "1.5"),
        ({"cutout_size": [40, 20]}, r"\(40, 20\)"),
        ({"cutout_size": [0, 20]}, r"\(0, 20\)"),
        ({"cutout_count": [1]}, r"\(1,\)"),
        ({"cutout_fill": "black"}, "black"),
        ({"cutout_grey": 300}, "300"),
    ])
    def test_invalid_values_rejected(self, data, needle):
        with pytest.raises(ValueError, match=needle):
            PhotometricAugmentConfig.from_dict(data)

    def test_direct_construction_checked(self):
        with pytest.raises(ValueError, match="2.5"):
            PhotometricAugmentConfig(num_ops=2.5)
        with pytest.raises(ValueError, match="upside"):
            PhotometricAugmentConfig(ops=("upside",))

    def test_frozen(self):
        with pytest.raises(AttributeError):
            PhotometricAugmentConfig().num_ops = 3
