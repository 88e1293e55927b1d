"""``python -m al_loop.feature_space``: compile umap's numba code into the persistent cache.

Run once after installing (or let the first projection do it): later processes load the
compiled code instead of spending about a minute compiling it.
"""

import os

from al_loop.feature_space.projection import warm_cache

if __name__ == "__main__":
    warm_cache()
    print(f"umap's numba code is cached in {os.environ.get('NUMBA_CACHE_DIR')}")
