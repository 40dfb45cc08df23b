#!/usr/bin/env bash
# payload-signing (issue 15) against real Swift s3api, no mocks:
#   a. over HTTPS, `--payload-signing unsigned` pushes sign UNSIGNED-PAYLOAD and
#      send Content-MD5; the segments come back byte for byte;
#   b. the store checks that Content-MD5: a PUT signed UNSIGNED-PAYLOAD whose
#      body was corrupted after the digest was taken is refused (400
#      BadDigest) and stores nothing; the same request with the right body is
#      stored (so the refusal is the digest's doing);
#   c. over plain HTTP the setting is ignored with a warning: the PUT carries
#      and signs the body's SHA-256;
#   d. the default (full) signs the SHA-256 over HTTPS too.
# The WAL segments are synthetic (a valid long page header, random bytes), so
# no PostgreSQL is needed. Well under a minute.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_BUCKET:?}" "${PITR_TEST_S3_TLS_ENDPOINT:?}"
command -v python3 >/dev/null || { not_ok "python3 is needed"; finish; exit 1; }

P=$PGPITR_BIN
w=$IT_TMP/s3payload
rm -rf "$w"
mkdir -p "$w/pg_wal"
PREFIX=it-payload-$$

# seg N: a 16 MiB segment N of timeline 1 (PostgreSQL 15 long page header), random after it.
seg() {
    local name
    name=$(printf '%08X%08X%08X' 1 0 "$1")
    python3 -c '
import os, struct, sys
n = int(sys.argv[1])
hdr = struct.pack("<HHIQIIQII", 0xD110, 0x0002, 1, n << 24, 0, 0, 7, 16 << 20, 8192)
sys.stdout.buffer.write(hdr + os.urandom((16 << 20) - len(hdr)))' "$1" >"$w/pg_wal/$name"
    echo "$w/pg_wal/$name"
}

tls() { echo --repo "s3://$PITR_TEST_BUCKET/$PREFIX-$1" --endpoint-url "$PITR_TEST_S3_TLS_ENDPOINT" \
    --ca-file "$PITR_TEST_CA_FILE" --server it --look-ahead 0; }
plain() { echo --repo "s3://$PITR_TEST_BUCKET/$PREFIX-$1" --endpoint-url "$PITR_TEST_S3_ENDPOINT" \
    --server it --look-ahead 0; }

# ---- a. unsigned over HTTPS
s1=$(seg 1)
# shellcheck disable=SC2046
expect_exit "a: wal-push --payload-signing unsigned over HTTPS" 0 \
    "$P" $(tls a) --payload-signing unsigned --log-level debug wal-push "$s1"
case "$T_ERR" in
*"s3 PUT "*"(unsigned+md5)"*) ok "a: the PUT's payload proof is unsigned+md5" ;;
*) not_ok "a: the PUT's payload proof is not unsigned+md5: $(echo "$T_ERR" | grep 's3 PUT')" ;;
esac
# shellcheck disable=SC2046
expect_exit "a: the same push again is identical (exit 0)" 0 \
    "$P" $(tls a) --payload-signing unsigned wal-push "$s1"
# shellcheck disable=SC2046
expect_exit "a: wal-fetch of the unsigned push" 0 "$P" $(tls a) wal-fetch "$(basename "$s1")" "$w/back1"
check "a: it came back byte for byte" cmp -s "$s1" "$w/back1"
# The environment variable does the same.
s2=$(seg 2)
# shellcheck disable=SC2046
expect_exit "a: PGPITR_PAYLOAD_SIGNING=unsigned" 0 \
    env PGPITR_PAYLOAD_SIGNING=unsigned "$P" $(tls a) --log-level debug wal-push "$s2"
case "$T_ERR" in
*"s3 PUT "*"(unsigned+md5)"*) ok "a: the environment variable is honoured" ;;
*) not_ok "a: PGPITR_PAYLOAD_SIGNING=unsigned was not used: $(echo "$T_ERR" | grep 's3 PUT')" ;;
esac

# ---- b. the store verifies Content-MD5 on an UNSIGNED-PAYLOAD PUT
# put_unsigned KEY MODE: PUT 4 MiB of random bytes to KEY over HTTPS, signed
# with UNSIGNED-PAYLOAD and the Content-MD5 of those bytes; MODE corrupt
# flips one byte of the body after the digest was taken. Prints the status
# and the S3 error code.
put_unsigned() {
    python3 - "$1" "$2" <<'PY'
import base64, datetime, hashlib, hmac, http.client, os, ssl, sys, urllib.parse
key, mode = sys.argv[1], sys.argv[2]
ep = urllib.parse.urlsplit(os.environ["PITR_TEST_S3_TLS_ENDPOINT"])
bucket, region = os.environ["PITR_TEST_BUCKET"], os.environ.get("AWS_REGION", "us-east-1")
ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
body = bytearray(os.urandom(4 << 20))
md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
if mode == "corrupt":
    body[len(body) // 2] ^= 0x01
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
path = "/%s/%s" % (bucket, urllib.parse.quote(key))
host = ep.netloc
hdrs = {"content-md5": md5, "host": host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": amz}
names = sorted(hdrs)
creq = "\n".join(["PUT", path, ""] + ["%s:%s" % (n, hdrs[n]) for n in names] +
                 ["", ";".join(names), "UNSIGNED-PAYLOAD"])
scope = "%s/%s/s3/aws4_request" % (day, region)
sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (day, region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
hdrs["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
    ak, scope, ";".join(names), sig)
ctx = ssl.create_default_context(cafile=os.environ["PITR_TEST_CA_FILE"])
c = http.client.HTTPSConnection(ep.hostname, ep.port, context=ctx, timeout=60)
c.request("PUT", path, body=bytes(body), headers=hdrs)
r = c.getresponse()
text = r.read().decode(errors="replace")
code = text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else "-"
print(r.status, code)
PY
}
got=$(put_unsigned "$PREFIX-b/corrupt.bin" corrupt 2>&1)
case "$got" in
"400 BadDigest") ok "b: a body that does not match its Content-MD5 is refused: $got" ;;
*) not_ok "b: a corrupted UNSIGNED-PAYLOAD body was not refused with 400 BadDigest: $got" ;;
esac
# shellcheck disable=SC2046
expect_exit "b: the refused object was not stored" 1 \
    "$P" --repo "s3://$PITR_TEST_BUCKET/$PREFIX-b" --endpoint-url "$PITR_TEST_S3_TLS_ENDPOINT" \
    --ca-file "$PITR_TEST_CA_FILE" object-get corrupt.bin "$w/corrupt.out"
got=$(put_unsigned "$PREFIX-b/intact.bin" intact 2>&1)
case "$got" in
"200 -") ok "b: the same request with the intact body is stored" ;;
*) not_ok "b: the intact UNSIGNED-PAYLOAD PUT failed: $got" ;;
esac

# ---- c. plain HTTP: ignored, with a warning; the SHA-256 is signed
s3=$(seg 3)
# shellcheck disable=SC2046
expect_exit "c: wal-push --payload-signing unsigned over plain HTTP" 0 \
    "$P" $(plain c) --payload-signing unsigned --log-level debug wal-push "$s3"
expect_err_has "c: the setting is said to be ignored" "payload-signing = unsigned is ignored"
case "$T_ERR" in
*"s3 PUT "*"(unsigned+md5)"*) not_ok "c: a plain-HTTP PUT was sent unsigned" ;;
*"s3 PUT "*"(sha256)"*) ok "c: over plain HTTP the PUT signs the payload's SHA-256" ;;
*) not_ok "c: no PUT timing line: $T_ERR" ;;
esac
# shellcheck disable=SC2046
expect_exit "c: wal-fetch of the plain-HTTP push" 0 "$P" $(plain c) wal-fetch "$(basename "$s3")" "$w/back3"
check "c: it came back byte for byte" cmp -s "$s3" "$w/back3"

# ---- d. the default over HTTPS is full
# shellcheck disable=SC2046
expect_exit "d: wal-push with the default over HTTPS" 0 "$P" $(tls d) --log-level debug wal-push "$s3"
case "$T_ERR" in
*"s3 PUT "*"(sha256)"*) ok "d: the default signs the payload's SHA-256" ;;
*) not_ok "d: the default PUT did not sign the SHA-256: $(echo "$T_ERR" | grep 's3 PUT')" ;;
esac

finish
