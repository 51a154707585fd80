#!/usr/bin/python3
"""fake_kube_api: a small stand-in for the Kubernetes API server that the real kubectl
binary talks to in tests/integration/actuators/actuator_kubectl.sh (Python 3 standard library only).

    fake_kube_api.py --port PORT --log FILE [--minor 32]

Listens on 127.0.0.1:PORT (0: a kernel-chosen port) and prints "listening on
http://127.0.0.1:PORT" once it is. It serves:
  - /version, /api, /apis, /api/v1, /apis/apps/v1, /apis/autoscaling/v1,
    /apis/coordination.k8s.io/v1: legacy discovery (aggregated discovery requests get plain
    JSON, so kubectl falls back to it); /openapi/* answers 404
  - GET, PUT, PATCH, DELETE of apps/v1 deployments, statefulsets, replicasets, daemonsets,
    core/v1 configmaps and services and coordination.k8s.io/v1 leases in any namespace;
    GET of a namespace's collection (a list); POST to the collection creates (201; 409
    AlreadyExists when the name is taken, 400 when the body sets a resourceVersion). PUT
    honours metadata.resourceVersion (409 Conflict on a mismatch, as the real API server:
    a Status with reason Conflict; without one the update is unconditional), PATCH applies
    merge patches (application/merge-patch+json and, for what kubectl sends to annotate and
    restart, strategic-merge-patch+json read as a merge patch). Every write takes the next
    resourceVersion of the whole store, as etcd's revision. A ConfigMap's binaryData values
    must be base64, and data and binaryData together at most 1 MiB (422 past it); a Lease's
    renewTime and acquireTime must be RFC 3339 times (400 otherwise)
  - the scale subresource (GET, PUT with the resourceVersion check, PATCH)
  - dryRun=All on every write: the answer is computed, nothing is stored
Every request to the API (method, path, query, content type, parsed body, user agent,
Authorization header) is appended to --log as one JSON line. Control endpoints (not logged),
for the test itself:
  POST /_control/object          body: an object (apiVersion, kind, metadata.name,
                                 metadata.namespace): create or replace it
  GET  /_control/object/NS/RESOURCE/NAME   the stored object
  POST /_control/hang?on=1|0     while on, every API request is accepted and never answered
  POST /_control/race?replicas=N  once: right after the next GET of a scale subresource,
                                 the object is scaled to N (a new resourceVersion), as if
                                 someone else scaled between kubectl's read and its write
  POST /_control/fail?code=N     requests for objects answer N (a Status, 503: the server
                                 is unavailable) until code=0; discovery still works
  POST /_control/garbage?on=1|0  while on, requests for objects answer 200 with an HTML body
                                 (a proxy in the way), not JSON
  POST /_control/touch/NS/RESOURCE/NAME   someone else writes the object without changing it:
                                 it takes a new resourceVersion, so a write with the one
                                 read before answers 409 Conflict
  POST /_control/conflict/NS/RESOURCE/NAME?count=N   the next N writes (PUT, PATCH, POST,
                                 DELETE) of that object answer 409 Conflict whatever their
                                 resourceVersion (count=0 stops it)
  DELETE /_control/object/NS/RESOURCE/NAME   removes the object
"""

import argparse
import base64
import binascii
import copy
import json
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APPS = {
    "deployments": ("Deployment", True),
    "statefulsets": ("StatefulSet", True),
    "replicasets": ("ReplicaSet", True),
    "daemonsets": ("DaemonSet", False),
}
CORE = {
    "configmaps": ("ConfigMap", False),
    "services": ("Service", False),
    "pods": ("Pod", False),
}
COORD = {
    "leases": ("Lease", False),
}
KIND_TO_RESOURCE = {kind: (res, "apps/v1") for res, (kind, _) in APPS.items()}
KIND_TO_RESOURCE.update({kind: (res, "v1") for res, (kind, _) in CORE.items()})
KIND_TO_RESOURCE.update({kind: (res, "coordination.k8s.io/v1")
                         for res, (kind, _) in COORD.items()})
# The API groups served under /apis (the core group is /api/v1): name -> resources
GROUPS = {"apps": APPS, "coordination.k8s.io": COORD}

SHORT = {"deployments": ["deploy"], "statefulsets": ["sts"], "replicasets": ["rs"],
         "daemonsets": ["ds"], "configmaps": ["cm"], "services": ["svc"], "pods": ["po"]}
# etcd's and so the API server's limit on one object (ConfigMap validation says so too)
MAX_OBJECT_BYTES = 1 << 20
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def resource_list(group_version, table):
    out = []
    for res, (kind, scalable) in table.items():
        out.append({"name": res, "singularName": kind.lower(), "namespaced": True,
                    "kind": kind, "verbs": VERBS, "shortNames": SHORT.get(res, [])})
        if scalable:
            out.append({"name": res + "/scale", "singularName": "", "namespaced": True,
                        "group": "autoscaling", "version": "v1", "kind": "Scale",
                        "verbs": ["get", "patch", "update"]})
        out.append({"name": res + "/status", "singularName": "", "namespaced": True,
                    "kind": kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": out}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}  # (ns, resource, name) -> object
        self.rv = 1000

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put(self, obj, keep_rv=False):
        kind = obj.get("kind")
        if kind not in KIND_TO_RESOURCE:
            raise ValueError("unknown kind %r" % kind)
        res, api_version = KIND_TO_RESOURCE[kind]
        md = obj.setdefault("metadata", {})
        md.setdefault("namespace", "default")
        md.setdefault("uid", "uid-%s-%s-%s" % (md["namespace"], res, md["name"]))
        md.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        md.setdefault("generation", 1)
        obj["apiVersion"] = api_version
        if not keep_rv:
            md["resourceVersion"] = self.next_rv()
        self.objects[(md["namespace"], res, md["name"])] = obj
        return obj


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-api/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake_kube_api: %s\n" % (fmt % args))

    # ---- plumbing ----

    def send_json(self, code, obj, content_type="application/json"):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None

    def record(self, query, raw, body):
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": urllib.parse.urlsplit(self.path).path,
            "query": query,
            "content_type": self.headers.get("Content-Type", ""),
            "accept": self.headers.get("Accept", ""),
            "user_agent": self.headers.get("User-Agent", ""),
            "authorization": self.headers.get("Authorization", ""),
            "body": body if body is not None else raw.decode("utf-8", "replace"),
        }
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")

    def hang(self):
        # Accept and never answer (until the server stops).
        self.server.hung.append(self.connection)
        self.close_connection = True
        while not self.server.stopping.wait(3600):
            pass

    # ---- methods ----

    def do_GET(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path.rstrip("/") or "/"
        raw, body = self.read_body()
        if path.startswith("/_control/"):
            return self.control(path, query, body)
        self.record(query, raw, body)
        if self.server.hanging:
            return self.hang()
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            minor = self.server.minor
            return self.send_json(200, {"major": "1", "minor": minor,
                                        "gitVersion": "v1.%s.0" % minor,
                                        "platform": "linux/amd64"})
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": self.headers.get("Host", "")}]})
        if path == "/apis":
            groups = []
            for name in ("apps", "autoscaling", "coordination.k8s.io"):
                gv = {"groupVersion": name + "/v1", "version": "v1"}
                groups.append({"name": name, "versions": [gv], "preferredVersion": gv})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": groups})
        if path == "/api/v1":
            return self.send_json(200, resource_list("v1", CORE))
        if path == "/apis/apps/v1":
            return self.send_json(200, resource_list("apps/v1", APPS))
        if path == "/apis/coordination.k8s.io/v1":
            return self.send_json(200, resource_list("coordination.k8s.io/v1", COORD))
        if path == "/apis/autoscaling/v1":
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": "autoscaling/v1", "resources": []})
        # /apis/GROUP/v1/namespaces/NS/RES[/NAME[/scale]] or /api/v1/namespaces/NS/RES[/NAME]
        if len(parts) >= 3 and parts[0] == "apis" and parts[1] in GROUPS and parts[2] == "v1":
            rest, table = parts[3:], GROUPS[parts[1]]
        elif parts[:2] == ["api", "v1"]:
            rest, table = parts[2:], CORE
        else:
            return self.send_json(404, status(404, "NotFound", "the server could not find "
                                              "the requested resource"))
        if len(rest) not in (3, 4, 5) or rest[0] != "namespaces" or rest[2] not in table:
            return self.send_json(404, status(404, "NotFound", "the server could not find "
                                              "the requested resource"))
        ns, res = rest[1], rest[2]
        name = rest[3] if len(rest) >= 4 else None
        sub = rest[4] if len(rest) == 5 else None
        if sub not in (None, "scale") or (sub == "scale" and not table[res][1]):
            return self.send_json(404, status(404, "NotFound", "no such subresource"))
        if self.server.garbage:
            body = b"<html><body>502 Bad Gateway</body></html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        code = self.server.fail_code
        if code:
            reasons = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}
            return self.send_json(code, status(code, reasons.get(code, "InternalError"),
                                               "the server is currently unable to handle "
                                               "the request"))
        dry = "All" in query.get("dryRun", [])
        if name is None:
            return self.collection(ns, res, body, dry)
        self.object(ns, res, name, sub, body, dry)

    @staticmethod
    def qualified(res):
        for group, table in GROUPS.items():
            if res in table:
                return "%s.%s" % (res, group)
        return res

    def invalid(self, obj):
        """What the real API server's validation refuses in obj (a Status), or None."""
        kind = obj.get("kind")
        name = obj.get("metadata", {}).get("name", "")
        if kind == "ConfigMap":
            size = 0
            for k, v in (obj.get("data") or {}).items():
                if not isinstance(v, str):
                    return status(400, "BadRequest", "ConfigMap in version \"v1\" cannot be "
                                  "handled as a ConfigMap: data.%s: expected a string" % k)
                size += len(k) + len(v.encode())
            for k, v in (obj.get("binaryData") or {}).items():
                try:
                    size += len(k) + len(base64.b64decode(v, validate=True))
                except (binascii.Error, TypeError, ValueError):
                    return status(400, "BadRequest", "ConfigMap in version \"v1\" cannot be "
                                  "handled as a ConfigMap: illegal base64 data in binaryData.%s"
                                  % k)
            if size > MAX_OBJECT_BYTES:
                return status(422, "Invalid", 'ConfigMap "%s" is invalid: []: Too long: must '
                              "have at most %d bytes" % (name, MAX_OBJECT_BYTES))
        if kind == "Lease":
            spec = obj.get("spec") or {}
            for field in ("renewTime", "acquireTime"):
                v = spec.get(field)
                if v is not None and (not isinstance(v, str) or not MICRO_TIME.match(v)):
                    return status(400, "BadRequest", 'Lease in version "v1" cannot be handled '
                                  "as a Lease: parsing time %s as RFC 3339: cannot parse" %
                                  json.dumps(v))
            d = spec.get("leaseDurationSeconds")
            if d is not None and (not isinstance(d, int) or d <= 0):
                return status(422, "Invalid", 'Lease.coordination.k8s.io "%s" is invalid: '
                              "spec.leaseDurationSeconds: Invalid value: %s: must be greater "
                              "than 0" % (name, json.dumps(d)))
        return None

    def forced_conflict(self, ns, res, name):
        key = (ns, res, name)
        left = self.server.conflicts.get(key, 0)
        if left <= 0:
            return False
        self.server.conflicts[key] = left - 1
        return True

    def collection(self, ns, res, body, dry):
        store = self.server.store
        kind = None
        for table in (APPS, CORE, COORD):
            if res in table:
                kind = table[res][0]
        if self.command == "GET":
            with store.lock:
                items = [copy.deepcopy(o) for (ons, ores, _), o in sorted(store.objects.items())
                         if ons == ns and ores == res]
                rv = str(store.rv)
            api_version = KIND_TO_RESOURCE[kind][1]
            return self.send_json(200, {"kind": kind + "List", "apiVersion": api_version,
                                        "metadata": {"resourceVersion": rv}, "items": items})
        if self.command != "POST" or not isinstance(body, dict):
            return self.send_json(405 if self.command != "POST" else 400,
                                  status(405 if self.command != "POST" else 400,
                                         "MethodNotAllowed" if self.command != "POST"
                                         else "BadRequest", "unsupported request"))
        md = body.get("metadata")
        name = md.get("name") if isinstance(md, dict) else None
        if not isinstance(name, str) or not name:
            return self.send_json(422, status(422, "Invalid", "%s \"\" is invalid: "
                                              "metadata.name: Required value: name or "
                                              "generateName is required" % kind))
        if md.get("namespace", ns) != ns:
            return self.send_json(400, status(400, "BadRequest", "the namespace of the "
                                              "provided object does not match the namespace "
                                              "sent on the request"))
        if md.get("resourceVersion"):
            return self.send_json(400, status(400, "BadRequest", "resourceVersion should not "
                                              "be set on objects to be created"))
        if body.get("kind", kind) != kind:
            return self.send_json(400, status(400, "BadRequest", "the kind of the object "
                                              "does not match the resource"))
        obj = copy.deepcopy(body)
        obj["kind"] = kind
        bad = self.invalid(obj)
        if bad:
            return self.send_json(bad["code"], bad)
        with store.lock:
            if (ns, res, name) in store.objects:
                return self.send_json(409, status(409, "AlreadyExists", '%s "%s" already '
                                                  "exists" % (self.qualified(res), name)))
            if self.forced_conflict(ns, res, name):
                return self.send_json(409, self.conflict_status(res, name))
            obj["metadata"]["namespace"] = ns
            obj["metadata"].pop("uid", None)
            obj["metadata"]["uid"] = "uid-%s-%s-%s-%d" % (ns, res, name, store.rv + 1)
            obj["metadata"]["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime())
            if dry:
                obj["metadata"]["resourceVersion"] = ""
                return self.send_json(201, obj)
            store.put(obj)
            return self.send_json(201, obj)

    def conflict_status(self, res, name):
        return status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object '
                      "has been modified; please apply your changes to the latest version "
                      "and try again" % (self.qualified(res), name))

    def object(self, ns, res, name, sub, body, dry):
        store = self.server.store
        with store.lock:
            obj = store.objects.get((ns, res, name))
            if obj is None:
                return self.send_json(404, status(404, "NotFound", '%s "%s" not found'
                                                  % (self.qualified(res), name)))
            rv = obj["metadata"]["resourceVersion"]
            conflict = self.conflict_status(res, name)
            if self.command != "GET" and self.forced_conflict(ns, res, name):
                return self.send_json(409, conflict)
            if self.command == "DELETE":
                want_rv = ((body or {}).get("preconditions") or {}).get("resourceVersion")
                if want_rv and want_rv != rv:
                    return self.send_json(409, conflict)
                if not dry:
                    del store.objects[(ns, res, name)]
                    store.next_rv()
                return self.send_json(200, {"kind": "Status", "apiVersion": "v1",
                                            "metadata": {}, "status": "Success",
                                            "details": {"name": name, "kind": res,
                                                        "uid": obj["metadata"]["uid"]}})
            if self.command == "GET":
                answer = self.scale_of(obj) if sub else obj
                if sub and self.server.race is not None:
                    # Someone else scales right after our read of the scale.
                    changed = copy.deepcopy(obj)
                    changed["spec"]["replicas"] = self.server.race
                    changed["metadata"]["resourceVersion"] = store.next_rv()
                    store.objects[(ns, res, name)] = changed
                    self.server.race = None
                return self.send_json(200, answer)
            if self.command not in ("PUT", "PATCH") or not isinstance(body, dict):
                return self.send_json(400, status(400, "BadRequest", "unsupported request"))
            new = copy.deepcopy(obj)
            if sub == "scale":
                if self.command == "PUT":
                    want_rv = body.get("metadata", {}).get("resourceVersion")
                    if want_rv and want_rv != rv:
                        return self.send_json(409, conflict)
                    replicas = body.get("spec", {}).get("replicas")
                else:
                    replicas = merge_patch(self.scale_of(obj), body)["spec"].get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    return self.send_json(422, status(422, "Invalid", "spec.replicas: "
                                                      "Invalid value"))
                new["spec"]["replicas"] = replicas
            elif self.command == "PUT":
                want_rv = body.get("metadata", {}).get("resourceVersion")
                if want_rv and want_rv != rv:
                    return self.send_json(409, conflict)
                new = body
            else:
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                if ctype not in ("application/merge-patch+json",
                                 "application/strategic-merge-patch+json"):
                    return self.send_json(415, status(415, "UnsupportedMediaType",
                                                      "the body of the request was in an "
                                                      "unknown format: " + ctype))
                want_rv = body.get("metadata", {}).get("resourceVersion")
                if want_rv and want_rv != rv:
                    return self.send_json(409, conflict)
                new = merge_patch(copy.deepcopy(obj), body)
            if not isinstance(new.get("metadata", {}), dict):
                return self.send_json(400, status(400, "BadRequest", "metadata: expected an "
                                                  "object"))
            new.setdefault("metadata", {})
            if new["metadata"].get("name", name) != name:
                return self.send_json(400, status(400, "BadRequest", "the name of the object "
                                                  "(%s) does not match the name on the URL (%s)"
                                                  % (new["metadata"]["name"], name)))
            new["metadata"]["name"] = name
            new["metadata"]["namespace"] = ns
            new["metadata"]["uid"] = obj["metadata"]["uid"]
            new["metadata"]["creationTimestamp"] = obj["metadata"]["creationTimestamp"]
            new["kind"] = obj["kind"]
            new["apiVersion"] = obj["apiVersion"]
            bad = self.invalid(new)
            if bad:
                return self.send_json(bad["code"], bad)
            if new.get("spec") != obj.get("spec"):
                new["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            if dry:
                new["metadata"]["resourceVersion"] = rv
            else:
                new["metadata"]["resourceVersion"] = store.next_rv()
                store.objects[(ns, res, name)] = new
            return self.send_json(200, self.scale_of(new) if sub else new)

    @staticmethod
    def scale_of(obj):
        md = obj["metadata"]
        labels = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
                         "resourceVersion": md["resourceVersion"],
                         "creationTimestamp": md["creationTimestamp"]},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join("%s=%s" % kv for kv in sorted(labels.items()))},
        }

    def control(self, path, query, body):
        store = self.server.store
        if path == "/_control/object" and self.command == "POST":
            try:
                with store.lock:
                    obj = store.put(copy.deepcopy(body))
            except (ValueError, KeyError, AttributeError, TypeError) as e:
                return self.send_json(400, {"error": str(e)})
            return self.send_json(200, obj)
        parts = path.split("/")
        if path.startswith("/_control/object/") and len(parts) == 6:
            key = (parts[3], parts[4], parts[5])
            with store.lock:
                obj = store.objects.get(key)
                if obj and self.command == "DELETE":
                    del store.objects[key]
                    store.next_rv()
            return self.send_json(200 if obj else 404, obj or {"error": "not found"})
        if path.startswith("/_control/touch/") and len(parts) == 6:
            key = (parts[3], parts[4], parts[5])
            with store.lock:
                obj = store.objects.get(key)
                if obj:
                    obj["metadata"]["resourceVersion"] = store.next_rv()
            return self.send_json(200 if obj else 404, obj or {"error": "not found"})
        if path.startswith("/_control/conflict/") and len(parts) == 6:
            with store.lock:
                self.server.conflicts[(parts[3], parts[4], parts[5])] = int(
                    query.get("count", ["1"])[0])
            return self.send_json(200, {"conflicts": int(query.get("count", ["1"])[0])})
        if path == "/_control/hang" and self.command == "POST":
            self.server.hanging = query.get("on", ["1"])[0] == "1"
            return self.send_json(200, {"hanging": self.server.hanging})
        if path == "/_control/race" and self.command == "POST":
            self.server.race = int(query["replicas"][0])
            return self.send_json(200, {"race": self.server.race})
        if path == "/_control/garbage" and self.command == "POST":
            self.server.garbage = query.get("on", ["1"])[0] == "1"
            return self.send_json(200, {"garbage": self.server.garbage})
        if path == "/_control/fail" and self.command == "POST":
            self.server.fail_code = int(query.get("code", ["0"])[0])
            return self.send_json(200, {"fail_code": self.server.fail_code})
        return self.send_json(404, {"error": "unknown control endpoint"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--minor", default="32")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.store = Store()
    server.log_path = args.log
    server.log_lock = threading.Lock()
    server.minor = args.minor
    server.hanging = False
    server.fail_code = 0
    server.garbage = False
    server.race = None
    server.conflicts = {}  # (ns, resource, name) -> writes left that answer 409
    server.hung = []
    server.stopping = threading.Event()
    print("fake_kube_api: listening on http://127.0.0.1:%d" % server.server_address[1],
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.stopping.set()


if __name__ == "__main__":
    main()
