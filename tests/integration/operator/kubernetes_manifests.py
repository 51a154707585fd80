#!/usr/bin/python3
"""kubernetes_manifests.py: the checks of tests/integration/operator/kubernetes_manifests.sh that
read YAML (Debian's python3 with python3-yaml). Each prints one line per check,
"ok - MESSAGE" or "FAIL - MESSAGE", which the shell test counts.

    kubernetes_manifests.py static RENDERED SOURCE_DIR OUTDIR
        RENDERED is `kubectl kustomize deploy/kubernetes`. Checks the objects (names,
        namespaces, selectors, ports, probes, security contexts, volumes, RBAC against the
        kubectl actions of the rules, the PrometheusRule against alerts/) and writes into
        OUTDIR what the shell runs: the daemons' arguments mapped onto this machine
        (exporter.args, controller.args, NUL-separated; their volumes under OUTDIR/vol-*),
        controller.token (the path of the admin token file), http-checks.tsv (DAEMON, PATH,
        WHAT: every probe and scrape path), rules.yaml, prometheusrule-groups.yml, the
        kubectl actions (actions/N.{where,params.json,args.json,declare}) and the objects
        they act on (kube-objects.jsonl).
    kubernetes_manifests.py rbac RENDERED REQUEST_LOG
        The API requests recorded by fake_kube_api.py while the real kubectl ran the rules'
        actions: each one mapped to the authorizer's attributes (API group, resource,
        subresource, verb, name, namespace) must be allowed by a Role bound to the
        controller's ServiceAccount, and every right the Roles grant for the actions (all
        but leader election's) must have been used.
    kubernetes_manifests.py rbac-ha RENDERED REQUEST_LOG
        The same for the requests the controller itself sent for leader election
        (--ha.backend=kubernetes: its Lease and the ConfigMap of the shared state) while it
        ran with the Deployment's arguments: each allowed, each right of leader election
        used, nothing else asked.
    kubernetes_manifests.py image DOCKERFILE RENDERED INSTALL_DEPS BINARY...
        The Dockerfile against the binaries and the manifests: its runtime stage installs
        the package of every shared library the binaries link, and kubectl; its build
        stage the build packages of scripts/install-deps.sh; it puts the binaries where
        the manifests' commands run them and runs as the manifests' user.
"""

import json
import os
import re
import secrets
import subprocess
import sys

import yaml

def ok(msg):
    print("ok - " + msg)


def fail(msg):
    print("FAIL - " + msg)


def check(cond, msg, why=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (": " + str(why) if why else ""))
    return bool(cond)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def ident(o):
    md = o.get("metadata") or {}
    ns = md.get("namespace")
    return "%s %s%s" % (o.get("kind"), (ns + "/") if ns else "", md.get("name"))


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "CustomResourceDefinition", "PriorityClass",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
WORKLOADS = {"DaemonSet", "Deployment", "StatefulSet"}
HOMEOSTAT_NS = "homeostat"
CONTROLLER_SA = ("homeostat", "homeostat-controller")

# What the daemons serve (exporter/main.c, controller/daemon/api.c): probes must be among these.
SERVED = {"homeostat-exporter": {"/-/healthy", "/-/ready", "/metrics"},
          "homeostat-controller": {"/-/healthy", "/-/ready", "/metrics"}}

# kubectl resource types of the actuator (controller/actuators/actuator_kubectl.c) and their API
# group and resource; None: cluster-scoped.
KUBE_TYPES = {
    "deployment": ("apps", "deployments", ["deploy", "deployments"]),
    "statefulset": ("apps", "statefulsets", ["sts", "statefulsets"]),
    "replicaset": ("apps", "replicasets", ["rs", "replicasets"]),
    "daemonset": ("apps", "daemonsets", ["ds", "daemonsets"]),
    "pod": ("", "pods", ["po", "pods"]),
    "service": ("", "services", ["svc", "services"]),
    "configmap": ("", "configmaps", ["cm", "configmaps"]),
    "job": ("batch", "jobs", ["jobs"]),
    "cronjob": ("batch", "cronjobs", ["cj", "cronjobs"]),
    "horizontalpodautoscaler": ("autoscaling", "horizontalpodautoscalers",
                                ["hpa", "horizontalpodautoscalers"]),
    "poddisruptionbudget": ("policy", "poddisruptionbudgets", ["pdb", "poddisruptionbudgets"]),
    "ingress": ("networking.k8s.io", "ingresses", ["ing", "ingresses"]),
    "persistentvolumeclaim": ("", "persistentvolumeclaims", ["pvc", "persistentvolumeclaims"]),
    "namespace": None,
    "node": None,
}
KIND_OF_TYPE = {"deployment": "Deployment", "statefulset": "StatefulSet",
                "replicaset": "ReplicaSet", "daemonset": "DaemonSet", "pod": "Pod",
                "service": "Service", "configmap": "ConfigMap"}
VERB_KEYS = ["scale", "patch", "annotate", "rollout_restart"]
# The API requests each verb makes (documented in docs/RULES.md, "kubectl"; the rbac
# subcommand checks them against what the real kubectl sends).
VERB_NEEDS = {
    "scale": [("", "get"), ("/scale", "get"), ("/scale", "update")],
    "patch": [("", "get"), ("", "patch")],
    "annotate": [("", "get"), ("", "patch")],
    "rollout_restart": [("", "get"), ("", "patch")],
}
ALLOWED_VERBS = {"get", "list", "watch", "patch", "update", "create"}
# Leader election (--ha.backend=kubernetes, controller/clients/ha_kube.c): the requests the
# controller makes on its Lease and on the ConfigMap LEASE-state, in its namespace; create
# only when missing, and unnamed (the authorizer sees no name for a create).
HA_NEEDS = [("coordination.k8s.io", "leases", "", "get"),
            ("coordination.k8s.io", "leases", "", "update"),
            ("coordination.k8s.io", "leases", None, "create"),
            ("", "configmaps", "-state", "get"),
            ("", "configmaps", "-state", "update"),
            ("", "configmaps", None, "create")]


def canonical_type(t):
    for name, info in KUBE_TYPES.items():
        if t == name or (info and t in info[2]):
            return name
    return None


def labels_match(selector, labels):
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def pod_spec(o):
    return o["spec"]["template"]["spec"]


def walk_strings(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from walk_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk_strings(x)
    elif isinstance(v, str):
        yield v


# ---- static ------------------------------------------------------------------------------

def check_objects(objs):
    seen = set()
    for o in objs:
        md = o.get("metadata") or {}
        i = ident(o)
        good = bool(o.get("apiVersion")) and bool(o.get("kind")) and bool(md.get("name"))
        if o.get("kind") not in CLUSTER_SCOPED:
            good = good and bool(md.get("namespace"))
        check(good, "%s has apiVersion, kind, metadata.name%s" %
              (i, "" if o.get("kind") in CLUSTER_SCOPED else " and metadata.namespace"))
        key = (o.get("kind"), md.get("namespace"), md.get("name"))
        check(key not in seen, "%s is defined once" % i)
        seen.add(key)
    kinds = {o.get("kind") for o in objs}
    for k in ["Namespace", "DaemonSet", "Deployment", "Service", "ServiceAccount", "Role",
              "RoleBinding", "ConfigMap", "PodDisruptionBudget", "ServiceMonitor",
              "PrometheusRule"]:
        check(k in kinds, "the manifests have a %s" % k)
    nss = {o["metadata"]["name"] for o in objs if o.get("kind") == "Namespace"}
    check(HOMEOSTAT_NS in nss, "the namespace %s is created" % HOMEOSTAT_NS)
    for o in objs:
        if o.get("kind") in CLUSTER_SCOPED or o.get("kind") in ("Role", "RoleBinding"):
            continue
        check(o["metadata"].get("namespace") == HOMEOSTAT_NS,
              "%s lives in namespace %s" % (ident(o), HOMEOSTAT_NS))


def find(objs, kind, ns=None, name=None):
    return [o for o in objs if o.get("kind") == kind
            and (ns is None or o["metadata"].get("namespace") == ns)
            and (name is None or o["metadata"].get("name") == name)]


def check_workloads(objs):
    for w in [o for o in objs if o.get("kind") in WORKLOADS]:
        i = ident(w)
        sel = (w["spec"].get("selector") or {}).get("matchLabels") or {}
        tl = w["spec"]["template"].get("metadata", {}).get("labels") or {}
        check(labels_match(sel, tl), "%s: its selector %s matches its pod template's labels"
              % (i, sel), "template labels %s" % tl)
        check(not (w["spec"].get("selector") or {}).get("matchExpressions"),
              "%s: selector by matchLabels only" % i)
    dep = find(objs, "Deployment", HOMEOSTAT_NS, "homeostat-controller")
    if check(len(dep) == 1, "Deployment homeostat-controller exists"):
        s = dep[0]["spec"]
        check(s.get("replicas") == 2, "the controller runs 2 replicas (one leads)",
              "replicas %r" % s.get("replicas"))
        st = s.get("strategy") or {}
        check(st.get("type") == "RollingUpdate" and
              (st.get("rollingUpdate") or {}).get("maxUnavailable") == 0,
              "the controller's updates keep both replicas until a new one runs "
              "(RollingUpdate, maxUnavailable 0)", "strategy %r" % st)
        check(not any("persistentVolumeClaim" in v for v in pod_spec(dep[0]).get("volumes") or []),
              "the controller's replicas share no volume (their state is shared through the "
              "Lease's ConfigMap)")
        tl = s["template"].get("metadata", {}).get("labels") or {}
        pdbs = [p for p in find(objs, "PodDisruptionBudget", HOMEOSTAT_NS)
                if labels_match((p["spec"].get("selector") or {}).get("matchLabels") or {}, tl)]
        check(len(pdbs) == 1 and pdbs[0]["spec"].get("minAvailable") == 1,
              "a PodDisruptionBudget keeps 1 controller available",
              "%d select its pods" % len(pdbs))
    ds = find(objs, "DaemonSet", HOMEOSTAT_NS, "homeostat-exporter")
    if check(len(ds) == 1, "DaemonSet homeostat-exporter exists"):
        tol = pod_spec(ds[0]).get("tolerations") or []
        check(any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
                  for t in tol), "the exporter tolerates every taint (runs on every node)")


def container_port(workload, port, protocol):
    """The container port named or numbered `port` of the workload's containers."""
    for c in pod_spec(workload).get("containers") or []:
        for p in c.get("ports") or []:
            if (p.get("name") == port or p.get("containerPort") == port) and \
                    p.get("protocol", "TCP") == protocol:
                return c, p
    return None, None


def check_services(objs):
    workloads = [o for o in objs if o.get("kind") in WORKLOADS]
    service_workload = {}
    for s in find(objs, "Service"):
        i = ident(s)
        sel = s["spec"].get("selector") or {}
        ns = s["metadata"]["namespace"]
        hits = [w for w in workloads if w["metadata"]["namespace"] == ns and
                labels_match(sel, w["spec"]["template"].get("metadata", {}).get("labels"))]
        if not check(len(hits) == 1, "%s selects the pods of exactly one workload" % i,
                     "it selects %s" % [ident(w) for w in hits]):
            continue
        w = hits[0]
        service_workload[(ns, s["metadata"]["name"])] = w
        for p in s["spec"].get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            c, cp = container_port(w, target, p.get("protocol", "TCP"))
            check(cp is not None, "%s port %s: targetPort %r is a port of %s" %
                  (i, p.get("name"), target, ident(w)))
            check(bool(p.get("name")), "%s port %s is named" % (i, p.get("port")))
    ex = find(objs, "Service", HOMEOSTAT_NS, "homeostat-exporter")
    if ex:
        check(ex[0]["spec"].get("clusterIP") == "None", "the exporter's Service is headless")
        check(any(p.get("name") == "metrics" for p in ex[0]["spec"].get("ports") or []),
              "the exporter's Service has a port named metrics")
    return service_workload


def check_servicemonitors(objs, service_workload, http_checks):
    services = find(objs, "Service")
    covered = set()
    for sm in find(objs, "ServiceMonitor"):
        i = ident(sm)
        check(sm.get("apiVersion") == "monitoring.coreos.com/v1",
              "%s is monitoring.coreos.com/v1" % i)
        spec = sm.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        nss = ((spec.get("namespaceSelector") or {}).get("matchNames")
               or [sm["metadata"]["namespace"]])
        hits = [s for s in services if s["metadata"]["namespace"] in nss and
                labels_match(sel, s["metadata"].get("labels"))]
        if not check(len(hits) >= 1, "%s selects a Service (labels %s)" % (i, sel)):
            continue
        for s in hits:
            covered.add((s["metadata"]["namespace"], s["metadata"]["name"]))
            names = {p.get("name") for p in s["spec"].get("ports") or []}
            for ep in spec.get("endpoints") or []:
                check(ep.get("port") in names, "%s endpoint port %r is a port name of %s" %
                      (i, ep.get("port"), ident(s)), "its ports: %s" % sorted(names))
                w = service_workload.get((s["metadata"]["namespace"], s["metadata"]["name"]))
                if w:
                    http_checks.append((w["metadata"]["name"], ep.get("path", "/metrics"),
                                        "%s scrape path" % i))
        check(bool(spec.get("endpoints")), "%s has endpoints" % i)
    for s in services:
        key = (s["metadata"]["namespace"], s["metadata"]["name"])
        check(key in covered, "%s is scraped by a ServiceMonitor" % ident(s))
        # The job label is the Service's name: the alerts and rules use these jobs.
    for job in ("homeostat-exporter", "homeostat-controller"):
        check((HOMEOSTAT_NS, job) in covered,
              "a ServiceMonitor scrapes Service %s (job=\"%s\")" % (job, job))


def check_probes(objs, http_checks):
    for w in [o for o in objs if o.get("kind") in WORKLOADS]:
        name = w["metadata"]["name"]
        for c in pod_spec(w).get("containers") or []:
            i = "%s container %s" % (ident(w), c.get("name"))
            for kind in ("livenessProbe", "readinessProbe"):
                p = c.get(kind) or {}
                hg = p.get("httpGet")
                if not check(hg is not None, "%s has an HTTP %s" % (i, kind)):
                    continue
                port = hg.get("port")
                has = any(cp.get("name") == port or cp.get("containerPort") == port
                          for cp in c.get("ports") or [])
                check(has, "%s %s port %r is one of its ports" % (i, kind, port))
                path = hg.get("path", "/")
                check(path in SERVED.get(name, set()), "%s %s path %s is served by %s" %
                      (i, kind, path, name), "it serves %s" % sorted(SERVED.get(name, ())))
                http_checks.append((name, path, "%s %s" % (i, kind)))


def effective(c, pod, key):
    csc = c.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    return csc.get(key, psc.get(key))


def check_security(objs):
    images = set()
    for w in [o for o in objs if o.get("kind") in WORKLOADS]:
        pod = pod_spec(w)
        name = w["metadata"]["name"]
        i = ident(w)
        check(not pod.get("hostPID"), "%s: no hostPID (the host's /proc is mounted instead)" % i)
        check(not pod.get("hostIPC"), "%s: no hostIPC" % i)
        if name == "homeostat-exporter":
            check(pod.get("hostNetwork") is True,
                  "%s: hostNetwork (the node's network statistics)" % i)
            check(pod.get("automountServiceAccountToken") is False,
                  "%s: no service account token mounted" % i)
        else:
            check(not pod.get("hostNetwork"), "%s: no hostNetwork" % i)
        if name == "homeostat-controller":
            check(pod.get("automountServiceAccountToken") is True,
                  "%s: the service account token is mounted (kubectl)" % i)
            check(pod.get("serviceAccountName") == CONTROLLER_SA[1],
                  "%s runs as ServiceAccount %s" % (i, CONTROLLER_SA[1]))
            check(bool(find(objs, "ServiceAccount", HOMEOSTAT_NS, CONTROLLER_SA[1])),
                  "ServiceAccount %s exists" % CONTROLLER_SA[1])
        elif name != "homeostat-exporter":
            check(pod.get("automountServiceAccountToken") is False,
                  "%s: no service account token mounted" % i)
        vols = {v["name"]: v for v in pod.get("volumes") or []}
        for v in vols.values():
            if "hostPath" in v:
                check(name == "homeostat-exporter", "%s: hostPath volume %s only in the exporter"
                      % (i, v["name"]))
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            ci = "%s container %s" % (i, c.get("name"))
            csc = c.get("securityContext") or {}
            check(effective(c, pod, "runAsNonRoot") is True, "%s: runAsNonRoot" % ci)
            uid = effective(c, pod, "runAsUser")
            check(uid == 65532, "%s: runs as uid 65532" % ci, "runAsUser %r" % uid)
            check(csc.get("readOnlyRootFilesystem") is True, "%s: readOnlyRootFilesystem" % ci)
            check(csc.get("allowPrivilegeEscalation") is False,
                  "%s: allowPrivilegeEscalation false" % ci)
            check(not csc.get("privileged"), "%s: not privileged" % ci)
            caps = csc.get("capabilities") or {}
            check("ALL" in (caps.get("drop") or []) and not caps.get("add"),
                  "%s: capabilities drop ALL, add none" % ci)
            sp = effective(c, pod, "seccompProfile") or {}
            check(sp.get("type") == "RuntimeDefault", "%s: seccompProfile RuntimeDefault" % ci)
            res = c.get("resources") or {}
            check(all(k in (res.get(part) or {}) for part in ("requests", "limits")
                      for k in ("cpu", "memory")),
                  "%s: cpu and memory requests and limits" % ci)
            for m in c.get("volumeMounts") or []:
                v = vols.get(m["name"])
                check(v is not None, "%s: mount %s has a volume" % (ci, m["name"]))
                if v is not None and "hostPath" in v:
                    check(m.get("readOnly") is True, "%s: host path %s mounted read-only" %
                          (ci, v["hostPath"].get("path")))
            images.add(c.get("image"))
            for p in c.get("ports") or []:
                if pod.get("hostNetwork"):
                    check(p.get("hostPort") in (None, p.get("containerPort")),
                          "%s port %s: hostPort equals containerPort" % (ci, p.get("name")))
    check(len(images) == 1, "one image for both daemons", "images %s" % sorted(map(str, images)))
    for img in images:
        check(img and not img.endswith(":latest") and ":" in img.rsplit("/", 1)[-1],
              "the image %s has a version tag" % img)


# ---- volumes and arguments ----------------------------------------------------------------

def configmap_data(objs, ns, name):
    cms = find(objs, "ConfigMap", ns, name)
    return cms[0].get("data") or {} if cms else None


def materialise_volume(objs, ns, vol, outdir, token_files):
    """A local directory standing for the volume; None when it cannot be built."""
    name = vol["name"]
    if "hostPath" in vol:
        return vol["hostPath"]["path"]
    d = os.path.join(outdir, "vol-" + name)
    os.makedirs(d, exist_ok=True)

    def put_cm(src):
        data = configmap_data(objs, ns, src.get("name"))
        check(data is not None, "volume %s: ConfigMap %s exists" % (name, src.get("name")))
        if data is None:
            return False
        items = src.get("items") or [{"key": k, "path": k} for k in data]
        for it in items:
            check(it["key"] in data, "volume %s: ConfigMap %s has the key %s" %
                  (name, src.get("name"), it["key"]))
            with open(os.path.join(d, it["path"]), "w", encoding="utf-8") as f:
                f.write(data.get(it["key"], ""))
        return True

    def put_secret(src):
        # Secrets are not shipped: stand in one generated value per item.
        items = src.get("items") or [{"key": "token", "path": "token"}]
        for it in items:
            p = os.path.join(d, it["path"])
            with open(p, "w", encoding="utf-8") as f:
                f.write(secrets.token_hex(16) + "\n")
            token_files.append(p)
        return True

    if "configMap" in vol:
        put_cm(vol["configMap"])
    elif "secret" in vol:
        put_secret(vol["secret"])
    elif "projected" in vol:
        for src in vol["projected"].get("sources") or []:
            if "configMap" in src:
                put_cm(src["configMap"])
            elif "secret" in src:
                put_secret(src["secret"])
    elif "emptyDir" in vol or "persistentVolumeClaim" in vol:
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"].get("claimName")
            check(bool(find(objs, "PersistentVolumeClaim", ns, claim)),
                  "volume %s: PersistentVolumeClaim %s exists" % (name, claim))
    else:
        fail("volume %s: unknown volume type %s" % (name, sorted(vol)))
        return None
    return d


def expand_vars(s, env):
    """Kubernetes $(VAR) expansion from the container's env."""
    def rep(m):
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", rep, s)


LOCAL_FIELDS = {"status.hostIP": "127.0.0.1", "status.podIP": "127.0.0.1",
                "spec.nodeName": "localhost", "metadata.name": "test-pod",
                "metadata.namespace": HOMEOSTAT_NS}
LISTEN_FLAGS = {"--web.listen-address", "--statsd.listen-udp"}


def map_container(objs, w, outdir):
    """The container's command arguments run here: volumes made local, listen addresses
    on 127.0.0.1:0. Returns (args, env, mounts) with mounts {mountPath: (local, readOnly)}."""
    pod = pod_spec(w)
    ns = w["metadata"]["namespace"]
    c = pod["containers"][0]
    i = "%s container %s" % (ident(w), c.get("name"))
    token_files = []
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {}
    for m in c.get("volumeMounts") or []:
        v = vols.get(m["name"])
        if v is None:
            continue
        local = materialise_volume(objs, ns, v, outdir, token_files)
        if local is not None:
            mounts[m["mountPath"].rstrip("/") or "/"] = (local, bool(m.get("readOnly")))
    env = {}
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            fp = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            check(fp in LOCAL_FIELDS, "%s: env %s from a known field (%s)" % (i, e["name"], fp))
            env[e["name"]] = LOCAL_FIELDS.get(fp, "")

    def to_local(path, what, write):
        best = None
        for mp in mounts:
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best):
                    best = mp
        if not check(best is not None, "%s: %s %s is on a volume (the root is read-only)" %
                     (i, what, path)):
            # Run it anyway, but never on this machine's own path.
            stray = os.path.join(outdir, "not-on-a-volume", path.lstrip("/"))
            os.makedirs(os.path.dirname(stray), exist_ok=True)
            return stray
        local, ro = mounts[best]
        if write:
            check(not ro, "%s: %s %s is on a writable volume" % (i, what, path))
        rest = path[len(best):].lstrip("/")
        return os.path.join(local, rest) if rest else local

    args = []
    for a in c.get("args") or []:
        undefined = [v for v in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a) if v not in env]
        check(not undefined,
              "%s: argument %s uses only variables of its env" % (i, a.split("=")[0]),
              "undefined: %s" % undefined)
        a = expand_vars(a, env)
        flag, eq, value = a.partition("=")
        if eq and flag in LISTEN_FLAGS:
            a = flag + "=127.0.0.1:0"
        elif eq and value.startswith("/"):
            write = flag in ("--state.directory", "--audit.log")
            a = flag + "=" + to_local(value, flag, write)
        args.append(a)
    local_env = {}
    for k, v in env.items():
        if k == "HOME":
            local_env[k] = to_local(v, "HOME", True)
        elif v.startswith("/"):
            local_env[k] = to_local(v, "env " + k, False)
        else:
            local_env[k] = v
    return c, args, local_env, token_files


def check_daemon_args(objs, outdir, http_checks):
    out = {}
    for name, short in (("homeostat-exporter", "exporter"), ("homeostat-controller", "controller")):
        ws = [o for o in objs if o.get("kind") in WORKLOADS and o["metadata"]["name"] == name]
        if not ws:
            fail("no workload %s" % name)
            continue
        c, args, env, tokens = map_container(objs, ws[0], outdir)
        cmd = c.get("command") or []
        check(len(cmd) == 1 and cmd[0] == "/usr/bin/" + name,
              "%s runs /usr/bin/%s" % (ident(ws[0]), name), "command %s" % cmd)
        with open(os.path.join(outdir, short + ".args"), "w", encoding="utf-8") as f:
            f.write("".join(a + "\0" for a in args))
        with open(os.path.join(outdir, short + ".env"), "w", encoding="utf-8") as f:
            f.write("".join("%s=%s\0" % kv for kv in sorted(env.items())))
        out[name] = (c, args, env, tokens)
    ctl = out.get("homeostat-controller")
    if ctl:
        c, args, env, tokens = ctl
        flags = {a.partition("=")[0]: a.partition("=")[2] for a in c.get("args") or []}
        for flag, want in (("--config", "/etc/homeostat/rules.yaml"),
                           ("--state.directory", "/var/lib/homeostat-controller"),
                           ("--web.listen-address", "0.0.0.0:19111")):
            check(flags.get(flag) == want, "the controller has %s=%s" % (flag, want),
                  "it has %r" % flags.get(flag))
        tf = [a.partition("=")[2] for a in args if a.startswith("--web.admin-token-file=")]
        if check(len(tf) == 1 and tf[0] in tokens,
                 "the controller's --web.admin-token-file is a file of a Secret volume"):
            with open(os.path.join(outdir, "controller.token"), "w", encoding="utf-8") as f:
                f.write(tf[0])
        # kubectl's in-cluster configuration: the controller passes the kubelet's
        # KUBERNETES_SERVICE_HOST and _PORT to kubectl; nothing may point it elsewhere or
        # hide the service account's files.
        check("KUBECONFIG" not in env,
              "the controller sets no KUBECONFIG (kubectl uses the pod's service account)")
        sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
        shadow = [m["mountPath"] for m in c.get("volumeMounts") or []
                  if sa_dir.startswith(m["mountPath"].rstrip("/") + "/")
                  or m["mountPath"].startswith(sa_dir)]
        check(not shadow, "no volume of the controller hides %s" % sa_dir, shadow)
        cfg = [a.partition("=")[2] for a in args if a.startswith("--config=")]
        if cfg and os.path.isfile(cfg[0]):
            with open(os.path.join(outdir, "rules.yaml"), "w", encoding="utf-8") as f:
                f.write(open(cfg[0], encoding="utf-8").read())
    ex = out.get("homeostat-exporter")
    if ex:
        flags = {a.partition("=")[0]: a.partition("=")[2] for a in ex[0].get("args") or []}
        check(flags.get("--web.listen-address") == "0.0.0.0:19110",
              "the exporter has --web.listen-address=0.0.0.0:19110")
        for flag, mp in (("--path.procfs", "/host/proc"), ("--path.sysfs", "/host/sys"),
                         ("--path.rootfs", "/host/root")):
            check(flags.get(flag) == mp, "the exporter has %s=%s" % (flag, mp))
        listen_port = flags.get("--web.listen-address", "").rpartition(":")[2]
        check(any(str(p.get("containerPort")) == listen_port and p.get("name") == "metrics"
                  for p in ex[0].get("ports") or []),
              "the exporter's port named metrics is its listen port %s" % listen_port)
    if ctl:
        flags = {a.partition("=")[0]: a.partition("=")[2] for a in ctl[0].get("args") or []}
        listen_port = flags.get("--web.listen-address", "").rpartition(":")[2]
        check(any(str(p.get("containerPort")) == listen_port for p in ctl[0].get("ports") or []),
              "the controller's container port is its listen port %s" % listen_port)
    with open(os.path.join(outdir, "http-checks.tsv"), "w", encoding="utf-8") as f:
        for daemon, path, what in http_checks:
            f.write("%s\t%s\t%s\n" % (daemon, path, what))


# ---- rules and RBAC ------------------------------------------------------------------------

def kubectl_actions(rules):
    out = []
    for state, dec in (rules.get("decisions") or {}).items():
        for n, a in enumerate((dec or {}).get("actions") or [], 1):
            if isinstance(a, dict) and "kubectl" in a:
                out.append(("decision %s action %d" % (state, n), a["kubectl"], {}, []))
    for name, ma in (rules.get("manual_actions") or {}).items():
        acts = ma if isinstance(ma, list) else (ma or {}).get("actions") or []
        params = {} if isinstance(ma, list) else (ma or {}).get("params") or {}
        args = {}
        for p, d in params.items():
            args[p] = d.get("default", d.get("min", 1))
        for n, a in enumerate(acts, 1):
            if isinstance(a, dict) and "kubectl" in a:
                out.append(("manual action %s action %d" % (name, n), a["kubectl"], args,
                            sorted(params)))
    return out


def needed_rights(actions):
    """{(namespace, group, resource, verb, name)} the actions need, from VERB_NEEDS."""
    need = set()
    for where, p, _, _ in actions:
        verb = [k for k in VERB_KEYS if k in p]
        if not check(len(verb) == 1, "%s: one kubectl verb" % where):
            continue
        t, _, name = str(p[verb[0]]).partition("/")
        ct = canonical_type(t)
        info = KUBE_TYPES.get(ct)
        if not check(info is not None, "%s: %s is a namespaced type kubectl actions may use here"
                     % (where, t), "a cluster-scoped or unknown type needs a ClusterRole"):
            continue
        ns = p.get("namespace")
        if not check(bool(ns) and "{{" not in str(ns) and "{{" not in name,
                     "%s: names its namespace and target without placeholders" % where):
            continue
        for sub, v in VERB_NEEDS[verb[0]]:
            need.add((ns, info[0], info[1] + sub, v, name))
    return need


def ha_needs(objs):
    """{(namespace, group, resource, verb, name)} leader election needs, from the controller
    Deployment's --ha.* arguments; empty without --ha.backend=kubernetes."""
    dep = find(objs, "Deployment", HOMEOSTAT_NS, "homeostat-controller")
    if not dep:
        return set()
    c = pod_spec(dep[0])["containers"][0]
    flags = {a.partition("=")[0]: a.partition("=")[2] for a in c.get("args") or []}
    if flags.get("--ha.backend") != "kubernetes":
        return set()
    env = {e["name"]: ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
           for e in c.get("env") or []}
    ns_arg = flags.get("--ha.kubernetes.namespace", "")
    m = re.fullmatch(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", ns_arg)
    ns = dep[0]["metadata"]["namespace"] if m and env.get(m.group(1)) == "metadata.namespace" \
        else ns_arg
    lease = flags.get("--ha.lease-name", "homeostat-controller")
    return {(ns, grp, res, verb, None if suffix is None else lease + suffix)
            for grp, res, suffix, verb in HA_NEEDS}


def check_ha_args(objs):
    dep = find(objs, "Deployment", HOMEOSTAT_NS, "homeostat-controller")
    if not dep:
        return
    c = pod_spec(dep[0])["containers"][0]
    flags = {a.partition("=")[0]: a.partition("=")[2] for a in c.get("args") or []}
    env = {e["name"]: ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
           for e in c.get("env") or []}
    check(flags.get("--ha.backend") == "kubernetes",
          "the controller's replicas elect a leader (--ha.backend=kubernetes)")
    ident_var = re.fullmatch(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", flags.get("--ha.identity", ""))
    check(ident_var is not None and env.get(ident_var.group(1)) == "metadata.name",
          "each replica's identity in the Lease is its pod's name (downward API)",
          "--ha.identity=%s" % flags.get("--ha.identity"))
    ns_var = re.fullmatch(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                          flags.get("--ha.kubernetes.namespace", ""))
    check(ns_var is not None and env.get(ns_var.group(1)) == "metadata.namespace",
          "the Lease is in the pod's namespace (downward API)",
          "--ha.kubernetes.namespace=%s" % flags.get("--ha.kubernetes.namespace"))
    check(not any(f in flags for f in ("--ha.kubernetes.api-url", "--ha.kubeconfig",
                                         "--ha.kubernetes.token-file")),
          "leader election uses the pod's service account (no API URL, kubeconfig or token "
          "file given)")


def bound_roles(objs, ns):
    """Roles in ns bound to the controller's ServiceAccount."""
    out = []
    for rb in find(objs, "RoleBinding", ns):
        if not any(s.get("kind") == "ServiceAccount" and
                   (s.get("namespace"), s.get("name")) == CONTROLLER_SA
                   for s in rb.get("subjects") or []):
            continue
        ref = rb.get("roleRef") or {}
        if ref.get("kind") == "Role":
            out += find(objs, "Role", ns, ref.get("name"))
    return out


def grants(objs):
    """{(namespace, group, resource, verb, name or None)} of the Roles bound to the SA."""
    g = set()
    for role in find(objs, "Role"):
        ns = role["metadata"]["namespace"]
        if role not in bound_roles(objs, ns):
            continue
        for r in role.get("rules") or []:
            names = r.get("resourceNames") or [None]
            for grp in r.get("apiGroups") or []:
                for res in r.get("resources") or []:
                    for v in r.get("verbs") or []:
                        for n in names:
                            g.add((ns, grp, res, v, n))
    return g


def allowed(g, ns, group, resource, verb, name):
    return (ns, group, resource, verb, name) in g or (ns, group, resource, verb, None) in g


def check_rbac_static(objs, rules, outdir):
    check(not find(objs, "ClusterRole") and not find(objs, "ClusterRoleBinding"),
          "no ClusterRole or ClusterRoleBinding (nothing cluster-wide)")
    for role in find(objs, "Role"):
        i = ident(role)
        strs = list(walk_strings(role.get("rules") or []))
        check("*" not in strs and not any("*" in s for s in strs), "%s: no wildcard" % i)
        res = {s for r in role.get("rules") or [] for s in r.get("resources") or []}
        check(not any(s.split("/")[0] in ("secrets", "serviceaccounts", "roles", "rolebindings",
                                          "pods") for s in res),
              "%s: no secrets, pods, service accounts or RBAC objects" % i, sorted(res))
        verbs = {v for r in role.get("rules") or [] for v in r.get("verbs") or []}
        check(verbs <= ALLOWED_VERBS, "%s: verbs within %s" % (i, sorted(ALLOWED_VERBS)),
              "it has %s" % sorted(verbs))
        check(not any(r.get("nonResourceURLs") for r in role.get("rules") or []),
              "%s: no nonResourceURLs" % i)
    for rb in find(objs, "RoleBinding"):
        i = ident(rb)
        ref = rb.get("roleRef") or {}
        check(ref.get("kind") == "Role" and
              find(objs, "Role", rb["metadata"]["namespace"], ref.get("name")),
              "%s binds a Role of its own namespace" % i)
        check(all(s.get("kind") == "ServiceAccount" and
                  (s.get("namespace"), s.get("name")) == CONTROLLER_SA
                  for s in rb.get("subjects") or []),
              "%s binds only ServiceAccount %s/%s" % ((i,) + CONTROLLER_SA))
    actions = kubectl_actions(rules)
    check(len(actions) > 0, "the rules have kubectl actions (%d)" % len(actions))
    need = needed_rights(actions)
    ha = ha_needs(objs)
    check(len(ha) > 0, "leader election's rights derive from the Deployment's --ha.* arguments")
    g = grants(objs)
    for n in sorted(need):
        ns, grp, res, v, name = n
        check(allowed(g, *n), "Role in %s allows %s %s/%s %s (a kubectl action of the rules)"
              % (ns, v, grp or "core", res, name))
    for n in sorted(ha, key=str):
        ns, grp, res, v, name = n
        check(allowed(g, *n), "Role in %s allows %s %s/%s %s (leader election)"
              % (ns, v, grp or "core", res, name or "(any name)"))
    for n in sorted(g, key=str):
        ns, grp, res, v, name = n
        check(any(allowed({n}, *x) for x in need) or n in ha,
              "the grant %s %s/%s %s in %s is needed by a kubectl action of the rules or by "
              "leader election" % (v, grp or "core", res, name or "(any name)", ns))
        if v == "create":
            check(n in ha, "the grant create %s/%s in %s is leader election's (nothing else "
                  "creates)" % (grp or "core", res, ns))
    # What the shell runs through act-driver against the fake API server.
    adir = os.path.join(outdir, "actions")
    os.makedirs(adir, exist_ok=True)
    objects = set()
    for k, (where, p, args, declare) in enumerate(actions):
        with open(os.path.join(adir, "%d.where" % k), "w") as f:
            f.write(where)
        with open(os.path.join(adir, "%d.params.json" % k), "w") as f:
            json.dump(p, f)
        with open(os.path.join(adir, "%d.args.json" % k), "w") as f:
            json.dump(args, f)
        with open(os.path.join(adir, "%d.declare" % k), "w") as f:
            f.write("".join(d + "\n" for d in declare))
        verb = [x for x in VERB_KEYS if x in p]
        if verb:
            t, _, name = str(p[verb[0]]).partition("/")
            kind = KIND_OF_TYPE.get(canonical_type(t))
            if kind and p.get("namespace"):
                objects.add((kind, p["namespace"], name))
    with open(os.path.join(outdir, "kube-objects.jsonl"), "w") as f:
        for kind, ns, name in sorted(objects):
            tmpl = {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": "example"}]}}
            f.write(json.dumps({"kind": kind, "metadata": {"name": name, "namespace": ns},
                                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                                         "template": tmpl}}) + "\n")


def check_rules_configmap(objs, source_dir, outdir):
    path = os.path.join(outdir, "rules.yaml")
    if not check(os.path.isfile(path), "the controller's --config comes from a ConfigMap"):
        return None
    text = open(path, encoding="utf-8").read()
    with open(os.path.join(source_dir, "deploy/kubernetes/rules.yaml"), encoding="utf-8") as f:
        check(text == f.read(), "the rules ConfigMap holds deploy/kubernetes/rules.yaml")
    rules = yaml.safe_load(text)
    url = (rules.get("prometheus") or {}).get("url", "")
    check(".svc" in url, "the rules query a Prometheus Service in the cluster (%s)" % url)
    ams = (rules.get("alerting") or {}).get("alertmanagers") or []
    check(any("alertmanager-operated" in a for a in ams),
          "the rules alert to alertmanager-operated")
    scales = [p for _, p, _, _ in kubectl_actions(rules) if "scale" in p]
    check(scales and all("min" in p and "max" in p for p in scales),
          "every kubectl scale of the rules has bounds (min and max)")
    return rules


def check_prometheusrule(objs, source_dir, outdir):
    prs = find(objs, "PrometheusRule")
    if not check(len(prs) == 1, "one PrometheusRule"):
        return
    pr = prs[0]
    check(pr.get("apiVersion") == "monitoring.coreos.com/v1",
          "the PrometheusRule is monitoring.coreos.com/v1")
    groups = (pr.get("spec") or {}).get("groups") or []
    want = []
    for rel in ("alerts/homeostat-alerts.yml", "alerts/homeostat-recording.yml"):
        p = os.path.join(source_dir, rel)
        if check(os.path.isfile(p), "%s exists" % rel):
            with open(p, encoding="utf-8") as f:
                want += (yaml.safe_load(f) or {}).get("groups") or []
    why = "it has groups %s, they have %s" % ([g.get("name") for g in groups],
                                             [g.get("name") for g in want])
    for a, b in zip(groups, want):
        if a != b:
            ra, rb = a.get("rules") or [], b.get("rules") or []
            diff = [x.get("alert") or x.get("record") for x, y in zip(ra, rb) if x != y]
            why = "group %s differs (rules %s)" % (a.get("name"), diff or "added or removed")
            break
    check(groups == want, "the PrometheusRule's groups are exactly those of "
          "alerts/homeostat-alerts.yml and alerts/homeostat-recording.yml", why)
    names = [g.get("name") for g in groups]
    for n in ("homeostat-host", "homeostat-application", "homeostat-controller",
              "homeostat-recording"):
        check(n in names, "the PrometheusRule has the group %s" % n)
    with open(os.path.join(outdir, "prometheusrule-groups.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)


def check_image_version(objs, source_dir):
    with open(os.path.join(source_dir, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(\s*homeostat\s+VERSION\s+([0-9.]+)", f.read())
    if not check(m is not None, "CMakeLists.txt names the project's version"):
        return
    for w in [o for o in objs if o.get("kind") in WORKLOADS]:
        for c in pod_spec(w).get("containers") or []:
            tag = str(c.get("image")).rsplit(":", 1)[-1]
            check(tag == m.group(1),
                  "%s runs the image of this version (%s)" % (ident(w), m.group(1)),
                  "image %s (kustomization.yaml's images: newTag)" % c.get("image"))


def cmd_static(rendered, source_dir, outdir):
    objs = load_all(rendered)
    check(len(objs) > 0, "the rendered manifests have objects (%d)" % len(objs))
    check_objects(objs)
    check_workloads(objs)
    http_checks = []
    sw = check_services(objs)
    check_servicemonitors(objs, sw, http_checks)
    check_probes(objs, http_checks)
    check_security(objs)
    check_image_version(objs, source_dir)
    check_daemon_args(objs, outdir, http_checks)
    check_ha_args(objs)
    rules = check_rules_configmap(objs, source_dir, outdir)
    if rules is not None:
        check_rbac_static(objs, rules, outdir)
    check_prometheusrule(objs, source_dir, outdir)


# ---- RBAC against the requests kubectl made --------------------------------------------------

DISCOVERY = re.compile(r"^/(version|api|apis|api/v1|apis/[^/]+(/[^/]+)?|openapi(/.*)?)/?$")


def request_attributes(r):
    """(namespace, group, resource, verb, name) of a resource request, or None."""
    parts = [p for p in r["path"].split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if len(rest) < 3 or rest[0] != "namespaces":
        return None
    ns, res = rest[1], rest[2]
    name = rest[3] if len(rest) > 3 else None
    if len(rest) > 4:
        res += "/" + rest[4]
    m = r["method"]
    q = r.get("query") or {}
    if m == "GET":
        verb = "get" if name else ("watch" if q.get("watch") else "list")
    else:
        verb = {"PUT": "update", "PATCH": "patch", "POST": "create",
                "DELETE": "delete" if name else "deletecollection"}.get(m, m.lower())
    return ns, group, res, verb, name


def cmd_rbac(rendered, log):
    objs = load_all(rendered)
    g = grants(objs) - ha_needs(objs)
    reqs = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                reqs.append(json.loads(line))
    attrs, other = set(), set()
    for r in reqs:
        a = request_attributes(r)
        if a is None:
            other.add((r["method"], r["path"]))
        else:
            attrs.add(a)
    for method, path in sorted(other):
        check(method == "GET" and DISCOVERY.match(path) is not None,
              "kubectl's %s %s is discovery (open to every authenticated client)" % (method, path))
    check(any(r["method"] != "GET" for r in reqs),
          "kubectl made writes (%d requests in all)" % len(reqs))
    for a in sorted(attrs, key=str):
        ns, grp, res, v, name = a
        check(allowed(g, *a), "the Role allows what kubectl sent: %s %s/%s %s in %s"
              % (v, grp or "core", res, name, ns))
    for n in sorted(g, key=str):
        check(any(allowed({n}, *a) for a in attrs),
              "kubectl used the grant %s %s/%s %s in %s" % (n[3], n[1] or "core", n[2],
                                                           n[4] or "(any name)", n[0]))
    # The actuator's documented needs (VERB_NEEDS) are what kubectl really sends.
    kinds = {(a[2], a[3]) for a in attrs}
    for res, v in sorted(kinds):
        base, _, sub = res.partition("/")
        check(any(("/" + sub if sub else "", v) in need for need in VERB_NEEDS.values()),
              "%s %s is one of the requests the actuator is known to make" % (v, res))


def cmd_rbac_ha(rendered, log):
    objs = load_all(rendered)
    g = grants(objs)
    ha = ha_needs(objs)
    reqs = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                reqs.append(json.loads(line))
    check(len(reqs) > 0, "the controller asked the API server (%d requests)" % len(reqs))
    attrs = set()
    for r in reqs:
        a = request_attributes(r)
        if not check(a is not None, "the controller's %s %s is on a namespaced resource"
                     % (r["method"], r["path"])):
            continue
        attrs.add(a)
        check(r.get("user_agent", "").startswith("homeostat-controller/"),
              "the controller's %s %s names itself (User-Agent %s)"
              % (r["method"], r["path"], r.get("user_agent")))
    for a in sorted(attrs, key=str):
        ns, grp, res, v, name = a
        check(allowed(g, *a) and (a in ha or (ns, grp, res, v, None) in ha),
              "the Role allows what leader election sent: %s %s/%s %s in %s"
              % (v, grp or "core", res, name, ns))
    for n in sorted(ha, key=str):
        check(any(allowed({n}, *a) for a in attrs),
              "leader election used the grant %s %s/%s %s in %s"
              % (n[3], n[1] or "core", n[2], n[4] or "(any name)", n[0]))


# ---- the image ---------------------------------------------------------------------------------

def dockerfile_stages(path):
    stages, cur = [], None
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        word, _, rest = s.partition(" ")
        if word.upper() == "FROM":
            cur = {"from": rest.split()[0], "lines": [],
                   "name": rest.split()[-1] if " AS " in rest.upper() else None}
            stages.append(cur)
        elif cur is not None:
            cur["lines"].append((word.upper(), rest.strip()))
    return stages


def apt_packages(stage):
    pkgs = set()
    for word, rest in stage["lines"]:
        if word != "RUN":
            continue
        for cmd in rest.split("&&"):
            toks = cmd.split()
            if "apt-get" in toks and "install" in toks:
                for t in toks[toks.index("install") + 1:]:
                    if not t.startswith("-"):
                        pkgs.add(t)
    return pkgs


def package_of(path):
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        for a, b in (("/usr/lib/", "/lib/"), ("/lib/", "/usr/lib/")):
            if p.startswith(a):
                cands.append(b + p[len(a):])
    for p in cands:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()  # "libfoo1:amd64: /path"
    return None


SANITIZER_LIB = re.compile(r"^lib(asan|ubsan|tsan|lsan|hwasan)\.so")


def needed_libs(binary):
    """{soname: resolved path} of the binary's direct NEEDED entries."""
    d = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout
    sonames = re.findall(r"^\s*NEEDED\s+(\S+)", d, re.M)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    return {s: where.get(s) for s in sonames}


def cmd_image(dockerfile, rendered, install_deps, binaries):
    stages = dockerfile_stages(dockerfile)
    if not check(len(stages) >= 2, "the Dockerfile is multi-stage (%d stages)" % len(stages)):
        return
    for s in stages:
        check(s["from"] == "debian:12-slim",
              "stage %s is FROM debian:12-slim" % (s["name"] or "final"), s["from"])
    build, final = stages[0], stages[-1]
    runtime = apt_packages(final)
    text = open(install_deps, encoding="utf-8").read()
    m = re.search(r'build_pkgs="([^"]*)"', text)
    if check(m is not None, "scripts/install-deps.sh lists its build packages"):
        want = set(m.group(1).split())
        have = apt_packages(build)
        check(want <= have,
              "the build stage installs the build packages of scripts/install-deps.sh",
              "missing %s" % sorted(want - have))
    for b in binaries:
        if not check(os.access(b, os.X_OK), "the binary %s is there" % b):
            continue
        for soname, path in sorted(needed_libs(b).items()):
            if SANITIZER_LIB.match(soname):
                continue  # a sanitizer build's runtime, not part of the image's Release build
            pkg = package_of(path) if path else None
            what = "%s links %s" % (os.path.basename(b), soname)
            if pkg is None:
                fail("%s, which belongs to no Debian package (%s)" % (what, path))
                continue
            # libc6 and libgcc-s1 (which libc6 depends on; clang's sanitizer builds link it)
            # are in every Debian image.
            check(pkg in ("libc6", "libgcc-s1") or pkg in runtime,
                  "%s: the runtime stage installs its package %s" % (what, pkg),
                  "it installs %s" % sorted(runtime))
    check("kubernetes-client" in runtime or "kubectl" in runtime,
          "the runtime stage installs kubectl (the controller's kubectl actions)")
    users = [rest for w, rest in final["lines"] if w == "USER"]
    check(users and users[-1].split(":")[0] == "65532", "the image runs as uid 65532",
          "USER %s" % users)
    copies = [rest.split() for w, rest in final["lines"] if w == "COPY"]
    build_text = " ".join(rest for _, rest in build["lines"])
    objs = load_all(rendered)
    for w in [o for o in objs if o.get("kind") in WORKLOADS]:
        for c in pod_spec(w).get("containers") or []:
            cmd = (c.get("command") or [""])[0]
            d = os.path.dirname(cmd) + "/"
            check(("/out" + cmd) in build_text and
                  any(x[0].startswith("--from=") and x[-2] == "/out" + d and x[-1] == d
                      for x in copies),
                  "the image has %s (built to /out%s, copied to %s)" % (cmd, cmd, d))
    ign = dockerfile + ".dockerignore"
    if check(os.path.isfile(ign), "%s exists (the build context leaves the build trees out)" %
             os.path.basename(ign)):
        with open(ign, encoding="utf-8") as f:
            lines = [x.strip() for x in f if x.strip() and not x.startswith("#")]
        for s in stages:
            for w, rest in s["lines"]:
                if w == "COPY" and not rest.startswith("--from"):
                    for src in rest.split()[:-1]:
                        check("!" + src in lines or "!" + src.rstrip("/") in lines,
                              "the build context includes %s" % src)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "static" and len(argv) == 5:
        cmd_static(*argv[2:])
    elif cmd == "rbac" and len(argv) == 4:
        cmd_rbac(*argv[2:])
    elif cmd == "rbac-ha" and len(argv) == 4:
        cmd_rbac_ha(*argv[2:])
    elif cmd == "image" and len(argv) >= 6:
        cmd_image(argv[2], argv[3], argv[4], argv[5:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
