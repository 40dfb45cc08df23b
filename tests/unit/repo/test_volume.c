/*
 * test_volume.c - tar volume names: what the backup writes is what restore
 * and verify read, and nothing else is taken for a volume.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/mem.h"
#include "pgpitr/repo/volume.h"

static void name__round_trip(void **state)
{
    static const char *const sfx[] = { "", ".gz", ".bz2", ".snappy", ".xz", ".zst", ".lz4" };
    static const char *const streams[] = { "data", "16385" };
    static const unsigned idx[] = { 0, 1, 42, 9999 };

    (void)state;
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < 4; i++)
            for (size_t k = 0; k < sizeof(sfx) / sizeof(sfx[0]); k++) {
                char *n = pitr_volume_name(streams[s], idx[i], sfx[k]);
                char stream[PITR_VOLUME_STREAM_MAX];
                unsigned index = 12345;

                assert_non_null(n);
                assert_true(pitr_volume_parse(n, stream, &index));
                assert_string_equal(stream, streams[s]);
                assert_int_equal(index, idx[i]);
                pitr_free(n);
            }
}

static void name__examples(void **state)
{
    char *n;

    (void)state;
    n = pitr_volume_name("data", 0, ".gz");
    assert_string_equal(n, "data.tar.gz");
    pitr_free(n);
    n = pitr_volume_name("16385", 3, "");
    assert_string_equal(n, "16385_0003.tar");
    pitr_free(n);
    assert_null(pitr_volume_name("data", 10000, ".gz"));
    assert_null(pitr_volume_name("../x", 0, ".gz"));
    assert_null(pitr_volume_name("data", 0, ".rar"));
}

static void parse__refuses_others(void **state)
{
    static const char *const bad[] = {
        "backup.info",
        "pgpitr.manifest.json",
        "data.tar.rar",
        "data_1.tar",
        "data_0000.tar",
        "data_12345.tar",
        "base.tar",
        "../data.tar",
        "a/data.tar",
        "data.tar/x",
        ".tar",
        "data_.tar",
        "1a.tar",
        "data.tar.gz.gz",
        "",
    };
    char stream[PITR_VOLUME_STREAM_MAX];
    unsigned index;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(pitr_volume_parse(bad[i], stream, &index));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(name__round_trip),
        cmocka_unit_test(name__examples),
        cmocka_unit_test(parse__refuses_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
