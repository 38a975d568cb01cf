"""semradio.flowgraphs: the scenario flowgraphs, each a runnable script and an importable module.

Every script has a typed config (a dataclass, which is also its command line), a ``build`` or
``run`` function taking it, and a ``main`` made by :func:`semradio.flowgraphs.app.flowgraph_main`,
which gives every script ``--json``, ``--gui``, ``--snapshot DIR`` and its other options the same
way. Run one with ``python flowgraphs/NAME.py --help`` or ``semradio run flowgraphs/NAME.py -- ...``;
import one with ``from semradio.flowgraphs import jscc_rayleigh``. The ``*.toml`` files beside them
are flowgraph files for ``semradio run`` (:mod:`semradio.runtime.graph_file`).
"""
