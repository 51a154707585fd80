#!/usr/bin/env bash
# ha_etcd: three homeostat-controllers replicated on a real three-member etcd cluster
# (Debian's etcd-server) on loopback, --ha.backend=etcd: the scenarios of
# ha_scenarios.bash (one leader; SIGKILL: another leads and reverts once; SIGSTOP mid-action:
# fenced), then etcd's own failures:
#  - kill the etcd member the leader talks to: it goes on leading through another member
#    (or another replica leads), never two at once
#  - stop a majority of etcd: within the renew deadline nobody leads, every replica says why,
#    and an alert that fires then makes nobody act
#  - etcd with TLS and client certificates: a replica with --ha.ca-file, --ha.cert-file and
#    --ha.key-file leads; one without a client certificate does not, and says why
# About 40 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool etcd etcdctl curl chromium openssl /usr/bin/python3
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi

TOKEN=s3cret-$$
printf 'admin %s\n' "$TOKEN" >"$HS_TMP/token"
ACTS=$HS_TMP/acts.log
: >"$ACTS"

# ---- etcd: three members ------------------------------------------------------------
start_etcd 3 || finish
pass "a three-member etcd cluster is healthy ($ETCD_ENDPOINTS)"

# shellcheck disable=SC2034 # HA_ARGS and HA_STATUS_PAGE: for ha_scenarios.bash
HA_ARGS=(--ha.backend=etcd --ha.etcd.endpoints="$ETCD_ENDPOINTS")
export HA_STATUS_PAGE=1
. "$(dirname "${BASH_SOURCE[0]}")/ha_scenarios.bash"

# ---- kill the etcd member the leader talks to ------------------------------------------
ep=$(ha_of "$L3" "h['endpoint']")
m=0
for i in 1 2 3; do [[ $ep == "http://127.0.0.1:${ETCD_PORT[i]}" ]] && m=$i; done
if [[ $m == 0 ]]; then
    fail "the leader names no etcd endpoint ('$ep')"
    m=1
fi
kill -KILL "${ETCD_PID[m]}"
wait "${ETCD_PID[m]}" 2>/dev/null || true
two=0
for _ in $(seq 1 20); do
    [[ $(leaders | wc -l) -le 1 ]] || two=1
    sleep 0.25
done
check_eq "never two leaders after etcd member e$m was killed" 0 "$two"
if wait_until 5 one_leader; then
    pass "c$LEADER leads through another member"
    ep2=$(ha_of "$LEADER" "h['endpoint']")
    check "... not through the killed one ($ep2)" test "$ep2" != "$ep"
else
    fail "nobody leads with two etcd members of three"
fi

# ---- stop a majority -------------------------------------------------------------------
for i in 1 2 3; do
    if [[ $i != "$m" ]]; then
        kill -KILL "${ETCD_PID[i]}"
        wait "${ETCD_PID[i]}" 2>/dev/null || true
        break
    fi
done
if wait_until 5 no_leader; then
    pass "without an etcd quorum nobody leads"
else
    fail "someone still leads without a quorum: $(leaders | tr '\n' ' ')"
fi
before=$(wc -l <"$ACTS")
alert_all Overload firing
sleep 2
check_eq "an alert without quorum: nobody acted" "$before" "$(wc -l <"$ACTS")"
for i in "${ALIVE[@]}"; do
    why=$(ha_of "$i" "h['why']")
    check "c$i says why it does not act ($why)" grep -qi "etcd" <<<"$why"
done
stop_etcd

# ---- TLS: etcd with client certificates ------------------------------------------------
# (etcd's JSON gateway talks to its own gRPC server with the server's certificate: with
# --client-cert-auth, that certificate must allow clientAuth too)
T=$HS_TMP/tls
mkdir -p "$T"
newcert() { # NAME SUBJECT EXTENSIONS: an EC P-256 key and certificate signed by ca
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
        -out "$T/$1.csr" -subj "$2" 2>>"$T/openssl.log" &&
        printf '%s\n' "$3" >"$T/$1.ext" &&
        openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
            -days 1 -extfile "$T/$1.ext" -out "$T/$1.crt" 2>>"$T/openssl.log"
}
if ! { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
    -out "$T/ca.crt" -days 1 -subj "/CN=homeostat test etcd CA" 2>>"$T/openssl.log" &&
    newcert server /CN=etcd $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth' &&
    newcert client /CN=homeostat $'extendedKeyUsage=clientAuth'; }; then
    fail "openssl could not make the certificates: $(cat "$T/openssl.log")"
    finish
fi
TPORT=$(free_port)
TPEER=$(free_port)
spawn "$HS_TMP/etcd-tls.log" etcd --name t --data-dir "$HS_TMP/etcd-tls" \
    --listen-client-urls "https://127.0.0.1:$TPORT" --advertise-client-urls "https://127.0.0.1:$TPORT" \
    --listen-peer-urls "http://127.0.0.1:$TPEER" --initial-advertise-peer-urls "http://127.0.0.1:$TPEER" \
    --initial-cluster "t=http://127.0.0.1:$TPEER" --client-cert-auth --trusted-ca-file "$T/ca.crt" \
    --cert-file "$T/server.crt" --key-file "$T/server.key" --logger zap --log-level error
TPID=$HS_PID
tls_healthy() {
    etcdctl --endpoints="https://127.0.0.1:$TPORT" --cacert "$T/ca.crt" --cert "$T/client.crt" \
        --key "$T/client.key" --command-timeout=2s endpoint health >/dev/null 2>&1
}
if wait_until 20 tls_healthy; then
    HA_ARGS=(--ha.backend=etcd --ha.etcd.endpoints="https://127.0.0.1:$TPORT"
        --ha.lease-name=tls --ha.ca-file="$T/ca.crt")
    start_replica 5 # no client certificate: refused by etcd
    HA_ARGS+=(--ha.cert-file="$T/client.crt" --ha.key-file="$T/client.key")
    start_replica 4
    ALIVE=(4 5)
    if wait_until 5 one_leader; then
        check_eq "over TLS with a client certificate, c4 leads" 4 "$LEADER"
    else
        fail "nobody leads over TLS: c4 says $(ha_of 4 "h['why']")"
    fi
    why=$(ha_of 5 "h['why']")
    check "without a client certificate c5 does not lead, and says why ($why)" \
        grep -qi "https://127.0.0.1:$TPORT" <<<"$why"
else
    fail "etcd with TLS did not become healthy: $(tail -n 5 "$HS_TMP/etcd-tls.log")"
fi
# etcd stopped by SIGTERM would wait for its peers (seconds): its data goes
kill -KILL "$TPID" 2>/dev/null && { wait "$TPID" 2>/dev/null || true; }
finish
