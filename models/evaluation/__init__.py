"""semradio.models.evaluation: the evaluations behind ``semradio eval``, importable.

* :mod:`.icdm` — ICDM on the held-out patches: SINR sweeps, the gradient-variant and ICDM-vs-CDDM
  tables, and :func:`.icdm.interference_bound` (what knowing the interference can add to a
  Gaussian signal model);
* :mod:`.cdiff` — the CDiff decoder against the matched autoencoder and the VAE: PSNR/SSIM vs SNR,
  CBR and SINR.

Each writes CSV (+ PNG) under ``out/`` and returns its rows.
"""
