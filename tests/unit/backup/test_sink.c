/*
 * test_sink.c - unit tests for src/backup/sink.c: the digest sink records
 * each committed object's name, stored size and SHA-256, passes every byte
 * to the storage sink under it, and records nothing for aborted objects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../support/tmpdir.h"
#include "pgpitr/backup/sink.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/storage/storage.h"

static void digest__records_committed_objects(void **state)
{
    char root[64] = "/tmp/pgpitr-sink-XXXXXX", hex[PITR_SHA256_HEX_LEN + 1], path[128];
    struct pitr_storage *st = NULL;
    struct pitr_sink *inner = NULL, *s = NULL;
    const struct pitr_sink_object *o;
    struct pitr_err err = { 0 };
    struct pitr_buf got;
    struct stat sb;
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(root));
    assert_int_equal(pitr_storage_posix_new(root, &st, &err), PITR_OK);
    assert_int_equal(pitr_sink_storage_new(st, 1 << 20, &inner, &err), PITR_OK);
    assert_int_equal(pitr_sink_digest_new(inner, &s, &err), PITR_OK);

    /* two writes make one object */
    assert_int_equal(pitr_sink_open(s, "srv/base/b1/data.tar.gz", &err), PITR_OK);
    assert_int_equal(pitr_sink_write(s, "hello ", 6, &err), PITR_OK);
    assert_int_equal(pitr_sink_write(s, "world", 5, &err), PITR_OK);
    assert_int_equal(pitr_sink_commit(s, &err), PITR_OK);
    /* an aborted object is neither stored nor recorded */
    assert_int_equal(pitr_sink_open(s, "srv/base/b1/data_0001.tar.gz", &err), PITR_OK);
    assert_int_equal(pitr_sink_write(s, "lost", 4, &err), PITR_OK);
    pitr_sink_abort(s);
    /* an empty object */
    assert_int_equal(pitr_sink_open(s, "srv/base/b1/16384.tar.gz", &err), PITR_OK);
    assert_int_equal(pitr_sink_commit(s, &err), PITR_OK);

    o = pitr_sink_digest_objects(s, &n);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].name, "data.tar.gz");
    assert_int_equal(o[0].size, 11);
    assert_int_equal(pitr_sha256_hex("hello world", 11, hex, &err), PITR_OK);
    assert_string_equal(o[0].sha256, hex);
    assert_string_equal(o[1].name, "16384.tar.gz");
    assert_int_equal(o[1].size, 0);
    assert_int_equal(pitr_sha256_hex("", 0, hex, &err), PITR_OK);
    assert_string_equal(o[1].sha256, hex);

    /* the bytes reached storage */
    pitr_buf_init(&got, 1024);
    assert_int_equal(pitr_storage_get(st, "srv/base/b1/data.tar.gz", &got, &err), PITR_OK);
    assert_int_equal(got.len, 11);
    assert_memory_equal(got.data, "hello world", 11);
    pitr_buf_release(&got);
    snprintf(path, sizeof(path), "%s/srv/base/b1/data_0001.tar.gz", root);
    assert_int_not_equal(stat(path, &sb), 0);

    pitr_sink_free(s); /* frees inner too */
    pitr_storage_free(st);
    pitr_test_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest__records_committed_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
