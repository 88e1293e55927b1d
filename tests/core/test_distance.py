import numpy as np
from scipy import ndimage

from al_loop.core.distance import distance_to_zero


def test_distances_are_the_exact_euclidean_ones():
    mask = np.ones((5, 7), np.uint8)
    mask[2, 3] = 0
    dist = distance_to_zero(mask)
    assert dist.dtype == np.float32 and dist[2, 3] == 0
    assert dist[0, 0] == np.float32(np.sqrt(13.0))  # 2 rows, 3 columns away
    assert dist[2, 6] == 3 and dist[4, 3] == 2
    rng = np.random.default_rng(0)
    blobs = rng.random((60, 80)) > 0.05
    assert np.array_equal(
        distance_to_zero(blobs), ndimage.distance_transform_edt(blobs).astype(np.float32)
    )


def test_repeated_calls_give_the_same_bits_wherever_the_buffers_fall():
    # OpenCV's own result moved by one ulp between calls like these (sqrt(58) seen both as
    # 7.6157732 and 7.6157737), which flipped the NoC clicker's ties between processes
    yy, xx = np.mgrid[:64, :64]
    mask = ((yy - 30) ** 2 + (xx - 37) ** 2 <= 15**2) | ((yy - 12) ** 2 + (xx - 12) ** 2 <= 8**2)
    mask = np.pad(mask, 1)
    reference = distance_to_zero(mask)
    rng = np.random.default_rng(1)
    for _ in range(100):
        churn = [
            np.full(int(rng.integers(100, 200_000)), rng.random(), np.float32) for _ in range(4)
        ]
        del churn
        assert np.array_equal(distance_to_zero(mask.copy()), reference)
