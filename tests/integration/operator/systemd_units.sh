#!/usr/bin/env bash
# systemd_units: the units in packaging/systemd/ and the polkit rule in packaging/polkit/.
#  - `systemd-analyze security --offline=yes` exposure of each unit at most 2.0 (printed,
#    and lower than Debian's prometheus-node-exporter unit when that is installed)
#  - the directives the daemons rely on: Type=notify with NotifyAccess=main, WatchdogSec,
#    Restart=on-failure, DynamicUser for the exporter (the controller: its static user of
#    packaging/sysusers), EnvironmentFile=-/etc/default/NAME with $ARGS in
#    ExecStart, ExecReload by SIGHUP; for the controller User=homeostat-controller (the
#    polkit rule's user), StateDirectory=homeostat-controller (its --state.directory
#    default) and ConfigurationDirectory=homeostat with --config=/etc/homeostat/rules.yaml
#  - `systemd-analyze verify` of both units in a scratch root holding the built binaries
#    at the ExecStart paths: no warning
#  - each daemon started with its unit's ExecStart flags and the ARGS of its
#    packaging/default file (paths replaced by temporary ones, loopback port 0, the
#    controller with rules/default.yaml and a Prometheus URL where nothing listens):
#    READY=1 and WATCHDOG=1 come from the main pid (NotifyAccess=main), the API answers,
#    the unit's ExecReload command gives RELOADING=1 then READY=1, SIGTERM ends it with
#    status 0 (the controller writes its state file first)
#  - the polkit rule, loaded by the real polkitd on a private system bus inside a private
#    mount namespace (root only): user homeostat-controller may set-property, not start;
#    another user may not
# About 5 s.
# shellcheck disable=SC2016 # unit syntax ($ARGS, $MAINPID) and bash -c scripts, literally
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool systemd-analyze curl /usr/bin/python3 /bin/kill

UNIT_DIR=$HOMEOSTAT_SOURCE_DIR/packaging/systemd
DEFAULT_DIR=$HOMEOSTAT_SOURCE_DIR/packaging/default
POLKIT_RULE=$HOMEOSTAT_SOURCE_DIR/packaging/polkit/50-homeostat-controller.rules
MAX_EXPOSURE=2.0

# exposure FILE: prints the overall exposure that systemd-analyze gives FILE (empty when
# it gave none); its whole report is kept in $HS_TMP/security.<name>.txt.
exposure() {
    local out
    out=$HS_TMP/security.$(basename "$1").txt
    systemd-analyze security --offline=yes --no-pager "$1" >"$out" 2>&1 || true
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*/\1/p' "$out" | tail -n1
}

# le A B: A <= B for decimal numbers.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# directive FILE KEY: the values of KEY= in FILE, one a line (comments skipped).
directive() { sed -n "s/^[[:space:]]*$2=\\(.*\\)\$/\\1/p" "$1"; }

# unit_has FILE KEY VALUE: some KEY= line in FILE has exactly VALUE.
# shellcheck disable=SC2317 # called through check
unit_has() { directive "$1" "$2" | grep -qxF -- "$3"; }

# ---- exposure and directives ------------------------------------------------------------
peer=/lib/systemd/system/prometheus-node-exporter.service
peer_score=
if [[ -f $peer ]]; then
    peer_score=$(exposure "$peer")
    say "Debian's prometheus-node-exporter.service: exposure ${peer_score:-?} (for comparison)"
fi

for name in exporter controller; do
    unit=$UNIT_DIR/homeostat-$name.service
    if [[ ! -f $unit ]]; then
        fail "$unit is missing"
        continue
    fi
    score=$(exposure "$unit")
    if [[ -z $score ]]; then
        fail "systemd-analyze security gave no exposure for $unit:"
        sed 's/^/    /' "$HS_TMP/security.homeostat-$name.service.txt"
        continue
    fi
    say "homeostat-$name.service: exposure $score"
    if le "$score" "$MAX_EXPOSURE"; then
        pass "homeostat-$name.service: exposure $score is at most $MAX_EXPOSURE"
    else
        fail "homeostat-$name.service: exposure $score is above $MAX_EXPOSURE; the items:"
        grep '✗' "$HS_TMP/security.homeostat-$name.service.txt" | sed 's/^/    /'
    fi
    check "... and systemd-analyze's own --threshold=20 agrees" \
        systemd-analyze security --offline=yes --threshold=20 --no-pager "$unit" \
        >/dev/null 2>&1
    if [[ -n $peer_score ]]; then
        check "... lower than prometheus-node-exporter.service ($peer_score)" \
            awk -v a="$score" -v b="$peer_score" 'BEGIN { exit !(a + 0 < b + 0) }'
    fi

    check "homeostat-$name.service: Type=notify" unit_has "$unit" Type notify
    check "... NotifyAccess=main" unit_has "$unit" NotifyAccess main
    check "... Restart=on-failure" unit_has "$unit" Restart on-failure
    if [[ $name == exporter ]]; then
        check "... DynamicUser=yes" unit_has "$unit" DynamicUser yes
    else
        # the controller's systemd actions need the system bus, which refuses dynamic users
        check "... a static user (not DynamicUser=yes: the system bus refuses dynamic users)" \
            bash -c '! grep -qE "^DynamicUser=(yes|true|1|on)" "$1"' _ "$unit"
    fi
    wd=$(directive "$unit" WatchdogSec | tail -n1)
    check "... WatchdogSec set and not 0 (${wd:-none})" \
        bash -c '[[ -n $1 && $1 != 0 && $1 != infinity ]]' _ "$wd"
    check "... EnvironmentFile=-/etc/default/homeostat-$name" \
        unit_has "$unit" EnvironmentFile "-/etc/default/homeostat-$name"
    check "... ExecReload=/bin/kill -HUP \$MAINPID" \
        unit_has "$unit" ExecReload '/bin/kill -HUP $MAINPID'
    exec_start=$(directive "$unit" ExecStart | tail -n1)
    check "... ExecStart runs /usr/bin/homeostat-$name with \$ARGS ($exec_start)" \
        bash -c '[[ $1 == "/usr/bin/homeostat-$2 "* && " $1 " == *" \$ARGS "* ]]' _ \
        "$exec_start" "$name"
    check "... [Install] WantedBy=multi-user.target" unit_has "$unit" WantedBy multi-user.target
    check "packaging/default/homeostat-$name sets ARGS" \
        grep -qE '^ARGS=' "$DEFAULT_DIR/homeostat-$name"
done

ctl_unit=$UNIT_DIR/homeostat-controller.service
check "homeostat-controller.service: User=homeostat-controller (the polkit rule's user)" \
    unit_has "$ctl_unit" User homeostat-controller
check "... Group=homeostat-controller" unit_has "$ctl_unit" Group homeostat-controller
check "... whose system user packaging/sysusers/homeostat-controller.conf declares" \
    grep -qE '^u homeostat-controller ' "$HOMEOSTAT_SOURCE_DIR/packaging/sysusers/homeostat-controller.conf"
check "... StateDirectory=homeostat-controller (its --state.directory default)" \
    unit_has "$ctl_unit" StateDirectory homeostat-controller
check "... ConfigurationDirectory=homeostat" \
    unit_has "$ctl_unit" ConfigurationDirectory homeostat
check "... ExecStart reads --config=/etc/homeostat/rules.yaml" \
    bash -c '[[ " $1 " == *" --config=/etc/homeostat/rules.yaml "* ]]' _ \
    "$(directive "$ctl_unit" ExecStart | tail -n1)"
check "... the controller's compiled-in --state.directory default is that directory" \
    bash -c '"$1" --help | tr -s " \n" " " | grep -qF "(default /var/lib/homeostat-controller)"' \
    _ "$HOMEOSTAT_CONTROLLER"

# ---- systemd-analyze verify --------------------------------------------------------------
# With --root, verify looks for the Exec*= binaries and the units' dependencies
# (sysinit.target, network-online.target, ...) inside the root: the built binaries,
# /bin/kill (ExecReload=) and the host's targets and slices are copied there.
vroot=$HS_TMP/verify-root
mkdir -p "$vroot/usr/bin" "$vroot/bin" "$vroot/lib/systemd/system"
cp "$HOMEOSTAT_EXPORTER" "$vroot/usr/bin/homeostat-exporter"
cp "$HOMEOSTAT_CONTROLLER" "$vroot/usr/bin/homeostat-controller"
cp /bin/kill "$vroot/bin/kill"
cp /lib/systemd/system/*.target /lib/systemd/system/*.slice "$vroot/lib/systemd/system/" \
    2>/dev/null || true
cp "$UNIT_DIR"/homeostat-*.service "$UNIT_DIR"/homeostat-*.timer "$vroot/lib/systemd/system/"
rc=0
verify_out=$(systemd-analyze verify --root="$vroot" --man=no \
    homeostat-exporter.service homeostat-controller.service homeostat-report.service \
    homeostat-report.timer 2>&1) || rc=$?
check_eq "systemd-analyze verify --root passes both units" 0 "$rc"
check_eq "... without a warning" "" "$verify_out"

# ---- the daemons started with the units' flags ------------------------------------------
# notify.py SOCKET OUT: a NOTIFY_SOCKET that writes "PID ASSIGNMENT" per line to OUT, the
# sender's pid from SCM_CREDENTIALS.
cat >"$HS_TMP/notify.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
        pid = 0
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        for line in data.decode("utf-8", "replace").split("\n"):
            if line:
                f.write("%d %s\n" % (pid, line))
EOF

# unit_flags NAME: UNIT_FLAGS = the ExecStart arguments of the unit with $ARGS replaced by
# the ARGS of packaging/default/homeostat-NAME, unit paths mapped to test paths
# (PATH_MAP). A path the test cannot map is a failure.
declare -A PATH_MAP=()
unit_flags() {
    local unit=$UNIT_DIR/homeostat-$1.service exec args word
    exec=$(directive "$unit" ExecStart | tail -n1)
    # EnvironmentFile= syntax for ARGS="..." is the shell's for a plain assignment.
    # shellcheck disable=SC1090 # packaging/default/homeostat-NAME
    args=$(ARGS=; . "$DEFAULT_DIR/homeostat-$1" && printf '%s' "$ARGS")
    UNIT_FLAGS=()
    read -ra words <<<"$exec"
    for word in "${words[@]:1}"; do
        case $word in
        '$ARGS' | '${ARGS}')
            read -ra extra <<<"$args"
            UNIT_FLAGS+=("${extra[@]}")
            ;;
        *=/*)
            local value=${word#*=}
            if [[ -n ${PATH_MAP[$value]:-} ]]; then
                UNIT_FLAGS+=("${word%%=*}=${PATH_MAP[$value]}")
            else
                fail "$1: the unit's flag $word names a path this test cannot map"
                UNIT_FLAGS+=("$word")
            fi
            ;;
        *) UNIT_FLAGS+=("$word") ;;
        esac
    done
}

# run_daemon NAME URL_PATH ARGS...: starts the daemon with ARGS under a NOTIFY_SOCKET and a
# 2 s watchdog, as systemd would, and checks readiness, the API, reload and SIGTERM.
run_daemon() {
    local name=$1 path=$2
    shift 2
    local bin=$HOMEOSTAT_EXPORTER
    [[ $name == controller ]] && bin=$HOMEOSTAT_CONTROLLER
    local sock=$HS_TMP/$name.notify out=$HS_TMP/$name.notify.out log=$HS_TMP/$name.log
    : >"$out"
    spawn "$HS_TMP/$name.notify.log" /usr/bin/python3 "$HS_TMP/notify.py" "$sock" "$out"
    local listener=$HS_PID
    wait_until 5 test -S "$sock" || fail "$name: the notify socket did not appear"
    NOTIFY_SOCKET=$sock WATCHDOG_USEC=2000000 spawn "$log" "$bin" "$@"
    local pid=$HS_PID url
    url=$(wait_listening "$log" "$pid")
    if [[ -z $url ]]; then
        fail "$name with the unit's flags ($*) did not start; its log:"
        sed 's/^/    /' "$log"
        stop_process "$listener"
        return 0
    fi
    pass "$name starts with the unit's flags: $*"
    local base=${url#http://}
    base=http://${base%%/*}
    if wait_until 5 grep -qx "$pid READY=1" "$out"; then
        pass "... READY=1 comes from the main pid ($pid)"
    else
        fail "... READY=1 comes from the main pid ($pid); got: $(tr '\n' '|' <"$out")"
    fi
    if wait_until 5 grep -qx "$pid WATCHDOG=1" "$out"; then
        pass "... WATCHDOG=1 comes from the main pid"
    else
        fail "... WATCHDOG=1 comes from the main pid; got: $(tr '\n' '|' <"$out")"
    fi
    check "... no notification from another pid" \
        bash -c '! grep -qv "^$1 " "$2"' _ "$pid" "$out"
    check_eq "... GET /-/healthy answers 200" 200 "$(http_code "$base/-/healthy")"
    check_eq "... GET $path answers 200" 200 "$(http_code "$base$path")"

    # ExecReload, as systemd runs it with $MAINPID.
    local reload
    reload=$(directive "$UNIT_DIR/homeostat-$name.service" ExecReload | tail -n1)
    reload=${reload//\$MAINPID/$pid}
    local before
    before=$(grep -c 'READY=1' "$out" || true)
    read -ra reload_argv <<<"$reload"
    check "... ExecReload ($reload) runs" "${reload_argv[@]}"
    if wait_until 5 bash -c '(( $(grep -c "^$1 READY=1" "$2") > $3 ))' _ "$pid" "$out" \
        "$before"; then
        pass "... which gives RELOADING=1 and READY=1 again"
    else
        fail "... which gives RELOADING=1 and READY=1 again; got: $(tr '\n' '|' <"$out")"
    fi
    check "... (RELOADING=1 seen)" grep -qx "$pid RELOADING=1" "$out"
    check "... and it still serves" test "$(http_code "$base/-/healthy")" = 200

    stop_process "$pid" 10
    check_eq "... SIGTERM ends it with status 0" 0 "$HS_STATUS"
    check "... after STOPPING=1" grep -qx "$pid STOPPING=1" "$out"
    stop_process "$listener"
}

unit_flags exporter
# Loopback port 0 for HTTP and StatsD (ctest runs tests in parallel); after the unit's
# flags, so that these win.
run_daemon exporter /metrics "${UNIT_FLAGS[@]}" --web.listen-address=127.0.0.1:0 \
    --statsd.listen-udp=127.0.0.1:0

rules=$HOMEOSTAT_SOURCE_DIR/rules/default.yaml
if [[ ! -f $rules ]]; then
    say "rules/default.yaml does not exist; using rules/example.yaml"
    rules=$HOMEOSTAT_SOURCE_DIR/rules/example.yaml
fi
PATH_MAP[/etc/homeostat/rules.yaml]=$rules
unit_flags controller
closed_port=$(free_port) # nothing listens there: every query fails to connect
state_dir=$HS_TMP/state
run_daemon controller /api/v1/status "${UNIT_FLAGS[@]}" --web.listen-address=127.0.0.1:0 \
    --state.directory="$state_dir" --prometheus.url="http://127.0.0.1:$closed_port"
check "... the controller wrote its state file into --state.directory" \
    test -s "$state_dir/state.json"
check "... and it evaluated, saying in STATUS= that Prometheus cannot be reached" \
    grep -q "^[0-9]* STATUS=.*connection refused.*127.0.0.1:$closed_port" \
    "$HS_TMP/controller.notify.out"

# ---- the daily report: homeostat-report.service and .timer -------------------------------
# A oneshot service sandboxed like the daemons, writing into its StateDirectory and pruning
# it; its timer daily, persistent, with a random delay; neither enabled by the package.
report_unit=$UNIT_DIR/homeostat-report.service
report_timer=$UNIT_DIR/homeostat-report.timer
score=$(exposure "$report_unit")
if [[ -n $score ]] && le "$score" "$MAX_EXPOSURE"; then
    pass "homeostat-report.service: exposure $score is at most $MAX_EXPOSURE"
else
    fail "homeostat-report.service: exposure ${score:-none} is above $MAX_EXPOSURE; the items:"
    grep '✗' "$HS_TMP/security.homeostat-report.service.txt" | sed 's/^/    /'
fi
check "... Type=oneshot" unit_has "$report_unit" Type oneshot
check "... DynamicUser=yes" unit_has "$report_unit" DynamicUser yes
check "... StateDirectory=homeostat/reports" unit_has "$report_unit" StateDirectory \
    homeostat/reports
check "... ConfigurationDirectory=homeostat" unit_has "$report_unit" ConfigurationDirectory homeostat
check "... EnvironmentFile=-/etc/default/homeostat-report" \
    unit_has "$report_unit" EnvironmentFile -/etc/default/homeostat-report
check "... a start timeout" bash -c '[[ -n $1 && $1 != infinity ]]' _ \
    "$(directive "$report_unit" TimeoutStartSec | tail -n1)"
check "... no [Install] section: the timer starts it" \
    bash -c '! grep -q "^\[Install\]" "$1"' _ "$report_unit"
check "homeostat-report.timer: OnCalendar=daily" unit_has "$report_timer" OnCalendar daily
check "... Persistent=true" unit_has "$report_timer" Persistent true
check "... RandomizedDelaySec set" \
    bash -c '[[ -n $1 && $1 != 0 ]]' _ "$(directive "$report_timer" RandomizedDelaySec)"
check "... WantedBy=timers.target" unit_has "$report_timer" WantedBy timers.target
check "... the calendar is valid" systemd-analyze calendar daily

# Its ExecStart, as systemd would run it (paths mapped, $ARGS empty), against a fake
# Prometheus: one report in the directory, the older ones beyond --keep removed.
exec_start=$(directive "$report_unit" ExecStart | tail -n1)
read -ra words <<<"$exec_start"
check "homeostat-report.service runs /usr/bin/homeostat-controller report ($exec_start)" \
    bash -c '[[ $1 == /usr/bin/homeostat-controller && $2 == report ]]' _ "${words[@]:0:2}"
reports=$HS_TMP/reports
mkdir -p "$reports"
PATH_MAP[/var/lib/homeostat/reports]=$reports
report_flags=()
keep=
for word in "${words[@]:2}"; do
    case $word in
    '$ARGS' | '${ARGS}') ;;
    --keep=*)
        keep=${word#--keep=}
        report_flags+=("$word")
        ;;
    *=/*)
        if [[ -n ${PATH_MAP[${word#*=}]:-} ]]; then
            report_flags+=("${word%%=*}=${PATH_MAP[${word#*=}]}")
        else
            fail "homeostat-report.service: its flag $word names a path this test cannot map"
        fi
        ;;
    *) report_flags+=("$word") ;;
    esac
done
check "... keeps a number of reports (--keep=${keep:-none})" \
    bash -c '[[ $1 =~ ^[1-9][0-9]*$ ]]' _ "$keep"
cat >"$HS_TMP/prom.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0"]}]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("port", s.server_address[1], flush=True)
s.serve_forever()
PY
spawn "$HS_TMP/prom.log" /usr/bin/python3 "$HS_TMP/prom.py"
prom_pid=$HS_PID
wait_until 10 grep -q '^port ' "$HS_TMP/prom.log" || fail "the fake Prometheus did not start"
prom_port=$(awk '/^port / { print $2 }' "$HS_TMP/prom.log")
if [[ -n $keep ]]; then
    for ((i = 0; i <= keep; i++)); do # keep + 1 older reports
        : >"$reports/$(printf 'report-2020%04dT000000Z.json' "$((i + 101))")"
    done
fi
rc=0
"$HOMEOSTAT_CONTROLLER" "${words[1]}" "${report_flags[@]}" \
    --prometheus.url="http://127.0.0.1:$prom_port" >"$HS_TMP/report.out" 2>&1 || rc=$?
check_eq "... which writes a report (exit 0)" 0 "$rc"
[[ $rc == 0 ]] || sed 's/^/    /' "$HS_TMP/report.out"
check_eq "... and leaves the newest $keep reports in its directory" "$keep" \
    "$(find "$reports" -name 'report-*.json' | wc -l)"
newest=$(cd "$reports" && LC_ALL=C ls report-*.json | tail -n1)
check "... the new one among them ($newest), a JSON report" \
    bash -c '[[ $1 != report-2020* ]] && grep -q "\"score\": " "$2/$1"' _ "$newest" "$reports"
stop_process "$prom_pid"

# ---- the polkit rule, by the real polkitd -------------------------------------------------
# In a private mount namespace: the rule alone in the rules directories, a passwd with a
# user homeostat-controller (the system user packaging/sysusers declares), a private
# dbus-daemon as the system bus. pkcheck (as root, the only caller
# allowed to pass details) asks for a process of each user.
polkit_test() {
    local dir=$HS_TMP/polkit failed_before=$HS_FAILED
    mkdir -p "$dir/rules" "$dir/etc-rules"
    chmod 755 "$dir" "$dir/rules" "$dir/etc-rules"
    chmod 711 "$HS_TMP" # polkitd runs as its own user and connects to the bus socket here
    install -m 644 "$POLKIT_RULE" "$dir/rules/"
    cp /etc/passwd "$dir/passwd"
    cp /etc/group "$dir/group"
    echo 'homeostat-controller:x:61999:61999::/:/usr/sbin/nologin' >>"$dir/passwd"
    echo 'homeostat-controller:x:61999:' >>"$dir/group"
    cat >"$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_type="*"/>
  </policy>
</busconfig>
EOF
    cat >"$dir/inside.sh" <<'EOF'
# Runs in the private mount namespace; prints "UID VERB RC" per pkcheck.
set -u
dir=$1
mount --bind "$dir/rules" /usr/share/polkit-1/rules.d
mount --bind "$dir/etc-rules" /etc/polkit-1/rules.d
mount --bind "$dir/passwd" /etc/passwd
mount --bind "$dir/group" /etc/group
dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile >"$dir/dbus.log" 2>&1 &
bus=$!
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/bus
for _ in $(seq 50); do [ -S "$dir/bus" ] && break; sleep 0.1; done
/usr/lib/polkit-1/polkitd >"$dir/polkitd.log" 2>&1 &
pk=$!
for _ in $(seq 100); do grep -q 'Acquired the name' "$dir/polkitd.log" && break; sleep 0.1; done
for uid in 61999 65534; do
    for verb in set-property start; do
        setpriv --reuid="$uid" --regid="$uid" --clear-groups sleep 30 &
        subject=$!
        sleep 0.2
        rc=0
        pkcheck --action-id org.freedesktop.systemd1.manage-units --process "$subject" \
            --detail verb "$verb" --detail unit shop.service >>"$dir/pkcheck.log" 2>&1 || rc=$?
        kill "$subject"
        wait "$subject" 2>/dev/null
        echo "$uid $verb $rc"
    done
done
kill "$pk" "$bus"
wait "$pk" "$bus" 2>/dev/null
exit 0
EOF
    timeout 60 unshare --mount --propagation private bash "$dir/inside.sh" "$dir" \
        >"$dir/results" 2>"$dir/inside.err" || true
    check "polkitd loaded the rule" grep -q 'executing 1 rules' "$dir/polkitd.log"
    check_eq "user homeostat-controller may set-property (pkcheck 0)" 0 \
        "$(awk '$1 == 61999 && $2 == "set-property" { print $3 }' "$dir/results")"
    check_eq "... but not start a unit (pkcheck 2: not authorized without authentication)" 2 \
        "$(awk '$1 == 61999 && $2 == "start" { print $3 }' "$dir/results")"
    check_eq "another user (nobody) may not set-property" 2 \
        "$(awk '$1 == 65534 && $2 == "set-property" { print $3 }' "$dir/results")"
    if ((HS_FAILED > failed_before)); then
        say "polkit test output:"
        cat "$dir/results" "$dir/inside.err" "$dir/polkitd.log" "$dir/pkcheck.log" 2>/dev/null |
            sed 's/^/    /'
    fi
}
if [[ $(id -u) != 0 ]]; then
    fail "the polkit rule test needs root (a private mount namespace); run as root"
else
    require_tool unshare setpriv dbus-daemon pkcheck /usr/lib/polkit-1/polkitd
    polkit_test
fi

finish
