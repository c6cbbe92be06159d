"""How many signed TOP requests per second the sandbox answers on one core.

A child process serves the Taobao and Youzan emulators (and nothing else) with uvicorn on a
loopback port, pinned to one CPU; it also serves `GET /bare`, a FastAPI endpoint returning a
constant, as the baseline measured in the same run. The parent, pinned to another CPU when there
is one, drives a bounded number of signed `taobao.trades.sold.get` calls (40 trades a page, with
`fields`) and then the same number of `/bare` calls, over keep-alive httpx clients.

    python bench/sandbox_requests.py            # 20,000 requests against 2,000 orders
    python bench/sandbox_requests.py --quick    # 600 requests against 200 orders
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx

SHOP_ID, APP_KEY, APP_SECRET = "bench-shop", "12345678", "bench-secret"
FIELDS = "tid,status,payment,total_fee,post_fee,created,modified,buyer_nick,receiver_name,receiver_mobile,oaid,orders"
CLIENT_THREADS = 4
WARMUP_REQUESTS = 100
ROUNDS = 5


# --- the server (child process) -----------------------------------------------------------------


def build_state(orders: int):  # noqa: ANN201 - imports stay inside the child
    from haina.core import clock
    from haina.sandbox.state import SandboxState
    from haina.sandbox.world import Account, Order, OrderLine, Shop, World

    now = clock.now()
    world = World(
        seed=1,
        merchant_name="bench",
        corp_id="ww-bench",
        corp_secret="s",
        callback_token="t",
        callback_aes_key="a" * 43,
        shops=[Shop(SHOP_ID, "taobao", "压测淘宝店", APP_KEY, APP_SECRET)],
    )
    for number in range(orders):
        moment = now - timedelta(minutes=number)
        world.accounts.append(
            Account(
                f"acct-{number}", f"p-{number}", "taobao", SHOP_ID, f"AAH{number:06d}", f"buyer{number}", "张三",
                f"138{number:08d}", "浙江省", "杭州市", "西湖区", "文三路 1 号", f"d-{number}", created_at=moment,
            )
        )  # fmt: skip
        world.orders.append(
            Order(
                order_id=str(4_000_000 + number),
                platform="taobao",
                shop_id=SHOP_ID,
                account_id=f"acct-{number}",
                buyer_id=f"AAH{number:06d}",
                status="paid",
                created_at=moment - timedelta(minutes=5),
                modified_at=moment,
                lines=[
                    OrderLine(f"{number}-1", "sku-1", "奶粉", 2, 19990),
                    OrderLine(f"{number}-2", "sku-2", "纸尿裤", 1, 8900),
                ],
                total_fen=48880,
                discount_fen=1000,
                freight_fen=0,
                paid_fen=47880,
                receiver_name="张三",
                receiver_phone=f"138{number:08d}",
                province="浙江省",
                city="杭州市",
                district="西湖区",
                address="文三路 1 号",
                paid_at=moment - timedelta(minutes=4),
            )
        )
    return SandboxState(world=world)


def serve(orders: int, cpu: int | None) -> None:
    import uvicorn
    from fastapi import FastAPI

    from haina.sandbox.emulators import taobao, youzan

    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    state = build_state(orders)
    app = FastAPI()
    app.include_router(taobao.build_router(state), prefix="/sandbox/taobao")
    app.include_router(youzan.build_router(state), prefix="/sandbox/youzan")

    @app.get("/bare")
    def bare() -> dict[str, bool]:
        return {"ok": True}

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    print(f"port {listener.getsockname()[1]}", flush=True)
    print(f"session {taobao.issue_session(state, SHOP_ID)}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[listener])


# --- the driver (parent process) -----------------------------------------------------------------


def signed_bodies(session: str, count: int, pages: int) -> list[dict[str, str]]:
    from haina.core.clock import SHANGHAI, now
    from haina.platforms.taobao import signing

    timestamp = now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    bodies = []
    for number in range(count):
        parameters = {
            "method": "taobao.trades.sold.get",
            "app_key": APP_KEY,
            "session": session,
            "timestamp": timestamp,
            "v": "2.0",
            "format": "json",
            "fields": FIELDS,
            "page_no": str(number % pages + 1),
            "page_size": "40",
        }
        bodies.append(signing.signed(parameters, APP_SECRET, ("md5", "hmac", "hmac-sha256")[number % 3]))
    return bodies


def drive(base: str, send: str, bodies: list[dict[str, str]] | None, count: int) -> float:
    """Requests per second for `count` requests split over CLIENT_THREADS keep-alive clients."""
    failures: list[str] = []

    def worker(share: range) -> None:
        # TCP_NODELAY: a POST's headers and form body go out as two writes, and Nagle plus the
        # server's delayed ACK would otherwise stall each request ~40 ms on loopback.
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        with httpx.Client(base_url=base, timeout=30, transport=transport) as client:
            for index in share:
                if send == "bare":
                    response = client.get("/bare")
                    ok = response.status_code == 200
                else:
                    assert bodies is not None
                    response = client.post("/sandbox/taobao/router/rest", data=bodies[index])
                    ok = response.status_code == 200 and "trades_sold_get_response" in response.text
                if not ok:
                    failures.append(response.text[:200])

    shares = [range(start, count, CLIENT_THREADS) for start in range(CLIENT_THREADS)]
    threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke size")
    parser.add_argument("--requests", type=int, help="requests per measurement")
    parser.add_argument("--orders", type=int, help="orders in the seeded shop")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    orders = arguments.orders or (200 if arguments.quick else 2_000)
    if arguments.serve:
        serve(orders, arguments.cpu)
        return
    count = arguments.requests or (600 if arguments.quick else 20_000)

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if cpus else None
    if len(cpus) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cpus[1:]))  # keep the driver off the server's core
    command = [sys.executable, __file__, "--serve", "--orders", str(orders)]
    if server_cpu is not None:
        command += ["--cpu", str(server_cpu)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        session = server.stdout.readline().split()[1]
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):  # up to ~10 s for uvicorn to start
            try:
                httpx.get(f"{base}/bare", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        pages = max(orders // 40, 1)
        bodies = signed_bodies(session, count, pages)
        drive(base, "bare", None, WARMUP_REQUESTS)
        drive(base, "sandbox", bodies, min(WARMUP_REQUESTS, count))
        # Alternate short rounds and keep each side's best: on a shared machine a neighbour's
        # burst then hits both sides alike instead of one whole measurement.
        per_round = max(count // ROUNDS, 1)
        sandbox_rates, bare_rates = [], []
        for round_number in range(ROUNDS):
            share = bodies[round_number * per_round : (round_number + 1) * per_round]
            sandbox_rates.append(drive(base, "sandbox", share, len(share)))
            bare_rates.append(drive(base, "bare", None, per_round))
        sandbox_rate, bare_rate = max(sandbox_rates), max(bare_rates)
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"{'endpoint':<46}{'requests':>10}{'req/s':>12}")
    print(f"{'taobao.trades.sold.get (40 trades, signed)':<46}{count:>10}{sandbox_rate:>12.0f}")
    print(f"{'bare FastAPI GET returning a constant':<46}{count:>10}{bare_rate:>12.0f}")
    print(
        f"(best of {ROUNDS} alternating rounds; server pinned to cpu {server_cpu}; {orders} orders; {CLIENT_THREADS} clients)"
    )
    print(f"figure: sandbox.requests_per_s {sandbox_rate:.0f} req/s")
    print(f"figure: sandbox.requests_ratio_to_bare {sandbox_rate / bare_rate:.3f} x")


if __name__ == "__main__":
    main()
