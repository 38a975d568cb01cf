"""Digital (separate source-channel coding) link math: the 5G NR modulation-and-coding table,
transport blocks with 5G LDPC and CRC (Sionna PHY), Gray QAM with soft demapping, and the
normal-approximation reference for the block error rate.

* :mod:`.mcs` — MCS entries (TS 38.214 Table 5.1.3.1-1) and the transport-block layout of a
  budget of channel uses;
* :mod:`.transport` — :class:`~.transport.TransportLink`: bits -> 5G TB (CRC-24A, segmentation,
  CRC-24B, LDPC, rate matching, scrambling) -> QAM symbols, and back with soft LLRs;
* :mod:`.qam` — the TS 38.211 Gray QAM constellations and exact bit LLRs in numpy (an oracle
  independent of Sionna's mapper);
* :mod:`.bounds` — the BICM normal approximation of the block error rate (the reference the
  simulated BLER is checked against).
"""
