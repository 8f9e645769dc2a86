"""The starter scenario `loadlens init` writes: every common key, commented."""

__all__ = ["STARTER"]

STARTER = """\
# A loadlens scenario. Check it with `loadlens validate FILE`, run it with `loadlens run FILE`.
# Every key is described in docs/scenarios.md.
name: users-api
base_url: http://127.0.0.1:8089

defaults:
  headers:
    Accept: application/json
  timeout: 5s            # whole request; a step may set its own
  think_time: [0.5s, 1.5s]   # pause after each step: a duration, or [low, high]

load:                    # any flag of `loadlens run` overrides the key it names
  users: 50
  duration: 30s
  # rate: 200/s          # an open model instead: arrivals per second (with max_users)
  # stages: [{duration: 10s, target: 50}, {duration: 20s, target: 50}]

thresholds:
  - p95<100ms
  - error_rate<1%
  - checks>99%

# on_start:              # steps each user runs once first, e.g. a login whose token later
#   - name: login        # steps send as `auth: {bearer: "{{ token }}"}`
#     method: POST
#     path: /api/v1/login
#     json: {username: ada, password: demo}
#     extract: {token: {json: $.token}}

flows:                   # each iteration a user runs one flow, picked by weight
  - name: browse
    weight: 3
    steps:
      - name: list users
        path: /api/v1/users
        query: {page: 1}
        checks:          # a failed check fails the request, and is counted on its own
          status: 200
          json: [$.users]
      - name: health
        path: /health
        think_time: 0s
  - name: check
    weight: 1
    steps:
      - path: /health
"""
