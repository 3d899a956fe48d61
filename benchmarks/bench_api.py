"""API load benchmark: latency of ``GET /api/v1/needs/{ref}/shortlist`` under concurrent clients.

What it does:

1. Gets a demo database: ``--db PATH`` (created there when absent, reused after), else
   ``var/passerelle.sqlite`` when present (``make run``), else a fresh one in a temporary folder
   through the services, as ``make run`` does (``seed_demo`` with the documented demo sizes, the
   ranker trained on its history into the folder's ``models/``, then ``run_nightly``, which
   publishes the shortlists). The header names the ranker the server uses.
2. For each ``--workers`` value, starts the server as ``passerelle serve --workers N`` does
   (``uvicorn api.main:create_app --factory --workers N``; without the access log, which
   ``serve`` writes at level ``info``) in a subprocess on a free port, pointed at that database.
3. Waits until the server's start-up work is over (the normaliser and the engine are loaded in
   background threads: the server's CPU falls back to idle), gets bearer tokens for the desk, an
   administrator and the counsellors, warms up (every need several times, so that every worker
   has read it, and ``?fresh=true``), then runs ``--clients`` concurrent clients for
   ``--duration`` seconds, each one looping over the open needs and the tokens (closed loop, no
   think time: the service at saturation), then the same with ``?fresh=true`` for
   ``--fresh-duration`` seconds, then ``?fresh=true`` again with ``top`` values that make every
   request a computation (the server keeps fresh lists per fitted engine, need and ``top``: the
   second phase mostly measures that memo after the first pass over the needs, the third the
   engine itself under ``--clients`` concurrent clients, the fourth the engine for one client
   alone: the latency a counsellor sees when pressing "calculer maintenant").
4. Prints p50 / p95 / p99, the request rate, the errors (any non-2xx answer, transport error or
   timeout) and the server's CPU time per request (all its processes).

Targets: published p95 <= 50 ms with zero errors; fresh p95 <= 150 ms. The machine is shared and
has few cores (client and server compete for them): the load average is printed with the
figures, which are indicative.

Load tool: ``wrk`` when installed (``make bench-tools``; Debian package ``wrk``), with a Lua
script rotating the need references and the tokens: a C event loop that costs the server's cores
almost nothing. Otherwise (or with ``--tool httpx``) httpx's ``AsyncClient`` on asyncio, which
costs about as much CPU per request as the server itself: on a 2-core machine it halves the
throughput that can be measured, so its figures are pessimistic. With ``--procs`` > 1 the httpx
clients are spread over processes.

    .venv/bin/python benchmarks/bench_api.py [--duration 60] [--clients 20] [--workers 1 2]
        [--fresh-duration 30] [--tool auto|wrk|httpx] [--procs 1] [--db var/passerelle.sqlite]

Exit status 1 when the published target or the fresh target under ``--clients`` clients (second
phase) is missed; the computed-every-time phases print their verdicts too (under 20 closed-loop
clients they measure the saturation of the cores, ~100 computed lists/s on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
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
#: ``top`` values rotated with the 103 needs in the "always computed" fresh phase: the server
#: keeps fresh lists per (fitted engine, need, top), and the pairs (need, top) only repeat every
#: lcm(103, 20) = 2060 requests, more than such a phase sends.
COLD_TOPS = tuple(range(41, 61))
USERS = ("guichet", "admin", "conseiller1", "conseiller2", "conseiller3")


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
    from matching.services.matching import train

    # as ``make run``: demo data, the ranker trained on its history, then the nightly run
    settings = Settings(data_dir=tmp, database_url=url, models_dir=tmp / "models")
    t0 = time.perf_counter()
    store = make_engine(url)
    upgrade(store)
    seed_demo(store, load_referential(settings.referential_dir), as_of=date.today())
    train(settings, store)
    run_nightly(settings, store=store)
    store.dispose()
    print(f"base de démonstration créée en {time.perf_counter() - t0:.1f} s ({tmp})")
    return url, tmp


def models_dir(data_dir: Path) -> Path:
    """The models of a database this script created, else the project's (``make run``)."""
    own = data_dir / "models"
    return own if own.is_dir() else PROJECT_DIR / "models"


def ranker_label(data_dir: Path) -> str:
    from matching.ranking.ranker import NO_MODEL_LABEL
    from matching.services.matching import current_ranker

    ranker = current_ranker(Settings(data_dir=data_dir, models_dir=models_dir(data_dir)))
    return getattr(ranker, "name", None) or NO_MODEL_LABEL


# --- the server -----------------------------------------------------------------------------
def start_server(url: str, data_dir: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PASSERELLE_DATABASE_URL": url,
        "PASSERELLE_DATA_DIR": str(data_dir),
        "PASSERELLE_MODELS_DIR": str(models_dir(data_dir)),
    }
    cmd = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
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


def server_procs(server: subprocess.Popen) -> list[psutil.Process]:
    root = psutil.Process(server.pid)
    return [root, *root.children(recursive=True)]


def server_cpu_s(server: subprocess.Popen) -> float:
    """User + system CPU seconds of the server's processes (the workers included)."""
    total = 0.0
    for p in server_procs(server):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker restarting
            total += sum(p.cpu_times()[:2])
    return total


def wait_idle(server: subprocess.Popen, *, timeout: float = 180.0) -> float:
    """Wait until the start-up work in background threads (normaliser, engine fit, in every
    worker) is over: the server's CPU below 10 % of a core for two seconds. Seconds waited."""
    t0 = time.monotonic()
    quiet = 0
    last = server_cpu_s(server)
    while time.monotonic() - t0 < timeout and quiet < 4:
        time.sleep(0.5)
        now = server_cpu_s(server)
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return time.monotonic() - t0


def tokens(base: str, password: str) -> list[dict]:
    out = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for user in USERS:
            r = c.post("/api/v1/token", json={"identifiant": user, "mot_de_passe": password})
            r.raise_for_status()
            out.append({"Authorization": f"Bearer {r.json()['access_token']}"})
    return out


def warm_up(base: str, auths: list[dict], workers: int) -> list[str]:
    """The open needs' references, after every worker has served each of them (published) and
    computed a few fresh shortlists. Connections are new per pass so that they spread."""
    with httpx.Client(base_url=base, timeout=300, headers=auths[0]) as c:
        needs = c.get("/api/v1/needs", params={"limite": 500}).json()["elements"]
    refs = [n["ref"] for n in needs]
    for _ in range(3 * workers):
        with httpx.Client(base_url=base, timeout=300, headers=auths[0]) as c:
            for ref in refs:
                c.get(f"/api/v1/needs/{ref}/shortlist").raise_for_status()
        with httpx.Client(base_url=base, timeout=300, headers=auths[0]) as c:
            c.get(f"/api/v1/needs/{refs[0]}/shortlist?fresh=true").raise_for_status()
    return refs


# --- load with wrk ----------------------------------------------------------------------------
WRK_SCRIPT = """
local refs = {%(refs)s}
local tokens = {%(tokens)s}
local query = %(query)s
local tops = {%(tops)s}
local i = %(start)d

request = function()
  i = i + 1
  local q = query
  if #tops > 0 then q = q .. "&top=" .. tops[(i %% #tops) + 1] end
  return wrk.format("GET", "/api/v1/needs/" .. refs[(i %% #refs) + 1] .. "/shortlist" .. q,
                    {["Authorization"] = tokens[(i %% #tokens) + 1]})
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"n": %%d, "duration_us": %%d, "p50": %%.3f, "p95": %%.3f, "p99": %%.3f, ' ..
    '"errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def load_wrk(base, auths, refs, *, clients, duration, query, tops, tmp: Path) -> dict:
    script = tmp / "shortlist.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "refs": ", ".join(json.dumps(r) for r in refs),
            "tokens": ", ".join(json.dumps(a["Authorization"]) for a in auths),
            "query": json.dumps(query),
            "tops": ", ".join(str(t) for t in tops),
            "start": 0,
        }
    )
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
           "-s", str(script), base]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    r = json.loads(line[4:])
    wall = r["duration_us"] / 1e6
    return {"n": r["n"], "wall": wall, "rate": r["n"] / wall, "p50": r["p50"], "p95": r["p95"],
            "p99": r["p99"], "errors": r["errors"]}  # fmt: skip


# --- load with httpx (fallback) ---------------------------------------------------------------
def _url(refs, tops, query, i) -> str:
    top = f"&top={tops[i % len(tops)]}" if tops else ""
    return f"/api/v1/needs/{refs[i % len(refs)]}/shortlist{query}{top}"


async def _client_loop(client, headers, refs, start, deadline, query, tops, out):
    for i in itertools.count(start):
        if time.monotonic() >= deadline:
            return
        t0 = time.perf_counter()
        try:
            r = await client.get(_url(refs, tops, query, i), headers=headers)
            status = r.status_code
        except httpx.HTTPError:
            status = -1
        out.append(((time.perf_counter() - t0) * 1000.0, status))


async def _load(base, auths, refs, clients, duration, query, tops, first):
    out: list[tuple[float, int]] = []
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        await asyncio.gather(*(
            _client_loop(client, auths[(first + k) % len(auths)], refs, (first + k) * 7,
                         deadline, query, tops, out)
            for k in range(clients)
        ))  # fmt: skip
    return out


def load_process(base, auths, refs, clients, duration, query, tops, first):
    """One client process: ``clients`` concurrent loops; returns (latency ms, status) pairs."""
    return asyncio.run(_load(base, auths, refs, clients, duration, query, tops, first))


def load_httpx(base, auths, refs, *, clients, duration, query, tops, procs) -> dict:
    procs = max(1, min(procs, clients))
    share = [clients // procs + (i < clients % procs) for i in range(procs)]
    t0 = time.perf_counter()
    if procs == 1:
        results = [load_process(base, auths, refs, share[0], duration, query, tops, 0)]
    else:
        with ProcessPoolExecutor(procs) as pool:
            futures = [
                pool.submit(
                    load_process, base, auths, refs, n, duration, query, tops, sum(share[:i])
                )
                for i, n in enumerate(share)
            ]
            results = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    rows = [x for part in results for x in part]
    lat = np.array([ms for ms, _ in rows])
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    return {"n": len(rows), "wall": wall, "rate": len(rows) / wall, "p50": p50, "p95": p95,
            "p99": p99, "errors": sum(1 for _, s in rows if s != 200)}  # fmt: skip


def run_phase(args, base, auths, refs, *, query: str, duration: float, server, tmp,
              tops: tuple[int, ...] = (), clients: int | None = None) -> dict:  # fmt: skip
    """One closed-loop phase; ``tops``: ``top`` values rotated with the needs (none: 50);
    ``clients``: concurrent clients (default ``--clients``)."""
    clients = clients or args.clients
    cpu0 = server_cpu_s(server)
    if args.tool == "wrk":
        r = load_wrk(base, auths, refs, clients=clients, duration=duration, query=query,
                     tops=tops, tmp=tmp)  # fmt: skip
    else:
        r = load_httpx(base, auths, refs, clients=clients, duration=duration, query=query,
                       tops=tops, procs=args.procs)  # fmt: skip
    r["cpu_ms"] = (server_cpu_s(server) - cpu0) * 1000 / max(1, r["n"])
    r["load"] = os.getloadavg()[0]
    return r


def report(title: str, r: dict) -> None:
    print(
        f"{title}: {r['n']} requêtes en {r['wall']:.1f} s ({r['rate']:.0f} req/s) — "
        f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms — "
        f"erreurs : {r['errors']} — CPU du serveur : {r['cpu_ms']:.2f} ms par requête — "
        f"charge de la machine (1 min) : {r['load']:.2f}",
        flush=True,
    )


def bench_workers(args, url, data_dir, workers: int, tmp: Path) -> tuple[dict, ...]:
    from matching.services.demo import DEMO_PASSWORD

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, data_dir, port, workers)
    try:
        waited = wait_idle(server)
        auths = tokens(base, DEMO_PASSWORD)
        refs = warm_up(base, auths, workers)
        wait_idle(server, timeout=60)
        print(f"-- serveur : {workers} processus uvicorn (démarrage {waited:.0f} s) ; "
              f"{len(refs)} besoins ouverts, {args.clients} clients, outil : {args.tool}, "
              f"classement : {ranker_label(data_dir)} ; "
              f"CPU : {os.cpu_count()} cœurs, charge (1/5/15 min) : "
              f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
        pub = run_phase(args, base, auths, refs, query="", duration=args.duration,
                        server=server, tmp=tmp)  # fmt: skip
        report(f"liste publiée ({workers} w)", pub)
        fresh = run_phase(args, base, auths, refs, query="?fresh=true",
                          duration=args.fresh_duration, server=server, tmp=tmp)  # fmt: skip
        report(f"calcul immédiat ?fresh=true ({workers} w)", fresh)
        cold = run_phase(args, base, auths, refs, query="?fresh=true",
                         duration=args.fresh_duration, server=server, tmp=tmp,
                         tops=COLD_TOPS)  # fmt: skip
        report(f"calcul immédiat, chaque fois calculé ({workers} w)", cold)
        solo = run_phase(args, base, auths, refs, query="?fresh=true",
                         duration=args.fresh_duration, server=server, tmp=tmp,
                         tops=COLD_TOPS, clients=1)  # fmt: skip
        report(f"calcul immédiat, chaque fois calculé, 1 client ({workers} w)", solo)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return pub, fresh, cold, solo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="secondes (liste publiée)")
    parser.add_argument("--fresh-duration", type=float, default=30.0, help="secondes (?fresh)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="processus uvicorn ; plusieurs valeurs : un passage chacune")  # fmt: skip
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto",
                        help="auto : wrk s'il est installé (make bench-tools), sinon httpx")  # fmt: skip
    parser.add_argument("--procs", type=int, default=1, help="processus clients (httpx)")
    parser.add_argument(
        "--db", help="base SQLite de démonstration : réutilisée, ou créée là si absente"
    )
    args = parser.parse_args()
    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "httpx"
    elif args.tool == "wrk" and not shutil.which("wrk"):
        parser.error("wrk introuvable : make bench-tools (ou --tool httpx)")
    if args.tool == "httpx":
        print("wrk absent : clients httpx (ils prennent au serveur une part du CPU ; "
              "make bench-tools installe wrk)")  # fmt: skip

    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        url, data_dir = demo_database(args, Path(tmp))
        for workers in args.workers:
            pub, fresh, cold, solo = bench_workers(args, url, data_dir, workers, Path(tmp))
            ok_pub = pub["p95"] <= TARGET_P95_MS and pub["errors"] == 0
            verdicts = {
                f"{args.clients} clients": fresh,
                f"{args.clients} clients, chaque fois calculé": cold,
                "1 client, chaque fois calculé": solo,
            }
            ok_fresh = fresh["p95"] <= TARGET_FRESH_P95_MS and fresh["errors"] == 0
            print(f"objectif liste publiée p95 <= {TARGET_P95_MS:.0f} ms sans erreur "
                  f"({workers} w) : {'atteint' if ok_pub else 'MANQUÉ'}")  # fmt: skip
            print(
                f"objectif calcul immédiat p95 <= {TARGET_FRESH_P95_MS:.0f} ms sans erreur "
                f"({workers} w) : "
                + " ; ".join(
                    f"{name} : "
                    + (
                        "atteint"
                        if r["p95"] <= TARGET_FRESH_P95_MS and not r["errors"]
                        else "manqué"
                    )
                    for name, r in verdicts.items()
                )
            )
            ok = ok and ok_pub and ok_fresh
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
