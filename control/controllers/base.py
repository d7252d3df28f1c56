"""The controller interface."""

from __future__ import annotations

from ..context import CycleContext
from ..snapshot import Snapshot


class Controller:
    """A controller: snapshot + own state -> demands.

    The cycle calls ``grid_share_w`` of all (to compute the residual grid power), then
    ``propose`` of each in the strategy's order, then ``settle`` of each in reverse order (limits
    that must see the whole plan come first in the order, so they settle last). A controller
    keeps only its own small state (timers, modes) between cycles.

    Attributes:
        name: the owner name its demands carry.
        assets: the asset ids whose setpoints it drives (they go to their fail-safe state if it
            raises).
    """

    name: str = "controller"
    assets: tuple[str, ...] = ()

    def grid_share_w(self, snapshot: Snapshot) -> float:
        """The grid power its assets cause now, W (+ = they draw from the grid)."""
        return 0.0

    def propose(self, ctx: CycleContext) -> None:
        """Plan this cycle's demands into ``ctx``."""

    def settle(self, ctx: CycleContext) -> None:
        """Enforce limits on the complete plan (after every ``propose``)."""
