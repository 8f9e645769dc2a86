"""Runs a Python scenario's flows as the iterations of a worker's virtual users."""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import traceback
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from loadlens.engine.virtual_user import VirtualUser
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.scenario.model import Scenario
from loadlens.scripting.api import FlowFunction, ScriptFlow
from loadlens.scripting.script_loader import import_script
from loadlens.scripting.session import ScriptRuntime, Session

__all__ = ["ScriptPlan", "plan_script"]


def plan_script(
    scenario: Scenario, recorder: IntervalRecorder, worker_index: int, worker_count: int
) -> ScriptPlan:
    """A worker's Python flows, imported in the worker (the engine's ScriptFactory)."""
    assert scenario.script is not None
    _, flows, on_start = import_script(Path(scenario.script))
    runtime = ScriptRuntime(recorder, scenario.base_url, scenario.timeout)
    return ScriptPlan(scenario.script, flows, on_start, runtime, dict(scenario.headers),
                      worker_index, worker_count)  # fmt: skip


class ScriptPlan:
    """A worker's Python flows: picks one per iteration and keeps each user's Session.

    An exception in a flow ends that iteration, never the run: it is counted under
    `file:line: Type: message` (the first of each kind is printed with its traceback), so
    a bug in the script shows up in the results instead of as a crash.
    """

    def __init__(
        self,
        script: str,
        flows: list[ScriptFlow],
        on_start: FlowFunction | None,
        runtime: ScriptRuntime,
        headers: Mapping[str, str],
        worker_index: int,
        worker_count: int,
    ) -> None:
        self.script = script
        self.flows = flows
        self.cum_weights = list(itertools.accumulate(f.weight for f in flows))
        self.on_start = on_start
        self.runtime = runtime
        self.endpoint_names = runtime.endpoint_names  # (the runtime's lists, as they grow)
        self.check_names = runtime.check_names
        self.headers = dict(headers)
        self.errors: Counter[str] = Counter()  # since the last snapshot
        self._keys: dict[str, str] = {}  # "file:line: Type" -> its counted key
        self._sessions: dict[VirtualUser, tuple[Session, list[bool]]] = {}
        # 1, 2, 3, ... across the run: worker i numbers its users i+1, i+1+n, ...
        self._user_ids = itertools.count(worker_index + 1, worker_count)

    def _session(self, user: VirtualUser) -> tuple[Session, list[bool]]:
        found = self._sessions.get(user)
        if found is None:
            session = Session(user, self.runtime, next(self._user_ids), self.headers)
            found = self._sessions[user] = (session, [False])
        return found

    def forget(self, user: VirtualUser) -> None:
        """The user is gone."""
        self._sessions.pop(user, None)

    def take_errors(self) -> dict[str, int]:
        """Exceptions counted since the last call."""
        errors = dict(self.errors)
        self.errors.clear()
        return errors

    async def iteration(self, user: VirtualUser, intended_ns: int | None) -> None:
        """One iteration of `user`: its on_start first (until that succeeds), then a flow."""
        session, started = self._session(user)
        if self.on_start is not None and not started[0]:
            session.start_iteration(intended_ns, counted=False)
            intended_ns = None
            failed_before = session.failed_requests
            ok = await self._guarded(self.on_start, session)
            # A request that failed in on_start (a refused login) fails it too.
            started[0] = ok and session.failed_requests == failed_before
            if not started[0]:
                return  # no session to go on with: the next iteration tries again
        flows = self.flows
        chosen = (
            flows[0] if len(flows) == 1 else random.choices(flows, cum_weights=self.cum_weights)[0]
        )
        session.start_iteration(intended_ns)
        await self._guarded(chosen.function, session)

    async def _guarded(self, function: FlowFunction, session: Session) -> bool:
        try:
            await function(session)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as e:
            frames = [f for f in traceback.extract_tb(e.__traceback__)
                      if f.filename == self.script]  # fmt: skip
            where = f"{Path(self.script).name}:{frames[-1].lineno}" if frames else "script"
            # Counted by place and type; the first message stands for the rest (messages
            # carry ids and values, and would make every error its own).
            kind = f"{where}: {type(e).__name__}"
            key = self._keys.get(kind)
            if key is None:
                key = self._keys[kind] = f"{kind}: {e}"
                print(f"loadlens: in {where} (counted, the run goes on):", file=sys.stderr)
                traceback.print_exception(e, file=sys.stderr)
            self.errors[key] += 1
            return False
