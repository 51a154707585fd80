#!/usr/bin/env bash
# controller_prometheus: homeostat-controller end to end against the real Prometheus (1 s
# scrape) scraping the real homeostat-exporter, whose application gauge demo_load the test
# sets through the exporter's push endpoint. Rules: evaluation_interval 1s, critical when
# load > 0.8 for 2s, a webhook action (to a port where nothing listens: it runs and fails,
# retries: 0) with a 10m cooldown.
#  - 0.2 gives optimal; 0.95 gives critical within for + evaluation + scrape interval, with
#    an explained decision (id, reasoning, confidence, actions, outcome) in the status, the
#    fsynced audit log and decisions_total; a --dry-run controller records dry_run and one
#    whose audit log is /dev/full records failed and counts the audit error
#  - sd_notify: READY=1 once the API answers, STATUS= with state and confidence after each
#    evaluation, WATCHDOG=1 (also while queries hang), RELOADING=1/READY=1 on SIGHUP,
#    STOPPING=1 and exit status 0 on SIGTERM
#  - a restart restores the state (critical) from the state file, with no new action
#  - Prometheus stopped (connect), replaced on its port by a server answering 503 (http),
#    garbage (bad_response), or nothing at all (timeout): the signal is unknown with the
#    reason, the state is held, nothing is decided, the error counter grows, evaluations go
#    on and the API keeps answering
#  - bearer token (401/403/200), JSON errors, body limit, decisions?limit
#  - a broken rules file: POST /-/reload answers 400 with file:line:col, SIGHUP keeps the
#    running rules, last_reload_successful 0; fixed, SIGHUP sets it back to 1; a valid
#    changed file through POST /-/reload runs; one that parses but cannot be loaded (missing
#    bearer_token_file) must not get a 200
# About 30 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing (build the homeostat-controller target)"
    finish
fi

# ---- helpers --------------------------------------------------------------------------

# fake.py notify SOCKET OUT: a sd_notify socket; writes "TIME PID ASSIGNMENT" per line to
#   OUT; at every READY=1 it also GETs /-/healthy of the sender (the address is read from
#   the sender's log, its stderr) and writes "TIME PID API_AT_READY=CODE".
# fake.py http MODE PORT: a Prometheus impostor on 127.0.0.1:PORT; MODE 503 (an HTTP error),
#   garbage (200 with a body that is not JSON) or hang (accepts and never answers).
cat >"$HS_TMP/fake.py" <<'EOF'
import os, re, socket, socketserver, struct, sys, threading, time, urllib.request

def notify(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    print("ready", flush=True)
    with open(out, "a", buffering=1) as f:
        while True:
            data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            now = time.time()
            lines = data.decode("utf-8", "replace").split("\n")
            for line in lines:
                if line:
                    f.write("%.3f %d %s\n" % (now, pid, line))
            if "READY=1" in lines:
                code = 0
                try:
                    log = open(os.readlink("/proc/%d/fd/2" % pid)).read()
                    addr = re.findall(r"listening on http://([^ ]+)", log)[-1]
                    code = urllib.request.urlopen("http://%s/-/healthy" % addr, timeout=2).status
                except Exception as e:
                    sys.stderr.write("health check at READY: %r\n" % e)
                f.write("%.3f %d API_AT_READY=%d\n" % (time.time(), pid, code))

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(5)
        mode = self.server.mode
        if mode == "hang":
            self.server.held.append(sock)
            threading.Event().wait(3600)
            return
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            need = int(m.group(1)) if m else 0
            while len(body) < need:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except OSError:
            return
        if mode == "503":
            status, ctype, payload = "503 Service Unavailable", "text/plain", b"overloaded, try later\n"
        else:
            status, ctype, payload = "200 OK", "application/json", b"\x00<html>garbage{{{\xff\n"
        sock.sendall(("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n" % (status, ctype, len(payload))).encode() + payload)

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

def http(mode, port):
    srv = Server(("127.0.0.1", port), Handler)
    srv.mode, srv.held = mode, []
    print("ready", flush=True)
    srv.serve_forever()

if sys.argv[1] == "notify":
    notify(sys.argv[2], sys.argv[3])
else:
    http(sys.argv[2], int(sys.argv[3]))
EOF

# start_fake LOG ARGS...: fake.py in the background; waits (10 s) until it says "ready".
start_fake() {
    local log=$1
    shift
    spawn "$log" /usr/bin/python3 "$HS_TMP/fake.py" "$@"
    FAKE_PID=$HS_PID
    if ! wait_until 10 grep -q '^ready$' "$log"; then
        fail "fake.py $* did not start; its log:"
        sed 's/^/    /' "$log"
        return 1
    fi
}

# start_controller NAME ARGS...: the controller on 127.0.0.1:0 with the rules file; waits
# (10 s) for its "listening on" line; sets CTL_URL, CTL_PID, CTL_LOG. Environment given
# before the call (NOTIFY_SOCKET=... start_controller) reaches the controller.
start_controller() {
    local name=$1
    shift
    CTL_LOG=$HS_TMP/$name.log
    spawn "$CTL_LOG" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 "$@"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    if [[ -z $CTL_URL ]]; then
        fail "controller $name did not log 'listening on' within 10 s; its log:"
        sed 's/^/    /' "$CTL_LOG"
        return 1
    fi
}

# status URL: GET URL/api/v1/status into $HS_TMP/status.json; fails unless 200.
status() { [[ $(http_get "$HS_TMP/status.json" "$1/api/v1/status") == 200 ]]; }
# st EXPR: EXPR over the last status (d is its "data").
st() { jget "$HS_TMP/status.json" "(lambda d: $1)(d['data'])"; }
# metric URL SERIES: the value of SERIES on URL/metrics (empty when absent).
metric() { metric_value "$(hcurl "$1/metrics" 2>/dev/null || true)" "$2"; }

# shellcheck disable=SC2317 # the predicates below are called through wait_until
state_is() { status "$1" && [[ $(st "d['state']") == "$2" ]]; }
# shellcheck disable=SC2317
load_is() {
    status "$1" && [[ $(st "d['signals'][0]['known']") == true &&
        $(st "d['signals'][0]['value']") == "$2" ]]
}
# shellcheck disable=SC2317
reason_has() {
    status "$1" && [[ $(st "d['signals'][0]['known']") == false &&
        $(st "d['signals'][0]['reason']") == *"$2"* ]]
}
# shellcheck disable=SC2317
metric_ge() { local v; v=$(metric "$1" "$2"); [[ -n $v ]] && (($(printf '%.0f' "$v") >= $3)); }
# shellcheck disable=SC2317
prom_load_is() { [[ $(prom_values demo_load 2>/dev/null) == "$1" ]]; }
# shellcheck disable=SC2317
notified() { grep -q "^[0-9.]* $1 $2\$" "$NOTIFY_OUT"; }
# shellcheck disable=SC2317
ready_count_gt() { (($(grep -c "^[0-9.]* $1 READY=1\$" "$NOTIFY_OUT" || true) > $2)); }
# shellcheck disable=SC2317
reload_ok_is() { [[ $(metric "$1" homeostat_controller_config_last_reload_successful) == "$2" ]]; }
# shellcheck disable=SC2317
evaluated_since() { metric_ge "$1" homeostat_controller_evaluations_total "$2"; }

# quiet CMD...: CMD with its output thrown away.
# shellcheck disable=SC2317 # called through check
quiet() { "$@" >/dev/null 2>&1; }

# push VALUE: sets the application gauge demo_load through the exporter.
push() {
    local code
    code=$(printf 'demo.load:%s|g' "$1" | curl -s -o "$HS_TMP/push.json" -w '%{http_code}' \
        --max-time 10 -H 'Content-Type: text/plain' --data-binary @- \
        "$EXPORTER_BASE/api/v1/push" || true)
    check_eq "push demo.load=$1 answers 200" 200 "$code"
}

# executed_records FILE: records of the audit log FILE with outcome executed; "bad" when a
# line does not parse.
executed_records() {
    /usr/bin/python3 - "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    try:
        n += json.loads(line).get("outcome") == "executed"
    except Exception:
        print("bad")
        sys.exit(0)
print(n)
EOF
}

executed_series='homeostat_controller_decisions_total{state="critical",action="webhook",result="failed"}'

# ---- the pipeline: exporter, Prometheus, rules ----------------------------------------

start_exporter --collector.disable-defaults
push 0.2
cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$EXPORTER_ADDR']
EOF
start_prometheus "$HS_TMP/prometheus.yml"
PROM_PORT=${PROM_URL##*:}
if wait_until 20 prom_load_is 0.2; then
    pass "Prometheus has demo_load = 0.2 from the exporter"
else
    fail "demo_load is not 0.2 in Prometheus after 20 s: $(prom_query demo_load | head -c 300)"
    finish
fi

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<'EOF'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}   # --prometheus.url overrides it
signals:
  load:
    query: demo_load
    max_age: 30s
states:
  - name: critical
    conditions: ["load > 0.8"]
    for: 2s
  - name: optimal
on_missing_data: hold
decisions:
  critical:
    cooldown: 10m
    actions:
      - webhook: {url: "http://127.0.0.1:9/admin/limits", body: {concurrency: 4}, retries: 0, timeout: 1s}
EOF
cp "$RULES" "$HS_TMP/rules.good"
check "the rules file passes check" quiet "$CONTROLLER" check "$RULES"
printf 's3cret-token\n' >"$HS_TMP/token"
AUTH=(-H 'Authorization: Bearer s3cret-token')

NOTIFY_SOCK=$HS_TMP/notify.sock
NOTIFY_OUT=$HS_TMP/notify.out
start_fake "$HS_TMP/notify.log" notify "$NOTIFY_SOCK" "$NOTIFY_OUT"

# ---- three controllers: A (real), D (--dry-run), F (audit log on a full device) ---------

NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=1000000 start_controller ctl-a \
    --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state-a" \
    --web.admin-token-file="$HS_TMP/token"
A_URL=$CTL_URL A_PID=$CTL_PID
start_controller ctl-d --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state-d" --dry-run
D_URL=$CTL_URL D_PID=$CTL_PID
start_controller ctl-f --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state-f" \
    --audit.log=/dev/full
F_URL=$CTL_URL F_PID=$CTL_PID

if wait_until 10 load_is "$A_URL" 0.2; then
    pass "the controller reads load = 0.2 from Prometheus"
else
    fail "load is not 0.2 after 10 s: $(head -c 600 "$HS_TMP/status.json")"
fi
check_eq "state optimal at load 0.2" optimal "$(st "d['state']")"
check_eq "... certain" false "$(st "d['uncertain']")"
check_eq "... and no decision yet" null "$(st "d['last_decision']")"
check_eq "homeostat_controller_state{state=\"optimal\"} is 1" 1 \
    "$(metric "$A_URL" 'homeostat_controller_state{state="optimal"}')"

if wait_until 5 notified "$A_PID" 'READY=1'; then
    pass "sd_notify: READY=1"
else
    fail "sd_notify: no READY=1 from $A_PID: $(head -c 600 "$NOTIFY_OUT")"
fi
check "... sent when the API already answered (API_AT_READY=200)" \
    grep -q "^[0-9.]* $A_PID API_AT_READY=200\$" "$NOTIFY_OUT"
check "... STATUS= with the state and the confidence after an evaluation" \
    grep -qE "^[0-9.]* $A_PID STATUS=optimal \\(confidence [0-9]\\.[0-9]{2}\\)(:|\$)" "$NOTIFY_OUT"
check "... WATCHDOG=1 (WATCHDOG_USEC=1s)" wait_until 3 notified "$A_PID" 'WATCHDOG=1'

# ---- a signal crosses its threshold ---------------------------------------------------

t0=$(date +%s%N)
push 0.95
# for 2s + evaluation interval 1s + scrape interval 1s, and 2s for the rest.
if wait_until 6 state_is "$A_URL" critical; then
    pass "critical $((($(date +%s%N) - t0) / 1000000)) ms after load 0.95 (for 2s + 1s + 1s)"
else
    fail "not critical 6 s after load 0.95: $(head -c 800 "$HS_TMP/status.json")"
fi
status "$A_URL" || true
check_eq "the status shows the change" true "$(st "d['last_decision']['changed']")"
check_eq "... from optimal" optimal "$(st "d['last_decision']['from']")"
check_eq "... to critical" critical "$(st "d['last_decision']['to']")"
id=$(st "d['last_decision']['id']")
check "... with an id ($id)" test -n "$id" -a "$id" != None
check "... a reasoning with the value (load=0.95)" \
    grep -q 'load=0.95' <<<"$(st "d['last_decision']['reasoning']")"
check_eq "... a confidence in (0, 1]" true "$(st "0 < d['last_decision']['confidence'] <= 1")"
check_eq "... the webhook action" \
    'webhook POST http://127.0.0.1:9/admin/limits body={"concurrency":4} retries=0 timeout=1s' \
    "$(st "d['last_decision']['actions'][0]['summary']")"
check_eq "... it ran and failed (nothing listens on port 9)" failed \
    "$(st "d['last_decision']['actions'][0]['result']")"
check "... with an error naming the URL" \
    grep -q 'http://127.0.0.1:9/admin/limits' <<<"$(st "d['last_decision']['actions'][0]['error']")"
check_eq "... and the status' last_action says so" failed "$(st "d['last_action']['result']")"
check_eq "... outcome executed" executed "$(st "d['last_decision']['outcome']")"
check_eq "... the signal values used" 0.95 "$(st "d['last_decision']['signals'][0]['value']")"
check_eq "$executed_series is 1" 1 "$(metric "$A_URL" "$executed_series")"
check_eq "homeostat_controller_state{state=\"critical\"} is 1" 1 \
    "$(metric "$A_URL" 'homeostat_controller_state{state="critical"}')"
check_eq "... and {state=\"optimal\"} 0" 0 \
    "$(metric "$A_URL" 'homeostat_controller_state{state="optimal"}')"
audit=$HS_TMP/state-a/audit.jsonl
check_eq "the audit log has one executed record" 1 "$(executed_records "$audit")"
check_eq "... the same decision" "$id" \
    "$(/usr/bin/python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["id"])' "$audit")"
code=$(http_get "$HS_TMP/decisions.json" "$A_URL/api/v1/decisions?limit=1")
check_eq "GET /api/v1/decisions?limit=1 answers 200" 200 "$code"
check_eq "... with that decision" "$id" "$(jget "$HS_TMP/decisions.json" "d['data'][0]['id']")"
for bad in 0 257 x; do
    code=$(http_get "$HS_TMP/err.json" "$A_URL/api/v1/decisions?limit=$bad")
    check_eq "limit=$bad answers 400" 400 "$code"
    check_eq "... with a JSON error" error "$(jget "$HS_TMP/err.json" "d['status']")"
done
check "STATUS= shows critical and its confidence" wait_until 3 grep -qE \
    "^[0-9.]* $A_PID STATUS=critical \\(confidence (0\\.[0-9]*[1-9][0-9]*|1\\.00)\\)(:|\$)" "$NOTIFY_OUT"
check "... with the reasoning and the last action, for systemctl status" grep -qE \
    "^[0-9.]* $A_PID STATUS=critical .*load=0\\.95.*; last action: webhook POST .* failed\$" \
    "$NOTIFY_OUT"

if wait_until 6 state_is "$D_URL" critical; then
    pass "the --dry-run controller is critical too"
else
    fail "the --dry-run controller is not critical: $(head -c 600 "$HS_TMP/status.json")"
fi
check_eq "... its decision's outcome is dry_run" dry_run "$(st "d['last_decision']['outcome']")"
check_eq "... its action was not run" not_run "$(st "d['last_decision']['actions'][0]['result']")"
check_eq "... counted as dry_run" 1 \
    "$(metric "$D_URL" 'homeostat_controller_decisions_total{state="critical",action="webhook",result="dry_run"}')"
check_eq "... and never as executed" "" "$(metric "$D_URL" "$executed_series")"
check_eq "... homeostat_controller_dry_run is 1" 1 "$(metric "$D_URL" homeostat_controller_dry_run)"
check_eq "without --web.admin-token-file, POST /api/v1/evaluate answers 403" 403 \
    "$(http_get "$HS_TMP/err.json" "$D_URL/api/v1/evaluate" -X POST "${AUTH[@]}")"
check_eq "... with a JSON error" error "$(jget "$HS_TMP/err.json" "d['status']")"
check_eq "... and POST /-/reload 403" 403 "$(http_code "$D_URL/-/reload" -X POST "${AUTH[@]}")"

if wait_until 6 state_is "$F_URL" critical; then
    pass "the controller whose audit log is /dev/full is critical too"
else
    fail "the /dev/full controller is not critical: $(head -c 600 "$HS_TMP/status.json")"
fi
check_eq "... its decision could not be recorded: outcome failed" failed \
    "$(st "d['last_decision']['outcome']")"
check "... counted in homeostat_controller_audit_errors_total" \
    metric_ge "$F_URL" homeostat_controller_audit_errors_total 1
check "... and as result=failed" metric_ge "$F_URL" \
    'homeostat_controller_decisions_total{state="critical",action="webhook",result="failed"}' 1
check_eq "... and no action ran" "" \
    "$(metric "$F_URL" 'homeostat_controller_actions_total{kind="webhook",trigger="decision",result="failed"}')"
# Nothing ran, so no cooldown may have started (docs/RULES.md: the cooldown starts on
# executed and on dry_run); otherwise the action waits a whole cooldown once the disk
# has room again.
cooldown=$(jget "$HS_TMP/state-f/state.json" "d['last_executed']['critical']")
if [[ $cooldown == 0 || $cooldown == 0.0 ]]; then
    pass "... and it started no cooldown (state file: last_executed.critical = 0)"
else
    fail "regression: a decision that could not be recorded (outcome failed, nothing ran) started \
the cooldown: state file last_executed.critical = $cooldown"
fi
http_get "$HS_TMP/decisions.json" "$F_URL/api/v1/decisions" >/dev/null
check_eq "... and its history is empty" 0 "$(jget "$HS_TMP/decisions.json" "len(d['data'])")"
for pid in "$D_PID" "$F_PID"; do
    stop_process "$pid" 10
    check_eq "controller $pid exits 0 on SIGTERM" 0 "$HS_STATUS"
done

# ---- SIGHUP with a valid file, then a restart -----------------------------------------

n_ready=$(grep -c "^[0-9.]* $A_PID READY=1\$" "$NOTIFY_OUT" || true)
kill -HUP "$A_PID"
if wait_until 5 ready_count_gt "$A_PID" "$n_ready"; then
    pass "sd_notify: READY=1 again after SIGHUP"
else
    fail "no READY=1 after SIGHUP"
fi
check_eq "... preceded by RELOADING=1" RELOADING=1 \
    "$(grep "^[0-9.]* $A_PID \(READY\|RELOADING\)=1\$" "$NOTIFY_OUT" | tail -n2 | head -n1 |
        awk '{ print $3 }')"
check_eq "... and last_reload_successful is 1" 1 \
    "$(metric "$A_URL" homeostat_controller_config_last_reload_successful)"
sleep 1.5
check_eq "the cooldown holds: still one executed decision" 1 "$(metric "$A_URL" "$executed_series")"

evals=$(metric "$A_URL" homeostat_controller_evaluations_total)
stop_process "$A_PID" 10
check_eq "SIGTERM: the controller exits 0" 0 "$HS_STATUS"
check_eq "... its last sd_notify message is STOPPING=1" STOPPING=1 \
    "$(grep "^[0-9.]* $A_PID " "$NOTIFY_OUT" | grep -v WATCHDOG | tail -n1 | awk '{ print $3 }')"
n_status=$(grep -cE "^[0-9.]* $A_PID STATUS=(optimal|critical) \\(confidence " "$NOTIFY_OUT" || true)
check "... and it sent one STATUS= per evaluation ($n_status for $evals)" \
    test "$n_status" -ge "${evals%.*}"
check_eq "the state file says critical" critical \
    "$(jget "$HS_TMP/state-a/state.json" "d['state']")"

NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=5000000 start_controller ctl-a2 \
    --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state-a" \
    --web.admin-token-file="$HS_TMP/token"
A_URL=$CTL_URL A_PID=$CTL_PID
check "the restarted controller logs the restored state" \
    wait_until 3 grep -q 'state: restored .*(critical since' "$CTL_LOG"
if wait_until 6 evaluated_since "$A_URL" 3; then
    pass "the restarted controller evaluates"
else
    fail "the restarted controller did not evaluate 3 times in 6 s"
fi
status "$A_URL" || true
check_eq "... still critical after 3 evaluations" critical "$(st "d['state']")"
check_eq "... on known data (load 0.95)" 0.95 "$(st "d['signals'][0]['value']")"
# The last decision is restored from the audit log: the same one, not a new one.
check_eq "... no new decision (the cooldown was restored)" "$id" "$(st "d['last_decision']['id']")"
check_eq "... nothing counted as executed" "" "$(metric "$A_URL" "$executed_series")"
check_eq "... the audit log still has one executed record" 1 "$(executed_records "$audit")"
http_get "$HS_TMP/decisions.json" "$A_URL/api/v1/decisions" >/dev/null
check_eq "... and the history recovered from it shows the decision" "$id" \
    "$(jget "$HS_TMP/decisions.json" "d['data'][0]['id']")"

# ---- Prometheus stopped, then impostors on its port -----------------------------------

stop_process "$PROM_PID" 10
if wait_until 5 reason_has "$A_URL" 'onnection refused'; then
    pass "Prometheus stopped: the signal is unknown ($(st "d['signals'][0]['reason']"))"
else
    fail "no 'connection refused' reason: $(head -c 800 "$HS_TMP/status.json")"
fi
check_eq "... the state is held" critical "$(st "d['state']")"
check_eq "... marked uncertain" true "$(st "d['uncertain']")"
check_eq "... homeostat_controller_signal_known is 0" 0 \
    "$(metric "$A_URL" 'homeostat_controller_signal_known{signal="load"}')"
check "... homeostat_controller_query_errors_total{reason=\"connect\"} > 0" \
    metric_ge "$A_URL" 'homeostat_controller_query_errors_total{reason="connect"}' 1

# impostor MODE REASON_LABEL REASON_TEXT: a fake Prometheus on the same port.
impostor() {
    local mode=$1 label=$2 text=$3 e0
    start_fake "$HS_TMP/fake-$mode.log" http "$mode" "$PROM_PORT" || return 0
    local fake=$FAKE_PID
    if wait_until 8 reason_has "$A_URL" "$text"; then
        pass "Prometheus answering $mode: the signal is unknown ($(st "d['signals'][0]['reason']"))"
    else
        fail "answering $mode: no reason with '$text': $(head -c 800 "$HS_TMP/status.json")"
    fi
    check_eq "... the state is held" critical "$(st "d['state']")"
    check_eq "... uncertain, confidence 0" "true 0.0" "$(st "d['uncertain']") $(st "d['confidence']")"
    check "... homeostat_controller_query_errors_total{reason=\"$label\"} > 0" \
        metric_ge "$A_URL" "homeostat_controller_query_errors_total{reason=\"$label\"}" 1
    e0=$(metric "$A_URL" homeostat_controller_evaluations_total)
    e0=${e0%.*}
    check "... evaluations go on (2 more within 5 s)" \
        wait_until 5 evaluated_since "$A_URL" $((e0 + 2))
    local t
    t=$(date +%s%N)
    check_eq "... and the API answers" 200 "$(http_code "$A_URL/api/v1/status" --max-time 2)"
    check "... at once ($((($(date +%s%N) - t) / 1000000)) ms)" \
        test $((($(date +%s%N) - t) / 1000000)) -lt 500
    if [[ $mode == hang ]]; then
        tok0=$(metric "$A_URL" homeostat_controller_evaluations_total)
        code=$(http_get "$HS_TMP/eval.json" "$A_URL/api/v1/evaluate" -X POST "${AUTH[@]}")
        check_eq "POST /api/v1/evaluate with the token answers 200 (queries hanging)" 200 "$code"
        check "... after a new evaluation" test "$(jget "$HS_TMP/eval.json" "d['data']['evaluations']")" -gt "${tok0%.*}"
        check_eq "... showing the held state" critical "$(jget "$HS_TMP/eval.json" "d['data']['state']")"
    fi
    stop_process "$fake" 5
}
impostor 503 http 'HTTP 503'
impostor garbage bad_response 'reply is not JSON'
impostor hang timeout 'timeout after 1s'
check_eq "no decision while the data was missing" "$id" "$(st "d['last_decision']['id']")"
check_eq "... the audit log still has one executed record" 1 "$(executed_records "$audit")"
check_eq "... nothing executed" "" "$(metric "$A_URL" "$executed_series")"
check "WATCHDOG=1 kept coming every < 5 s (WATCHDOG_USEC) while queries hung" \
    /usr/bin/python3 -c '
import sys
t = [float(l.split()[0]) for l in open(sys.argv[1]) if l.split()[1:] == [sys.argv[2], "WATCHDOG=1"]]
gaps = [b - a for a, b in zip(t, t[1:])]
print("  %d WATCHDOG=1, largest gap %.2f s" % (len(t), max(gaps or [99])))
sys.exit(0 if len(t) >= 4 and max(gaps) < 5 else 1)' "$NOTIFY_OUT" "$A_PID"

# ---- the API: tokens, errors, limits --------------------------------------------------

code=$(http_get "$HS_TMP/err.json" "$A_URL/api/v1/evaluate" -X POST -D "$HS_TMP/headers")
check_eq "POST /api/v1/evaluate without a token answers 401" 401 "$code"
check "... with WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$HS_TMP/headers"
check_eq "... and a JSON error" error "$(jget "$HS_TMP/err.json" "d['status']")"
check_eq "... a wrong token 401" 401 \
    "$(http_code "$A_URL/api/v1/evaluate" -X POST -H 'Authorization: Bearer s3cret-tokem')"
check_eq "... a longer one 401" 401 \
    "$(http_code "$A_URL/api/v1/evaluate" -X POST -H 'Authorization: Bearer s3cret-token2')"
check_eq "... a prefix of it 401" 401 \
    "$(http_code "$A_URL/api/v1/evaluate" -X POST -H 'Authorization: Bearer s3cret')"
check_eq "... another scheme 401" 401 \
    "$(http_code "$A_URL/api/v1/evaluate" -X POST -H 'Authorization: Basic s3cret-token')"
e0=$(metric "$A_URL" homeostat_controller_evaluations_total)
code=$(http_get "$HS_TMP/eval.json" "$A_URL/api/v1/evaluate" -X POST "${AUTH[@]}")
check_eq "... the token 200" 200 "$code"
check "... after one more evaluation" \
    test "$(jget "$HS_TMP/eval.json" "d['data']['evaluations']")" -gt "${e0%.*}"
check_eq "GET /api/v1/evaluate answers 405" 405 \
    "$(http_code "$A_URL/api/v1/evaluate" -D "$HS_TMP/headers")"
check "... with Allow: POST" grep -qi '^Allow: POST' "$HS_TMP/headers"
check_eq "an unknown path answers 404" 404 "$(http_get "$HS_TMP/err.json" "$A_URL/api/v2/nothing")"
check_eq "... with a JSON error" error "$(jget "$HS_TMP/err.json" "d['status']")"
head -c 70000 /dev/zero | tr '\0' 'x' >"$HS_TMP/big.body"
check_eq "a 70 kB body answers 413" 413 \
    "$(http_code "$A_URL/api/v1/evaluate" -X POST "${AUTH[@]}" --data-binary "@$HS_TMP/big.body")"
check_eq "the API still answers" 200 "$(http_code "$A_URL/-/healthy")"

# ---- reloads: a broken file keeps the running rules -----------------------------------

http_get "$HS_TMP/rules-before.json" "$A_URL/api/v1/rules" >/dev/null
sed -i 's/^    max_age: 30s$/    maxage: 30s/' "$RULES"
code=$(http_get "$HS_TMP/err.json" "$A_URL/-/reload" -X POST "${AUTH[@]}")
check_eq "POST /-/reload with a broken file answers 400" 400 "$code"
check "... naming file:line:col" grep -qF "$RULES:6:5: unknown key 'maxage'" \
    <<<"$(jget "$HS_TMP/err.json" "d['error']")"
check_eq "... last_reload_successful is 0" 0 \
    "$(metric "$A_URL" homeostat_controller_config_last_reload_successful)"
check_eq "POST /-/reload without the token answers 401" 401 "$(http_code "$A_URL/-/reload" -X POST)"
n_ready=$(grep -c "^[0-9.]* $A_PID READY=1\$" "$NOTIFY_OUT" || true)
n_invalid=$(grep -c "reload: the rules file is invalid" "$CTL_LOG" || true)
kill -HUP "$A_PID"
check "SIGHUP with the broken file: RELOADING=1 then READY=1" \
    wait_until 5 ready_count_gt "$A_PID" "$n_ready"
check "... logged as invalid" \
    test "$(grep -c "reload: the rules file is invalid" "$CTL_LOG")" -gt "$n_invalid"
check_eq "... last_reload_successful stays 0" 0 \
    "$(metric "$A_URL" homeostat_controller_config_last_reload_successful)"
http_get "$HS_TMP/rules-after.json" "$A_URL/api/v1/rules" >/dev/null
check "... the running rules are unchanged" cmp -s "$HS_TMP/rules-before.json" "$HS_TMP/rules-after.json"
check "... and the controller still runs" hs_alive "$A_PID"
cp "$HS_TMP/rules.good" "$RULES"
kill -HUP "$A_PID"
if wait_until 5 reload_ok_is "$A_URL" 1; then
    pass "fixed, SIGHUP sets last_reload_successful back to 1"
else
    fail "last_reload_successful is not 1 after fixing the file and SIGHUP"
fi
sed -i 's/"load > 0.8"/"load > 0.9"/' "$RULES"
code=$(http_get "$HS_TMP/reload.txt" "$A_URL/-/reload" -X POST "${AUTH[@]}")
check_eq "POST /-/reload with a valid, changed file (load > 0.9) answers 200" 200 "$code"
# shellcheck disable=SC2317 # called through wait_until
threshold_is() {
    http_get "$HS_TMP/rules-now.json" "$A_URL/api/v1/rules" >/dev/null
    [[ $(jget "$HS_TMP/rules-now.json" "d['data']['states'][0]['conditions'][0]['threshold']") == "$1" ]]
}
check "... and the new rules run" wait_until 3 threshold_is 0.9
check_eq "... last_reload_successful 1" 1 \
    "$(metric "$A_URL" homeostat_controller_config_last_reload_successful)"

# A file that parses but cannot be loaded (its bearer_token_file does not exist): the
# reload the endpoint starts fails, so the endpoint must not answer 200.
sed -i 's|^prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}|prometheus: {url: "http://127.0.0.1:9/", timeout: 1s, bearer_token_file: missing-token}|' \
    "$RULES"
check "the rules file with a missing token file still passes check" quiet "$CONTROLLER" check "$RULES"
code=$(http_get "$HS_TMP/reload.txt" "$A_URL/-/reload" -X POST "${AUTH[@]}")
wait_until 3 reload_ok_is "$A_URL" 0 || true
ok=$(metric "$A_URL" homeostat_controller_config_last_reload_successful)
if [[ $code == 400 || $code == 500 ]]; then
    pass "POST /-/reload with an unloadable file (missing bearer_token_file) answers $code"
else
    fail "regression: POST /-/reload with a missing bearer_token_file answers $code ($(head -c 100 \
"$HS_TMP/reload.txt" | tr -d '\n')) while the reload it starts fails (last_reload_successful $ok)"
fi
check_eq "... the reload failed: last_reload_successful 0" 0 "$ok"
check "... logged with the file's name" grep -q 'missing-token: cannot read bearer token' "$CTL_LOG"
cp "$HS_TMP/rules.good" "$RULES"
kill -HUP "$A_PID"
check "fixed again, SIGHUP: last_reload_successful 1" \
    wait_until 5 reload_ok_is "$A_URL" 1
check_eq "... and the state survives the reloads" critical \
    "$(status "$A_URL" && st "d['state']")"

stop_process "$A_PID" 10
check_eq "SIGTERM: the restarted controller exits 0" 0 "$HS_STATUS"
check "... after STOPPING=1" notified "$A_PID" 'STOPPING=1'
finish
