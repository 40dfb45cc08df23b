/*
 * test_variants.c - the stored forms of WAL files (src/archive/variants.c),
 * against a posix repository in a mkdtemp folder: the batch listing the
 * prefetch worker makes finds what listing each name alone finds.
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
#include "archive/variants.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "pgpitr/storage/storage.h"

struct fx {
    char dir[64];
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_err err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char url[128];

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-variants-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(url, sizeof(url), "file://%s", f->dir);
    pitr_config_init(&f->cfg);
    if (pitr_config_set(&f->cfg, "repo", url, &f->err) != PITR_OK ||
        pitr_config_set(&f->cfg, "server", "pg1", &f->err) != PITR_OK ||
        pitr_storage_open(&f->cfg, &f->st, &f->err) != PITR_OK) {
        pitr_test_rm_rf(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_storage_free(f->st);
    pitr_config_release(&f->cfg);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *key)
{
    assert_int_equal(pitr_storage_put(f->st, key, "x", 1, &f->err), PITR_OK);
}

#define D "pg1/wals/0000000100000002/"

static void find_many__one_listing_finds_each_names_forms(void **state)
{
    struct fx *f = *state;
    const char names[3][25] = { "0000000100000002000000FD",
                                "0000000100000002000000FE",
                                "0000000100000002000000FF" };
    struct wal_variants out[3];

    put(f, D "0000000100000002000000FD.gz");
    put(f, D "0000000100000002000000FD");
    put(f, D "0000000100000002000000FE.partial.zst");
    put(f, D "0000000100000002000000FEjunk");                     /* not a form of FE */
    put(f, D "0000000100000002000000FC.gz");                      /* not asked */
    put(f, "pg1/wals/0000000100000003/000000010000000300000000"); /* another folder */
    assert_int_equal(wal_variants_find_many(f->st, "pg1", names, 3, out, &f->err), PITR_OK);
    assert_int_equal(out[0].n, 2);
    assert_int_equal(out[1].n, 1);
    assert_int_equal(out[1].v[0].partial, 1);
    assert_int_equal(out[1].v[0].codec, PITR_CODEC_ZSTD);
    assert_string_equal(out[1].v[0].key, D "0000000100000002000000FE.partial.zst");
    assert_int_equal(out[2].n, 0); /* not archived: the caller lists it alone */
    for (int i = 0; i < 3; i++)
        wal_variants_release(&out[i]);
}

static void find_many__refuses_names_in_two_folders(void **state)
{
    struct fx *f = *state;
    const char names[2][25] = { "0000000100000002000000FF", "000000010000000300000000" };
    struct wal_variants out[2];

    assert_int_equal(wal_variants_find_many(f->st, "pg1", names, 2, out, &f->err), PITR_EUSAGE);
    assert_int_equal(out[0].n + out[1].n, 0);
}

static void find_many__stops_on_a_stuffed_folder(void **state)
{
    struct fx *f = *state;
    const char names[2][25] = { "000000010000000200000001", "000000010000000200000002" };
    struct wal_variants out[2];
    char key[128];

    put(f, D "000000010000000200000001.gz");
    for (int i = 0; i <= WAL_VARIANTS_LIST_MAX; i++) {
        snprintf(key, sizeof(key), D "00000001000000020000000x%d", i); /* under the common prefix */
        put(f, key);
    }
    assert_int_equal(wal_variants_find_many(f->st, "pg1", names, 2, out, &f->err), PITR_ELIMIT);
    assert_int_equal(out[0].n + out[1].n, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(find_many__one_listing_finds_each_names_forms),
        T(find_many__refuses_names_in_two_folders),
        T(find_many__stops_on_a_stuffed_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
