#!/bin/sh
# tools/deb/build.sh BIN WORKDIR OUT_DEB BARMAN_NAME... - the Debian package of
# pgpitr (make deb), assembled by hand with dpkg-dev's tools, no debhelper:
#   /usr/bin/pgpitr                       BIN, stripped as dh_strip does
#   /usr/lib/pgpitr/barman-cloud/         barman-cloud-<NAME> -> ../../../bin/pgpitr
#   /usr/lib/barman-cloud/                where postinst's alternative barman-cloud-bin
#                                         puts the link bin -> that folder
#   /lib/systemd/system/                  the units of systemd/, ExecStart /usr/bin/pgpitr
#   /etc/pgpitr/pgpitr.conf.example       conffile
#   /usr/share/doc/pgpitr/                README.md (the units' page), manifests.md,
#                                         errors.md, examples/, copyright, changelog.Debian.gz
#   /usr/share/man/man1/pgpitr.1.gz       from tools/gen-manpage.sh and BIN's help
#   /usr/share/lintian/overrides/pgpitr   the tags we accept, each with its reason
# The version is the top entry of tools/deb/changelog; its upstream part must
# be the VERSION file's and BIN's. Depends comes from dpkg-shlibdeps. WORKDIR
# is emptied first; it gets the debian/ folder dpkg-shlibdeps and
# dpkg-gencontrol need, so nothing is written outside it but OUT_DEB.
set -eu

[ $# -ge 3 ] || { echo "usage: build.sh BIN WORKDIR OUT_DEB BARMAN_NAME..." >&2; exit 3; }
bin=$1 work=$2 out=$3
shift 3
src=$(cd "$(dirname "$0")/../.." && pwd)
deb=$src/tools/deb
die() { echo "make deb: $*" >&2; exit 1; }

debver=$(dpkg-parsechangelog -l "$deb/changelog" -SVersion)
upstream=${debver%-*}
[ "$upstream" = "$(cat "$src/VERSION")" ] ||
    die "tools/deb/changelog's top entry is $debver but VERSION is $(cat "$src/VERSION"): add a changelog entry"
binver=$("$bin" --version | awk 'NR == 1 { print $NF }')
[ "$binver" = "$upstream" ] || die "$bin --version says $binver, the package is $upstream"
# Reproducible: every date in the package is the changelog entry's.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$deb/changelog" -STimestamp)
export SOURCE_DATE_EPOCH

[ -n "$work" ] && [ "$work" != / ] || die "bad WORKDIR '$work'"
rm -rf "$work"
mkdir -p "$work/debian"
pkg=$work/debian/pgpitr
doc=$pkg/usr/share/doc/pgpitr
umask 022
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/pgpitr/barman-cloud" "$pkg/usr/lib/barman-cloud" \
    "$pkg/lib/systemd/system" "$pkg/etc/pgpitr" "$doc/examples" "$pkg/usr/share/man/man1"

install -m 0755 "$bin" "$pkg/usr/bin/pgpitr"
strip --remove-section=.comment --remove-section=.note "$pkg/usr/bin/pgpitr"

[ $# -gt 0 ] || die "no barman-cloud names given"
for n in "$@"; do
    ln -s ../../../bin/pgpitr "$pkg/usr/lib/pgpitr/barman-cloud/barman-cloud-$n"
done

for u in "$src"/systemd/*.service "$src"/systemd/*.timer; do
    sed -e 's|@BINDIR@|/usr/bin|g' -e 's|@DOCDIR@|/usr/share/doc/pgpitr|g' "$u" \
        >"$pkg/lib/systemd/system/${u##*/}"
done
# Every ExecStart must run the packaged binary.
bad=$(grep -h '^ExecStart=' "$pkg"/lib/systemd/system/* | grep -v '^ExecStart=/usr/bin/pgpitr ' || true)
[ -z "$bad" ] || die "a unit's ExecStart does not run /usr/bin/pgpitr: $bad"
! grep -l '@[A-Z]*DIR@' "$pkg"/lib/systemd/system/* || die "a unit has a placeholder left"

install -m 0644 "$deb/pgpitr.conf.example" "$pkg/etc/pgpitr/pgpitr.conf.example"
echo /etc/pgpitr/pgpitr.conf.example >"$pkg/DEBIAN/conffiles"

install -m 0644 "$src/systemd/README.md" "$doc/README.md"
install -m 0644 "$src/docs/manifests.md" "$doc/manifests.md"
install -m 0644 "$src/docs/errors.md" "$doc/errors.md"
gzip -9n "$doc/manifests.md"
install -m 0644 "$deb"/examples/*.yaml "$doc/examples/"
install -m 0644 "$deb/copyright" "$doc/copyright"
install -m 0644 "$deb/changelog" "$doc/changelog.Debian"
gzip -9n "$doc/changelog.Debian"

"$src/tools/gen-manpage.sh" "$pkg/usr/bin/pgpitr" >"$pkg/usr/share/man/man1/pgpitr.1"
gzip -9n "$pkg/usr/share/man/man1/pgpitr.1"
mkdir -p "$pkg/usr/share/lintian/overrides"
install -m 0644 "$deb/lintian-overrides" "$pkg/usr/share/lintian/overrides/pgpitr"

for s in postinst prerm postrm; do
    install -m 0755 "$deb/$s" "$pkg/DEBIAN/$s"
done

# Depends from the libraries the binary needs, then DEBIAN/control with
# Installed-Size.
cp "$deb/control" "$deb/changelog" "$work/debian/"
(cd "$work" && dpkg-shlibdeps -Tdebian/substvars debian/pgpitr/usr/bin/pgpitr &&
    dpkg-gencontrol -ppgpitr -Pdebian/pgpitr -Tdebian/substvars -fdebian/files)

# md5sums of every file but the conffiles (dpkg keeps their sums itself).
(cd "$pkg" && find usr lib -type f | LC_ALL=C sort | xargs md5sum) >"$pkg/DEBIAN/md5sums"

find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f -exec chmod 0644 {} +
chmod 0755 "$pkg/usr/bin/pgpitr" "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "make deb: $out ($debver, $(du -k "$out" | cut -f1) KiB)"
