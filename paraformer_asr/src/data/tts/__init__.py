"""Text-to-speech engines for the synthetic corpora: one module per engine.

Each engine module has ``NAME``, ``INSTALL_HINT``, ``find()`` (its executable or None),
``missing_voices(exe, voices)`` and ``synthesize(exe, *, text, voice, speed, pitch, out)``.
"""

from __future__ import annotations

from types import ModuleType

from src.data.tts import espeak, festival, flite

ENGINES: dict[str, ModuleType] = {m.NAME: m for m in (espeak, flite, festival)}


class EngineMissingError(RuntimeError):
    """A requested engine is not installed; the message gives the install command."""


def engine(name: str) -> ModuleType:
    if name not in ENGINES:
        raise ValueError(f"unknown TTS engine {name!r}; choose from {', '.join(ENGINES)}")
    return ENGINES[name]


def find_engines(names: list[str]) -> dict[str, str]:
    """``{engine name: executable}`` for ``names``; raises EngineMissingError naming each missing one."""
    found, hints = {}, []
    for name in names:
        exe = engine(name).find()
        if exe is None:
            hints.append(engine(name).INSTALL_HINT)
        else:
            found[name] = exe
    if hints:
        raise EngineMissingError("\n\n".join(hints))
    return found
