#!/usr/bin/python3
"""roles_table.py URL STATE_DIR ADMIN OPERATOR RECEIVER: the table of controller_roles.sh.

Every endpoint of the controller's API x every role (admin, operator, receiver: the tokens
given) x {no credential, a wrong one, the right one}. Each cell has its expected status:
read-only endpoints 200 for all; for the others 401 without a valid token, 403 naming the
role needed for a valid token of a role that may not, success otherwise. The refused cells
run first, and for each the state file and the audit log must be byte-identical before
and after; then the accepted ones, whose audit record must name the role, the credential
id (the operator token is named "alice" in its file, the receiver "alertmanager", the
admin's is unnamed: a "sha256:" short hash) and the client address, never the token.
Prints one PROBLEM line per failure, then "cells N"; exits 1 on any problem."""
import json
import os
import sys
import urllib.error
import urllib.request

url, state_dir, admin, operator, receiver = sys.argv[1:6]
tokens = {"admin": admin, "operator": operator, "receiver": receiver}
ids = {"admin": None, "operator": "alice", "receiver": "alertmanager"}
AM_BODY = json.dumps({
    "version": "4", "status": "firing", "receiver": "homeostat", "groupKey": "{}:{}",
    "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
    "alerts": [{"status": "firing", "labels": {"alertname": "Other"}, "annotations": {},
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": "f1"}]})
# (method, path, body, the role it needs; None: read-only, no credential needed)
ENDPOINTS = [
    ("GET", "/api/v1/status", None, None),
    ("GET", "/api/v1/signals", None, None),
    ("GET", "/api/v1/rules", None, None),
    ("GET", "/api/v1/overrides", None, None),
    ("GET", "/api/v1/alerts", None, None),
    ("GET", "/api/v1/decisions", None, None),
    ("GET", "/metrics", None, None),
    ("GET", "/", None, None),
    ("POST", "/api/v1/pause", None, "operator"),
    ("POST", "/api/v1/resume", None, "operator"),
    ("POST", "/api/v1/actions/notify", "{}", "operator"),
    ("PUT", "/api/v1/overrides", json.dumps({"evaluation_interval": "2s"}), "operator"),
    ("DELETE", "/api/v1/overrides", None, "operator"),
    ("POST", "/api/v1/evaluate", None, "operator"),
    ("POST", "/-/reload", None, "admin"),
    ("POST", "/api/v1/alertmanager", AM_BODY, "receiver"),
]


def call(method, path, body, token):
    req = urllib.request.Request(url + path, method=method,
                                 data=body.encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def snapshot():
    out = []
    for f in ("state.json", "audit.jsonl"):
        p = os.path.join(state_dir, f)
        out.append(open(p, "rb").read() if os.path.exists(p) else b"")
    return out


def allows(role, need):
    return role == "admin" or role == need


problems, cells = [], 0
for method, path, body, need in ENDPOINTS:
    for role in tokens:
        for cred in ("none", "wrong", "right"):
            token = {"none": None, "wrong": tokens[role] + "x", "right": tokens[role]}[cred]
            if need is None:
                want = 200
            elif cred != "right":
                want = 401
            elif not allows(role, need):
                want = 403
            else:
                continue  # accepted: run below
            before = snapshot()
            status, text = call(method, path, body, token)
            after = snapshot()
            cells += 1
            if status != want:
                problems.append(f"{method} {path} as {role}/{cred}: {status}, expected {want}: "
                                f"{text[:160]}")
            if need is not None and before != after:
                problems.append(f"{method} {path} as {role}/{cred}: refused, yet the state file "
                                "or the audit log changed")
            if want == 403 and f"needs the {need} role" not in text:
                problems.append(f"{method} {path} as {role}/{cred}: the 403 does not name the "
                                f"role needed: {text[:160]}")

for method, path, body, need in ENDPOINTS:
    if need is None:
        continue
    for role in tokens:
        if not allows(role, need):
            continue
        lines_before = snapshot()[1].count(b"\n")
        status, text = call(method, path, body, tokens[role])
        cells += 1
        if not 200 <= status < 300:
            problems.append(f"{method} {path} as {role}: {status}: {text[:200]}")
            continue
        if path == "/api/v1/alertmanager":
            continue  # deliveries are counted (metrics) and logged, not audited
        lines = snapshot()[1].decode().splitlines()[lines_before:]
        recs = [json.loads(line) for line in lines]
        actors = [r["actor"] for r in recs if r.get("actor")]
        if not actors:
            problems.append(f"{method} {path} as {role}: no audit record names the actor")
            continue
        a = actors[0]
        want_id = ids[role]
        if (a.get("role") != role or not a.get("address", "").startswith("127.0.0.1")
                or (want_id and a.get("credential") != want_id)
                or (not want_id and not a.get("credential", "").startswith("sha256:"))):
            problems.append(f"{method} {path} as {role}: audit actor {a}")
        if tokens[role] in "\n".join(lines):
            problems.append(f"{method} {path} as {role}: the token is in the audit log")

for p in problems:
    print("PROBLEM", p)
print(f"cells {cells}")
sys.exit(1 if problems else 0)
