#!/bin/bash
# actuator_systemd: the systemd actuator, run through the daemon's code by act-driver,
# against a mock systemd (systemd_mock.py, a python-dbusmock template) on a private
# dbus-daemon listening on a unix socket in the test's directory. Checks the exact
# SetUnitProperties call (runtime=true, every value of type 't'), the previous values in
# undo and their restoration by revert, an error reply, a method that hangs past the
# action's timeout, --server-dry-run, and --user-bus.
# A real systemd (tests/integration/operator/systemd_nspawn.sh) covers what it can show
# better: the values really set and restored, a unit systemd does not have, polkit. This
# mock stays for what a real systemd cannot be made to do here: show the call's exact
# arguments on the wire, answer with an arbitrary error, hang past a deadline, and stand
# in for a user manager (the container has no user session).
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool dbus-daemon /usr/bin/python3
if ! /usr/bin/python3 -c 'import dbusmock' 2>"$HS_TMP/import.err"; then
    fail "python3-dbusmock is missing (scripts/install-deps.sh test installs it):" \
        "$(tail -n 1 "$HS_TMP/import.err")"
    finish
fi
if [[ ! -x $HOMEOSTAT_ACT_DRIVER ]]; then
    fail "act-driver '$HOMEOSTAT_ACT_DRIVER' is missing or not executable"
    finish
fi

MOCK=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fakes" && pwd)/systemd_mock.py
BUS_SOCKET=$HS_TMP/bus
BUS=unix:path=$BUS_SOCKET
INF=18446744073709551615

# A bus of our own: nothing but this test on it, no service activation, loopback only.
cat >"$HS_TMP/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>$BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
spawn "$HS_TMP/dbus-daemon.log" dbus-daemon --config-file="$HS_TMP/bus.conf" --nofork \
    --nopidfile --print-address=1
if ! wait_until 10 test -S "$BUS_SOCKET"; then
    fail "dbus-daemon did not create $BUS_SOCKET within 10 s; its log:"
    sed 's/^/    /' "$HS_TMP/dbus-daemon.log"
    finish
fi
export DBUS_SYSTEM_BUS_ADDRESS=$BUS
unset DBUS_SESSION_BUS_ADDRESS

spawn "$HS_TMP/mock.log" /usr/bin/python3 -m dbusmock --system --template "$MOCK" \
    -l "$HS_TMP/mock-calls.log"
MOCK_PID=$HS_PID
if ! wait_until 15 /usr/bin/python3 "$MOCK" ping 2>/dev/null; then
    fail "the systemd mock did not answer on $BUS within 15 s; its log:"
    sed 's/^/    /' "$HS_TMP/mock.log"
    finish
fi
pass "mock systemd serves org.freedesktop.systemd1 on a private bus"

mock() { /usr/bin/python3 "$MOCK" "$@"; }

# drv NAME ARGS...: act-driver ARGS with stdout in $HS_TMP/NAME.json, stderr in NAME.err;
# DRV_RC is its exit status, DRV_MS how long it took.
drv() {
    local name=$1 start
    shift
    start=$(date +%s%N)
    DRV_RC=0
    "$HOMEOSTAT_ACT_DRIVER" "$@" >"$HS_TMP/$name.json" 2>"$HS_TMP/$name.err" || DRV_RC=$?
    DRV_MS=$((($(date +%s%N) - start) / 1000000))
}

# jget FILE EXPR: EXPR (Python, the parsed JSON of FILE is d) printed; strings as they
# are, anything else as compact JSON with sorted keys; "<error: ...>" when it fails.
jget() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"d": d})
    print(v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":")))
except Exception as e:
    print("<error: %r>" % e)
EOF
}

# calls FILE: the mock's recorded Manager calls into FILE (then cleared).
calls() {
    mock calls >"$1" 2>&1 || true
    mock clear || true
}

# sets FILE: the SetUnitProperties calls of FILE as [[unit, runtime, [[prop, sig, value]...]]...]
sets() {
    jget "$1" "[[c['args'][0], c['args'][1], [[p[0], p[1][0], p[1][1]] for p in c['args'][2]]]
               for c in d if c['method'] == 'SetUnitProperties']"
}

props() { mock props "$1" 2>&1 || true; }

# The mock's defaults, and the same as undo writes them (UINT64_MAX is "infinity").
ORIG='{"CPUQuotaPerSecUSec":'$INF',"CPUWeight":100,"MemoryHigh":'$INF',"TasksMax":4915}'
ORIG_UNDO='{"CPUQuotaPerSecUSec":"infinity","CPUWeight":100,"MemoryHigh":"infinity","TasksMax":4915}'
check_eq "app.service starts with the mock's defaults" "$ORIG" "$(props app.service)"

if command -v busctl >/dev/null 2>&1; then
    check_eq "busctl sees the mock (GetUnit app.service)" \
        'o "/org/freedesktop/systemd1/unit/app_2eservice"' \
        "$(busctl --address="$BUS" call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
            org.freedesktop.systemd1.Manager GetUnit s app.service 2>&1)"
fi

# ---- apply: the exact call, the previous values in undo ----
mock clear
PARAMS='{"unit":"app.service","cpu_quota":"50%","memory_high":"512M","tasks_max":200,"cpu_weight":50}'
drv apply apply systemd "$PARAMS"
calls "$HS_TMP/apply.calls"
check_eq "apply: exit status 0" 0 "$DRV_RC"
check_eq "apply: status ok" ok "$(jget "$HS_TMP/apply.json" "d['status']")"
check_eq "apply: LoadUnit then one SetUnitProperties" '["LoadUnit","SetUnitProperties"]' \
    "$(jget "$HS_TMP/apply.calls" "[c['method'] for c in d]")"
check_eq "apply: SetUnitProperties(app.service, runtime=true, exact 't' values)" \
    '[["app.service",true,[["CPUQuotaPerSecUSec","t",500000],["MemoryHigh","t",536870912],'\
'["TasksMax","t",200],["CPUWeight","t",50]]]]' \
    "$(sets "$HS_TMP/apply.calls")"
check_eq "apply: undo holds the previous values (infinity as a string)" \
    '{"properties":'"$ORIG_UNDO"',"unit":"app.service"}' "$(jget "$HS_TMP/apply.json" "d['undo']")"
check_eq "apply: detail names the unit, object path and bus" \
    '["app.service","/org/freedesktop/systemd1/unit/app_2eservice","system"]' \
    "$(jget "$HS_TMP/apply.json" "[d['detail'][k] for k in ('unit', 'object_path', 'bus')]")"
check_eq "apply: detail.set" \
    '{"CPUQuotaPerSecUSec":500000,"CPUWeight":50,"MemoryHigh":536870912,"TasksMax":200}' \
    "$(jget "$HS_TMP/apply.json" "d['detail']['set']")"
check_eq "apply: detail.previous" "$ORIG_UNDO" "$(jget "$HS_TMP/apply.json" "d['detail']['previous']")"
check_eq "apply: the unit has the new values" \
    '{"CPUQuotaPerSecUSec":500000,"CPUWeight":50,"MemoryHigh":536870912,"TasksMax":200}' \
    "$(props app.service)"

# ---- revert: the old values go back, UINT64_MAX for infinity ----
UNDO=$(jget "$HS_TMP/apply.json" "d['undo']")
drv revert revert systemd "$PARAMS" "$UNDO"
calls "$HS_TMP/revert.calls"
check_eq "revert: exit status 0" 0 "$DRV_RC"
check_eq "revert: status ok" ok "$(jget "$HS_TMP/revert.json" "d['status']")"
check_eq "revert: SetUnitProperties with the previous values" \
    '[["app.service",true,[["CPUQuotaPerSecUSec","t",'$INF'],["MemoryHigh","t",'$INF'],'\
'["TasksMax","t",4915],["CPUWeight","t",100]]]]' \
    "$(sets "$HS_TMP/revert.calls")"
check_eq "revert: the unit is back to its old values" "$ORIG" "$(props app.service)"

# ---- other forms of the values, and a slice (another interface) ----
drv slice apply systemd \
    '{"unit":"db.slice","cpu_quota":250,"memory_high":1073741824,"tasks_max":"infinity"}'
calls "$HS_TMP/slice.calls"
check_eq "slice: status ok" ok "$(jget "$HS_TMP/slice.json" "d['status']")"
check_eq "slice: 250 (a number) is 250%, bytes as given, infinity is UINT64_MAX" \
    '[["db.slice",true,[["CPUQuotaPerSecUSec","t",2500000],["MemoryHigh","t",1073741824],'\
'["TasksMax","t",'$INF']]]]' \
    "$(sets "$HS_TMP/slice.calls")"
check_eq "slice: set on org.freedesktop.systemd1.Slice" \
    '{"CPUQuotaPerSecUSec":2500000,"CPUWeight":100,"MemoryHigh":1073741824,"TasksMax":'$INF'}' \
    "$(props db.slice)"
check_eq "slice: undo" \
    '{"properties":{"CPUQuotaPerSecUSec":"infinity","MemoryHigh":"infinity","TasksMax":4915},'\
'"unit":"db.slice"}' \
    "$(jget "$HS_TMP/slice.json" "d['undo']")"

# ---- an error reply: named, permanent ----
mock error SetUnitProperties org.freedesktop.DBus.Error.AccessDenied 'Access denied by the mock'
drv denied apply systemd '{"unit":"app.service","cpu_weight":10}'
mock error SetUnitProperties '' ''
mock clear
check_eq "access denied: status fail after one attempt" 'fail 1' \
    "$(jget "$HS_TMP/denied.json" "d['status'] + ' ' + str(d['attempts'])")"
err=$(jget "$HS_TMP/denied.json" "d['error']")
check "access denied: the error names the D-Bus error and its message ($err)" \
    grep -q 'systemd app.service: org.freedesktop.DBus.Error.AccessDenied: Access denied by' \
    <<<"$err"
check_eq "access denied: the unit kept its values" "$ORIG" "$(props app.service)"

# ---- a method that hangs: the action's timeout bounds it ----
mock hang SetUnitProperties 6
drv hang apply systemd '{"unit":"slow.service","cpu_weight":10,"timeout":"1s","retries":0}'
check_eq "hanging SetUnitProperties: exit status 1" 1 "$DRV_RC"
check_eq "hanging SetUnitProperties: status retry" retry "$(jget "$HS_TMP/hang.json" "d['status']")"
err=$(jget "$HS_TMP/hang.json" "d['error']")
check "hanging SetUnitProperties: the error says it timed out ($err)" \
    grep -q 'slow.service: org.freedesktop.DBus.Error.Timeout: .*SetUnitProperties.*timeout 1s' \
    <<<"$err"
check "hanging SetUnitProperties: returned after about 1 s (took $DRV_MS ms)" \
    test "$DRV_MS" -ge 900 -a "$DRV_MS" -lt 3000
check_eq "hanging SetUnitProperties: undo kept (it may still be applied)" \
    '{"properties":{"CPUWeight":100},"unit":"slow.service"}' "$(jget "$HS_TMP/hang.json" "d['undo']")"
mock hang SetUnitProperties 0

mock hang LoadUnit 6
drv hang2 apply systemd \
    '{"unit":"slow.service","cpu_weight":10,"timeout":"1s","retries":1,"backoff":"100ms"}'
mock hang LoadUnit 0
check_eq "hanging LoadUnit: retried once, then retry" 'retry 2' \
    "$(jget "$HS_TMP/hang2.json" "d['status'] + ' ' + str(d['attempts'])")"
check "hanging LoadUnit: two 1 s attempts (took $DRV_MS ms)" \
    test "$DRV_MS" -ge 1900 -a "$DRV_MS" -lt 4500
check_eq "hanging LoadUnit: no undo" null "$(jget "$HS_TMP/hang2.json" "d['undo']")"
mock clear

# ---- --server-dry-run: read, set nothing ----
drv dry --server-dry-run apply systemd '{"unit":"app.service","cpu_quota":"20%"}'
calls "$HS_TMP/dry.calls"
check_eq "dry run: status ok" ok "$(jget "$HS_TMP/dry.json" "d['status']")"
check_eq "dry run: LoadUnit only" '["LoadUnit"]' \
    "$(jget "$HS_TMP/dry.calls" "[c['method'] for c in d]")"
check_eq "dry run: detail says checked, with the values it would set and the current ones" \
    '[true,true,{"CPUQuotaPerSecUSec":200000},{"CPUQuotaPerSecUSec":"infinity"}]' \
    "$(jget "$HS_TMP/dry.json" \
        "[d['detail'][k] for k in ('dry_run', 'checked', 'would_set', 'previous')]")"
check_eq "dry run: no undo" null "$(jget "$HS_TMP/dry.json" "d['undo']")"
check_eq "dry run: the unit kept its values" "$ORIG" "$(props app.service)"

# ---- --user-bus: DBUS_SESSION_BUS_ADDRESS, not the system bus ----
NOBUS=unix:path=$HS_TMP/no-bus-here
DBUS_SYSTEM_BUS_ADDRESS=$NOBUS DBUS_SESSION_BUS_ADDRESS=$BUS \
    drv user --user-bus apply systemd '{"unit":"app.service","tasks_max":64}'
calls "$HS_TMP/user.calls"
check_eq "user bus: status ok" ok "$(jget "$HS_TMP/user.json" "d['status']")"
check_eq "user bus: detail.bus" user "$(jget "$HS_TMP/user.json" "d['detail']['bus']")"
check_eq "user bus: the call reached the mock" '[["app.service",true,[["TasksMax","t",64]]]]' \
    "$(sets "$HS_TMP/user.calls")"
DBUS_SYSTEM_BUS_ADDRESS=$NOBUS DBUS_SESSION_BUS_ADDRESS=$BUS \
    drv user-revert --user-bus revert systemd '{"unit":"app.service","tasks_max":64}' \
    "$(jget "$HS_TMP/user.json" "d['undo']")"
check_eq "user bus: revert" ok "$(jget "$HS_TMP/user-revert.json" "d['status']")"
check_eq "user bus: the unit is back to its old values" "$ORIG" "$(props app.service)"
mock clear

# ---- no bus at all: a clear, transient error ----
DBUS_SYSTEM_BUS_ADDRESS=$NOBUS \
    drv nobus apply systemd '{"unit":"app.service","cpu_weight":10,"retries":0}'
check_eq "no bus: status retry" retry "$(jget "$HS_TMP/nobus.json" "d['status']")"
err=$(jget "$HS_TMP/nobus.json" "d['error']")
check "no bus: the error names the bus address ($err)" \
    grep -qF "systemd app.service: cannot connect to the system bus ($NOBUS): No such file" \
    <<<"$err"
DBUS_SESSION_BUS_ADDRESS=$NOBUS \
    drv nouserbus --user-bus apply systemd '{"unit":"app.service","cpu_weight":10,"retries":0}'
check "no user bus: the error names the user bus" \
    grep -qF "cannot connect to the user bus ($NOBUS)" "$HS_TMP/nouserbus.json"

# ---- invalid settings never reach the bus ----
drv invalid apply systemd '{"unit":"app.service","memory_high":"lots"}'
check_eq "invalid memory_high: exit status 2" 2 "$DRV_RC"
check "invalid memory_high: the message names the key" \
    grep -q 'memory_high: memory_high must be a size' "$HS_TMP/invalid.err"
drv template apply systemd '{"unit":"app@.service","cpu_weight":10}'
check_eq "a template without instance: exit status 2" 2 "$DRV_RC"
calls "$HS_TMP/invalid.calls"
check_eq "invalid settings: no call reached the mock" '[]' "$(cat "$HS_TMP/invalid.calls")"

check "the mock is still running" hs_alive "$MOCK_PID"
finish
