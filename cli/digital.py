"""``semradio digital MODE``: the digital baseline (image codec + 5G LDPC + QAM).

    semradio digital bler ...      BLER vs SNR per MCS against the normal approximation
    semradio digital compare ...   PSNR/SSIM vs SNR: digital (fixed and adaptive MCS), JSCC, CDDM, EECD
    semradio digital rates ...     what the rate controller fits per codec, MCS and image size
"""

from __future__ import annotations

import importlib
import sys

MODES = {"bler": "semradio.models.evaluation.digital_bler",
         "compare": "semradio.cli.digital_compare",
         "rates": "semradio.cli.digital_rates"}


def main(argv: list[str] | None = None, prog: str = "semradio digital") -> int:
    """Dispatch to the mode's command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in MODES:
        given = f"unknown mode {argv[0]!r}" if argv else "a mode is needed"
        print(f"{prog}: error: {given} (use one of: {', '.join(MODES)})", file=sys.stderr)
        return 2
    return int(importlib.import_module(MODES[argv[0]]).main(argv[1:], prog=f"{prog} {argv[0]}") or 0)
