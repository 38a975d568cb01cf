"""semradio.dsp: pure math shared by blocks, models and trainers — array helpers working on numpy
arrays and torch tensors alike (:mod:`.arrays`), the symbol-level channel and equaliser math
(:mod:`.channel`) and the multi-user superposition weights (:mod:`.multiuser`).

Nothing here imports torch at import time; functions given torch tensors use torch.
"""
