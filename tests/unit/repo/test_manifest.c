/*
 * test_manifest.c - pgpitr.manifest.json: written and read by one module;
 * hostile entries (../ and absolute paths, control characters, bad volume
 * names, negative sizes, bad SHA-256) are left out and named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/mem.h"
#include "pgpitr/repo/manifest.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void write_parse__round_trip(void **state)
{
    const struct pitr_repo_mf_file files[] = {
        { "./global/pg_control", "data.tar.gz", 8192, SHA_A },
        { "PG_15_202209061/5/16390", "16385.tar.gz", 0, SHA_B },
    };
    const struct pitr_repo_mf_object objs[] = { { "data.tar.gz", 1234, SHA_A },
                                                { "16385.tar.gz", 99, SHA_B } };
    const struct pitr_repo_mf_tablespace tbs[] = { { 16385, "tbs1", "/srv/tbs" } };
    const char *const vols[] = { "data.tar.gz", "16385.tar.gz" };
    struct pitr_repo_manifest_out o = { 0 };
    struct pitr_repo_manifest m;
    struct pitr_err err = { 0 };
    char *text;

    (void)state;
    o.backup_id = "20260101T000000";
    o.begin_wal = "000000010000000000000002";
    o.end_wal = "000000010000000000000003";
    o.files = files;
    o.nfiles = 2;
    o.objects = objs;
    o.nobjects = 2;
    o.tablespaces = tbs;
    o.ntablespaces = 1;
    o.volumes = vols;
    o.nvolumes = 2;
    text = pitr_repo_manifest_write(&o);
    assert_non_null(text);
    assert_int_equal(pitr_repo_manifest_parse(text, strlen(text), &m, &err), PITR_OK);
    assert_int_equal(m.nproblems, 0);
    assert_string_equal(m.backup_id, "20260101T000000");
    assert_string_equal(m.end_wal, "000000010000000000000003");
    assert_int_equal(m.nfiles, 2);
    assert_string_equal(m.files[0].path, "global/pg_control"); /* "./" stripped */
    assert_int_equal(m.files[0].size, 8192);
    assert_true(m.has_objects);
    assert_int_equal(m.nobjects, 2);
    assert_int_equal(pitr_repo_manifest_object(&m, "16385.tar.gz")->size, 99);
    assert_null(pitr_repo_manifest_object(&m, "data_0001.tar.gz"));
    pitr_repo_manifest_release(&m);
    pitr_free(text);
}

static void parse__hostile_entries_left_out(void **state)
{
    static const char text[] =
      "{\"files\": ["
      "{\"path\": \"../../etc/shadow\", \"volume\": \"data.tar\", \"size\": 1, \"sha256\": \"" SHA_A
      "\"},"
      "{\"path\": \"/etc/shadow\", \"volume\": \"data.tar\", \"size\": 1, \"sha256\": \"" SHA_A
      "\"},"
      "{\"path\": \"base/\\u0001x\", \"volume\": \"data.tar\", \"size\": 1, \"sha256\": \"" SHA_A
      "\"},"
      "{\"path\": \"ok\", \"volume\": \"../data.tar\", \"size\": 1, \"sha256\": \"" SHA_A "\"},"
      "{\"path\": \"ok\", \"volume\": \"data.tar\", \"size\": -1, \"sha256\": \"" SHA_A "\"},"
      "{\"path\": \"ok\", \"volume\": \"data.tar\", \"size\": 1, \"sha256\": \"xyz\"},"
      "{\"path\": \"a/../../b\", \"volume\": \"data.tar\", \"size\": 1, \"sha256\": \"" SHA_A "\"},"
      "{\"path\": \"good\", \"volume\": \"data.tar\", \"size\": 1, \"sha256\": \"" SHA_A "\"}"
      "], \"objects\": ["
      "{\"name\": \"../x\", \"size\": 1},"
      "{\"name\": \"data.tar\", \"size\": 10, \"sha256\": \"" SHA_B "\"}"
      "]}";
    struct pitr_repo_manifest m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_repo_manifest_parse(text, strlen(text), &m, &err), PITR_OK);
    assert_int_equal(m.nfiles, 1);
    assert_string_equal(m.files[0].path, "good");
    assert_int_equal(m.nobjects, 1);
    assert_int_equal(m.nproblems, 8);
    assert_non_null(strstr(m.problems[0], "file entry 0: path is absolute, has a '..'"));
    assert_non_null(strstr(m.problems[3], "volume is not a volume name"));
    assert_non_null(strstr(m.problems[7], "object entry 0"));
    pitr_repo_manifest_release(&m);
}

static void parse__not_a_manifest(void **state)
{
    struct pitr_repo_manifest m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_repo_manifest_parse("[1]", 3, &m, &err), PITR_EFORMAT);
    pitr_repo_manifest_release(&m);
    assert_int_equal(pitr_repo_manifest_parse("{\"files\": 3}", 12, &m, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "files"));
    pitr_repo_manifest_release(&m);
    assert_int_equal(pitr_repo_manifest_parse("{", 1, &m, &err), PITR_EFORMAT);
    pitr_repo_manifest_release(&m);
}

static void safe_relpath__cases(void **state)
{
    (void)state;
    assert_true(pitr_repo_safe_relpath("base/1/1259"));
    assert_true(pitr_repo_safe_relpath("a..b/c"));
    assert_false(pitr_repo_safe_relpath(""));
    assert_false(pitr_repo_safe_relpath("/etc/passwd"));
    assert_false(pitr_repo_safe_relpath(".."));
    assert_false(pitr_repo_safe_relpath("a/../b"));
    assert_false(pitr_repo_safe_relpath("a/.."));
    assert_false(pitr_repo_safe_relpath("a\nb"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_parse__round_trip),
        cmocka_unit_test(parse__hostile_entries_left_out),
        cmocka_unit_test(parse__not_a_manifest),
        cmocka_unit_test(safe_relpath__cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
