"""The 5G NR modulation-and-coding table and the transport block that fits a budget of channel
uses.

:data:`MCS_TABLE` is TS 38.214 Table 5.1.3.1-1 (PDSCH, "qam64"): index -> (modulation order Qm,
target code rate R x 1024). The spectral efficiency of an entry is ``Qm R`` bits per channel
use. A budget of ``k`` complex channel uses carries ``N = k Qm`` coded bits; the transport-block
size (TBS) is TS 38.214 5.1.3.2's quantisation of ``N R`` (computed by Sionna PHY's
``calculate_tb_size``), segmented into LDPC code blocks (TS 38.212 5.2.2) with a CRC-24A on the
TB and a CRC-24B on each code block when there are several.

    >>> MCS_TABLE[20]
    (6, 567)
    >>> round(spectral_efficiency(20), 4)
    3.3223
"""

from __future__ import annotations

from dataclasses import dataclass

#: TS 38.214 Table 5.1.3.1-1: MCS index -> (Qm, R x 1024). (Indices 29-31 are reserved.)
MCS_TABLE: dict[int, tuple[int, int]] = {
    0: (2, 120), 1: (2, 157), 2: (2, 193), 3: (2, 251), 4: (2, 308), 5: (2, 379), 6: (2, 449), 7: (2, 526),
    8: (2, 602), 9: (2, 679), 10: (4, 340), 11: (4, 378), 12: (4, 434), 13: (4, 490), 14: (4, 553),
    15: (4, 616), 16: (4, 658), 17: (6, 438), 18: (6, 466), 19: (6, 517), 20: (6, 567), 21: (6, 616),
    22: (6, 666), 23: (6, 719), 24: (6, 772), 25: (6, 822), 26: (6, 873), 27: (6, 910), 28: (6, 948),
}
#: The entries swept by default: QPSK, 16-QAM and 64-QAM, spectral efficiency 0.49 to 4.52, about 4 dB apart
#: (Sionna's 5G LDPC encoder needs R >= 1/5, so MCS 0-2 are left out).
DEFAULT_MCS: tuple[int, ...] = (3, 7, 15, 20, 24)
#: Lowest code rate Sionna's LDPC5GEncoder accepts.
MIN_RATE = 0.2
MODULATION = {2: "QPSK", 4: "16-QAM", 6: "64-QAM"}


def mcs_entry(index: int) -> tuple[int, float]:
    """``(Qm, R)`` of an MCS index (R as a fraction, e.g. 0.5537 for MCS 20).

    Raises:
        ValueError: an index outside the table, or an entry below :data:`MIN_RATE`.
    """
    try:
        qm, r1024 = MCS_TABLE[int(index)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"MCS index must be one of 0..28 (TS 38.214 Table 5.1.3.1-1), got {index!r}") from None
    r = r1024 / 1024.0
    if r < MIN_RATE:
        raise ValueError(f"MCS {index} has R = {r:.3f} < {MIN_RATE}: Sionna's 5G LDPC encoder needs R >= 1/5")
    return qm, r


def spectral_efficiency(index: int) -> float:
    """``Qm R`` (information bits per complex channel use) of an MCS entry."""
    qm, r1024 = MCS_TABLE[int(index)]
    return qm * r1024 / 1024.0


def mcs_label(index: int) -> str:
    """E.g. ``"MCS 20 (64-QAM, R 0.554)"``."""
    qm, r1024 = MCS_TABLE[int(index)]
    return f"MCS {index} ({MODULATION[qm]}, R {r1024 / 1024:.3f})"


@dataclass(frozen=True)
class TBLayout:
    """One transport block filling ``channel_uses`` complex symbols at an MCS.

    Attributes:
        mcs: the MCS index; ``qm``: bits per symbol; ``rate``: target code rate R.
        channel_uses: complex symbols k; ``coded_bits``: N = k Qm.
        tb_bits: the TBS (information bits, a multiple of 8).
        num_cbs: LDPC code blocks; ``cb_bits``: information bits per code block incl. its CRC
            (the LDPC ``k``); ``cw_lengths``: rate-matched bits per code block (sum N).
        tb_crc_bits / cb_crc_bits: CRC lengths (24 / 24 or 0 with one code block).
    """

    mcs: int
    qm: int
    rate: float
    channel_uses: int
    coded_bits: int
    tb_bits: int
    num_cbs: int
    cb_bits: int
    cw_lengths: tuple[int, ...]
    tb_crc_bits: int
    cb_crc_bits: int

    @property
    def effective_rate(self) -> float:
        """TBS / N."""
        return self.tb_bits / self.coded_bits

    @property
    def overhead_bits(self) -> int:
        """CRC bits spent: TB CRC + one CRC per code block (when segmented)."""
        return self.tb_crc_bits + self.num_cbs * self.cb_crc_bits


def tb_layout(mcs: int, channel_uses: int) -> TBLayout:
    """The transport block of ``channel_uses`` complex symbols at ``mcs`` (TS 38.214 5.1.3.2 via
    Sionna PHY's ``calculate_tb_size``; needs the ``phy`` extra).

    Raises:
        ValueError: a bad MCS, fewer than 1 channel use, or a budget too small for any TB.
    """
    qm, r = mcs_entry(mcs)
    k = int(channel_uses)
    if k < 1:
        raise ValueError(f"channel_uses must be >= 1, got {channel_uses!r}")
    from sionna.phy.nr.utils import calculate_tb_size

    n = k * qm
    tbs, cb_size, num_cbs, tb_crc, cb_crc, cw = calculate_tb_size(qm, r, target_tb_size=None, num_coded_bits=n,
                                                                  verbose=False)
    tbs, num_cbs = int(tbs), int(num_cbs)
    if tbs < 24:
        raise ValueError(f"{n} coded bits at {mcs_label(mcs)} leave no room for a transport block")
    return TBLayout(mcs=int(mcs), qm=qm, rate=r, channel_uses=k, coded_bits=n, tb_bits=tbs, num_cbs=num_cbs,
                    cb_bits=int(cb_size), cw_lengths=tuple(int(c) for c in cw.reshape(-1).tolist()),
                    tb_crc_bits=int(tb_crc), cb_crc_bits=int(cb_crc))


__all__ = ["MCS_TABLE", "DEFAULT_MCS", "MIN_RATE", "MODULATION", "TBLayout", "mcs_entry", "mcs_label",
           "spectral_efficiency", "tb_layout"]
