"""Real processes for the cases: schedulers, workers and kernels, started and stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["free_port", "kernel", "local_mesh", "scheduler", "wait_for", "worker", "worker_pid"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def scheduler(port: int | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``dask scheduler`` process on 127.0.0.1; yields (address, process)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port)]
    p = subprocess.Popen(
        [*cmd, "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not wait_for(lambda: _listening(port), 30):
            raise RuntimeError("the scheduler did not start")
        yield f"tcp://127.0.0.1:{port}", p
    finally:
        p.kill()
        p.wait()


@contextlib.contextmanager
def worker(address: str, *, name: str = "w", nanny: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """A ``dask worker`` process (1 thread) joining ``address``."""
    cmd = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--name", name]
    cmd += ["--nanny" if nanny else "--no-nanny", "--host", "127.0.0.1"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield p
    finally:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGCONT)
        p.kill()
        p.wait()


@contextlib.contextmanager
def local_mesh(ctx: Any, settings: dict[str, Any] | None = None, **up: Any) -> Iterator[Any]:
    """The embedded mesh (CPU worker processes) with the case's history and registry
    (and ``settings`` over them)."""
    from mesh_magics.core.connection import local_client
    from mesh_magics.core.mesh import Mesh

    with ctx.config(**(settings or {})):
        m = Mesh(local_client(kind="cpu", threads=1, **{"workers": 2, **up}))
        try:
            yield m
        finally:
            m.down()


def worker_pid(mesh: Any, name: str) -> int:
    """The pid of the worker process called ``name``."""
    address = next(w.address for w in mesh.workers() if w.name == name)
    return int(mesh.client.run(os.getpid, workers=[address])[address])


@contextlib.contextmanager
def kernel(env: dict[str, str]) -> Iterator[Any]:
    """A real IPython kernel through jupyter_client (tests/_kernel.py)."""
    from _kernel import Kernel

    k = Kernel(env)
    try:
        yield k
    finally:
        k.close()


@contextlib.contextmanager
def degraded_link(target: int, *, delay: float, jitter: float, stall_p: float, stall: float) -> Iterator[int]:
    """A TCP forwarder on 127.0.0.1 to port ``target`` that delays every chunk by ``delay`` ±
    ``jitter`` seconds and, with probability ``stall_p`` per chunk, stalls the direction for
    ``stall`` seconds (order kept, nothing lost: what a slow, lossy path does to TCP).
    Yields the port to connect to."""
    import asyncio
    import random
    import threading

    rng = random.Random(7)
    ready = threading.Event()
    port_box: list[int] = []
    loop = asyncio.new_event_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        due = 0.0

        async def deliver() -> None:
            while True:
                t, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, t - loop.time()))
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                extra = stall if rng.random() < stall_p else 0.0
                due = max(due, loop.time() + delay + rng.uniform(-jitter, jitter) + extra)
                await queue.put((due, data))
                if not data:
                    break
        finally:
            await sender

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            w.close()
            return
        await asyncio.gather(pipe(r, uw), pipe(ur, w), return_exceptions=True)

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_box.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield port_box[0]
    finally:
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
