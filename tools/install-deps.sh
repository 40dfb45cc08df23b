#!/usr/bin/env bash
# Install the Debian 12 packages pgpitr needs to build, test and run its demo,
# skipping those already installed. Runs apt-get as root (or through sudo).
set -euo pipefail

BUILD_PKGS="gcc make pkg-config libcurl4-openssl-dev libssl-dev zlib1g-dev libdeflate-dev libexpat1-dev
  libzstd-dev liblz4-dev libbz2-dev liblzma-dev libsnappy-dev libpq-dev libarchive-dev
  libjansson-dev libyaml-dev libcmocka-dev libisal-dev libsystemd-dev libmicrohttpd-dev"
# tzdata: /usr/share/zoneinfo, read by src/sched/tz.c for CRON_TZ=/TZ= schedules.
RUN_PKGS="postgresql-15 postgresql-client-15 ca-certificates curl openssl tzdata"
# The test rig: OpenStack Swift with s3api as the signature-checking S3 server,
# stunnel for TLS in front of it, python3-boto3 for cross-checks and benchmarks,
# barman-cli-cloud for the cross-checks against barman-cloud (retention,
# check-wal-archive) and the barman-cloud backups the PITR matrix restores;
# systemd for systemd-analyze, which checks the units in systemd/ (no running
# systemd needed); clang and its libFuzzer runtime for make fuzz, the linters
# for make lint, isal (igzip) to cross-check the ISA-L gzip codec;
# python3-snappy (and python3-crcmod to mend its CRC-32C, tests/rig/pysnappy)
# for barman-cloud's --snappy (the interop matrix).
TEST_PKGS="swift swift-proxy swift-account swift-container swift-object python3-swiftclient
  stunnel4 python3 python3-boto3 xxd bzip2 zstd lz4 xz-utils barman-cli-cloud systemd
  clang libclang-rt-14-dev clang-format clang-tidy cppcheck isal python3-snappy python3-crcmod python3-croniter"
# make deb / check-deb (tools/deb): dpkg-shlibdeps, dpkg-gencontrol and
# dpkg-buildflags (dpkg-dev), lintian to check the package, man-db to render
# the generated man page (dpkg-deb --root-owner-group needs no fakeroot).
DEB_PKGS="dpkg-dev lintian man-db"
BENCH_PKGS="pgbackrest hyperfine time"

want="$BUILD_PKGS $RUN_PKGS $TEST_PKGS $DEB_PKGS"
[ "${1:-}" = "--bench" ] && want="$want $BENCH_PKGS"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The postgresql package starts a cluster on port 5432 where services run;
# the tests start their own servers and need nothing from it.
