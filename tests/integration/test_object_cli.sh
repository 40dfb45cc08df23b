#!/usr/bin/env bash
# object-put / object-get / object-delete through the command line: a 50 MB
# file streams into the repository (S3: a multipart upload with --jobs parts
# in flight) and back (parallel ranged GETs), byte for byte, from a file and
# from a pipe; delete removes it; TLS verification and its explicit opt-out.
# Run for each repository kind named in IT_REPO_KINDS (file, s3, s3tls).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

dir=$IT_TMP/object-cli
mkdir -p "$dir"
head -c 52428800 /dev/urandom >"$dir/in.bin"
want=$(sha256sum <"$dir/in.bin" | cut -d' ' -f1)

repo_args() {
    case $1 in
    file) echo "--repo file://$dir/repo" ;;
    s3) echo "--repo s3://$PITR_TEST_BUCKET/it-obj-$$ --endpoint-url $PITR_TEST_S3_ENDPOINT" ;;
    s3tls)
        echo "--repo s3://$PITR_TEST_BUCKET/it-obj-$$ --endpoint-url $PITR_TEST_S3_TLS_ENDPOINT" \
            "--ca-file $PITR_TEST_CA_FILE"
        ;;
    esac
}

for kind in $IT_REPO_KINDS; do
    echo "# repository kind: $kind"
    # shellcheck disable=SC2046
    set -- $(repo_args "$kind")
    rm -f "$dir/out.bin" "$dir/out2.bin"

    expect_exit "$kind: object-put of a 50 MB file" 0 \
        "$PGPITR_BIN" "$@" --jobs 4 --log-level info object-put "x/$kind.bin" "$dir/in.bin"
    expect_err_has "$kind: object-put prints a summary" "object-put 'x/$kind.bin': 52428800 bytes in"
    expect_exit "$kind: object-get into a file" 0 \
        "$PGPITR_BIN" "$@" --jobs 4 --log-level info object-get "x/$kind.bin" "$dir/out.bin"
    expect_err_has "$kind: object-get prints a summary" "MB/s"
    check "$kind: the file came back byte for byte" cmp -s "$dir/in.bin" "$dir/out.bin"

    # Through pipes: stdin of unknown length in, stdout out.
    if cat "$dir/in.bin" | "$PGPITR_BIN" "$@" --jobs 2 object-put "x/$kind-pipe.bin" - &&
        "$PGPITR_BIN" "$@" --jobs 3 object-get "x/$kind-pipe.bin" - >"$dir/out2.bin"; then
        got=$(sha256sum <"$dir/out2.bin" | cut -d' ' -f1)
        if [ "$got" = "$want" ]; then ok "$kind: stdin to stdout round trip"; else
            not_ok "$kind: stdin to stdout: sha256 $got, expected $want"
        fi
    else
        not_ok "$kind: stdin to stdout round trip failed"
    fi

    expect_exit "$kind: object-delete of two keys and a missing one" 0 \
        "$PGPITR_BIN" "$@" object-delete "x/$kind.bin" "x/$kind-pipe.bin" "x/never"
    expect_exit "$kind: a deleted key is not found" 1 \
        "$PGPITR_BIN" "$@" object-get "x/$kind.bin" "$dir/out3.bin"
    check "$kind: a failed get leaves no file" test ! -e "$dir/out3.bin"
    expect_exit "$kind: object-put of a missing file" 1 \
        "$PGPITR_BIN" "$@" object-put "x/nothing" "$dir/no-such-file"
    expect_exit "$kind: an absolute key is refused" 3 \
        "$PGPITR_BIN" "$@" object-put "/abs" "$dir/in.bin"
done

case " $IT_REPO_KINDS " in
*" s3tls "*)
    # Without the CA the certificate cannot be verified: exit 2, no retries.
    expect_exit "s3tls: no CA file fails verification" 2 \
        "$PGPITR_BIN" --repo "s3://$PITR_TEST_BUCKET/it-obj-$$" \
        --endpoint-url "$PITR_TEST_S3_TLS_ENDPOINT" object-put "x/tls" "$dir/in.bin"
    expect_err_has "s3tls: the message says why" "TLS certificate verification failed"
    # The explicit opt-out works, and warns.
    head -c 1000 /dev/urandom >"$dir/small.bin"
    expect_exit "s3tls: --insecure-skip-tls-verify connects without the CA" 0 \
        "$PGPITR_BIN" --repo "s3://$PITR_TEST_BUCKET/it-obj-$$" --insecure-skip-tls-verify \
        --endpoint-url "$PITR_TEST_S3_TLS_ENDPOINT" object-put "x/tls" "$dir/small.bin"
    expect_err_has "s3tls: the opt-out logs a warning" "WARN: TLS certificate verification is disabled"
    expect_exit "s3tls: PGPITR_INSECURE_SKIP_TLS_VERIFY=1 does the same" 0 \
        env PGPITR_INSECURE_SKIP_TLS_VERIFY=1 "$PGPITR_BIN" --repo "s3://$PITR_TEST_BUCKET/it-obj-$$" \
        --endpoint-url "$PITR_TEST_S3_TLS_ENDPOINT" object-delete "x/tls"
    expect_err_has "s3tls: the variable logs the warning too" "WARN: TLS certificate verification is disabled"
    ;;
esac

rm -rf "$dir"
finish
