"""API load benchmark: latency of ``GET /api/v1/needs/{ref}/shortlist`` under concurrent clients.

What it does:

1. Gets a demo database: ``--db PATH`` (created there when absent, reused after), else ``var/passerelle.sqlite`` when present (``make
   run``), else a fresh one in a temporary folder through the services (``seed_demo`` with the
   documented demo sizes, then ``run_nightly``, which publishes the shortlists).
2. Starts the server exactly as ``passerelle serve`` does (``uvicorn api.main:create_app
   --factory``, one worker) in a subprocess on a free port, pointed at that database.
3. Gets bearer tokens for the desk, an administrator and the counsellors, warms up (every need
   once, and the fitted engine for ``?fresh=true``), then runs ``--clients`` concurrent clients
   for ``--duration`` seconds, each one looping over the open needs with its token (closed loop,
   no think time, so this is the service at saturation).
4. Prints p50 / p95 / p99, the request rate and the errors (any non-200 answer or transport
   error), then the same for ``?fresh=true`` over ``--fresh-requests`` requests.

Targets: published p95 <= 50 ms with zero errors; fresh p95 <= 150 ms. The machine is shared and
has few cores (client and server compete for them): figures are indicative.

Load tool: httpx's ``AsyncClient`` on asyncio (httpx is already a dev dependency). Locust is not
installed and would bring gevent and its monkey-patching for what is here one endpoint, a closed
loop and three percentiles; with ``--procs`` > 1 the clients are spread over processes so that the
client's own event loop does not become the bottleneck on bigger machines.

    .venv/bin/python benchmarks/bench_api.py [--duration 60] [--clients 20] [--procs 1]
        [--fresh-requests 200] [--db var/passerelle.sqlite]

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.config import PROJECT_DIR, Settings  # noqa: E402

TARGET_P95_MS = 50.0
TARGET_FRESH_P95_MS = 150.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_database(args, tmp: Path) -> tuple[str, Path]:
    """(database URL, data dir) of a demo database with a published run."""
    if args.db and Path(args.db).exists():
        return f"sqlite:///{Path(args.db).resolve()}", Path(args.db).resolve().parent
    default = PROJECT_DIR / "var" / "passerelle.sqlite"
    if not args.db and default.exists():
        return f"sqlite:///{default}", default.parent
    if args.db:  # created there, reused by the next runs
        tmp = Path(args.db).resolve().parent
        tmp.mkdir(parents=True, exist_ok=True)
    from matching.services.demo import seed_demo
    from matching.services.nightly import run_nightly
    from matching.store.db import make_engine, upgrade
    from matching.taxonomy.referential import load_referential

    url = f"sqlite:///{Path(args.db).resolve() if args.db else tmp / 'passerelle.sqlite'}"
    settings = Settings(data_dir=tmp, database_url=url)
    t0 = time.perf_counter()
    store = make_engine(url)
    upgrade(store)
    seed_demo(store, load_referential(settings.referential_dir), as_of=date.today())
    run_nightly(settings, store=store)
    store.dispose()
    print(f"base de démonstration créée en {time.perf_counter() - t0:.1f} s ({tmp})")
    return url, tmp


def start_server(url: str, data_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PASSERELLE_DATABASE_URL": url,
        "PASSERELLE_DATA_DIR": str(data_dir),
    }
    cmd = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/connexion", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"le serveur s'est arrêté (code {proc.returncode})")
    proc.terminate()
    raise RuntimeError("le serveur n'a pas répondu en 60 s")


def tokens(base: str, password: str) -> list[dict]:
    out = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for user in ("guichet", "admin", "conseiller1", "conseiller2", "conseiller3"):
            r = c.post("/api/v1/token", json={"identifiant": user, "mot_de_passe": password})
            r.raise_for_status()
            out.append({"Authorization": f"Bearer {r.json()['access_token']}"})
    return out


async def _client_loop(client, headers, refs, start, deadline, max_requests, query, out, issued):
    for i in itertools.count(start):
        if time.monotonic() >= deadline or (max_requests and issued[0] >= max_requests):
            return
        issued[0] += 1
        t0 = time.perf_counter()
        try:
            r = await client.get(f"/api/v1/needs/{refs[i % len(refs)]}/shortlist{query}",
                                 headers=headers)  # fmt: skip
            status = r.status_code
        except httpx.HTTPError:
            status = -1
        out.append(((time.perf_counter() - t0) * 1000.0, status))


async def _load(base, auths, refs, clients, duration, max_requests, query, first):
    out: list[tuple[float, int]] = []
    issued = [0]  # requests started by this process (one event loop: no lock needed)
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        await asyncio.gather(*(
            _client_loop(client, auths[(first + k) % len(auths)], refs, (first + k) * 7,
                         deadline, max_requests, query, out, issued)
            for k in range(clients)
        ))  # fmt: skip
    return out


def load_process(base, auths, refs, clients, duration, max_requests, query, first):
    """One client process: ``clients`` concurrent loops; returns (latency ms, status) pairs."""
    return asyncio.run(_load(base, auths, refs, clients, duration, max_requests, query, first))


def run_phase(args, base, auths, refs, *, query: str, duration: float, max_requests: int, server):
    procs = max(1, min(args.procs, args.clients))
    share = [args.clients // procs + (i < args.clients % procs) for i in range(procs)]
    per_proc_max = -(-max_requests // procs) if max_requests else 0
    cpu0 = sum(psutil.Process(server.pid).cpu_times()[:2])
    t0 = time.perf_counter()
    if procs == 1:
        results = [load_process(base, auths, refs, share[0], duration, per_proc_max, query, 0)]
    else:
        with ProcessPoolExecutor(procs) as pool:
            futures = [
                pool.submit(load_process, base, auths, refs, n, duration, per_proc_max, query,
                            sum(share[:i]))
                for i, n in enumerate(share)
            ]  # fmt: skip
            results = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    cpu = sum(psutil.Process(server.pid).cpu_times()[:2]) - cpu0
    rows = [x for part in results for x in part]
    lat = np.array([ms for ms, _ in rows])
    errors = sum(1 for _, status in rows if status != 200)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    return {"n": len(rows), "rate": len(rows) / wall, "p50": p50, "p95": p95, "p99": p99,
            "errors": errors, "wall": wall, "cpu_ms": cpu * 1000 / max(1, len(rows))}  # fmt: skip


def report(title: str, r: dict) -> None:
    print(
        f"{title}: {r['n']} requêtes en {r['wall']:.1f} s ({r['rate']:.0f} req/s) — "
        f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms — "
        f"erreurs : {r['errors']} — CPU du serveur : {r['cpu_ms']:.1f} ms par requête"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="secondes (liste publiée)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--procs", type=int, default=1, help="processus clients")
    parser.add_argument("--fresh-requests", type=int, default=200)
    parser.add_argument(
        "--db", help="base SQLite de démonstration : réutilisée, ou créée là si absente"
    )
    args = parser.parse_args()

    from matching.services.demo import DEMO_PASSWORD

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        url, data_dir = demo_database(args, Path(tmp))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, data_dir, port)
        try:
            auths = tokens(base, DEMO_PASSWORD)
            with httpx.Client(base_url=base, timeout=300, headers=auths[0]) as c:
                needs = c.get("/api/v1/needs", params={"limite": 500}).json()["elements"]
                refs = [n["ref"] for n in needs]
                for ref in refs:  # warm-up: every need once, published and fresh (engine fit)
                    c.get(f"/api/v1/needs/{ref}/shortlist").raise_for_status()
                c.get(f"/api/v1/needs/{refs[0]}/shortlist?fresh=true").raise_for_status()
            print(f"{len(refs)} besoins ouverts, {args.clients} clients, "
                  f"{args.procs} processus client(s), serveur : 1 processus uvicorn")  # fmt: skip
            pub = run_phase(args, base, auths, refs, query="", duration=args.duration,
                            max_requests=0, server=server)  # fmt: skip
            report("liste publiée", pub)
            fresh = run_phase(args, base, auths, refs, query="?fresh=true",
                              duration=max(args.duration, 120.0),
                              max_requests=args.fresh_requests, server=server)  # fmt: skip
            report("calcul immédiat (?fresh=true)", fresh)
        finally:
            server.terminate()
            server.wait(timeout=30)
    ok = pub["p95"] <= TARGET_P95_MS and pub["errors"] == 0
    ok_fresh = fresh["p95"] <= TARGET_FRESH_P95_MS and fresh["errors"] == 0
    print(f"objectif liste publiée p95 <= {TARGET_P95_MS:.0f} ms sans erreur : "
          f"{'atteint' if ok else 'MANQUÉ'}")  # fmt: skip
    print(f"objectif calcul immédiat p95 <= {TARGET_FRESH_P95_MS:.0f} ms : "
          f"{'atteint' if ok_fresh else 'MANQUÉ'}")  # fmt: skip
    return 0 if ok and ok_fresh else 1


if __name__ == "__main__":
    sys.exit(main())
