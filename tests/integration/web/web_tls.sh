#!/usr/bin/env bash
# web_tls: --web.config.file (the Prometheus exporter-toolkit format) on both daemons,
# with certificates made by openssl for this run (a CA, a server certificate for
# 127.0.0.1 and localhost, a client CA with two client certificates, a self-signed
# client certificate) and bcrypt hashes made by htpasswd. For the exporter and the
# controller, with curl:
#  - HTTPS with the CA works, by IP and by name; plain HTTP on the TLS port gets nothing;
#    TLS 1.1 is refused (a control openssl s_server shows the client can speak it); TLS
#    1.2 and 1.3 work;
#  - no credentials, a wrong password, an unknown user: 401 with WWW-Authenticate: Basic,
#    health endpoints included; the right ones: 200 on /metrics; the configured headers
#    on every answer, X-Content-Type-Options once;
#  - the controller's mutating endpoints still want the admin token (X-Homeostat-Token
#    beside basic auth);
#  - reload (POST /-/reload, SIGHUP): a broken file keeps the old users; a valid one
#    swaps them; a TLS change is logged as needing a restart;
#  - RequireAndVerifyClientCert with client_allowed_sans: no certificate, a self-signed
#    one or one without an allowed SAN gets 403; the right client certificate gets 200;
#  - cipher_suites and curve_preferences restrict what is offered (exporter);
#  - an invalid file stops the start with file:line:col errors; --check-config says so.
# Then the real Prometheus scrapes the exporter over TLS with basic auth (up == 1), with
# a wrong password (up == 0) and with a client certificate (up == 1). About 40 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool openssl curl htpasswd prometheus /usr/bin/python3

T=$HS_TMP/tls
mkdir -p "$T"

# ---- certificates and hashes --------------------------------------------------------

# newcert NAME SUBJECT EXTENSIONS ISSUER: an EC P-256 key NAME.key and certificate NAME.crt
# signed by ISSUER (ISSUER.crt, ISSUER.key), valid one day.
newcert() {
    local name=$1 subj=$2 ext=$3 issuer=$4
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$name.key" \
        -out "$T/$name.csr" -subj "$subj" 2>>"$T/openssl.log" &&
        printf '%s\n' "$ext" >"$T/$name.ext" &&
        openssl x509 -req -in "$T/$name.csr" -CA "$T/$issuer.crt" -CAkey "$T/$issuer.key" \
            -CAcreateserial -days 1 -extfile "$T/$name.ext" -out "$T/$name.crt" \
            2>>"$T/openssl.log"
}
newca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
        -out "$T/$1.crt" -days 1 -subj "/CN=$2" 2>>"$T/openssl.log"
}
if newca ca "homeostat test CA" && newca client-ca "homeostat test client CA" &&
    newcert server /CN=localhost \
        $'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth' ca &&
    newcert client /CN=prometheus \
        $'subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth' client-ca &&
    newcert intruder /CN=intruder \
        $'subjectAltName=DNS:intruder\nextendedKeyUsage=clientAuth' client-ca &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$T/rogue.key" -out "$T/rogue.crt" -days 1 -subj /CN=prometheus \
        -addext subjectAltName=DNS:prometheus 2>>"$T/openssl.log"; then
    pass "openssl made a CA, a server certificate, a client CA and three client certificates"
else
    fail "openssl could not make the certificates: $(cat "$T/openssl.log")"
    finish
fi

PASS='correct horse battery'
hash_of() { htpasswd -nbBC 10 "" "$1" | tr -d ':\n'; }
PROM_HASH=$(hash_of "$PASS")
ALICE_HASH=$(hash_of alice-pw)
BOB_HASH=$(hash_of bob-pw)
# shellcheck disable=SC2016 # a regular expression, not an expansion
check "htpasswd makes bcrypt hashes (\$2y\$10\$...)" grep -q '^\$2y\$10\$.\{53\}$' <<<"$PROM_HASH"

# Relative paths: taken from the file's directory.
web_auth() { # USERS...: TLS, headers, the given "name: hash" users
    printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n'
    printf 'http_server_config:\n  headers:\n'
    printf '    Strict-Transport-Security: max-age=31536000\n    X-Frame-Options: deny\n'
    printf '    X-Content-Type-Options: nosniff\n'
    printf 'basic_auth_users:\n'
    printf '  %s\n' "$@"
}
web_auth "prom: $PROM_HASH" "alice: $ALICE_HASH" >"$T/web-auth.yml"
cp "$T/web-auth.yml" "$T/web-auth.good"
cat >"$T/web-mtls.yml" <<'EOF'
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_ca_file: client-ca.crt
  client_auth_type: RequireAndVerifyClientCert
  client_allowed_sans: [prometheus]
  min_version: TLS12
EOF

CA=(--cacert "$T/ca.crt")
# code URL [CURL ARGS]: the status code (000 when the connection or TLS failed).
code() { http_code "$1" "${CA[@]}" "${@:2}"; }
# code_to FILE URL [CURL ARGS]: the same, with the body in FILE.
code_to() { http_get "$1" "$2" "${CA[@]}" "${@:3}"; }

# ---- TLS 1.1: a control server shows the client can speak it -------------------------

port=$(free_port)
spawn "$HS_TMP/s_server.log" openssl s_server -accept "127.0.0.1:$port" -cert "$T/server.crt" \
    -key "$T/server.key" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -www
SSERVER_PID=$HS_PID
TLS11=(--tls-max 1.1 --ciphers 'DEFAULT@SECLEVEL=0')
# shellcheck disable=SC2317 # called through wait_until
tls11_answers() { [[ $(code "https://127.0.0.1:$port/" "${TLS11[@]}") == 200 ]]; }
if wait_until 5 tls11_answers; then
    pass "control: curl speaks TLS 1.1 to an openssl s_server that allows it"
else
    fail "control: curl cannot speak TLS 1.1 to openssl s_server (so refusing it proves" \
        "nothing): $(cat "$HS_TMP/s_server.log")"
fi
stop_process "$SSERVER_PID"

# ---- the checks both daemons get ------------------------------------------------------

# has_header FILE NAME VALUE: the dumped headers hold "NAME: VALUE".
# shellcheck disable=SC2317 # called through check
has_header() { tr -d '\r' <"$1" | grep -qix "$2: $3"; }

# common_checks NAME BASE: BASE is https://127.0.0.1:PORT of a daemon on web-auth.yml.
common_checks() {
    local n=$1 base=$2 port=${2##*:} out
    check_eq "$n: HTTPS with the CA and the right password: 200 on /metrics" 200 \
        "$(code "$base/metrics" -u "prom:$PASS")"
    check_eq "$n: ... by the name localhost too" 200 \
        "$(code "https://localhost:$port/metrics" -u "prom:$PASS")"
    check_eq "$n: ... but not without the CA (the certificate is checked)" 000 \
        "$(http_code "$base/metrics" -u "prom:$PASS")"
    check_eq "$n: plain HTTP on the TLS port gets no answer" 000 \
        "$(http_code "http://127.0.0.1:$port/metrics" -u "prom:$PASS")"
    check_eq "$n: TLS 1.1 is refused" 000 "$(code "$base/metrics" -u "prom:$PASS" "${TLS11[@]}")"
    out=$(curl -sS -v -o /dev/null --max-time 10 "${CA[@]}" -u "prom:$PASS" --tlsv1.2 \
        --tls-max 1.2 "$base/metrics" 2>&1 || true)
    check "$n: TLS 1.2 works" grep -q 'SSL connection using TLSv1.2' <<<"$out"
    out=$(curl -sS -v -o /dev/null --max-time 10 "${CA[@]}" -u "prom:$PASS" --tlsv1.3 \
        "$base/metrics" 2>&1 || true)
    check "$n: TLS 1.3 works" grep -q 'SSL connection using TLSv1.3' <<<"$out"
    local what args
    for what in "no credentials" "a wrong password" "an unknown user" "a bearer token"; do
        case $what in
        "no credentials") args=() ;;
        "a wrong password") args=(-u "prom:wrong") ;;
        "an unknown user") args=(-u "mallory:$PASS") ;;
        "a bearer token") args=(-H "Authorization: Bearer $PASS") ;;
        esac
        check_eq "$n: $what: 401" 401 \
            "$(code "$base/metrics" "${args[@]}" -D "$HS_TMP/h.txt")"
        check "$n: ... with WWW-Authenticate: Basic" has_header "$HS_TMP/h.txt" \
            WWW-Authenticate Basic
    done
    check "$n: ... and the configured headers on the 401 too" has_header "$HS_TMP/h.txt" \
        Strict-Transport-Security max-age=31536000
    check_eq "$n: /-/healthy needs the password too" 401 "$(code "$base/-/healthy")"
    check_eq "$n: ... and answers with it" 200 "$(code "$base/-/healthy" -u "alice:alice-pw")"
    http_get "$HS_TMP/m.txt" "$base/metrics" "${CA[@]}" -u "prom:$PASS" -D "$HS_TMP/h.txt" \
        >/dev/null
    check "$n: /metrics has samples" grep -q '_build_info{' "$HS_TMP/m.txt"
    check "$n: Strict-Transport-Security: max-age=31536000" has_header "$HS_TMP/h.txt" \
        Strict-Transport-Security max-age=31536000
    check "$n: X-Frame-Options: deny" has_header "$HS_TMP/h.txt" X-Frame-Options deny
    check_eq "$n: X-Content-Type-Options once" 1 \
        "$(tr -d '\r' <"$HS_TMP/h.txt" | grep -ic '^X-Content-Type-Options: nosniff$')"
}

# reload_checks NAME BASE PID RELOAD-ARGS...: POST /-/reload (with RELOAD-ARGS) and SIGHUP.
reload_checks() {
    local n=$1 base=$2 pid=$3 log=$4
    shift 4
    printf 'basic_auth_users:\n  prom: not-a-hash\n' >"$T/web-auth.yml"
    local c
    c=$(code_to "$HS_TMP/reload.txt" "$base/-/reload" -X POST -u "prom:$PASS" "$@")
    check "$n: reload with a broken file fails ($c)" test "$c" = 500 -o "$c" = 400
    check "$n: ... saying where ($(head -c 200 "$HS_TMP/reload.txt"))" \
        grep -q 'web-auth.yml:2:9: the password of user' "$HS_TMP/reload.txt"
    check_eq "$n: ... and the old users still get in" 200 "$(code "$base/metrics" -u "prom:$PASS")"
    check_eq "$n: ... and the old users only" 401 "$(code "$base/metrics" -u "bob:bob-pw")"
    # A valid file with other users: they apply at once.
    web_auth "prom: $PROM_HASH" "bob: $BOB_HASH" >"$T/web-auth.yml"
    check_eq "$n: reload with bob instead of alice" 200 \
        "$(code "$base/-/reload" -X POST -u "prom:$PASS" "$@")"
    check_eq "$n: ... bob gets in" 200 "$(code "$base/metrics" -u "bob:bob-pw")"
    check_eq "$n: ... alice no more" 401 "$(code "$base/metrics" -u "alice:alice-pw")"
    # SIGHUP with a TLS change: users apply, TLS waits for a restart (and says so).
    web_auth "prom: $PROM_HASH" "alice: $ALICE_HASH" |
        sed 's/^  key_file: server.key$/&\n  min_version: TLS13/' >"$T/web-auth.yml"
    kill -HUP "$pid"
    if wait_until 5 grep -q 'the TLS settings changed; they apply at the next restart' "$log"; then
        pass "$n: SIGHUP with min_version TLS13 logs that TLS needs a restart"
    else
        fail "$n: no 'TLS settings changed' line after SIGHUP; log: $(tail -n 5 "$log")"
    fi
    check_eq "$n: ... alice is back at once" 200 "$(code "$base/metrics" -u "alice:alice-pw")"
    check_eq "$n: ... and TLS 1.2 still works until the restart" 200 \
        "$(code "$base/metrics" -u "alice:alice-pw" --tlsv1.2 --tls-max 1.2)"
    cp "$T/web-auth.good" "$T/web-auth.yml"
}

# mtls_checks NAME BASE: BASE serves web-mtls.yml.
mtls_checks() {
    local n=$1 base=$2
    check_eq "$n: RequireAndVerifyClientCert: no client certificate: 403" 403 \
        "$(code_to "$HS_TMP/403.txt" "$base/metrics")"
    check "$n: ... saying why" grep -q 'a client certificate is required' "$HS_TMP/403.txt"
    check_eq "$n: ... the client certificate of the client CA: 200" 200 \
        "$(code "$base/metrics" --cert "$T/client.crt" --key "$T/client.key")"
    check_eq "$n: ... a self-signed one with the same name: 403" 403 \
        "$(code_to "$HS_TMP/403.txt" "$base/metrics" --cert "$T/rogue.crt" --key "$T/rogue.key")"
    check "$n: ... as not trusted" grep -q 'not trusted' "$HS_TMP/403.txt"
    check_eq "$n: ... one of the client CA without an allowed SAN: 403" 403 \
        "$(code_to "$HS_TMP/403.txt" "$base/metrics" --cert "$T/intruder.crt" \
            --key "$T/intruder.key")"
    check "$n: ... as not in client_allowed_sans" grep -q 'client_allowed_sans' "$HS_TMP/403.txt"
}

# ---- exporter -------------------------------------------------------------------------

EXP_ARGS=(--collector.disable-defaults --collector.loadavg --collector.self --web.enable-lifecycle)
start_exporter "${EXP_ARGS[@]}" --web.config.file="$T/web-auth.yml" || finish
check "exporter: logs an https:// address ($EXPORTER_BASE)" test "${EXPORTER_BASE%%://*}" = https
check "exporter: logs the web configuration" grep -q \
    'web: loaded .*web-auth.yml (TLS 1.2-1.3, basic auth (2 users), 3 headers)' "$EXPORTER_LOG"
common_checks exporter "$EXPORTER_BASE"
reload_checks exporter "$EXPORTER_BASE" "$EXPORTER_PID" "$EXPORTER_LOG"
AUTH_EXPORTER=$EXPORTER_ADDR
start_exporter "${EXP_ARGS[@]}" --web.config.file="$T/web-mtls.yml" || finish
mtls_checks exporter "$EXPORTER_BASE"
MTLS_EXPORTER=$EXPORTER_ADDR

# cipher_suites and curve_preferences become the GnuTLS priority string: only what they
# name is offered (the ciphers named also bound TLS 1.3).
cat >"$T/web-ciphers.yml" <<'EOF'
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [CurveP256]
EOF
start_exporter "${EXP_ARGS[@]}" --web.config.file="$T/web-ciphers.yml" || finish
check_eq "cipher_suites: the suite named works over TLS 1.2" 200 \
    "$(code "$EXPORTER_URL" --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256)"
check_eq "... another one does not" 000 \
    "$(code "$EXPORTER_URL" --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-CHACHA20-POLY1305)"
check_eq "... TLS 1.3 with its cipher (AES-128-GCM) works" 200 \
    "$(code "$EXPORTER_URL" --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256)"
check_eq "... TLS 1.3 with ChaCha20 only does not" 000 \
    "$(code "$EXPORTER_URL" --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256)"
check_eq "curve_preferences [CurveP256]: a client offering only X25519 is refused" 000 \
    "$(code "$EXPORTER_URL" --curves X25519)"
stop_process "$EXPORTER_PID"

# An invalid file: no start, every error with its place; --check-config agrees.
printf '%s\n' tls_server_config: '  cert_file: server.crt' '  key_file: client.key' \
    '  min_version: TLS11' basic_auth_users: '  prom: secret' >"$T/web-bad.yml"
rc=0
"$HOMEOSTAT_EXPORTER" --web.listen-address=127.0.0.1:0 --statsd.listen-udp= \
    --web.config.file="$T/web-bad.yml" >"$HS_TMP/bad.log" 2>&1 || rc=$?
check_eq "exporter: an invalid web configuration stops the start (exit 1)" 1 "$rc"
for e in "web-bad.yml:3:13: the key does not go with the certificate" \
    "web-bad.yml:4:16: min_version TLS11 is not accepted" \
    "web-bad.yml:6:9: the password of user 'prom' is not a bcrypt hash"; do
    check "... $e" grep -qF "$e" "$HS_TMP/bad.log"
done
rc=0
out=$("$HOMEOSTAT_EXPORTER" --check-config --web.config.file="$T/web-bad.yml" 2>&1) || rc=$?
check_eq "exporter --check-config on it exits 1" 1 "$rc"
check "... with the errors" grep -qF "web-bad.yml:4:16: min_version TLS11" <<<"$out"
rc=0
out=$("$HOMEOSTAT_EXPORTER" --check-config --web.config.file="$T/web-auth.yml" 2>&1) || rc=$?
check_eq "exporter --check-config on a valid file exits 0" 0 "$rc"
check "... and says OK ($out)" grep -q 'web-auth.yml: OK (TLS 1.2-1.3, basic auth (2 users)' \
    <<<"$out"

# The example of packaging/: as shipped, its placeholder hash fails the check; with a hash
# and the files of this run (its commented mutual TLS lines on), it passes.
EX=$HOMEOSTAT_SOURCE_DIR/packaging/web-config.yml
rc=0
out=$("$HOMEOSTAT_EXPORTER" --check-config --web.config.file="$EX" 2>&1) || rc=$?
check_eq "packaging/web-config.yml as shipped fails --check-config" 1 "$rc"
check "... on its placeholder hash" \
    grep -q "the password of user 'prometheus' is not a bcrypt hash" <<<"$out"
sed -e "s|REPLACE-WITH-A-BCRYPT-HASH|$PROM_HASH|" \
    -e "s|/etc/homeostat/tls/server.crt|$T/server.crt|" \
    -e "s|/run/credentials/homeostat-exporter.service/web.key|$T/server.key|" \
    -e "s|# client_ca_file: /etc/homeostat/tls/client-ca.crt|client_ca_file: $T/client-ca.crt|" \
    -e "s|# client_auth_type:|client_auth_type:|" "$EX" >"$T/example.yml"
rc=0
out=$("$HOMEOSTAT_EXPORTER" --check-config --web.config.file="$T/example.yml" 2>&1) || rc=$?
check_eq "... and passes with a hash and files of its own" 0 "$rc"
check "... as TLS with client certificates and basic auth ($out)" grep -qF \
    'OK (TLS 1.2-1.3, client certificates RequireAndVerifyClientCert, basic auth (1 user), 2' \
    <<<"$out"

# ---- controller -----------------------------------------------------------------------

cat >"$HS_TMP/rules.yaml" <<'EOF'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9"}
signals:
  load: {query: "vector(1)"}
states:
  - name: degraded
    conditions: ["load > 100"]
  - name: optimal
EOF
printf 'admin-token-%s\n' "$RANDOM" >"$HS_TMP/token"
TOKEN=$(cat "$HS_TMP/token")
CTL_SEQ=0
start_controller() { # WEB-CONFIG
    CTL_SEQ=$((CTL_SEQ + 1))
    CTL_LOG=$HS_TMP/controller.$CTL_SEQ.log
    spawn "$CTL_LOG" "$HOMEOSTAT_CONTROLLER" --config="$HS_TMP/rules.yaml" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state.$CTL_SEQ" \
        --web.admin-token-file="$HS_TMP/token" --web.config.file="$1" \
        --web.max-connections=100 --web.max-connections-per-ip=20 --web.timeout=15s
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    if [[ -z $CTL_URL ]]; then
        fail "controller ($1) did not start; its log:"
        sed 's/^/    /' "$CTL_LOG"
        finish
    fi
    CTL_BASE=${CTL_URL%/}
}

start_controller "$T/web-auth.yml"
check "controller: logs an https:// address ($CTL_BASE)" test "${CTL_BASE%%://*}" = https
common_checks controller "$CTL_BASE"
check_eq "controller: basic auth alone does not pause (the admin token is still needed)" 401 \
    "$(code "$CTL_BASE/api/v1/pause" -X POST -u "prom:$PASS")"
check_eq "controller: basic auth and X-Homeostat-Token pause" 200 \
    "$(code "$CTL_BASE/api/v1/pause" -X POST -u "prom:$PASS" -H "X-Homeostat-Token: $TOKEN")"
check_eq "controller: ... a wrong X-Homeostat-Token does not" 401 \
    "$(code "$CTL_BASE/api/v1/resume" -X POST -u "prom:$PASS" -H "X-Homeostat-Token: nope")"
reload_checks controller "$CTL_BASE" "$CTL_PID" "$CTL_LOG" -H "X-Homeostat-Token: $TOKEN"
stop_process "$CTL_PID"
start_controller "$T/web-mtls.yml"
mtls_checks controller "$CTL_BASE"
stop_process "$CTL_PID"
rc=0
"$HOMEOSTAT_CONTROLLER" --config="$HS_TMP/rules.yaml" --web.listen-address=127.0.0.1:0 \
    --state.directory="$HS_TMP/state.bad" --web.config.file="$T/web-bad.yml" \
    >"$HS_TMP/ctl-bad.log" 2>&1 || rc=$?
check_eq "controller: an invalid web configuration stops the start (exit 1)" 1 "$rc"
check "... with its errors" grep -qF "web-bad.yml:4:16: min_version TLS11 is not accepted" \
    "$HS_TMP/ctl-bad.log"

# ---- the real Prometheus scrapes over TLS ----------------------------------------------

printf '%s' "$PASS" >"$T/prom-password"
cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tls_basic_auth
    scheme: https
    tls_config: {ca_file: $T/ca.crt}
    basic_auth: {username: prom, password_file: $T/prom-password}
    static_configs: [{targets: ['$AUTH_EXPORTER']}]
  - job_name: wrong_password
    scheme: https
    tls_config: {ca_file: $T/ca.crt}
    basic_auth: {username: prom, password: not-the-password}
    static_configs: [{targets: ['$AUTH_EXPORTER']}]
  - job_name: client_certificate
    scheme: https
    tls_config: {ca_file: $T/ca.crt, cert_file: $T/client.crt, key_file: $T/client.key}
    static_configs: [{targets: ['$MTLS_EXPORTER']}]
EOF
check "promtool accepts the scrape configuration" \
    bash -c "promtool check config '$HS_TMP/prometheus.yml' >/dev/null 2>&1"
start_prometheus "$HS_TMP/prometheus.yml" || finish
# shellcheck disable=SC2317 # called through wait_until
up_is() { [[ $(prom_values "up{job=\"$1\"}" 2>/dev/null) == "$2" ]]; }
# shellcheck disable=SC2317 # called through wait_until
scraped() { # JOB: up is 1 and the exporter's own metrics arrived
    up_is "$1" 1 && prom_has "homeostat_exporter_build_info{job=\"$1\"}"
}
for job in tls_basic_auth client_certificate; do
    if wait_until 20 scraped "$job"; then
        pass "Prometheus scrapes the exporter ($job): up == 1 and its metrics arrive"
    else
        fail "Prometheus job $job: up is '$(prom_values "up{job=\"$job\"}" 2>/dev/null)';" \
            "targets: $(hcurl "$PROM_URL/api/v1/targets" | head -c 600)"
    fi
done
if wait_until 20 up_is wrong_password 0; then
    err=$(hcurl "$PROM_URL/api/v1/targets" | /usr/bin/python3 -c 'import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    if t["labels"]["job"] == "wrong_password":
        print(t["lastError"])')
    pass "Prometheus with a wrong password: up == 0 ($err)"
    check "... because of the 401" grep -q 401 <<<"$err"
else
    fail "Prometheus job wrong_password: up is" \
        "'$(prom_values 'up{job="wrong_password"}' 2>/dev/null)'"
fi

finish
