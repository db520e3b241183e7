"""The result cache at work: :class:`RunCache` looks runs up and stores them, :class:`CachedRun`
replays a hit. What an entry holds and what a hit guarantees: :mod:`.cache`.

A lookup costs nothing on the mesh when no entry has the run's key; otherwise one
``Client.run`` asks the target workers for the tokens of the names the entries need. A hit
is a :class:`CachedRun`: a :class:`~.run.MeshRun` that has ended, whose output, value and
pulled variables are those of the original run (unpickled afresh), whose history row is
marked ``cached_from`` the original run, and which says so in the cell. A run that was not
served is stored when it finishes, if every token it needs is deterministic; else the cell
says why it was not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..worker import cell
from .cache import CacheEntry, ResultCache, limits, primary_key
from .render import Renderer
from .run import MeshRun
from .spec import RunSpec
from .target import Target

if TYPE_CHECKING:  # pragma: no cover
    from .dispatch import Dispatcher
    from .interfaces import RunObserver

__all__ = ["CachedRun", "RunCache"]


class _Replay:
    """The :class:`~.interfaces.Control` of a replayed run: nothing runs, nothing to retry."""

    connected = True

    def __init__(self, label: Callable[[str], str], ended: Callable[[MeshRun], Any]) -> None:
        self.label, self._ended = label, ended

    def retry(self, run: MeshRun, target: Target, why: str, *, worker_left: bool = False) -> bool:
        return False

    def resume(self, run: MeshRun, target: Target) -> bool:
        return False

    def cancel(self, run: MeshRun, targets: Sequence[Target]) -> None:
        pass

    def started(self, run: MeshRun) -> None:
        pass

    def ended(self, run: MeshRun) -> None:
        self._ended(run)


class CachedRun(MeshRun):
    """A run served from the cache: ended (``finished``) as soon as it is made.
    ``cached_from`` is the original run's id, ``entry`` its :class:`~.cache.CacheEntry`."""

    def __init__(self, spec: RunSpec, entry: CacheEntry, control: _Replay, renderer: Renderer | None) -> None:
        import cloudpickle

        saved = cloudpickle.loads(entry.blob)
        targets = [Target(a, {}) for a in entry.targets]
        for t in targets:
            t.result = saved["results"][t.address]
        super().__init__(uuid.uuid4().hex, spec, control, targets, renderer=renderer)
        self.entry = entry
        self.cached_from = entry.run_id
        self._pulled = dict(saved["pulled"])

    def replay(self) -> None:
        """Show the original run's output and end as it did (observers see a whole run)."""
        self.started = time.time()
        self.status = "running"
        self._each("on_start")
        when = time.strftime("%H:%M:%S", time.localtime(self.entry.when))
        self.renderer.message(
            f"cached (from run {self.entry.name} at {when}): the cell did not run again; "
            "`%mesh cache clear` forgets cached results",
            "stdout",  # a notice, not a warning: notebooks paint stderr as an error
        )
        for key, text in self.entry.output:
            self._output.write(key, text, self.renderer, self._key_label(key))
        self.pull_values.update(self._pulled)
        self._finish("finished", None)

    def __repr__(self) -> str:
        return f"<CachedRun {self.name!r} from {self.entry.name!r} on {', '.join(self.targets)}>"


class RunCache:
    """The cache of one mesh between its dispatcher and its runs (see the module doc)."""

    def __init__(self, cache: ResultCache, dispatch: Dispatcher, *, client: Callable[[], Any],
                 audit: Callable[[MeshRun], RunObserver | None] | None = None) -> None:  # fmt: skip
        self.cache, self._dispatch, self._client, self._audit = cache, dispatch, client, audit
        self._session, self._recorder, self._label = dispatch.session, dispatch.recorder, dispatch.label

    def submit(self, spec: RunSpec, user_ns: Mapping[str, Any] | None, renderer: Renderer | None) -> MeshRun:
        """The run of ``spec``: served from an entry, or submitted and stored when it finishes."""
        hit = self.lookup(spec, user_ns, renderer)
        if hit is not None:
            return hit
        run = self._dispatch.submit(spec, user_ns=user_ns, renderer=renderer)
        self.watch(run)
        return run

    def lookup(
        self, spec: RunSpec, user_ns: Mapping[str, Any] | None, renderer: Renderer | None
    ) -> CachedRun | None:
        """The run served from an entry, replayed; None when no entry matches (the cell says
        why when one had the run's key)."""
        limits()  # a bad mesh.cache.* setting fails before anything runs
        addresses = self._dispatch.preview(spec)
        entries = self.cache.candidates(primary_key(spec, addresses))
        if not entries:  # nothing to compare: no pushes selected twice, no round trip
            return None
        from .cache import tokens

        pushes = {a: self._dispatch.pushes(spec, a, user_ns) for a in addresses}
        pushed = {a: tokens(p, sorted(p)) for a, p in pushes.items()}
        names = sorted({n for e in entries for a in e.targets for n in (*e.inputs[a], *e.outputs[a])})
        try:
            current = self._client().run(
                cell.namespace_tokens, self._session, names, workers=sorted(addresses)
            )
        except Exception as e:  # a worker gone meanwhile: run the cell
            _say(
                renderer,
                f"not cached: the workers' namespaces could not be read ({type(e).__name__}: {e}); running it",
            )
            return None
        why = None
        for entry in entries:
            why = entry.mismatch(pushed, current, self._label)
            if why is None:
                return self._serve(spec, entry, renderer)
        _say(renderer, f"not cached: {why}; running it")
        return None

    def _serve(self, spec: RunSpec, entry: CacheEntry, renderer: Renderer | None) -> CachedRun | None:
        try:
            run = CachedRun(spec, entry, _Replay(self._label, self._dispatch.remember), renderer)
        except Exception as e:  # its value no longer unpickles here (a class gone from the kernel)
            self.cache.drop(entry)
            _say(
                renderer,
                f"not cached: run {entry.name}'s result cannot be read back ({type(e).__name__}: {e}); running it",
            )
            return None
        self.cache.hit(entry)
        run.attach(self._recorder)
        watcher = self._audit(run) if self._audit is not None else None  # who asked, answered from the cache
        if watcher is not None:
            run.attach(watcher)
        self._recorder.queued(run)
        run.replay()
        self._recorder.update(
            run.id,
            cached_from=entry.run_id,
            summary={"duration": 0.0, "cache": {"from": entry.run_id, "name": entry.name, "at": entry.when}},
        )
        return run

    def watch(self, run: MeshRun) -> None:
        """Store ``run`` when it finishes (a failed, cancelled or lost run never is)."""
        run.add_done_callback(self._store)

    def _store(self, run: MeshRun) -> None:
        if run.status != "finished" or run.error is not None:
            return
        try:
            entry, why = self._entry(run)
            if entry is not None:
                why = self.cache.put(entry)
        except Exception as e:  # e.g. a value that unpickled on the kernel but does not pickle again
            why = f"{type(e).__name__}: {e}"
        if why is not None:
            run.renderer.message(f"not cached: {why}")

    def _entry(self, run: MeshRun) -> tuple[CacheEntry | None, str | None]:
        import cloudpickle

        results = run.results_by_address()
        inputs, outputs = {}, {}
        for address, result in results.items():
            tokens = result.get("cache")
            if tokens is None:
                return (
                    None,
                    f"worker {self._label(address)} did not report its namespace (another mesh-magics?)",
                )
            for side in ("in", "out"):
                bad = sorted(n for n, t in tokens[side].items() if t is None)
                if bad:
                    return None, (
                        f"`{bad[0]}` has no deterministic Dask token, so a later change to it could "
                        "not be seen (give its type a __dask_tokenize__ method, or run the cell without the cache)"
                    )
            inputs[address], outputs[address] = tokens["in"], tokens["out"]
        kept = {a: {k: v for k, v in r.items() if k not in ("cache", "names")} for a, r in results.items()}
        blob = cloudpickle.dumps({"results": kept, "pulled": dict(run.pull_values)})
        output = tuple(
            ((a, s), text)
            for a in sorted(results)
            for s in ("stdout", "stderr")
            if (text := run.output(a, s))
        )
        entry = CacheEntry(
            key=primary_key(run.spec, results),
            run_id=run.id,
            name=run.name,
            when=run.finished or time.time(),
            targets=tuple(sorted(results)),
            inputs=inputs,
            outputs=outputs,
            blob=blob,
            output=output,
            source=run.spec.code,
        )
        return entry, None


def _say(renderer: Renderer | None, text: str) -> None:
    if renderer is not None:
        renderer.message(text)
