"""Encoding: DoG filters, thresholding, local normalisation, intensity-to-latency."""

import numpy as np
import pytest

from spikeforge.golden.encoding import (EncodingParams, dog_filter, dog_kernel, encode_images,
                                        intensity_to_latency, local_normalization)


def test_dog_kernel_shape_mean_peak_and_polarity():
    on = dog_kernel(7, 1.0, 2.0)
    off = dog_kernel(7, 2.0, 1.0)
    assert on.shape == (7, 7)
    assert abs(on.mean()) < 1e-12 and abs(off.mean()) < 1e-12
    assert on.max() == pytest.approx(1.0) and off.max() == pytest.approx(1.0)
    # On-centre: the centre is the peak; off-centre: the centre is the minimum.
    assert on[3, 3] == on.max()
    assert off[3, 3] == off.min()
    np.testing.assert_allclose(on, on.T)
    np.testing.assert_allclose(on, on[::-1, ::-1])


def test_dog_kernel_matches_formula_at_a_point():
    # Hand evaluation of the unnormalised DoG at (0,0) and (0,1) for sigma 1, 2: the
    # ratio of two entries is invariant to the mean subtraction only after adding the
    # mean back, so compare the raw formula with the kernel's affine transform.
    k = dog_kernel(7, 1.0, 2.0)
    y, x = np.mgrid[-3:4, -3:4]
    r2 = x * x + y * y
    raw = (np.exp(-r2 / 2.0) - np.exp(-r2 / 8.0) / 4.0) / (2 * np.pi)
    expected = (raw - raw.mean()) / (raw - raw.mean()).max()
    np.testing.assert_allclose(k, expected, rtol=1e-12)


def test_dog_filter_matches_brute_force_correlation():
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, size=(2, 9, 8)).astype(np.float32)
    kernels = np.stack([dog_kernel(3, 1, 2), dog_kernel(3, 2, 1)])
    got = dog_filter(img, kernels)
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    want = np.zeros((2, 2, 9, 8))
    for n in range(2):
        for c in range(2):
            for y in range(9):
                for x in range(8):
                    want[n, c, y, x] = (padded[n, y:y + 3, x:x + 3] * kernels[c]).sum()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_local_normalization_matches_brute_force():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 5, size=(1, 2, 6, 7))
    got = local_normalization(x, 1)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros_like(x)
    for c in range(2):
        for i in range(6):
            for j in range(7):
                mean = padded[0, c, i:i + 3, j:j + 3].sum() / 9.0
                want[0, c, i, j] = x[0, c, i, j] / (mean + 1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_intensity_to_latency_hand_case():
    values = np.array([[0.0, 5.0, 3.0, 0.0, 9.0, 1.0]])
    # 4 non-zero values, T = 4: ranks 9 -> 0, 5 -> 1, 3 -> 2, 1 -> 3; zeros never spike.
    times = intensity_to_latency(values, 4)
    np.testing.assert_array_equal(times, [[4, 1, 2, 4, 0, 3]])
    assert times.dtype == np.int16


def test_intensity_to_latency_bins_and_ties():
    # 8 non-zero values, T = 4 -> two per step; equal values: lower index first.
    values = np.array([[2.0, 2.0, 8.0, 7.0, 1.0, 1.0, 6.0, 5.0, 0.0]])
    times = intensity_to_latency(values, 4)
    np.testing.assert_array_equal(times, [[2, 2, 0, 0, 3, 3, 1, 1, 4]])


def test_intensity_to_latency_stronger_is_never_later():
    rng = np.random.default_rng(3)
    values = rng.uniform(-1, 1, size=(5, 3, 4, 4))
    T = 7
    times = intensity_to_latency(values, T)
    for v, t in zip(values.reshape(5, -1), times.reshape(5, -1)):
        assert np.all(t[v <= 0] == T)
        pos = v > 0
        order = np.argsort(-v[pos], kind="stable")
        assert np.all(np.diff(t[pos][order]) >= 0)
        assert t[pos].max() == T - 1 and t[pos].min() == 0


def test_encode_images_blank_and_bright_spot():
    params = EncodingParams(time_steps=5, threshold=1.0, norm_radius=2)
    imgs = np.zeros((2, 11, 11), dtype=np.float32)
    imgs[1, 5, 5] = 255.0
    times = encode_images(imgs, params)
    assert times.shape == (2, 2, 11, 11) and times.dtype == np.int16
    assert np.all(times[0] == 5), "a blank image must never spike"
    # A bright dot excites the on-centre channel most at its own position: first spike.
    assert times[1, 0, 5, 5] == 0
    # The off-centre channel does not respond at the dot itself.
    assert times[1, 1, 5, 5] == 5


def test_encoding_params_validation():
    with pytest.raises(ValueError, match="time_steps"):
        EncodingParams(time_steps=1)
    with pytest.raises(ValueError, match="odd"):
        EncodingParams(kernel_size=4)
