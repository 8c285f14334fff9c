"""A customer's current plan (derived from activations) and the next plan up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage import reads
from storage.db import Database
from tools.access.grants import JOINED
from tools.access.resources import TELEGRAM_CHAT, WEBHOOK
from tools.cards import AccessLine, PlanCard, PlanEffect, PlansCard
from tools.catalog import Catalog


class PlanBook:
    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog

    async def current(self, user_id: int, now: datetime) -> tuple[str | None, datetime | None]:
        """The highest-ranked plan active now, and when it ends (renewals stack)."""
        return self._best(await self.db.read(lambda c: reads.active_plans(c, user_id, now)))

    def _best(self, active: Sequence[Any]) -> tuple[str | None, datetime | None]:
        """The highest-ranked of these running activations' plans (the catalog as it is
        now), and when it ends."""
        known = [a for a in active if a.plan in self.catalog.plan_codes]
        if not known:
            return None, None
        best = max(known, key=lambda a: self.catalog.plan(a.plan).rank)
        end = max(a.period_end for a in known if a.plan == best.plan)
        return best.plan, end

    async def user_plan(self, user_id: int, now: datetime) -> PlanCard:
        active, grants = await self.db.read(  # one read for the plan and its access
            lambda c: (reads.active_plans(c, user_id, now), reads.open_access(c, user_id))
        )
        code, end = self._best(active)
        access = self._access(grants)
        plan = self.catalog.plan(code) if code else None
        up = self.catalog.next_plan_up(plan)
        price = up.price if up else None  # the full price: an upgrade is not prorated
        added = tuple(f for f in up.features if not plan or f not in plan.features) if up else ()
        return PlanCard(plan, end, up, price, added, access)

    async def effect(self, user_id: int, plan_name: str, now: datetime) -> PlanEffect | None:
        """What buying a plan now does to the customer's running plans, as
        `tools.transitions` will do it: the same plan extends from its end (a renewal);
        another plan starts when paid and runs alongside the others, at its full price."""
        plan = self.catalog.plan(plan_name)
        active = await self.db.read(lambda c: reads.active_plans(c, user_id, now))
        known = [a for a in active if a.plan in self.catalog.plan_codes]
        same = [a.period_end for a in known if a.plan == plan.code]
        if same:
            return PlanEffect("renewal", plan, plan, max(same))
        code, end = self._best(active)
        if code is None or end is None:
            return None
        current = self.catalog.plan(code)
        return PlanEffect(
            "upgrade" if current.rank < plan.rank else "alongside", plan, current, end
        )

    @staticmethod
    def _access(grants: Sequence[Any]) -> tuple[AccessLine, ...]:
        """What the customer's plans open now (`tools.access`), from their open grants."""
        return tuple(
            AccessLine(
                g.kind,
                None if g.last_result == JOINED else g.invite_link,
                g.last_result == JOINED if g.kind == TELEGRAM_CHAT else g.applied,
            )
            for g in grants
            if g.kind != WEBHOOK
        )

    async def all_plans(self, user_id: int, now: datetime) -> PlansCard:
        code, _ = await self.current(user_id, now)
        return PlansCard(self.catalog.plans, code)
