"""The login chain of examples/login-chain.yaml as a Python scenario.

Against the demo API (`python -m loadlens.demo.target &`, port 8089):

    loadlens run examples/flows.py
    loadlens run examples/flows.py -u 50 -d 1m     # flags override `load`
"""

import random

from loadlens.scripting import Session, flow, on_start

base_url = "http://127.0.0.1:8089"
load = {"users": 20, "duration": "20s"}
thresholds = ["p95<100ms", "checks>99%", "error_rate<1%"]
defaults = {"headers": {"Accept": "application/json"}, "timeout": "5s"}


@on_start
async def login(s: Session) -> None:
    """Once per user: log in and keep the token for every later request."""
    r = await s.post(
        "/api/v1/login",
        json={"username": f"user{s.user_id}", "password": "demo"},
        name="login",
        expect=200,
    )
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"


@flow(weight=3)
async def browse(s: Session) -> None:
    """List users, open an active one, leave a note."""
    r = await s.get("/api/v1/users", params={"page": random.randint(1, 50)}, name="list users")
    active = [u for u in r.json()["users"] if u["active"]]
    s.check("some users are active", active)
    user = random.choice(active)
    r = await s.get(f"/api/v1/users/{user['id']}", name="user detail", expect=200)
    s.check("detail is that user", r.json()["id"] == user["id"])
    await s.post(
        f"/api/v1/users/{user['id']}/notes",
        data={"text": f"seen by user{s.user_id}"},
        name="add note",
        expect=201,
    )
    await s.sleep(random.uniform(0.5, 1.0))  # think time


@flow(weight=1)
async def health(s: Session) -> None:
    """A cheap request now and then."""
    await s.get("/health", expect=200)
