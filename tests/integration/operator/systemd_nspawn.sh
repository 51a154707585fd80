#!/usr/bin/env bash
# systemd_nspawn: the Debian package under a real systemd as PID 1 (systemd-nspawn, systemd
# 252 over the host's /usr), both units started exactly as shipped.
#  - the recipe: systemd-nspawn --register=no --keep-unit --directory=/ --volatile=yes
#    --private-network, /usr as an overlay over the host's (writes go to a directory of this
#    test) so that dpkg can install into it, the host's dpkg database copied in (its
#    statoverride emptied: the container's /etc/group is systemd's factory one), the
#    host's nsswitch.conf (dynamic users resolve through nss-systemd), the wait-online
#    services masked, the package bound read-only; booted with systemd.firstboot=off,
#    and stopped by its own
#    init's pid (SIGRTMIN+4, then SIGKILL): whatever it starts, it stops
#  - dpkg -i of the package built by cpack (as `make package` does) enables both units
#  - Type=notify: each unit reaches active (running) with the daemon's STATUS= as systemd's
#    StatusText (what `systemctl status` shows)
#  - the journal has the daemons' lines with their priorities (info 6, error 3)
#  - `systemctl reload`: the controller reloads (its log says so, at info); with a broken
#    rules file it keeps the running rules and says so at error; the same main pid
#  - the sandbox as the running service has it: the package's system user (not 0), no capabilities,
#    NoNewPrivs, a seccomp filter, / read-only and only its StateDirectory writable in its
#    mount namespace, and `systemd-analyze security` of the running units at most 2.0
#  - a manual systemd action (cpu_quota, memory_high) from the shipped unit, its operator
#    token handed over by LoadCredential= as the unit says, through the real system bus and
#    the shipped polkit rule: systemd has the new properties, audited; the same action from
#    another system user is refused by polkit, audited, and changes nothing
#  - the watchdog: the exporter stopped with SIGSTOP is killed and restarted by systemd at
#    its WatchdogSec (30 s) with a new main pid, the journal saying why
#  - `systemctl stop`: both stop cleanly (Result=success)
#  - CPU throttling by a cpu_quota action cannot be shown here when the host has cgroup v1
#    controllers (nspawn mounts them read-only in the container): checked and reported as
#    not shown, with the reason
# Skipped (exit 77, with the reason) where the machine cannot boot it: not root, no
# systemd-nspawn, or a boot that does not reach running or degraded in 60 s.
# About 60 s.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

skip() {
    printf 'SKIP - %s\n' "$*"
    trap - EXIT INT TERM HUP
    hs_kill_all
    stop_container
    rm -rf "$HS_TMP"
    exit 77
}

INIT=
NSPAWN=
MACHINE=hs-test-$$
# Stops the container by its init's own pid (it outlives a killed nspawn), then nspawn.
stop_container() {
    local deadline
    if [[ -n $INIT ]] && kill -0 "$INIT" 2>/dev/null; then
        kill -RTMIN+4 "$INIT" 2>/dev/null || true
        deadline=$((SECONDS + 20))
        while ((SECONDS < deadline)) && kill -0 "$INIT" 2>/dev/null; do sleep 0.2; done
        if kill -0 "$INIT" 2>/dev/null; then
            say "the container's init $INIT did not power off in 20 s; killing it"
            kill -KILL "$INIT" 2>/dev/null || true
        fi
    fi
    if [[ -n $NSPAWN ]] && kill -0 "$NSPAWN" 2>/dev/null; then
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)) && kill -0 "$NSPAWN" 2>/dev/null; do sleep 0.2; done
        kill -KILL "$NSPAWN" 2>/dev/null || true
    fi
    rm -rf "/run/systemd/nspawn/propagate/$MACHINE" 2>/dev/null || true
}
# shellcheck disable=SC2154 # hs_rc is set by the trap itself
trap 'hs_rc=$?; [[ $BASHPID != "$HS_MAIN_PID" ]] || stop_container; hs_on_exit $hs_rc $LINENO' EXIT

((EUID == 0)) || skip "systemd-nspawn needs root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn is missing (package systemd-container)"
require_tool cpack dpkg curl

BUILD=$HOMEOSTAT_BUILD_DIR
ARCH=$(dpkg --print-architecture)
mkdir -p "$HS_TMP/pkg" "$HS_TMP/usr-upper"
(cd "$HS_TMP" && cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$HS_TMP/pkg") \
    >"$HS_TMP/cpack.log" 2>&1 || true
DEB=$(find "$HS_TMP/pkg" -name "homeostat_*_$ARCH.deb" | head -1)
if [[ ! -f $DEB ]]; then
    fail "cpack -G DEB built no package; it said:"
    sed 's/^/    /' "$HS_TMP/cpack.log"
    finish
fi
pass "the package is built: $(basename "$DEB")"

# ---- boot ----------------------------------------------------------------------------
spawn "$HS_TMP/nspawn.log" systemd-nspawn --register=no --keep-unit --directory=/ \
    --volatile=yes --private-network --machine="$MACHINE" \
    --overlay="/usr:$HS_TMP/usr-upper:/usr" --bind-ro=/var/lib/dpkg:/run/host-dpkg \
    --bind-ro="$HS_TMP/pkg:/run/homeostat-pkg" --console=pipe -b systemd.firstboot=off
NSPAWN=$HS_PID

# The container's init: a descendant of nspawn that is pid 1 in its own namespace.
find_init() {
    local f pid ns
    for f in /proc/[0-9]*/status; do
        pid=${f#/proc/}
        pid=${pid%/status}
        ns=$(awk '$1 == "NSpid:" { print $NF }' "$f" 2>/dev/null) || continue
        [[ $ns == 1 && $pid != 1 ]] || continue
        # its parent chain reaches nspawn
        local p=$pid
        while [[ -n $p && $p != 1 && $p != 0 ]]; do
            [[ $p == "$NSPAWN" ]] && {
                echo "$pid"
                return 0
            }
            p=$(awk '$1 == "PPid:" { print $2 }' "/proc/$p/status" 2>/dev/null)
        done
    done
    return 1
}
in_ct() { nsenter -t "$INIT" -a "$@"; }
booted() {
    [[ -n $INIT ]] || INIT=$(find_init) || return 1
    local s
    s=$(in_ct systemctl is-system-running 2>/dev/null)
    [[ $s == running || $s == degraded ]]
}
if ! wait_until 60 booted; then
    sed 's/^/    /' "$HS_TMP/nspawn.log" | tail -20
    skip "the container did not boot to running or degraded in 60 s (init '${INIT:-none}')"
fi
pass "systemd booted as PID 1 in the container (init $INIT on the host): $(in_ct systemctl is-system-running)"

say "at ${SECONDS}s: booted"
# ---- the package -----------------------------------------------------------------------
in_ct sh -c 'rm -rf /var/lib/dpkg && cp -a /run/host-dpkg /var/lib/dpkg && : >/var/lib/dpkg/statoverride'
# The volatile /etc has no nsswitch.conf: without "systemd" in it, dynamic users do not
# resolve, and the system bus and polkit refuse a DynamicUser= service (a real Debian has it).
in_ct sh -c 'cat >/etc/nsswitch.conf' </etc/nsswitch.conf
# The container's users come from sysusers.d at boot, with uids of their own; polkitd's
# rules directory in the host's /usr belongs to the host's polkitd: the same uid here
# (polkitd starts on demand, later), and the bus's policy, which names it, reloaded.
POLKITD=$(getent passwd polkitd || true)
if [[ -n $POLKITD ]]; then
    in_ct sh -c 'grep -v "^polkitd:" /etc/passwd >/run/passwd.new; printf "%s\n" "$1" >>/run/passwd.new
        cat /run/passwd.new >/etc/passwd
        grep -v "^polkitd:" /etc/group >/run/group.new; printf "%s\n" "$2" >>/run/group.new
        cat /run/group.new >/etc/group' _ "$POLKITD" "$(getent group polkitd)"
    in_ct systemctl reload dbus # its policy names polkitd: resolved again
fi
rc=0
in_ct dpkg -i "/run/homeostat-pkg/$(basename "$DEB")" >"$HS_TMP/dpkg.log" 2>&1 || rc=$?
check_eq "dpkg -i of the package in the container" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$HS_TMP/dpkg.log"
check_eq "both units are enabled by the package" "enabled enabled" \
    "$(in_ct systemctl is-enabled homeostat-exporter homeostat-controller | tr '\n' ' ' | sed 's/ $//')"

prop() { in_ct systemctl show -p "$2" --value "$1"; }

# A package built from a sanitizer build (make asan-test) has instrumented daemons, whose
# LeakSanitizer cannot stop the world under the units' seccomp filter and fails every exit:
# leaks are left to the other tests there; the memory errors are still caught here.
if hs_asan_build; then
    for unit in homeostat-exporter homeostat-controller; do
        in_ct sh -c "mkdir -p /etc/systemd/system/$unit.service.d && printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >/etc/systemd/system/$unit.service.d/asan.conf"
    done
    in_ct systemctl daemon-reload
    say "a sanitizer build: the units get ASAN_OPTIONS=detect_leaks=0 (LeakSanitizer cannot run under their seccomp filter)"
fi

# The controller's unit wants network-online.target; the container's only network is its
# own loopback, and the host's wait-online services would wait two minutes for a link
# that never comes: masked in the container (its /etc is its own).
in_ct systemctl mask --now systemd-networkd-wait-online.service ifupdown-wait-online.service \
    NetworkManager-wait-online.service >/dev/null 2>&1 || true

say "at ${SECONDS}s: Type=notify"
# ---- Type=notify, STATUS= ----------------------------------------------------------------
for unit in homeostat-exporter homeostat-controller; do
    rc=0
    in_ct systemctl start "$unit" || rc=$?
    check_eq "systemctl start $unit (Type=notify: returns once READY=1 came)" 0 "$rc"
    check_eq "$unit is active (running)" "active running" "$(prop $unit ActiveState) $(prop $unit SubState)"
done
status_of() { prop "$1" StatusText; }
check "the exporter's STATUS= is what systemctl status shows" \
    grep -q '^Serving on 127.0.0.1:' <<<"$(status_of homeostat-exporter)"
in_ct systemctl status homeostat-controller --no-pager >"$HS_TMP/status.txt" 2>&1 || true
CSTATUS=$(status_of homeostat-controller)
check "the controller's STATUS= names its state" grep -qE '^(optimal|stressed|degraded|critical|unknown)' <<<"$CSTATUS"
check "systemctl status shows the controller's STATUS=" grep -qF "Status: \"${CSTATUS:0:60}" "$HS_TMP/status.txt"

say "at ${SECONDS}s: the journal"
# ---- the journal -------------------------------------------------------------------------
journal_prio() { # UNIT REGEX: the PRIORITY of the first journal line of UNIT matching REGEX
    in_ct journalctl -u "$1" -o json --no-pager 2>/dev/null | /usr/bin/python3 -c '
import json, re, sys
for l in sys.stdin:
    r = json.loads(l)
    if r.get("_COMM", "").startswith("homeostat") and re.search(sys.argv[1], str(r.get("MESSAGE", ""))):
        print(r.get("PRIORITY")); break' "$2"
}
check_eq "the journal has the exporter's 'listening on' at info (6)" 6 "$(journal_prio homeostat-exporter 'listening on http')"
check_eq "the journal has the controller's 'listening on' at info (6)" 6 "$(journal_prio homeostat-controller 'listening on http')"
journal_is() { [[ $(journal_prio "$1" "$2") == "$3" ]]; } # UNIT REGEX PRIORITY

say "at ${SECONDS}s: reload"
# ---- reload ----------------------------------------------------------------------------------
PID_BEFORE=$(prop homeostat-controller MainPID)
rc=0
in_ct systemctl reload homeostat-controller || rc=$?
check_eq "systemctl reload homeostat-controller" 0 "$rc"
check "the controller logs the reload at info (6)" \
    wait_until 10 journal_is homeostat-controller '^reload: .* loaded' 6
# a broken rules file: the reload keeps the running rules, and says so at error (3)
in_ct sh -c 'cp /etc/homeostat/rules.yaml /run/rules.ok && printf "signals: [\n" >>/etc/homeostat/rules.yaml'
in_ct systemctl reload homeostat-controller || true
check "a reload with a broken rules file keeps the running rules, logged at error (3)" \
    wait_until 10 journal_is homeostat-controller 'the rules file is invalid; keeping the running rules' 3
in_ct cp /run/rules.ok /etc/homeostat/rules.yaml
check_eq "same main pid after both reloads, still active" "$PID_BEFORE active" \
    "$(prop homeostat-controller MainPID) $(prop homeostat-controller ActiveState)"

say "at ${SECONDS}s: the sandbox as the service has it"
# ---- the sandbox as the service has it -----------------------------------------------------
MP=$(prop homeostat-controller MainPID)
# (awk runs on the host: the container's /etc has no alternatives for it)
status_field() { in_ct cat "/proc/$1/status" | awk -v k="$2:" '$1 == k { print $2 }'; }
UID_=$(status_field "$MP" Uid)
USER_UID=$(in_ct getent passwd homeostat-controller | cut -d: -f3)
check_eq "the controller runs as the package's system user homeostat-controller (not root)" \
    "${USER_UID:-none} yes" "$UID_ $([[ ${UID_:-0} != 0 ]] && echo yes)"
check_eq "no capabilities (CapEff, CapBnd)" "0000000000000000 0000000000000000" \
    "$(status_field "$MP" CapEff) $(status_field "$MP" CapBnd)"
check_eq "NoNewPrivs 1, Seccomp 2 (filter)" "1 2" "$(status_field "$MP" NoNewPrivs) $(status_field "$MP" Seccomp)"
MOUNTS=$(in_ct cat "/proc/$MP/mountinfo")
check "its / is read-only (ProtectSystem=strict)" awk '$5 == "/" && $6 ~ /^ro/ { ok = 1 } END { exit !ok }' <<<"$MOUNTS"
check "its state directory is writable (StateDirectory=, under /var/lib/private)" \
    awk '$5 ~ /\/homeostat-controller$/ && $6 ~ /^rw/ { ok = 1 } END { exit !ok }' <<<"$MOUNTS"
check "/home is not reachable (ProtectHome=yes)" awk '$5 == "/home" { ok = 1 } END { exit !ok }' <<<"$MOUNTS"
say "at ${SECONDS}s: systemd-analyze security"
for unit in homeostat-exporter homeostat-controller; do
    exposure=$(in_ct systemd-analyze security "$unit.service" --no-pager 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    check "systemd-analyze security of the running $unit: ${exposure:-none} <= 2.0" \
        awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'
done

say "at ${SECONDS}s: a systemd action over the real system bus and polkit"
# ---- a systemd action, as the shipped unit's user, through the shipped polkit rule --------
TOKEN=nspawn-operator-token-0123456789
in_ct systemd-run --unit=hs-burn --quiet /bin/sleep infinity
in_ct sh -c "umask 077; printf 'tester $TOKEN\n' >/etc/homeostat/operator.tokens
cat >/etc/homeostat/rules.yaml <<'EOF'
evaluation_interval: 5s
prometheus: {url: http://127.0.0.1:9090}
signals:
  up: {query: up}
states:
  - {name: critical, conditions: ['up < 0']}
  - {name: optimal}
manual_actions:
  throttle:
    - systemd: {unit: hs-burn.service, cpu_quota: 20%, memory_high: 256M}
EOF
chmod 644 /etc/homeostat/rules.yaml
mkdir -p /etc/systemd/system/homeostat-controller.service.d
printf '[Service]\nLoadCredential=operator-tokens:/etc/homeostat/operator.tokens\n' \
    >/etc/systemd/system/homeostat-controller.service.d/credentials.conf
printf 'ARGS=\"--web.operator-token-file=/run/credentials/homeostat-controller.service/operator-tokens\"\n' \
    >/etc/default/homeostat-controller"
in_ct systemctl daemon-reload
rc=0
in_ct systemctl restart homeostat-controller || rc=$?
check_eq "the controller restarts with the token handed over as a credential (as its unit says)" "0 active" \
    "$rc $(prop homeostat-controller ActiveState)"
post_action() { # PORT: the status code of POST /api/v1/actions/throttle; body in $HS_TMP/action.json
    in_ct curl -s -o /run/action.json -w '%{http_code}' --max-time 30 -X POST \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/api/v1/actions/throttle"
    in_ct cat /run/action.json >"$HS_TMP/action.json" 2>/dev/null || true
}
code=$(post_action 19111)
check_eq "POST /api/v1/actions/throttle to the controller answers 200" 200 "$code"
if [[ $code != 200 ]]; then
    sed 's/^/    /' "$HS_TMP/action.json"
    in_ct journalctl -u dbus -u polkit -n 30 --no-pager 2>&1 | sed 's/^/    /'
fi
check_eq "systemd has hs-burn's new CPUQuota and MemoryHigh" "200ms 268435456" \
    "$(prop hs-burn CPUQuotaPerSecUSec) $(prop hs-burn MemoryHigh)"
audit_has() { # FILE PYTHON-CONDITION-ON-recs: the audit log in the container
    in_ct cat "$1" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2"
}
check "the audit log has the manual action and its ok result" audit_has \
    /var/lib/homeostat-controller/audit.jsonl \
    'any(r["type"] == "manual_action" for r in recs) and any(r["type"] == "action_result" and r["kind"] == "systemd" and r["result"] == "ok" for r in recs)'

# The same action from a system user the polkit rule does not name: refused by polkit,
# audited, and hs-burn keeps its values.
in_ct systemctl set-property --runtime hs-burn CPUQuota=50%
printf 'u hs-intruder - "not the polkit rule'"'"'s user"\n' | in_ct systemd-sysusers -
in_ct systemd-run --unit=hs-intruder --quiet -p Type=notify -p NotifyAccess=main \
    -p User=hs-intruder -p StateDirectory=hs-intruder \
    -p LoadCredential=operator-tokens:/etc/homeostat/operator.tokens \
    /usr/bin/homeostat-controller --config=/etc/homeostat/rules.yaml \
    --state.directory=/var/lib/hs-intruder --web.listen-address=127.0.0.1:19121 \
    --web.operator-token-file=/run/credentials/hs-intruder.service/operator-tokens || true
code=$(post_action 19121)
check_eq "the same action from user hs-intruder fails (502)" 502 "$code"
check "the system bus and polkit refused it: the result says so" \
    grep -qiE 'access denied|not authori|interactive authentication' "$HS_TMP/action.json"
[[ $code == 502 ]] && grep -o '"error":"[^"]*"' "$HS_TMP/action.json" | head -1 | sed 's/^/    /'
check_eq "hs-burn keeps the value it had" 500ms "$(prop hs-burn CPUQuotaPerSecUSec)"
check "the refusal is audited (a failed action_result)" audit_has \
    /var/lib/hs-intruder/audit.jsonl \
    'any(r["type"] == "action_result" and r["result"] == "failed" for r in recs)'
in_ct systemctl stop hs-intruder hs-burn >/dev/null 2>&1 || true

say "at ${SECONDS}s: the watchdog"
# ---- the watchdog ----------------------------------------------------------------------------
EPID=$(prop homeostat-exporter MainPID)
in_ct kill -STOP "$EPID"
restarted() {
    local p
    p=$(prop homeostat-exporter MainPID)
    [[ $p != 0 && $p != "$EPID" && $(prop homeostat-exporter ActiveState) == active ]]
}
if wait_until 60 restarted; then
    pass "the exporter stopped with SIGSTOP was restarted by systemd (pid $EPID -> $(prop homeostat-exporter MainPID))"
else
    fail "the SIGSTOPped exporter was not restarted in 60 s (WatchdogSec=30s)"
fi
watchdog_logged() { in_ct journalctl -u homeostat-exporter --no-pager -q | grep -qi 'watchdog timeout'; }
check "the journal says the watchdog fired" wait_until 5 watchdog_logged
check "NRestarts counts it" test "$(prop homeostat-exporter NRestarts)" -ge 1

# ---- CPU throttling: can this container's systemd apply a quota at all? --------------------
in_ct systemd-run --unit=hs-burn -p CPUQuota=20% /bin/sh -c 'while :; do :; done' >/dev/null 2>&1 || true
BURN=$(prop hs-burn MainPID)
QUOTA_FILE=$(in_ct sh -c 'for f in /sys/fs/cgroup/system.slice/hs-burn.service/cpu.max /sys/fs/cgroup/cpu/system.slice/hs-burn.service/cpu.cfs_quota_us; do [ -e "$f" ] && echo "$f"; done; true' | head -1)
if [[ -n $QUOTA_FILE ]]; then
    pass "the quota is applied: $QUOTA_FILE = $(in_ct cat "$QUOTA_FILE")"
else
    say "NOT SHOWN: CPU throttling (cpu_quota) in this container: the host mounts the cgroup v1" \
        "controllers (hybrid hierarchy), which nspawn makes read-only inside, so systemd here" \
        "cannot create hs-burn's cpu cgroup (its process $BURN runs unthrottled);" \
        "/proc/self/cgroup of the container: $(in_ct cat /proc/1/cgroup | tr '\n' ' ')"
fi
in_ct systemctl stop hs-burn >/dev/null 2>&1 || true

say "at ${SECONDS}s: stop"
# ---- stop ---------------------------------------------------------------------------------------
for unit in homeostat-controller homeostat-exporter; do
    rc=0
    in_ct systemctl stop "$unit" || rc=$?
    got="$rc $(prop $unit ActiveState) $(prop $unit Result)"
    check_eq "systemctl stop $unit: inactive, Result=success" "0 inactive success" "$got"
    [[ $got == "0 inactive success" ]] || in_ct journalctl -u "$unit" -n 15 --no-pager | sed 's/^/    /'

done
check "the controller logged that it was stopping (info)" journal_is homeostat-controller 'stopping' 6

say "at ${SECONDS}s: done"
finish
