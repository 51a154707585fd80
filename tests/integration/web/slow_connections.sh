#!/usr/bin/env bash
# slow_connections: both daemons hold up under slow (slowloris) clients. bench/slowclients.py
# opens 1,000 connections from 50 loopback addresses (127.0.0.2-51, 20 each: under the
# per-address limit) that send a header byte every 2 s and never finish a request.
#  - the exporter with its default limits holds all 1,000 (sockets in /proc/PID/fd) while
#    50 curl scrapes from 127.0.0.1 all answer 200 and the real Prometheus (1 s scrapes)
#    keeps up == 1; RSS grows by less than 24 KiB per held connection (not checked in an
#    AddressSanitizer build); the read deadline
#    (10 s) closes connections that the 30 s idle timeout never would; when the clients
#    stop, every connection is released
#  - the controller's API and /metrics the same way, with its default limits
#  - one address cannot hold more than the per-address limit (64): of 100 connections
#    from 127.0.0.200, 64 are held and 36 are closed at once
# About 50 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

SLOW=$HOMEOSTAT_SOURCE_DIR/bench/slowclients.py
CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing (build the homeostat-controller target)"
    finish
fi

# sockets PID: how many sockets PID has open (listeners and connections).
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
# slow_field LOG NAME: NAME's value in the last status line of a slowclients log.
slow_field() { tail -n1 "$1" 2>/dev/null | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
# shellcheck disable=SC2317 # the predicates below are called through wait_until
held_at_least() { (($(sockets "$1") - $2 >= $3)); }
# shellcheck disable=SC2317
held_at_most() { (($(sockets "$1") - $2 <= $3)); }
# shellcheck disable=SC2317
field_is() { [[ $(slow_field "$1" "$2") == "$3" ]]; }
# shellcheck disable=SC2317
field_at_least() { local v; v=$(slow_field "$1" "$2"); [[ -n $v ]] && ((v >= $3)); }

# scrape_many URL N: N sequential GETs of URL from 127.0.0.1; prints how many answered 200
# with a body that is not empty.
scrape_many() {
    local ok=0 i code
    for ((i = 0; i < $2; i++)); do
        code=$(curl -s -o "$HS_TMP/scrape.out" -w '%{http_code}' --max-time 5 "$1" || true)
        [[ $code == 200 && -s $HS_TMP/scrape.out ]] && ok=$((ok + 1))
    done
    echo "$ok"
}

# ---- the daemons and Prometheus ----------------------------------------------------------
start_exporter
RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<'EOF'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}   # --prometheus.url overrides it
signals:
  up:
    query: up
    max_age: 30s
states:
  - name: critical
    conditions: ["up > 2"]
  - name: optimal
on_missing_data: hold
EOF
CTL_ARGS=(--config="$RULES" --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state")
CTL_CONNS=1000
spawn "$HS_TMP/controller.log" "$CONTROLLER" "${CTL_ARGS[@]}"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/controller.log" "$CTL_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not log 'listening on' within 10 s: $(cat "$HS_TMP/controller.log")"
    finish
fi
CTL_ADDR=${CTL_URL#http://}
CTL_ADDR=${CTL_ADDR%%/*}

cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$EXPORTER_ADDR']
  - job_name: controller
    static_configs:
      - targets: ['$CTL_ADDR']
EOF
start_prometheus "$HS_TMP/prometheus.yml"
prom_up() { [[ $(prom_values "up{job=\"$1\"}" 2>/dev/null) == 1 ]]; }
if wait_until 20 prom_up homeostat && wait_until 10 prom_up controller; then
    pass "Prometheus scrapes the exporter and the controller"
else
    fail "up is not 1 for both: $(prom_query up | head -c 400)"
    finish
fi

# ---- hold: slow clients against one daemon while scrapes go on ---------------------------
# hold NAME PID ADDR URL JOB CONNECTIONS SECONDS
hold() {
    local name=$1 pid=$2 addr=$3 url=$4 job=$5 n=$6 secs=$7
    local base rss0 rss1 log=$HS_TMP/slow-$name.log t0 ok held
    base=$(sockets "$pid")
    rss0=$(rss_kb "$pid")
    spawn "$log" /usr/bin/python3 "$SLOW" --target "$addr" --connections "$n" --sources 50 \
        --interval 2 --path "${url#http://"$addr"}"
    local slow_pid=$HS_PID
    t0=$SECONDS
    if wait_until 20 held_at_least "$pid" "$base" "$n"; then
        pass "$name holds all $n slow connections ($(($(sockets "$pid") - base)) sockets more)"
    else
        fail "$name holds $(($(sockets "$pid") - base)) of $n slow connections after 20 s" \
            "(client: $(tail -n1 "$log"))"
    fi
    ok=$(scrape_many "$url" 50)
    check_eq "$name: 50 scrapes from 127.0.0.1 during the load answer 200" 50 "$ok"
    # Hold at least SECONDS in all, then look at what Prometheus saw meanwhile.
    while ((SECONDS - t0 < secs)); do
        sleep 0.5
    done
    held=$(($(sockets "$pid") - base))
    rss1=$(rss_kb "$pid")
    local window=$((SECONDS - t0 - 1))
    local up_min up_n
    up_min=$(prom_values "min_over_time(up{job=\"$job\"}[${window}s])" | head -n1)
    up_n=$(prom_values "count_over_time(up{job=\"$job\"}[${window}s])" | head -n1)
    check_eq "$name: Prometheus' up stays 1 through the load ($up_n scrapes in ${window} s)" 1 \
        "$up_min"
    check "$name: Prometheus scraped through the load ($up_n in ${window} s)" \
        test "${up_n:-0}" -ge $((window / 2))
    say "$name: RSS $rss0 kB before, $rss1 kB with $held connections held"
    if hs_asan_build; then
        say "$name: AddressSanitizer build: no RSS bound"
    else
        check "$name: RSS grows by less than 24 KiB per held connection ($((rss1 - rss0)) kB for $n)" \
            test $((rss1 - rss0)) -lt $((24 * n))
    fi
    stop_process "$slow_pid"
    if wait_until 10 held_at_most "$pid" "$base" 2; then
        pass "$name: every slow connection is released when the clients stop"
    else
        fail "$name: $(($(sockets "$pid") - base)) connections still held 10 s after the clients stopped"
    fi
    HOLD_LOG=$log
}

hold exporter "$EXPORTER_PID" "$EXPORTER_ADDR" "$EXPORTER_URL" homeostat 1000 14
# Bytes every 2 s never let the 30 s idle timeout fire: the drops are the read deadline's.
dropped=$(slow_field "$HOLD_LOG" dropped)
check "exporter: the 10 s read deadline closed slow connections ($dropped in 14 s)" \
    test "${dropped:-0}" -ge 900

hold controller "$CTL_PID" "$CTL_ADDR" "$CTL_URL/api/v1/status" controller "$CTL_CONNS" 6

# ---- one address: the per-address limit ---------------------------------------------------
base=$(sockets "$EXPORTER_PID")
spawn "$HS_TMP/slow-perip.log" /usr/bin/python3 "$SLOW" --target "$EXPORTER_ADDR" \
    --connections 100 --sources 1 --source-base 127.0.0.200 --interval 2 --no-reconnect
perip_pid=$HS_PID
if wait_until 10 field_at_least "$HS_TMP/slow-perip.log" refused 36 &&
    wait_until 3 field_is "$HS_TMP/slow-perip.log" open 64; then
    pass "one address: 64 of 100 connections held, 36 closed within 1 s of connecting"
else
    fail "one address: expected open=64 refused=36, got: $(tail -n1 "$HS_TMP/slow-perip.log")"
fi
check "one address: the exporter holds at most 64 of its connections" \
    held_at_most "$EXPORTER_PID" "$base" 64
check_eq "one address: scrapes from 127.0.0.1 still answer" 5 "$(scrape_many "$EXPORTER_URL" 5)"
stop_process "$perip_pid"

finish
