"""The exact noise prediction for Gaussian data: the closed-form oracle against which the
samplers, the estimators and the networks' training targets are tested.

For ``x_t = a W_s x0 + sigma W_n eps`` with ``x0 ~ N(0, var_x I)``, ``eps ~ N(0, I)`` and diagonal
``W_s``, ``W_n`` (Lemma 1 of the ICDM paper; ones for AWGN), ``x_t`` is Gaussian with variance
``V = a^2 W_s^2 var_x + sigma^2 W_n^2`` and::

    E[eps | x_t] = sigma W_n x_t / V

A variance-preserving schedule has ``a = sqrt(abar_t)``, ``sigma = sqrt(1 - abar_t)`` (CDDM,
ICDM); the variance-exploding one ``a = 1``, ``sigma = t`` (the VE teacher, EECD).
"""

from __future__ import annotations

from typing import Any


def gaussian_eps(x_t: Any, a: Any, sigma: Any, var_x: Any, w_s: Any = 1.0, w_n: Any = 1.0) -> Any:
    """``E[eps | x_t] = sigma W_n x_t / (a^2 W_s^2 var_x + sigma^2 W_n^2)`` elementwise (arrays or
    tensors broadcasting against ``x_t``).

        >>> round(gaussian_eps(1.0, a=0.6, sigma=0.8, var_x=1.0), 6)   # 0.8 / (0.36 + 0.64)
        0.8
    """
    return sigma * w_n * x_t / (a * a * w_s ** 2 * var_x + sigma * sigma * w_n ** 2)


__all__ = ["gaussian_eps"]
