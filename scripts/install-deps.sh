#!/bin/sh
# install-deps.sh: installs the Debian packages homeostat needs that are missing,
# with sudo when not root, and does nothing when everything is present.
# Usage: scripts/install-deps.sh [build|test|bench]   (each set includes the previous)
set -eu

set_name=${1:-test}
build_pkgs="gcc make cmake pkg-config libmicrohttpd-dev libyaml-dev libcurl4-openssl-dev
libjansson-dev libsystemd-dev zlib1g-dev libgnutls28-dev libcrypt-dev"
# The tests: Prometheus and promtool, Alertmanager and amtool, a private D-Bus with
# python3-dbusmock (Debian's /usr/bin/python3), groff and man for the man pages,
# systemd-analyze and polkitd for the units, dpkg-dev for the package, headless chromium
# for the status page, strace for fault injection, openssl (certificates) and apache2-utils
# (htpasswd: bcrypt hashes) for --web.config.file, the Python statsd client and
# prometheus_client's reference parsers for the ingest tests, a kubectl (Debian's
# kubernetes-client when none is installed), systemd-container (systemd-nspawn: the units
# under a real systemd as PID 1), VictoriaMetrics (another Prometheus-compatible API) and
# etcd (a three-member cluster under replicated controllers, etcdctl to see it healthy).
test_pkgs="prometheus curl python3 python3-yaml prometheus-alertmanager
dbus-daemon python3-dbusmock groff-base man-db systemd polkitd dpkg-dev procps chromium strace
openssl apache2-utils python3-statsd python3-prometheus-client systemd-container
victoria-metrics etcd-server etcd-client"
# make asan-test, make fuzz and the fuzz smoke run of make test: clang and its sanitizer and
# libFuzzer runtimes (libclang-rt-dev, only recommended by clang); make valgrind-test:
# valgrind.
test_pkgs="$test_pkgs clang libclang-rt-dev valgrind"
bench_pkgs="prometheus-node-exporter wrk"

case "$set_name" in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs" ;;
bench) want="$build_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "install-deps.sh: unknown package set '$set_name' (build, test or bench)" >&2; exit 2 ;;
esac

case "$set_name" in
test | bench)
    command -v kubectl >/dev/null 2>&1 || want="$want kubernetes-client"
    # Node.js and npm run the npm registry's DogStatsD client (tests/integration/exporter/clients);
    # a Node.js installed another way (NodeSource) is kept.
    command -v npm >/dev/null 2>&1 || want="$want nodejs npm"
    ;;
esac

missing=""
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps.sh: need root or sudo to install:$missing" >&2
    exit 1
fi
echo "install-deps.sh: installing:$missing" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
