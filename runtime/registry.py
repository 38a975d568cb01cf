"""The block registry: which :class:`~semradio.runtime.block.Block` classes a flowgraph file, a
worker spec, ``semradio blocks`` and a chain's ``--denoiser`` may name.

Blocks are registered through the ``semradio.blocks`` entry-point group — semradio registers its
own library that way (``semradio = "semradio.blocks"`` in its ``pyproject.toml``), and a plugin
package does the same in its own::

    [project.entry-points."semradio.blocks"]
    mygain = "mygain.blocks"            # a module: every Block subclass in its __all__
    fancy = "fancy.denoise:FancyDenoiser"  # or one class

An entry point loads to a module (its ``__all__``, or its public attributes, filtered to
``Block`` subclasses), a ``Block`` subclass, or a list/tuple/dict of them.

Resolution is a lookup, never an import of a name taken from the input: a string resolves only
when it is one of the names a registered class is known by — ``Name``, ``<entry point>.Name``,
``<entry point module>.Name`` or ``:Name`` (e.g. ``semradio.blocks.PassThrough``), ``<defining module>.Name``
or ``<defining module>:Name``. Anything else (``os:system``, ``builtins.exec``) is refused with
a :class:`RegistryError` before anything is constructed.
"""

from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, Iterable

from .block import Block

#: Entry-point group of block libraries.
ENTRY_POINT_GROUP = "semradio.blocks"

log = logging.getLogger("semradio")


class RegistryError(ValueError):
    """A class name that is not a registered block (the message lists what is known)."""


@dataclass(frozen=True)
class BlockEntry:
    """A registered block class and where it came from (the entry point's name and value)."""

    cls: type[Block]
    source: str
    provider: str

    @property
    def name(self) -> str:
        return self.cls.__name__


def _block_classes(obj: Any) -> list[type[Block]]:
    if inspect.isclass(obj):
        return [obj] if issubclass(obj, Block) else []
    if isinstance(obj, ModuleType):
        names = getattr(obj, "__all__", None) or [n for n in dir(obj) if not n.startswith("_")]
        out = []
        for n in names:
            try:
                v = getattr(obj, n)
            except AttributeError:
                continue
            if inspect.isclass(v) and issubclass(v, Block) and not v.__name__.startswith("_"):
                out.append(v)
        return out
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [c for item in obj for c in _block_classes(item)]
    return []


class BlockRegistry:
    """Registered block classes and the names each is known by (see the module docstring)."""

    def __init__(self, entries: Iterable[BlockEntry] = ()) -> None:
        self.entries: list[BlockEntry] = []
        self._aliases: dict[str, BlockEntry] = {}
        self.conflicts: list[str] = []
        for e in entries:
            self.add(e)

    def add(self, entry: BlockEntry) -> None:
        """Register ``entry`` under its names; a plain name already taken by another class keeps
        its first owner (the later class stays reachable by its qualified names)."""
        if any(e.cls is entry.cls for e in self.entries):
            return
        self.entries.append(entry)
        cls = entry.cls
        names = [f"{entry.provider}.{cls.__name__}", f"{entry.source}.{cls.__name__}", f"{entry.source}:{cls.__name__}",
                 f"{cls.__module__}.{cls.__qualname__}", f"{cls.__module__}:{cls.__qualname__}"]
        for alias in names:
            self._aliases.setdefault(alias, entry)
        owner = self._aliases.get(cls.__name__)
        if owner is None:
            self._aliases[cls.__name__] = entry
        elif owner.cls is not cls:
            self.conflicts.append(f"{cls.__name__}: {owner.source} and {entry.source}")

    def resolve(self, name: str) -> type[Block]:
        """The block class known as ``name``.

        Raises:
            RegistryError: ``name`` is not a registered block's name (nothing is imported).
        """
        if not isinstance(name, str):
            raise RegistryError(f"a block class must be named by a string, got {type(name).__name__}")
        entry = self._aliases.get(name)
        if entry is None:
            raise RegistryError(f"{name!r} is not a registered block; known blocks: {', '.join(self.names())} "
                                f"(plugins register theirs through the {ENTRY_POINT_GROUP!r} entry points)")
        return entry.cls

    def names(self) -> list[str]:
        """The plain names of the registered blocks, sorted."""
        return sorted({e.cls.__name__ for e in self.entries})

    def entry(self, name: str) -> BlockEntry:
        """The entry of ``name`` (as :meth:`resolve`)."""
        self.resolve(name)
        return self._aliases[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._aliases

    def __iter__(self) -> Any:
        return iter(sorted(self.entries, key=lambda e: (e.provider != "semradio", e.cls.__name__)))


_lock = threading.Lock()
_cached: BlockRegistry | None = None


def load_registry(refresh: bool = False) -> BlockRegistry:
    """The registry of every ``semradio.blocks`` entry point (cached; ``refresh`` re-reads the
    installed distributions, e.g. after a ``pip install``). A plugin that fails to import is
    logged and left out; semradio's own library must load."""
    global _cached
    with _lock:
        if _cached is not None and not refresh:
            return _cached
        reg = BlockRegistry()
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name != "semradio", ep.name))
        if not any(ep.name == "semradio" for ep in eps):
            raise RuntimeError("semradio's block library is not registered: install the package (pip install -e .) "
                               "so that its 'semradio.blocks' entry point exists")
        for ep in eps:
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
                if ep.name == "semradio":
                    raise
                log.warning("block plugin %s (%s) failed to load: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
                continue
            source = ep.value.split(":")[0]
            for cls in _block_classes(obj):
                reg.add(BlockEntry(cls, source, ep.name))
        for c in reg.conflicts:
            log.warning("block name conflict (the first keeps the plain name): %s", c)
        _cached = reg
        return reg


def resolve_block(name: str) -> type[Block]:
    """The registered block class known as ``name`` (see :class:`BlockRegistry.resolve`)."""
    return load_registry().resolve(name)


__all__ = ["ENTRY_POINT_GROUP", "RegistryError", "BlockEntry", "BlockRegistry", "load_registry", "resolve_block"]
