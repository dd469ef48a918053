"""Image to spike encoding of the TTFS network (Kheradpisheh et al. 2018, SpykeTorch).

Pipeline (``encode_images``): a greyscale image in [0, 255] is filtered by an on-centre
and an off-centre difference-of-Gaussians kernel (7x7, sigma 1 and 2), values below a
threshold are zeroed, each channel is divided by its local mean (local normalisation),
and the non-zero values are turned into first-spike times by *rank*: the values of one
image are sorted from strongest to weakest and split into ``time_steps`` bins of equal
count, so stronger values spike earlier and every time step carries about the same number
of spikes (SpykeTorch's ``Intensity2Latency``).  Each input spikes at most once.

Spike trains are int16 arrays of first-spike times; the sentinel ``time_steps`` (``T``)
means "never spiked".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "EncodingParams", "dog_kernel", "dog_filter", "local_normalization",
    "intensity_to_latency", "encode_images", "TIME_DTYPE",
]

TIME_DTYPE = np.int16


@dataclass(frozen=True)
class EncodingParams:
    """Parameters of the encoder.

    Attributes:
        time_steps: T, number of time steps of the latency code (times 0..T-1).
        kernel_size: size of the square DoG kernels (odd).
        sigma_centre, sigma_surround: the two Gaussian widths (on-centre uses
            (centre, surround), off-centre the reverse).
        threshold: DoG responses below it are zeroed (image scale 0..255).
        norm_radius: local-normalisation window radius (0 disables it).
    """

    time_steps: int = 15
    kernel_size: int = 7
    sigma_centre: float = 1.0
    sigma_surround: float = 2.0
    threshold: float = 50.0
    norm_radius: int = 8

    def __post_init__(self):
        if not 2 <= self.time_steps <= 256:
            raise ValueError(f"time_steps = {self.time_steps}: allowed 2 to 256")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size = {self.kernel_size} must be a positive odd number")


def dog_kernel(size: int, sigma1: float, sigma2: float) -> np.ndarray:
    """Difference-of-Gaussians kernel (zero mean, peak 1), as in SpykeTorch's DoGKernel.

    ``sigma1 < sigma2`` gives an on-centre kernel, ``sigma1 > sigma2`` an off-centre one.
    """
    half = size // 2
    y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    r2 = x * x + y * y
    g1 = np.exp(-0.5 * r2 / sigma1 ** 2) / sigma1 ** 2
    g2 = np.exp(-0.5 * r2 / sigma2 ** 2) / sigma2 ** 2
    dog = (g1 - g2) / (2 * np.pi)
    dog -= dog.mean()
    return dog / dog.max()


def dog_filter(images: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Correlate images ``[N, H, W]`` with kernels ``[C, k, k]`` (zero 'same' padding).

    Returns ``[N, C, H, W]`` float32.
    """
    images = np.asarray(images, dtype=np.float32)
    kernels = np.asarray(kernels, dtype=np.float32)
    k = kernels.shape[-1]
    pad = k // 2
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))  # [N, H, W, k, k]
    return np.einsum("nhwij,cij->nchw", windows, kernels, optimize=True)


def local_normalization(x: np.ndarray, radius: int, eps: float = 1e-12) -> np.ndarray:
    """Divide every value by the mean of its channel's (2r+1)^2 neighbourhood.

    ``x`` is ``[..., H, W]``; the window is zero padded (SpykeTorch's local_normalization).
    """
    if radius <= 0:
        return x
    x = np.asarray(x, dtype=np.float64)
    length = 2 * radius + 1
    # Box sum by a 2-D prefix sum: O(H*W) whatever the radius.
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(radius + 1, radius), (radius + 1, radius)])
    c = padded.cumsum(axis=-1).cumsum(axis=-2)
    box = (c[..., length:, length:] - c[..., :-length, length:]
           - c[..., length:, :-length] + c[..., :-length, :-length])
    return (x / (box / (length * length) + eps)).astype(np.float32)


def intensity_to_latency(values: np.ndarray, time_steps: int) -> np.ndarray:
    """Rank-based latency code of each sample (first axis) of ``values``.

    The non-zero values of one sample are ordered from strongest to weakest (ties: lower
    flat index first) and the value of rank ``r`` (0-based) among ``n`` non-zero values
    spikes at ``floor(r * T / n)``; zero or negative values never spike (time ``T``).
    Returns int16 times with the shape of ``values``.
    """
    values = np.asarray(values)
    n = values.shape[0]
    flat = values.reshape(n, -1)
    times = np.full(flat.shape, time_steps, dtype=TIME_DTYPE)
    order = np.argsort(-flat, axis=1, kind="stable")
    nonzero = (flat > 0).sum(axis=1)
    ranks = np.arange(flat.shape[1])
    for i in range(n):
        cnt = int(nonzero[i])
        if cnt == 0:
            continue
        idx = order[i, :cnt]
        times[i, idx] = (ranks[:cnt] * time_steps // cnt).astype(TIME_DTYPE)
    return times.reshape(values.shape)


def encode_images(images: np.ndarray, params: EncodingParams = EncodingParams()) -> np.ndarray:
    """Greyscale images ``[N, H, W]`` in [0, 255] -> spike times ``[N, 2, H, W]`` (int16).

    Channel 0 is the on-centre, channel 1 the off-centre DoG response.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must be [N, H, W], got shape {images.shape}")
    kernels = np.stack([
        dog_kernel(params.kernel_size, params.sigma_centre, params.sigma_surround),
        dog_kernel(params.kernel_size, params.sigma_surround, params.sigma_centre),
    ])
    out = []
    # Chunks bound the memory of the sliding-window einsum on large images.
    chunk = max(1, 2_000_000 // (images.shape[1] * images.shape[2]))
    for start in range(0, len(images), chunk):
        filtered = dog_filter(images[start:start + chunk], kernels)
        filtered[filtered < params.threshold] = 0.0
        filtered = local_normalization(filtered, params.norm_radius)
        out.append(intensity_to_latency(filtered, params.time_steps))
    if not out:
        return np.zeros((0, 2) + images.shape[1:], dtype=TIME_DTYPE)
    return np.concatenate(out)
