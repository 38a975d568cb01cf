"""One ``main`` for every flowgraph script: options from its typed config, ``--json``, the scope
options (``--gui``, ``--snapshot DIR``, ...), the run, and the printed summary.

    >>> from dataclasses import dataclass
    >>> from semradio.runtime.options import option
    >>> @dataclass
    ... class Config:
    ...     frames: int = option(10, help="frames to send")
    >>> def run(config, scopes):
    ...     return {"frames": config.frames}
    >>> flowgraph_main(Config, run, ["--frames", "3", "--json"])
    {"frames": 3}
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from semradio.runtime.arguments import OneLineParser, fail
from semradio.runtime.options import add_options, from_namespace


def _default_summary(out: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in out.items() if not isinstance(v, (dict, list)))


def flowgraph_main(config_cls: type, run: Callable[..., dict[str, Any]], argv: list[str] | None = None, *,
                   doc: str | None = None, summary: Callable[[dict[str, Any]], str] | None = None,
                   defaults: dict[str, Any] | None = None, scopes: bool = True,
                   check: Callable[[Any], None] | None = None) -> int:
    """Parse ``argv`` into ``config_cls`` (its option defaults overridden by ``defaults``), call
    ``run(config, scope_options)`` (``run(config)`` when ``scopes`` is False), print the result as
    one JSON object with ``--json`` or through ``summary``. Returns the exit code 0.

    Args:
        config_cls: the flowgraph's config dataclass (fields made with
            :func:`semradio.runtime.options.option`).
        run: builds and runs the flowgraph, returns a JSON-serialisable summary.
        argv: the arguments (default ``sys.argv[1:]``).
        doc: the ``--help`` description (the script's docstring).
        summary: the text shown without ``--json``.
        defaults: option defaults of this script (e.g. ``{"channel": "awgn"}``).
        scopes: whether the script takes the scope options.
        check: called with the config before anything is built; a ``ValueError`` (e.g.
            :class:`~semradio.runtime.arguments.CommandLineError`), ``LookupError`` or
            ``OSError`` it raises is a command-line mistake: one line on stderr, exit status 2.

    A mistake in the options (an unknown choice, ``--batch 0``, ``--snr-db nan``, a codec that
    is not there: the options' ``type=`` checks of :mod:`semradio.runtime.arguments`) ends the
    script the same way, before ``run`` is called.
    """
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, config_cls, defaults)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    if scopes:
        from semradio.blocks.qtgui.gui_support import add_gui_arguments

        add_gui_arguments(parser)
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = from_namespace(config_cls, ns)
        if check is not None:
            check(config)
    except (ValueError, LookupError, OSError) as exc:
        fail(parser.prog, str(exc))
    if scopes and (getattr(ns, "gui", False) or getattr(ns, "snapshot", None)):
        from semradio.blocks.qtgui.gui_support import require_gui_packages

        require_gui_packages(bool(ns.gui))  # a missing display or library: one line, before anything starts
    if scopes:
        from semradio.blocks.qtgui.gui_support import scope_options

        out = run(config, scope_options(ns))
    else:
        out = run(config)
    print(json.dumps(out, default=str) if ns.json else (summary or _default_summary)(out))
    sys.stdout.flush()
    return 0


__all__ = ["flowgraph_main"]
