# shellcheck shell=bash
# app_stack.bash: the demo application as the demo runs it, for the tests that drive the
# real application (sourced after lib.sh; no .sh: ctest's glob leaves it out). Starts
# homeostat-exporter with StatsD and demo/statsd-mapping.yaml, homeostat-demo-app (service
# checkout: 4 backend workers of 40 ms, a 300-entry cache of 5 s, its concurrency limit at
# 64 after the cache, an admin token in HS_TMP/token) reporting to it, and the real
# Prometheus scraping the exporter every second. Sets APP_URL, APP_PID, CONTROLLER, and
# what start_exporter and start_prometheus set; app_limit prints the limit in force and
# app_admin PATH JSON posts to the application's admin API.
require_tool prometheus curl /usr/bin/python3

APP=$HOMEOSTAT_BUILD_DIR/demo/homeostat-demo-app
CONTROLLER=$HOMEOSTAT_CONTROLLER
for b in "$APP" "$CONTROLLER"; do
    [[ -x $b ]] || {
        fail "not built: $b"
        finish
    }
done

start_exporter --statsd.mapping-config="$HOMEOSTAT_SOURCE_DIR/demo/statsd-mapping.yaml" \
    --collector.disable-defaults
[[ -n $EXPORTER_STATSD_ADDR ]] || {
    fail "the exporter has no StatsD listener"
    finish
}
umask 077
/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(16))' >"$HS_TMP/token"
umask 022
spawn "$HS_TMP/app.log" "$APP" --listen=127.0.0.1:0 --statsd="$EXPORTER_STATSD_ADDR" \
    --service=checkout --admin-token-file="$HS_TMP/token" --concurrency=64 --rate-limit=2000 \
    --cache-size=300 --cache-ttl=5s --backend-workers=4 --backend-latency=40ms --backend-timeout=5s
APP_PID=$HS_PID
APP_URL=$(wait_listening "$HS_TMP/app.log" "$APP_PID")
APP_URL=${APP_URL%/}
[[ -n $APP_URL ]] || {
    fail "the demo application did not start: $(tail -n 3 "$HS_TMP/app.log")"
    finish
}
cat >"$HS_TMP/prometheus.yml" <<PEOF
global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: exporter
    static_configs: [{targets: ['$EXPORTER_ADDR']}]
PEOF
start_prometheus "$HS_TMP/prometheus.yml" || finish

app_limit() { jstr "$(curl -sf --max-time 2 "$APP_URL/stats")" 'd["concurrency_limit"]'; }
app_admin() { # PATH JSON
    curl -sf --max-time 3 -X POST -H "Authorization: Bearer $(cat "$HS_TMP/token")" \
        -H 'Content-Type: application/json' -d "$2" "$APP_URL/admin/$1" >/dev/null
}
