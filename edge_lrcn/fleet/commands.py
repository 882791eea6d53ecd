"""What the fleet asks of the running pipeline, as typed values the daemon's loop applies between two frames.

Everything here was checked off the loop (fleet/update.py, fleet/remote.py): a command carries only what the loop
needs to act, and the loop applies it through one table (``edge_lrcn/commands.py``), keyed by the command's type.

- :class:`SwapModel`: a pushed model that passed every check, to be swapped in.
- :class:`ApplySettings`: remote settings kept and answered; the loop applies ``names`` from ``settings`` as a
  reload applies them.
- :class:`Pause`: the pause switch (``paused``: true releases the camera, false reopens it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from .remote import Change
    from .update import Prepared


@dataclass(frozen=True)
class SwapModel:
    prepared: Prepared


@dataclass(frozen=True)
class ApplySettings:
    settings: Settings
    names: tuple[str, ...]


@dataclass(frozen=True)
class Pause:
    paused: bool


Command = SwapModel | ApplySettings | Pause


def from_change(change: Change) -> list[Command]:
    """A remote change as the commands it holds, settings before the pause switch (the order the loop applied
    them in)."""
    commands: list[Command] = []
    if change.names:
        commands.append(ApplySettings(change.settings, tuple(change.names)))  # type: ignore[arg-type]
    if change.paused is not None:
        commands.append(Pause(change.paused))
    return commands
