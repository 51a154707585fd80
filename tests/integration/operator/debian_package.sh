#!/usr/bin/env bash
# debian_package: the Debian package that CPack builds from the build directory
# (cpack -G DEB, output in the test's temporary directory), installed with dpkg into a
# scratch root.
#  - control: name, version from project(), architecture, section, priority, maintainer,
#    homepage, description; Depends names the package of every shared library the
#    binaries need (dpkg-shlibdeps); the maintainer scripts are executable; conffiles lists
#    exactly the files under /etc
#  - contents: the binaries, both units, the polkit rule, /etc/default/*, /etc/homeostat/
#    rules.yaml (= rules/default.yaml), every packaging/man page gzipped with -9n, every
#    rules/*.yaml, dashboards/*.json and alerts/*.yml under /usr/share/homeostat, copyright
#    and changelog.Debian.gz
#  - dpkg --root install: every file present, Conffiles registered, the installed binaries
#    print the project version, the installed rules file passes `check` and the shipped
#    rule tests pass, the man pages render without a groff warning, systemd-analyze verify
#    of the installed units
#  - the maintainer scripts never call systemctl, deb-systemd-helper or deb-systemd-invoke
#    when dpkg sets DPKG_ROOT (stand-ins first on PATH record calls); run directly without
#    DPKG_ROOT they enable both units through deb-systemd-helper (the stand-in)
#  - dpkg -r keeps the /etc files (a local change too) and removes the rest; dpkg -P removes
#    the conffiles and the controller's state directory inside the root
#  - the host is left as it was: the system's unit, /etc, polkit, binary and state places,
#    the host's dpkg database (no homeostat), the host's dpkg log, and no new file in the
#    build directory
#  - lintian's tags when lintian is installed (printed, not counted)
# About 10 s.
# shellcheck disable=SC2016 # bash -c scripts, literally
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool cpack dpkg dpkg-deb dpkg-shlibdeps gzip ldd readelf systemd-analyze

SRC=$HOMEOSTAT_SOURCE_DIR
BUILD=$HOMEOSTAT_BUILD_DIR
ARCH=$(dpkg --print-architecture)
VERSION=$(sed -n 's/^project(homeostat VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
UNIT_DIR=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
UNIT_DIR=${UNIT_DIR:-/lib/systemd/system}
HOST_DPKG_LOG=/var/log/dpkg.log

# ---- the host, before ---------------------------------------------------------------------
# snapshot FILE: name, type, size, mode and modification time of everything named
# *homeostat* where a package install or its maintainer scripts would put it (units,
# enablement links, /etc, binaries, polkit, man pages, docs, dpkg's and systemd's state),
# and the names in the build directory but ctest's Testing/ and make's CMakeFiles/
# bookkeeping (cpack runs the preinstall target, a make). Only *homeostat* names in system
# places, so that other software installed meanwhile does not count.
snapshot() {
    {
        find /etc /lib/systemd /usr/lib/systemd /usr/bin /usr/local /usr/share/polkit-1 \
            /usr/share/man /usr/share/doc /usr/share/homeostat /var/lib/dpkg/info \
            /var/lib/systemd /var/lib/private -xdev -name '*homeostat*' \
            -printf '%p %y %s %m %T@\n' 2>/dev/null || true # some places may not exist
        find /var/lib -maxdepth 1 -name '*homeostat*' -printf '%p %y %s %m %T@\n'
        find "$BUILD" \( -path "$BUILD/Testing" -o -name CMakeFiles \) -prune -o \
            -printf 'build %p %y\n'
    } | LC_ALL=C sort >"$1"
}
snapshot "$HS_TMP/host.before"
host_dpkg_log_size=$(stat -c %s "$HOST_DPKG_LOG" 2>/dev/null || echo 0)
host_had_package=$(dpkg-query -W -f='${Status}' homeostat 2>/dev/null || true)

# ---- build ------------------------------------------------------------------------------
if [[ ! -f $BUILD/CPackConfig.cmake ]]; then
    fail "$BUILD/CPackConfig.cmake is missing (configure the build directory with CMake)"
    finish
fi
mkdir -p "$HS_TMP/pkg"
# CPack installs the project through the build directory's cmake_install.cmake, which
# always writes install_manifest.txt there (as `make install` does): it is put back as it
# was afterwards.
manifest=$BUILD/install_manifest.txt
[[ -e $manifest ]] && cp -p "$manifest" "$HS_TMP/install_manifest.saved"
rc=0
(cd "$HS_TMP" && cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$HS_TMP/pkg") \
    >"$HS_TMP/cpack.log" 2>&1 || rc=$?
if [[ -e $HS_TMP/install_manifest.saved ]]; then
    cp -p "$HS_TMP/install_manifest.saved" "$manifest"
else
    rm -f "$manifest"
fi
check_eq "cpack -G DEB builds the package" 0 "$rc"
deb=$HS_TMP/pkg/homeostat_${VERSION}-1_${ARCH}.deb
if [[ ! -f $deb ]]; then
    fail "no $(basename "$deb") in $HS_TMP/pkg (DEB-DEFAULT file name); cpack said:"
    sed 's/^/    /' "$HS_TMP/cpack.log"
    finish
fi
pass "the package file has Debian's name: $(basename "$deb")"

# ---- control data -----------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
check_eq "Package" homeostat "$(field Package)"
check_eq "Version (project version $VERSION, Debian revision 1)" "$VERSION-1" "$(field Version)"
check_eq "Architecture" "$ARCH" "$(field Architecture)"
check_eq "Section" admin "$(field Section)"
check_eq "Priority" optional "$(field Priority)"
check "Maintainer is 'Name <address>' ($(field Maintainer))" \
    bash -c '[[ $1 =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]]' _ "$(field Maintainer)"
check "Homepage is a URL ($(field Homepage))" \
    bash -c '[[ $1 == https://* ]]' _ "$(field Homepage)"
description=$(field Description)
check "Description has a synopsis and an extended description" \
    test "$(wc -l <<<"$description")" -ge 3
check "... with no line over 80 columns" \
    bash -c '! awk "length > 80 { bad = 1 } END { exit !bad }" <<<"$1"' _ "$description"

# Every shared library the binaries link (DT_NEEDED) comes from a package that Depends
# names.
depends=$(field Depends)
say "Depends: $depends"
for bin in "$HOMEOSTAT_EXPORTER" "$HOMEOSTAT_CONTROLLER"; do
    needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    while read -r lib; do
        pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
            true)
        pkg=${pkg%%:*}
        if [[ -z $pkg ]]; then
            fail "$(basename "$bin") needs $lib, which no Debian package owns"
            continue
        fi
        check "Depends names $pkg (for $(basename "$lib") of $(basename "$bin"))" \
            bash -c '[[ ", $1," == *", $2 "* || ", $1," == *", $2,"* ]]' _ "$depends" "$pkg"
    done < <(ldd "$bin" | awk -v needed="$needed" '
        BEGIN { n = split(needed, list, "\n"); for (i = 1; i <= n; i++) want[list[i]] = 1 }
        $2 == "=>" && $3 ~ /^\// && ($1 in want) { print $3 }' | sort -u)
done

ctl=$HS_TMP/control
dpkg-deb -e "$deb" "$ctl"
for script in postinst prerm postrm; do
    check "maintainer script $script is in the package and executable" test -x "$ctl/$script"
done
dpkg-deb -c "$deb" | awk '{ print $1, $NF }' | sed 's| \./| /|' >"$HS_TMP/contents"
awk '$1 ~ /^-/ && $2 ~ /^\/etc\// { print $2 }' "$HS_TMP/contents" | LC_ALL=C sort \
    >"$HS_TMP/etc-files"
LC_ALL=C sort "$ctl/conffiles" >"$HS_TMP/conffiles"
check "conffiles lists exactly the files under /etc ($(tr '\n' ' ' <"$HS_TMP/etc-files"))" \
    cmp -s "$HS_TMP/etc-files" "$HS_TMP/conffiles"
check "... which are the two /etc/default files and /etc/homeostat/rules.yaml" \
    test "$(tr '\n' ' ' <"$HS_TMP/conffiles")" = \
    "/etc/default/homeostat-controller /etc/default/homeostat-exporter /etc/homeostat/rules.yaml "

# ---- contents ---------------------------------------------------------------------------
# expected: "PACKAGE-PATH SOURCE-FILE" (SOURCE-FILE '-' when only its presence is checked;
# a .gz is compared with its source after decompression).
{
    echo "/usr/bin/homeostat-exporter -"
    echo "/usr/bin/homeostat-controller -"
    for name in exporter controller; do
        echo "$UNIT_DIR/homeostat-$name.service $SRC/packaging/systemd/homeostat-$name.service"
        echo "/etc/default/homeostat-$name $SRC/packaging/default/homeostat-$name"
    done
    for unit in homeostat-report.service homeostat-report.timer; do
        echo "$UNIT_DIR/$unit $SRC/packaging/systemd/$unit"
    done
    echo "/usr/share/polkit-1/rules.d/50-homeostat-controller.rules" \
        "$SRC/packaging/polkit/50-homeostat-controller.rules"
    echo "$(pkg-config --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)/homeostat-controller.conf" \
        "$SRC/packaging/sysusers/homeostat-controller.conf"
    echo "/etc/homeostat/rules.yaml $SRC/rules/default.yaml"
    for page in "$SRC"/packaging/man/*.[1-8]; do
        [[ -e $page ]] || continue
        name=$(basename "$page")
        echo "/usr/share/man/man${name##*.}/$name.gz $page"
    done
    for f in "$SRC"/rules/*.yaml; do echo "/usr/share/homeostat/rules/$(basename "$f") $f"; done
    for f in "$SRC"/dashboards/*.json; do
        [[ -e $f ]] && echo "/usr/share/homeostat/dashboards/$(basename "$f") $f"
    done
    for f in "$SRC"/alerts/*.yml; do
        [[ -e $f ]] && echo "/usr/share/homeostat/alerts/$(basename "$f") $f"
    done
    echo "/usr/share/homeostat/web-config.yml $SRC/packaging/web-config.yml"
    echo "/usr/share/doc/homeostat/copyright $SRC/packaging/deb/copyright"
    echo "/usr/share/doc/homeostat/changelog.Debian.gz -"
} >"$HS_TMP/expected"
check "the man pages include homeostat-exporter(1), homeostat-controller(1), homeostat-rules(5)" \
    bash -c 'for p in man1/homeostat-exporter.1 man1/homeostat-controller.1 \
        man5/homeostat-rules.5; do grep -q "^/usr/share/man/$p.gz " "$1" || exit 1; done' \
    _ "$HS_TMP/expected"
missing=()
while read -r path _; do
    grep -qxF -- "- $path" <<<"$(awk '{ print substr($1, 1, 1), $2 }' "$HS_TMP/contents")" ||
        missing+=("$path")
done <"$HS_TMP/expected"
check_eq "the package holds all $(wc -l <"$HS_TMP/expected") expected files" "" "${missing[*]}"

# ---- install into a scratch root ------------------------------------------------------------
R=$HS_TMP/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
# Stand-ins for what the maintainer scripts may call on a host: they only record calls.
fake=$HS_TMP/fakebin
mkdir -p "$fake"
calls=$HS_TMP/calls
: >"$calls"
for t in systemctl deb-systemd-helper deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\nexit 0\n' "$t" "$calls" >"$fake/$t"
    chmod 755 "$fake/$t"
done
# The host's dpkg log is named in /etc/dpkg/dpkg.cfg; --log keeps this test's out of it.
dpkg_root() {
    local force=(--force-script-chrootless --force-depends)
    [[ $(id -u) == 0 ]] || force+=(--force-not-root)
    PATH=$fake:$PATH dpkg --root="$R" --log="$HS_TMP/dpkg.log" "${force[@]}" "$@"
}
rc=0
dpkg_root -i "$deb" >"$HS_TMP/dpkg-install.log" 2>&1 || rc=$?
check_eq "dpkg --root -i installs the package into the scratch root" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$HS_TMP/dpkg-install.log"
check "dpkg --root -s: install ok installed" \
    bash -c 'dpkg --root="$1" -s homeostat | grep -qx "Status: install ok installed"' _ "$R"

missing=()
while read -r type path; do
    case $type in
    d*) [[ -d $R$path ]] || missing+=("$path") ;;
    -*) [[ -f $R$path ]] || missing+=("$path") ;;
    esac
done <"$HS_TMP/contents"
check_eq "every file and directory of the package is in the root ($(wc -l <"$HS_TMP/contents"))" \
    "" "${missing[*]}"
differ=()
while read -r path source; do
    [[ $source == - ]] && continue
    if [[ $path == *.gz ]]; then
        gzip -dc "$R$path" | cmp -s - "$source" || differ+=("$path")
    else
        cmp -s "$R$path" "$source" || differ+=("$path")
    fi
done <"$HS_TMP/expected"
check_eq "installed files equal their sources" "" "${differ[*]}"
dpkg --root="$R" -s homeostat | sed -n '/^Conffiles:/,/^[^ ]/p' | awk '/^ / { print $1 }' |
    LC_ALL=C sort >"$HS_TMP/registered"
check "dpkg registers the /etc files as Conffiles" cmp -s "$HS_TMP/conffiles" "$HS_TMP/registered"

for name in exporter controller; do
    text=$("$R/usr/bin/homeostat-$name" --version 2>&1 || true)
    check "the installed homeostat-$name --version prints $VERSION ($text)" \
        bash -c '[[ $1 == *" version $2"* ]]' _ "$text" "$VERSION"
done
rc=0
text=$("$R/usr/bin/homeostat-controller" check "$R/etc/homeostat/rules.yaml" 2>&1) || rc=$?
check_eq "the installed rules file passes 'homeostat-controller check'" 0 "$rc"
((rc == 0)) || printf '%s\n' "$text" | sed 's/^/    /'
shopt -s nullglob
rule_tests=("$R"/usr/share/homeostat/rules/*_test.yaml)
shopt -u nullglob
if ((${#rule_tests[@]})); then
    rc=0
    text=$("$R/usr/bin/homeostat-controller" test "${rule_tests[@]}" 2>&1) || rc=$?
    check_eq "the shipped rule tests pass against the shipped rules (${#rule_tests[@]} files)" \
        0 "$rc"
    ((rc == 0)) || printf '%s\n' "$text" | sed 's/^/    /'
else
    fail "no rule tests in /usr/share/homeostat/rules"
fi

# Man pages: gzip without a name or a time stamp (gzip -n), rendered without a warning.
for gz in "$R"/usr/share/man/man*/*.gz; do
    name=${gz#"$R"}
    read -r flags mtime < <(od -An -tu1 -j3 -N5 "$gz" |
        awk '{ print $1, $2 + $3 + $4 + $5 }')
    check "$name: gzip -n (no file name, no time stamp in the header)" \
        test "$((flags & 8))" = 0 -a "$mtime" = 0
    if command -v man >/dev/null 2>&1; then
        rc=0
        MANWIDTH=80 man --warnings -E UTF-8 -l "$gz" >"$HS_TMP/man.out" 2>"$HS_TMP/man.err" ||
            rc=$?
    else
        require_tool groff
        rc=0
        gzip -dc "$gz" | groff -man -Tutf8 -ww >"$HS_TMP/man.out" 2>"$HS_TMP/man.err" || rc=$?
    fi
    check "... renders (status $rc, $(wc -l <"$HS_TMP/man.out") lines)" \
        test "$rc" = 0 -a -s "$HS_TMP/man.out"
    check_eq "... without a warning" "" "$(cat "$HS_TMP/man.err")"
done

# systemd-analyze verify of the installed units, in a copy of the root that also holds
# /bin/kill (ExecReload=) and the host's targets and slices (the units' dependencies).
vroot=$HS_TMP/verify-root
cp -a "$R" "$vroot"
mkdir -p "$vroot/bin" "$vroot$UNIT_DIR"
cp /bin/kill "$vroot/bin/kill"
cp "$UNIT_DIR"/*.target "$UNIT_DIR"/*.slice "$vroot$UNIT_DIR/" 2>/dev/null || true
rc=0
text=$(systemd-analyze verify --root="$vroot" --man=no homeostat-exporter.service \
    homeostat-controller.service homeostat-report.service homeostat-report.timer 2>&1) || rc=$?
check_eq "systemd-analyze verify --root accepts the installed units" 0 "$rc"
check_eq "... without a warning" "" "$text"

# ---- maintainer scripts -----------------------------------------------------------------------
check_eq "with DPKG_ROOT set, the maintainer scripts called no systemd tool" "" "$(cat "$calls")"
# Run directly, without DPKG_ROOT, as on a host: only the stand-ins may run, so the scripts
# must call the tools by name (PATH), never by an absolute path.
if grep -nE '/(usr/)?s?bin/(systemctl|deb-systemd-)' "$ctl"/postinst "$ctl"/prerm "$ctl"/postrm; then
    fail "a maintainer script calls a systemd tool by absolute path; not run on the host"
else
    rc=0
    env -u DPKG_ROOT PATH="$fake:$PATH" sh "$ctl/postinst" configure "" >/dev/null 2>&1 || rc=$?
    check_eq "postinst configure, run as on a host, succeeds" 0 "$rc"
    for unit in homeostat-exporter.service homeostat-controller.service; do
        check "... and enables $unit through deb-systemd-helper" \
            grep -qx "deb-systemd-helper enable $unit" "$calls"
    done
    check "... but neither enables nor starts the report timer (an example)" \
        bash -c '! grep -q homeostat-report "$1"' _ "$calls"
    if [[ -d /run/systemd/system ]]; then
        check "... and starts both (systemd runs here)" grep -qx \
            'deb-systemd-invoke start homeostat-exporter.service homeostat-controller.service' \
            "$calls"
    else
        check "... and calls neither systemctl nor deb-systemd-invoke (systemd does not run here)" \
            bash -c '! grep -qE "^(systemctl|deb-systemd-invoke) " "$1"' _ "$calls"
    fi
    : >"$calls"
    rc=0
    env -u DPKG_ROOT PATH="$fake:$PATH" sh "$ctl/prerm" remove >/dev/null 2>&1 || rc=$?
    env -u DPKG_ROOT PATH="$fake:$PATH" sh "$ctl/postrm" remove >/dev/null 2>&1 || rc=$?
    check_eq "prerm and postrm remove, run as on a host, succeed" 0 "$rc"
    check "... and postrm masks both units through deb-systemd-helper" grep -qx \
        'deb-systemd-helper mask homeostat-exporter.service homeostat-controller.service' "$calls"
    : >"$calls"
fi

# ---- remove and purge ------------------------------------------------------------------------
echo 'ARGS="--log.level=debug" # a local change' >>"$R/etc/default/homeostat-exporter"
cp "$R/etc/default/homeostat-exporter" "$HS_TMP/changed-conffile"
rc=0
dpkg_root -r homeostat >"$HS_TMP/dpkg-remove.log" 2>&1 || rc=$?
check_eq "dpkg --root -r removes the package" 0 "$rc"
check "... status deinstall ok config-files" \
    bash -c 'dpkg --root="$1" -s homeostat | grep -qx "Status: deinstall ok config-files"' _ "$R"
left=()
while read -r type path; do
    [[ $type == -* && $path != /etc/* && -e $R$path ]] && left+=("$path")
done <"$HS_TMP/contents"
check_eq "... every file outside /etc is gone" "" "${left[*]}"
left=()
while read -r path; do [[ -f $R$path ]] || left+=("$path"); done <"$HS_TMP/conffiles"
check_eq "... every conffile is kept" "" "${left[*]}"
check "... the changed one with its change" cmp -s "$HS_TMP/changed-conffile" \
    "$R/etc/default/homeostat-exporter"

# The controller's state as systemd keeps it for a DynamicUser, inside the root.
mkdir -p "$R/var/lib/private/homeostat-controller"
echo '{}' >"$R/var/lib/private/homeostat-controller/state.json"
ln -s private/homeostat-controller "$R/var/lib/homeostat-controller"
rc=0
dpkg_root -P homeostat >"$HS_TMP/dpkg-purge.log" 2>&1 || rc=$?
check_eq "dpkg --root -P purges the package" 0 "$rc"
check "... which dpkg no longer knows" \
    bash -c '! dpkg --root="$1" -s homeostat >/dev/null 2>&1' _ "$R"
left=()
while read -r path; do [[ -e $R$path ]] && left+=("$path"); done <"$HS_TMP/conffiles"
check_eq "... the conffiles are gone" "" "${left[*]}"
check "... and the controller's state directory in the root (postrm ran with DPKG_ROOT)" \
    bash -c '[[ ! -e $1/var/lib/private/homeostat-controller && ! -L $1/var/lib/homeostat-controller ]]' \
    _ "$R"
leftovers=$(cd "$R" && find . -path ./var/lib/dpkg -prune -o \( -type f -o -type l \) -print)
check_eq "... nothing of the package is left in the root" "" "$leftovers"
check_eq "... and no systemd tool was called (DPKG_ROOT set)" "" "$(cat "$calls")"

# ---- lintian (informative) --------------------------------------------------------------------
if command -v lintian >/dev/null 2>&1; then
    say "lintian tags (not counted):"
    lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'root privileges' | sed 's/^/    /' || true
else
    say "lintian is not installed; its tags were not looked at"
fi

# ---- the host, after --------------------------------------------------------------------------
snapshot "$HS_TMP/host.after"
changes=$(diff "$HS_TMP/host.before" "$HS_TMP/host.after" || true)
check_eq "nothing changed on the host outside $HS_TMP (system places, build directory)" "" \
    "$changes"
check_eq "... the host's dpkg database has the same homeostat status as before" \
    "$host_had_package" "$(dpkg-query -W -f='${Status}' homeostat 2>/dev/null || true)"
check "... and the host's dpkg log has no homeostat line from this test" \
    bash -c '! tail -c +"$(($2 + 1))" "$1" 2>/dev/null | grep -q homeostat' _ \
    "$HOST_DPKG_LOG" "$host_dpkg_log_size"

finish
