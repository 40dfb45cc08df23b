#!/bin/sh
# tools/deb/check.sh DEB BARMAN_NAME... - make check-deb: check the package
# tools/deb/build.sh made, in four steps, each line "ok - ..." or
# "not ok - ...", exit 1 when any check failed:
#  1. lintian: no error and no warning (the accepted tags are overridden in
#     tools/deb/lintian-overrides, each with its reason);
#  2. dpkg-deb -I / --contents: fields, Depends from the libraries, the
#     expected files with their modes and owners, maintainer scripts that
#     parse (sh -n), and no path that another installed package owns (so it
#     installs beside barman-cli-cloud, whose /usr/bin/barman-cloud-* stay);
#  3. dpkg -x into a scratch folder: the binary runs and is stripped and
#     hardened, every barman-cloud link runs pgpitr as that program, the
#     man page renders without a groff warning, md5sums match;
#  4. as root: dpkg -i, the installed files, the alternative and the units
#     (systemd-analyze verify), barman-cli-cloud untouched, then dpkg --purge
#     and nothing of it left. A pgpitr package (or /usr/bin/pgpitr) already
#     on the machine fails this step instead of being replaced.
# Step 4 is safe on a test machine that needs barman-cli-cloud: step 2 has
# shown that no path of the package belongs to another package, the package
# enables and starts nothing, its alternative is a folder outside /usr/bin,
# and barman-cli-cloud's files are compared before and after. A failure or an
# interruption while installed purges the package on exit.
set -u

deb=${1:?usage: check.sh DEB BARMAN_NAME...}
shift
names=$*
src=$(cd "$(dirname "$0")/../.." && pwd)
arch=$(dpkg --print-architecture)
upstream=$(cat "$src/VERSION")
failed=0
passed=0
t0=$(date +%s)
step() { echo "# $1 (at $(($(date +%s) - t0)) s)"; }
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { # DESCRIPTION COMMAND...: ok when the command succeeds
    d=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then ok "$d"; else not_ok "$d: $(tail -n 5 "$tmp/out")"; fi
}

tmp=$(mktemp -d)
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        echo "check-deb: purging the test install" >&2
        dpkg_locked --purge pgpitr >/dev/null 2>&1
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -f "$deb" ] || { echo "check-deb: no package $deb (make deb)" >&2; exit 1; }

# ---- 1. lintian --------------------------------------------------------------
step "lintian"
# --fail-on error,warning: info and pedantic tags are shown, do not fail.
# (--show-overrides would make the overridden tags fail too.)
if lintian --fail-on error,warning -I --pedantic "$deb" >"$tmp/lintian" 2>&1; then
    ok "lintian: no error or warning ($(grep -c '^pgpitr: ' "$src/tools/deb/lintian-overrides") tags overridden with a reason)"
else
    not_ok "lintian: $(grep -E '^[EW]:' "$tmp/lintian" | head -n 10)"
fi
grep -E '^[IP]:' "$tmp/lintian" | sed 's/^/# lintian /'

# ---- 2. fields and contents --------------------------------------------------
step "fields and contents"
root=$tmp/root
dpkg -x "$deb" "$root"
bin=$root/usr/bin/pgpitr
field() { dpkg-deb -f "$deb" "$1"; }
check "Package pgpitr" test "$(field Package)" = pgpitr
case $(field Version) in
    "$upstream"-*) ok "Version $(field Version) is VERSION $upstream plus a Debian revision" ;;
    *) not_ok "Version $(field Version) does not start with VERSION $upstream" ;;
esac
check "Architecture $arch" test "$(field Architecture)" = "$arch"
# Depends is dpkg-shlibdeps' answer: one Debian 12 package for each library.
dep=$(field Depends)
for p in libc6 libcurl4 libssl3 libpq5 libarchive13 libyaml-0-2 libsystemd0 zlib1g; do
    case ", $dep," in
        *", $p "* | *", $p,"*) ;;
        *) not_ok "Depends lacks $p: $dep"; continue ;;
    esac
done
lib_count=$(objdump -p "$bin" | grep -c NEEDED)
dep_count=$(echo "$dep" | tr ',' '\n' | grep -c .)
if [ "$dep_count" -ge 8 ] && [ "$dep_count" -le "$lib_count" ]; then
    ok "Depends: $dep_count packages for $lib_count shared libraries"
else
    not_ok "Depends: $dep_count packages for $lib_count shared libraries: $dep"
fi

dpkg-deb -e "$deb" "$tmp/control"
check "conffiles is /etc/pgpitr/pgpitr.conf.example" \
    test "$(cat "$tmp/control/conffiles")" = /etc/pgpitr/pgpitr.conf.example
for s in postinst prerm postrm; do
    if [ -x "$tmp/control/$s" ] && sh -n "$tmp/control/$s"; then
        ok "$s: executable, sh -n passes"
    else
        not_ok "$s: missing, not executable or not valid sh"
    fi
done

dpkg-deb --contents "$deb" >"$tmp/contents"
# mode owner path [-> target] of every entry, dates left out.
awk '{ t = ""; if ($7 == "->") t = " -> " $8; print $1, $2, $6 t }' "$tmp/contents" >"$tmp/entries"
want() { # MODE PATH [TARGET]
    line="$1 root/root ./$2${3:+ -> $3}"
    if grep -qxF -- "$line" "$tmp/entries"; then ok "contains $2${3:+ -> $3} ($1 root)"; else not_ok "no '$line' in the package"; fi
}
want -rwxr-xr-x usr/bin/pgpitr
for n in $names; do
    want lrwxrwxrwx "usr/lib/pgpitr/barman-cloud/barman-cloud-$n" ../../../bin/pgpitr
done
want drwxr-xr-x usr/lib/barman-cloud/
for u in "$src"/systemd/*.service "$src"/systemd/*.timer; do
    want -rw-r--r-- "lib/systemd/system/${u##*/}"
done
for f in etc/pgpitr/pgpitr.conf.example usr/share/man/man1/pgpitr.1.gz \
    usr/share/doc/pgpitr/copyright usr/share/doc/pgpitr/changelog.Debian.gz \
    usr/share/doc/pgpitr/README.md usr/share/doc/pgpitr/errors.md usr/share/doc/pgpitr/manifests.md.gz \
    usr/share/doc/pgpitr/examples/cluster.yaml \
    usr/share/doc/pgpitr/examples/s3-creds.yaml usr/share/lintian/overrides/pgpitr; do
    want -rw-r--r-- "$f"
done
check "every entry is owned by root/root" test -z "$(awk '$2 != "root/root"' "$tmp/entries")"
check "no entry is writable by group or others, none setuid" \
    test -z "$(awk '$1 !~ /^l/ && (substr($1, 6, 1) == "w" || substr($1, 9, 1) == "w" ||
                                   substr($1, 4, 1) ~ /[sS]/ || substr($1, 7, 1) ~ /[sS]/)' "$tmp/entries")"

# No path of ours may belong to another installed package (barman-cli-cloud's
# /usr/bin/barman-cloud-* in particular); dpkg -S answers for every path.
awk '$1 !~ /^d/ { sub(/^\./, "", $3); print $3 }' "$tmp/entries" >"$tmp/paths"
owners=$(xargs dpkg -S <"$tmp/paths" 2>/dev/null | grep -v '^pgpitr: ' || true)
check "no file clashes with an installed package ($(wc -l <"$tmp/paths") paths)" test -z "$owners"
case " $names " in
    *" backup "*) ;;
    *) not_ok "barman-cloud names given: '$names' lacks backup" ;;
esac
if grep -q '^-.* \./usr/bin/barman-cloud' "$tmp/entries" || grep -q ' \./usr/bin/barman-cloud' "$tmp/entries"; then
    not_ok "the package ships /usr/bin/barman-cloud-* (barman-cli-cloud's paths)"
else
    ok "no /usr/bin/barman-cloud-* in the package"
fi

# ---- 3. the unpacked copy ----------------------------------------------------
step "the unpacked copy"
check "the packaged pgpitr --version prints pgpitr $upstream" test "$("$bin" --version)" = "pgpitr $upstream"
check "the binary is stripped (no .symtab)" sh -c "! readelf -S '$bin' | grep -q '\\.symtab'"
check "the binary is hardened (relro, bindnow, fortify, stack protector)" sh -c \
    "readelf -lW '$bin' | grep -q GNU_RELRO && readelf -dW '$bin' | grep -Eq 'BIND_NOW|FLAGS.*NOW' &&
     readelf -sW --dyn-syms '$bin' | grep -q '__[a-z_]*_chk' &&
     readelf -sW --dyn-syms '$bin' | grep -q __stack_chk_fail"
for n in $names; do
    l=$root/usr/lib/pgpitr/barman-cloud/barman-cloud-$n
    check "barman-cloud-$n runs pgpitr as barman-cloud-$n (--version)" sh -c \
        "test \"\$(readlink -f '$l')\" = '$bin' && '$l' --version | grep -q '^barman-cloud-$n 3\\.'"
done
man=$root/usr/share/man/man1/pgpitr.1.gz
LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$man" >/dev/null 2>"$tmp/manwarn"
check "man page: groff and man print no warning" test ! -s "$tmp/manwarn"
LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$man" >"$tmp/man.txt" 2>&1
cmds=$("$bin" help | awk '/^commands:$/ { on = 1; next } on && /^$/ { exit }
    on && /^  [^ ]/ && $1 != "help" && $1 != "version" { print $1 }' | sort -u)
missing=""
for c in $cmds; do grep -q "^   $c\$" "$tmp/man.txt" || missing="$missing $c"; done
check "man -l renders every command of pgpitr help as a section ($(echo "$cmds" | wc -l))" test -z "$missing"
check "man page: NAME, SYNOPSIS, GLOBAL OPTIONS, FILES" sh -c \
    "grep -q '^NAME' '$tmp/man.txt' && grep -q '^SYNOPSIS' '$tmp/man.txt' &&
     grep -q '^GLOBAL OPTIONS' '$tmp/man.txt' && grep -q '^FILES' '$tmp/man.txt' &&
     grep -q -- '--repo' '$tmp/man.txt'"
mkdir -p "$root/DEBIAN" && cp "$tmp/control/md5sums" "$root/DEBIAN/"
check "md5sums: every file but the conffile, all matching" sh -c \
    "cd '$root' && md5sum -c --quiet DEBIAN/md5sums &&
     test \"\$(find usr lib -type f | wc -l)\" -eq \"\$(wc -l < DEBIAN/md5sums)\""
# The example config: every key it shows (commented out) is one pgpitr knows.
sed -E 's/^#([a-z][a-z0-9-]* = )/\1/' "$root/etc/pgpitr/pgpitr.conf.example" >"$tmp/example.conf"
chmod 600 "$tmp/example.conf"
mkdir -p "$tmp/repo"
check "pgpitr.conf.example: every key it shows is accepted" \
    "$bin" --config "$tmp/example.conf" --repo "file://$tmp/repo" --server x list

# ---- 4. install on this machine ----------------------------------------------
step "dpkg -i and --purge on this machine"
# dpkg_locked ARGS: dpkg, waiting up to 60 s for another dpkg or apt to finish.
dpkg_locked() {
    i=0
    while :; do
        dpkg "$@" 2>"$tmp/dpkg.err" && return 0
        grep -q 'lock' "$tmp/dpkg.err" && [ $i -lt 30 ] || { cat "$tmp/dpkg.err" >&2; return 1; }
        i=$((i + 1))
        sleep 2
    done
}
if [ "$(id -u)" -ne 0 ]; then
    not_ok "install test: needs root (dpkg -i and --purge)"
elif dpkg-query -W -f='${Status}' pgpitr 2>/dev/null | grep -q 'installed\|unpacked\|half'; then
    not_ok "install test: a pgpitr package is installed here already; not replacing it (dpkg --purge pgpitr first)"
elif [ -e /usr/bin/pgpitr ] || [ -e /usr/lib/barman-cloud ]; then
    not_ok "install test: /usr/bin/pgpitr or /usr/lib/barman-cloud exists (make install PREFIX=/usr?); not overwriting it"
else
    barman_before=$(md5sum /usr/bin/barman-cloud-* 2>/dev/null)
    [ -n "$barman_before" ] || not_ok "barman-cli-cloud is not installed: the side-by-side check needs it"
    installed=1
    if dpkg_locked -i "$deb" >"$tmp/install.log"; then
        ok "dpkg -i $(basename "$deb")"
    else
        not_ok "dpkg -i: $(tail -n 5 "$tmp/dpkg.err")"
    fi
    check "dpkg -V pgpitr: installed files match" sh -c 'test -z "$(dpkg -V pgpitr)"'
    check "/usr/bin/pgpitr --version" test "$(/usr/bin/pgpitr --version)" = "pgpitr $upstream"
    check "alternative barman-cloud-bin: /usr/lib/barman-cloud/bin -> /usr/lib/pgpitr/barman-cloud" sh -c \
        'update-alternatives --query barman-cloud-bin | grep -qx "Value: /usr/lib/pgpitr/barman-cloud" &&
         test "$(readlink -f /usr/lib/barman-cloud/bin)" = /usr/lib/pgpitr/barman-cloud'
    check "PATH=/usr/lib/barman-cloud/bin:...: barman-cloud-wal-archive is pgpitr" sh -c \
        'p=$(PATH=/usr/lib/barman-cloud/bin:$PATH command -v barman-cloud-wal-archive) &&
         test "$(readlink -f "$p")" = /usr/bin/pgpitr &&
         "$p" --version | grep -q "^barman-cloud-wal-archive 3\."'
    check "default PATH: barman-cloud-backup is still barman-cli-cloud's /usr/bin file, and runs" sh -c \
        'test "$(command -v barman-cloud-backup)" = /usr/bin/barman-cloud-backup &&
         test ! -L /usr/bin/barman-cloud-backup &&
         dpkg -S /usr/bin/barman-cloud-backup | grep -q "^barman-cli-cloud: " &&
         head -n 1 /usr/bin/barman-cloud-backup | grep -q python &&
         barman-cloud-backup --version | grep -q "^barman-cloud-backup 3\."'
    # The same version again: prerm upgrade / postinst configure, as an upgrade runs them.
    if dpkg_locked -i "$deb" >"$tmp/install.log"; then
        ok "dpkg -i again (upgrade path of prerm and postinst)"
    else
        not_ok "dpkg -i again: $(tail -n 5 "$tmp/dpkg.err")"
    fi
    check "after the reinstall: the alternative is still pgpitr's, one choice" sh -c \
        'update-alternatives --list barman-cloud-bin | grep -cx /usr/lib/pgpitr/barman-cloud | grep -qx 1 &&
         test "$(readlink -f /usr/lib/barman-cloud/bin)" = /usr/lib/pgpitr/barman-cloud'
    check "man -w pgpitr finds the installed page" test "$(man -w pgpitr)" = /usr/share/man/man1/pgpitr.1.gz
    check "systemd-analyze verify: the installed units and their ExecStart" env SYSTEMD_LOG_LEVEL=notice \
        systemd-analyze verify /lib/systemd/system/pgpitr-*.service /lib/systemd/system/pgpitr-*.timer
    if dpkg_locked --purge pgpitr >"$tmp/purge.log"; then
        installed=0
        ok "dpkg --purge pgpitr"
    else
        not_ok "dpkg --purge: $(tail -n 5 "$tmp/dpkg.err")"
    fi
    check "after purge: no /usr/bin/pgpitr, /usr/lib/pgpitr, /usr/lib/barman-cloud, /etc/pgpitr, units" sh -c \
        'for p in /usr/bin/pgpitr /usr/lib/pgpitr /usr/lib/barman-cloud /etc/pgpitr /lib/systemd/system/pgpitr-agent.service; do
             if [ -e "$p" ] || [ -L "$p" ]; then echo "$p is left"; exit 1; fi; done'
    check "after purge: no alternative barman-cloud-bin" sh -c '! update-alternatives --query barman-cloud-bin'
    check "barman-cli-cloud unchanged (same md5sums, dpkg --verify clean) and barman-cloud-backup --version runs" sh -c \
        "test \"\$(md5sum /usr/bin/barman-cloud-*)\" = \"$barman_before\" && test -z \"\$(dpkg --verify barman-cli-cloud)\" &&
         barman-cloud-backup --version | grep -q '^barman-cloud-backup 3\\.'"
fi

echo "check-deb: $passed passed, $failed failed in $(($(date +%s) - t0)) s"
[ "$failed" -eq 0 ]
