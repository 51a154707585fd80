#!/usr/bin/env bash
# systemd_nspawn: the Debian package under a real systemd as PID 1 (systemd-nspawn, systemd
# 252 over the host's /usr), both units started exactly as shipped.
#  - the recipe: systemd-nspawn --register=no --keep-unit --directory=/ --volatile=yes
#    --private-network --system-call-filter=bpf (systemd's IP firewall needs bpf(2)), /usr
#    as an overlay over the host's (writes go to a directory of this test) so that dpkg can
#    install into it, the host's dpkg database copied in (its statoverride emptied: the
#    container's /etc/group is systemd's factory one), the host's nsswitch.conf, the
#    wait-online services masked (from the boot on), the package bound read-only; booted
#    with systemd.firstboot=off; on a host with cgroup v1 controllers (which nspawn mounts
#    read-only inside) they are remounted writable in the container's mount namespace and
#    the manager re-executed; stopped by its own init's pid (SIGRTMIN+4, then SIGKILL), and
#    the cgroups it left on the host removed: whatever it starts, it stops
#  - dpkg -i of the package built by cpack (as `make package` does) enables both units
#  - Type=notify: each unit reaches active (running) with the daemon's STATUS= as systemd's
#    StatusText (what `systemctl status` shows)
#  - the journal has the daemons' lines with their priorities (info 6, error 3)
#  - `systemctl reload`: the controller reloads (its log says so, at info); with a broken
#    rules file it keeps the running rules and says so at error; the same main pid
#  - the sandbox as the running service has it: the package's system user (not 0), no capabilities,
#    NoNewPrivs, a seccomp filter, / read-only and only its StateDirectory writable in its
#    mount namespace, and `systemd-analyze security` of the running units at most 2.0
#  - IPAddressAllow=localhost: a scrape of the exporter from another address of the
#    container is dropped, one from loopback is answered, and the other address passes once
#    added to the allow list
#  - a manual systemd action (cpu_quota, memory_high) from the shipped unit, its operator
#    token handed over by LoadCredential= as the unit says, through the real system bus and
#    the shipped polkit rule: systemd has the new properties, audited; a unit systemd does
#    not have fails once (LoadState not-found); the same action from another system user is
#    refused by polkit, audited, and changes nothing
#  - the watchdog: the exporter stopped with SIGSTOP is killed and restarted by systemd at
#    its WatchdogSec (30 s) with a new main pid, the journal saying why
#  - a decision throttles: a real Prometheus scrapes the exporter, the controller puts a
#    CPU-burning unit in critical and sets cpu_quota 20 % and memory_high; its cgroup has
#    the quota, the exporter's cgroup collector and the process's own CPU times show its use
#    falling to 0.2 of a CPU with throttled periods rising; the state returns to optimal,
#    the revert (audited before it runs) restores systemd's values and the use rises again.
#    memory.high exists only on cgroup v2: on v1 that part is reported as not shown
#  - a regulator (proportional) moves the burner's CPUQuota until it uses 0.3 of a CPU; a
#    quota a human sets by hand is read back from systemd before the next change, recorded,
#    and the regulator goes on from it
#  - `systemctl stop`: both stop cleanly (Result=success)
# Skipped (exit 77, with the reason) where the machine cannot boot it: not root, no
# systemd-nspawn, or a boot that does not reach running or degraded in 60 s.
# About 2 minutes (30 s of it the watchdog).
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
    [[ $(type -t remove_new_cgroups) != function ]] || remove_new_cgroups
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
# The cgroup directories the container's systemd may create where the host has no systemd
# (nspawn --keep-unit leaves the container in this shell's cgroups): whatever of them did
# not exist before the boot is removed after it, children first.
CG_BEFORE=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d 2>/dev/null | sort)
remove_new_cgroups() {
    local d
    comm -13 <(printf '%s\n' "$CG_BEFORE") \
        <(find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d 2>/dev/null | sort) |
        awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- |
        while read -r d; do rmdir "$d" 2>/dev/null || true; done
}
# --system-call-filter=bpf: nspawn's seccomp filter refuses bpf(2) by default, and without
# it the container's systemd cannot attach its IP firewall (IPAddressAllow=) or accounting.
spawn "$HS_TMP/nspawn.log" systemd-nspawn --register=no --keep-unit --directory=/ \
    --volatile=yes --private-network --machine="$MACHINE" --system-call-filter=bpf \
    --overlay="/usr:$HS_TMP/usr-upper:/usr" --bind-ro=/var/lib/dpkg:/run/host-dpkg \
    --bind-ro="$HS_TMP/pkg:/run/homeostat-pkg" --console=pipe -b systemd.firstboot=off \
    systemd.mask=systemd-networkd-wait-online.service systemd.mask=ifupdown-wait-online.service \
    systemd.mask=NetworkManager-wait-online.service
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

# A host with the cgroup v1 controllers (no systemd on it to delegate a subtree): nspawn
# mounts them read-only in the container, where systemd then cannot give a unit a CPU
# quota. Writable in the container's mount namespace (its cgroup namespace still confines
# it), and the manager re-executed so that it looks at them again, as a v1 host's systemd has them.
CG_V1=()
for c in cpu cpuacct cpu,cpuacct memory; do
    [[ -d /sys/fs/cgroup/$c && ! -L /sys/fs/cgroup/$c ]] && in_ct test -d "/sys/fs/cgroup/$c" && CG_V1+=("$c")
done
if ((${#CG_V1[@]})); then
    for c in "${CG_V1[@]}"; do nsenter -t "$INIT" -m mount -o remount,bind,rw "/sys/fs/cgroup/$c"; done
    in_ct systemctl daemon-reexec
    wait_until 30 booted || true
    say "cgroup v1 controllers (${CG_V1[*]}) made writable in the container; the manager re-executed"
fi

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
# that never comes: masked in the container (its /etc is its own), and from the boot on (the
# kernel command line's systemd.mask= above), since a service the host enables for the
# tests (Debian's etcd, which wants network-online.target) would hold the boot that long.
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

say "at ${SECONDS}s: IPAddressAllow="
# ---- the exporter's IP allow list (IPAddressDeny=any, IPAddressAllow=localhost) -------------
# The exporter listening on every address, as /etc/default/homeostat-exporter tells how; a
# second address on the container's loopback: a scrape from it is dropped by systemd's
# IP firewall, one from loopback is not, and the same scrape passes once the address is added
# to the allow list, as the file says to do.
scrape_from() { # ADDRESS: the status code of a scrape of the exporter at ADDRESS (000: none)
    in_ct curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$1:19110/metrics" || true
}
if in_ct ip addr add 10.254.0.1/32 dev lo; then
    in_ct cp /etc/default/homeostat-exporter /run/exporter.default
    in_ct sh -c 'echo ARGS=--web.listen-address=:19110 >/etc/default/homeostat-exporter'
    in_ct systemctl restart homeostat-exporter
    check_eq "a scrape from 127.0.0.1 of the exporter listening on every address" 200 "$(scrape_from 127.0.0.1)"
    FAR=$(scrape_from 10.254.0.1)
    if [[ $FAR == 000 ]]; then
        pass "a scrape from 10.254.0.1, outside IPAddressAllow=localhost, gets nothing (dropped)"
    elif [[ $(in_ct systemd-run --wait -q -p IPAccounting=yes /bin/true 2>/dev/null; in_ct systemctl show -p IPIngressBytes --value "$(prop homeostat-exporter Id)") == "[no data]" ]]; then
        say "NOT SHOWN: IPAddressAllow= in this container: its systemd cannot attach BPF programs" \
            "(IPIngressBytes of the exporter: [no data]), so the allow list is not enforced here"
    else
        fail "a scrape from 10.254.0.1, outside IPAddressAllow=localhost, was answered $FAR"
    fi
    in_ct sh -c 'mkdir -p /etc/systemd/system/homeostat-exporter.service.d &&
        printf "[Service]\nIPAddressAllow=10.254.0.1\n" >/etc/systemd/system/homeostat-exporter.service.d/allow.conf'
    in_ct systemctl daemon-reload
    in_ct systemctl restart homeostat-exporter
    check_eq "with IPAddressAllow=10.254.0.1 added, the same scrape is answered" 200 "$(scrape_from 10.254.0.1)"
    in_ct rm /etc/systemd/system/homeostat-exporter.service.d/allow.conf
    in_ct cp /run/exporter.default /etc/default/homeostat-exporter
    in_ct systemctl daemon-reload
    in_ct systemctl restart homeostat-exporter
    in_ct ip addr del 10.254.0.1/32 dev lo
else
    say "NOT SHOWN: IPAddressAllow=: no second address could be added to the container's loopback"
fi

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
  missing:
    - systemd: {unit: hs-missing.service, cpu_quota: 50%}
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
post_action() { # PORT [NAME]: the status code of POST /api/v1/actions/NAME (throttle); body in $HS_TMP/action.json
    in_ct curl -s -o /run/action.json -w '%{http_code}' --max-time 30 -X POST \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/api/v1/actions/${2:-throttle}"
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

# A unit systemd does not know: LoadUnit answers with a unit whose LoadState is not-found
# (not an error, as a mock had it), a permanent failure: one attempt, the reason named.
code=$(post_action 19111 missing)
check_eq "a systemd action on a unit systemd does not have fails (502)" 502 "$code"
check "its error names the unit's LoadState not-found" \
    grep -q 'hs-missing.service.*not-found' "$HS_TMP/action.json"
check "it is not retried (1 attempt)" grep -q '"attempts":1[,}]' "$HS_TMP/action.json"

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

say "at ${SECONDS}s: a decision that throttles a CPU-burning unit, and its revert"
# ---- a decision throttles a CPU-burning unit, and its revert lifts it ----------------------
# A real Prometheus in the container scrapes the exporter (its cgroup collector) every
# second; the controller, under its shipped unit and polkit rule, puts the burner in
# critical while it uses more than 0.3 of a CPU and then sets cpu_quota 20 % and
# memory_high; the usage falls to 0.2, the state goes back to optimal, and 12 s later the
# revert restores the values systemd had before. The usage is measured twice: by the
# exporter's metrics (what Prometheus sees) and from the process's own CPU times.
in_ct sh -c 'mkdir -p /run/hs-prom && cat >/run/hs-prom.yml <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: homeostat
    static_configs: [{targets: ["127.0.0.1:19110"]}]
EOF'
in_ct systemd-run --unit=hs-prometheus --quiet /usr/bin/prometheus --config.file=/run/hs-prom.yml \
    --storage.tsdb.path=/run/hs-prom --web.listen-address=127.0.0.1:9090
in_ct sh -c "cat >/etc/homeostat/rules.yaml <<'EOF'
evaluation_interval: 1s
prometheus: {url: http://127.0.0.1:9090}
signals:
  burn_cpu:
    query: sum(rate(homeostat_cgroup_cpu_usage_seconds_total{unit=\"hs-burn.service\"}[4s]))
    max_age: 10s
states:
  - {name: critical, conditions: ['burn_cpu > 0.3']}
  - {name: optimal}
decisions:
  critical:
    cooldown: 10m
    revert_on_exit: true
    revert_delay: 12s
    actions:
      - systemd: {unit: hs-burn.service, cpu_quota: 20%, memory_high: 256M}
EOF"
rc=0
in_ct systemctl restart homeostat-controller || rc=$?
check_eq "the controller restarts with the throttling rules" 0 "$rc"
((rc == 0)) || in_ct journalctl -u homeostat-controller -n 15 --no-pager | sed 's/^/    /'
in_ct systemd-run --unit=hs-burn --quiet /bin/sh -c 'while :; do :; done'
# The unit's cgroup file FILE (cgroup v2, or the v1 hierarchy CONTROLLER).
cg_file() { # FILE V1-CONTROLLER
    in_ct sh -c 'for f in "/sys/fs/cgroup/system.slice/hs-burn.service/$1" \
        "/sys/fs/cgroup/$2/system.slice/hs-burn.service/$1" \
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/hs-burn.service/$1"; do
        [ -e "$f" ] && { echo "$f"; exit 0; }; done; exit 1' _ "$1" "$2"
}
# hs-burn's CPU use over about 3 s, in CPUs, and its throttled periods in that time: from
# the exporter's metrics, then from /proc/PID/stat, as "EXPORTER PROCESS PERIODS".
exp_value() { # METRICS NAME: NAME{unit="hs-burn.service"} in the exposition
    awk -v n="$2" '$1 == n "{unit=\"hs-burn.service\"}" { print $2 }' <<<"$1"
}
TICK=$(getconf CLK_TCK)
proc_usage() { # seconds of CPU of the burner's process, as the kernel counts them (utime + stime)
    in_ct cat "/proc/$(prop hs-burn MainPID)/stat" | awk -v t="$TICK" '{ printf "%.2f\n", ($14 + $15) / t }'
}
measure() {
    local m0 m1 t0 t1 c0 c1
    m0=$(in_ct curl -s --max-time 5 http://127.0.0.1:19110/metrics)
    c0=$(proc_usage)
    t0=$(date +%s.%N)
    sleep 3
    m1=$(in_ct curl -s --max-time 5 http://127.0.0.1:19110/metrics)
    c1=$(proc_usage)
    t1=$(date +%s.%N)
    awk -v a="$(exp_value "$m0" homeostat_cgroup_cpu_usage_seconds_total)" \
        -v b="$(exp_value "$m1" homeostat_cgroup_cpu_usage_seconds_total)" \
        -v p="$(exp_value "$m0" homeostat_cgroup_cpu_throttled_periods_total)" \
        -v q="$(exp_value "$m1" homeostat_cgroup_cpu_throttled_periods_total)" \
        -v c="$c0" -v d="$c1" -v t="$t0" -v u="$t1" \
        'BEGIN { if (a == "" || b == "") { print "none none none"; exit }
                 printf "%.3f %.3f %d\n", (b - a) / (u - t), (d - c) / (u - t), q - p }'
}
audit_ct() { audit_has /var/lib/homeostat-controller/audit.jsonl "$1"; }
acted() { audit_ct 'any(r["type"] == "action_result" and r.get("trigger") == "decision" and r["kind"] == "systemd" for r in recs)'; }
check "the controller decided critical on hs-burn's CPU use and ran its systemd action" \
    wait_until 40 acted
check "the action's result is ok (the shipped polkit rule let the controller's user through)" audit_ct \
    'any(r["type"] == "action_result" and r.get("trigger") == "decision" and r["result"] == "ok" for r in recs)'
check_eq "systemd has hs-burn's CPUQuota 20 % and MemoryHigh 256M" "200ms 268435456" \
    "$(prop hs-burn CPUQuotaPerSecUSec) $(prop hs-burn MemoryHigh)"
if QF=$(cg_file cpu.max cpu); then
    check_eq "hs-burn's cgroup has the quota (cpu.max)" "20000 100000" "$(in_ct cat "$QF")"
else
    QF=$(cg_file cpu.cfs_quota_us cpu) || QF=none
    check_eq "hs-burn's cgroup has the quota ($QF)" 20000 "$(in_ct cat "$QF" 2>/dev/null)"
fi
if MF=$(cg_file memory.high memory); then
    check_eq "hs-burn's cgroup has memory.high" 268435456 "$(in_ct cat "$MF")"
else
    say "NOT SHOWN: memory_high in the cgroup: these are cgroup v1 controllers, which have no" \
        "memory.high (systemd keeps MemoryHigh= as a property and applies it only on v2)"
fi
read -r EXP_T CG_T PER_T <<<"$(measure)"
check "throttled, the exporter shows hs-burn using about 20 % of a CPU: $EXP_T (0.05..0.24)" \
    awk -v v="$EXP_T" 'BEGIN { exit !(v != "none" && v >= 0.05 && v <= 0.24) }'
check "and so does its process, as the kernel counts it: $CG_T (0.05..0.24)" \
    awk -v v="$CG_T" 'BEGIN { exit !(v >= 0.05 && v <= 0.24) }'
check "the exporter shows its throttled periods rising: +$PER_T in 3 s" \
    awk -v v="$PER_T" 'BEGIN { exit !(v != "none" && v >= 5) }'
reverted() { audit_ct 'any(r["type"] == "revert_result" and r["result"] == "ok" for r in recs)'; }
check "the state went back to optimal and the action was reverted, audited (revert, then revert_result ok)" \
    wait_until 40 reverted
check "the revert record comes before its result" audit_ct \
    '[r["type"] for r in recs if r["type"] in ("revert", "revert_result")][:2] == ["revert", "revert_result"]'
check_eq "systemd has hs-burn's previous values back" "infinity infinity" \
    "$(prop hs-burn CPUQuotaPerSecUSec) $(prop hs-burn MemoryHigh)"
read -r EXP_U CG_U PER_U <<<"$(measure)"
check "unthrottled again, the exporter shows hs-burn's usage rising: $EXP_U (> 0.3)" \
    awk -v v="$EXP_U" 'BEGIN { exit !(v != "none" && v > 0.3) }'
check "and so does its process: $CG_U (> 0.3)" awk -v v="$CG_U" 'BEGIN { exit !(v > 0.3) }'
check "no throttled periods now: +$PER_U" test "$PER_U" = 0

say "at ${SECONDS}s: a regulator holds the burner at 0.3 of a CPU through its CPUQuota"
# ---- a regulator moves the burner's CPUQuota so that it uses 0.3 of a CPU -----------------
# proportional (the HPA's law) on the exporter's measure of its use; then a human sets the
# quota by hand: the regulator reads it back from systemd before its next change, records
# that, and goes on from the human's value instead of overwriting it blindly.
in_ct sh -c "cat >/etc/homeostat/rules.yaml <<'EOF'
evaluation_interval: 1s
prometheus: {url: http://127.0.0.1:9090}
signals:
  burn_cpu:
    query: sum(rate(homeostat_cgroup_cpu_usage_seconds_total{unit=\"hs-burn.service\"}[3s]))
    max_age: 10s
states:
  - {name: runaway, conditions: ['burn_cpu > 5']}
  - {name: optimal}
regulators:
  burn_quota:
    signal: burn_cpu
    setpoint: 0.3
    output: {min: 5, max: 100, start: 100, integer: true, name: cpu_quota_percent}
    increases_signal: true
    law: proportional
    tolerance: 20%
    stabilization: {down: 0s}
    settle: 6s
    actions:
      - systemd: {unit: hs-burn.service, cpu_quota: '{{output}}%'}
EOF"
in_ct systemctl set-property --runtime hs-burn CPUQuota=100%
rc=0
in_ct systemctl restart homeostat-controller || rc=$?
check_eq "the controller restarts with the regulator's rules" 0 "$rc"
((rc == 0)) || in_ct journalctl -u homeostat-controller -n 15 --no-pager | sed 's/^/    /'
quota_pct() { # hs-burn's CPUQuota in percent ("infinity" without one)
    local v
    v=$(prop hs-burn CPUQuotaPerSecUSec)
    case $v in
    infinity) echo infinity ;;
    *ms) echo $((${v%ms} / 10)) ;;
    *s) echo $((${v%s} * 100)) ;;
    *) echo "$v" ;;
    esac
}
# shellcheck disable=SC2317 # called through wait_until
quota_held() { local q; q=$(quota_pct); [[ $q != infinity ]] && ((q >= 20 && q <= 45)); }
check "the regulator brings hs-burn's CPUQuota from 100% to 20..45%" wait_until 40 quota_held
say "CPUQuota now $(quota_pct)%"
sleep 4
read -r EXP_R CG_R _ <<<"$(measure)"
check "hs-burn now uses about 0.3 of a CPU: exporter $EXP_R, process $CG_R (0.15..0.45)" \
    awk -v v="$CG_R" 'BEGIN { exit !(v >= 0.15 && v <= 0.45) }'
check "the regulator's changes went through systemd, audited (regulator_change, then action_result ok)" audit_ct \
    'any(r["type"] == "regulator_change" and r["outcome"] == "applied" for r in recs) and any(r["type"] == "action_result" and r.get("trigger") == "regulator" and r["kind"] == "systemd" and r["result"] == "ok" for r in recs)'
BEFORE=$(quota_pct)
in_ct systemctl set-property --runtime hs-burn CPUQuota=70%
# shellcheck disable=SC2317
read_back_seen() { audit_ct 'any(r["type"] == "regulator_read_back" and r["found"] == 70 for r in recs)'; }
check "a human sets 70%: read back from systemd before the next change (regulator_read_back found 70, expected $BEFORE)" \
    wait_until 30 read_back_seen
check "... and the regulator goes on from 70% down to 20..45% again" wait_until 40 quota_held
say "CPUQuota now $(quota_pct)%"
in_ct systemctl stop hs-burn hs-prometheus >/dev/null 2>&1 || true

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
