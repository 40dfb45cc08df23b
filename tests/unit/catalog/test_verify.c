/*
 * test_verify.c - unit tests for src/catalog/verify.c: manifest objects
 * against stored ones, volume series, history files, and WAL continuity
 * over several timelines.
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
#include "pgpitr/catalog/catalog.h"
#include "pgpitr/catalog/verify.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define SEG ((uint32_t)16 * 1024 * 1024)

/* The problem about object (of any backup), or NULL. */
static const struct pitr_verify_problem *problem(const struct pitr_verify_report *r,
                                                 const char *object)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].object != NULL && strcmp(r->v[i].object, object) == 0)
            return &r->v[i];
    return NULL;
}

static void dump(const struct pitr_verify_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        print_message("  problem: %s %s: %s\n",
                      r->v[i].backup_id ? r->v[i].backup_id : "-",
                      r->v[i].object,
                      r->v[i].what);
}

static void expect_problem(const struct pitr_verify_report *r, const char *object, const char *part)
{
    const struct pitr_verify_problem *p = problem(r, object);

    if (p == NULL || strstr(p->what, part) == NULL) {
        dump(r);
        fail_msg("expected a problem '%s' about '%s'", part, object);
    }
}

static void expect_clean(const struct pitr_verify_report *r)
{
    if (r->n != 0) {
        dump(r);
        fail_msg("expected no problem, got %zu", r->n);
    }
}

static void report__same_object_once(void **state)
{
    struct pitr_verify_report r;

    (void)state;
    pitr_verify_report_init(&r);
    pitr_verify_report_add(&r, "b1", "data.tar.gz", "first %d", 1);
    pitr_verify_report_add(&r, "b1", "data.tar.gz", "second");
    pitr_verify_report_add(&r, "b2", "data.tar.gz", "other backup");
    pitr_verify_report_add(&r, NULL, "00000002.history", "no backup");
    assert_int_equal(r.n, 3);
    assert_string_equal(r.v[0].what, "first 1");
    assert_null(r.v[2].backup_id);
    pitr_verify_report_release(&r);
}

/* ---- objects ------------------------------------------------------------ */

static void objects__all_match(void **state)
{
    const struct pitr_verify_object rec[] = {
        { "16384.tar.gz", 100, "aa" },
        { "data.tar.gz", 2000, "bb" },
        { "data_0001.tar.gz", 30, "cc" },
    };
    const struct pitr_verify_object st[] = {
        { "backup.info", 900, NULL },        { "data.tar.gz", 2000, NULL },
        { "data_0001.tar.gz", 30, NULL },    { "16384.tar.gz", 100, NULL },
        { "pgpitr.manifest.json", 5, NULL },
    };
    struct pitr_verify_report r;

    (void)state;
    pitr_verify_report_init(&r);
    pitr_verify_objects(&r, "b", rec, 3, st, 5);
    expect_clean(&r);
    assert_int_equal(r.objects_checked, 3);
    pitr_verify_report_release(&r);
}

static void objects__missing_truncated_and_unrecorded(void **state)
{
    const struct pitr_verify_object rec[] = {
        { "data.tar.gz", 2000, "bb" },
        { "data_0001.tar.gz", 30, "cc" },
        { "16384.tar.gz", 100, "aa" },
    };
    const struct pitr_verify_object st[] = {
        { "data.tar.gz", 1999, NULL },
        { "16384.tar.gz", 100, NULL },
        { "data_0002.tar.gz", 7, NULL },
        { "annotations/keep", 4, NULL },
    };
    struct pitr_verify_report r;

    (void)state;
    pitr_verify_report_init(&r);
    pitr_verify_objects(&r, "b", rec, 3, st, 4);
    assert_int_equal(r.n, 3);
    expect_problem(
      &r, "data.tar.gz", "size mismatch: 1999 bytes stored, the manifest records 2000");
    expect_problem(&r, "data_0001.tar.gz", "missing");
    expect_problem(&r, "data_0002.tar.gz", "does not record");
    assert_string_equal(r.v[0].backup_id, "b");
    pitr_verify_report_release(&r);
}

/* ---- volumes ------------------------------------------------------------ */

struct vol_case {
    const char *what;
    const char *names[6];
    uint32_t oids[2];
    size_t noids;
    const char *object; /* expected problem's object, NULL: clean */
    const char *part;
};

static const struct vol_case vol_cases[] = {
    { "one data volume", { "data.tar.gz", "backup.info" }, { 0 }, 0, NULL, NULL },
    { "barman's uncompressed data and a tablespace",
      { "data.tar", "16385.tar", "backup.info" },
      { 16385 },
      1,
      NULL,
      NULL },
    { "split volumes",
      { "data.tar.zst", "data_0001.tar.zst", "data_0002.tar.zst" },
      { 0 },
      0,
      NULL,
      NULL },
    { "no data volume", { "16385.tar.gz", "backup.info" }, { 16385 }, 1, "data.tar", "no PGDATA" },
    { "a hole in the series",
      { "data.tar.gz", "data_0002.tar.gz" },
      { 0 },
      0,
      "data_0001.tar",
      "missing volume" },
    { "first volume missing",
      { "data_0001.tar.gz", "data_0002.tar.gz" },
      { 0 },
      0,
      "data.tar",
      "missing volume" },
    { "tablespace volume missing",
      { "data.tar.gz", "16385.tar.gz" },
      { 16385, 16390 },
      2,
      "16390.tar",
      "lists tablespace 16390" },
    { "volume of an unknown tablespace",
      { "data.tar.gz", "16400.tar.gz" },
      { 0 },
      0,
      "16400",
      "does not list" },
    { "not volumes: ignored",
      { "data.tar.gz", "data.tar.gz.tmp", "data_x.tar", "foo.tar" },
      { 0 },
      0,
      NULL,
      NULL },
};

static void volumes__table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vol_cases) / sizeof(vol_cases[0]); i++) {
        const struct vol_case *k = &vol_cases[i];
        struct pitr_verify_object st[6];
        struct pitr_verify_report r;
        size_t n = 0;

        for (; n < 6 && k->names[n] != NULL; n++) {
            st[n].name = k->names[n];
            st[n].size = 10;
            st[n].sha256 = NULL;
        }
        pitr_verify_report_init(&r);
        pitr_verify_volumes(&r, "b", st, n, k->oids, k->noids);
        print_message("case: %s\n", k->what);
        if (k->object == NULL) {
            expect_clean(&r);
        } else {
            expect_problem(&r, k->object, k->part);
            assert_int_equal(r.n, 1);
        }
        pitr_verify_report_release(&r);
    }
}

/* ---- history files ------------------------------------------------------- */

static void history__parse(void **state)
{
    const char text[] = "1\t0/5000060\tno recovery target specified\n"
                        "\n"
                        "# a comment\n"
                        "2\t1/7000000\tbefore 2024-03-01 12:00:00+00\n";
    struct pitr_verify_history h;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_verify_parse_history(text, strlen(text), 3, &h, &err), PITR_OK);
    assert_int_equal(h.tli, 3);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.v[0].tli, 1);
    assert_true(h.v[0].switch_lsn == 0x5000060);
    assert_int_equal(h.v[1].tli, 2);
    assert_true(h.v[1].switch_lsn == ((uint64_t)1 << 32 | 0x7000000));
    pitr_verify_history_release(&h);
}

static void history__malformed(void **state)
{
    static const char *bad[] = {
        "x\t0/5000060\treason\n",
        "1\t05000060\treason\n",
        "3\t0/5000060\tparent not below the timeline\n",
        "2\t0/1\ta\n1\t0/2\tnot ascending\n",
        "1\t0/zz\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pitr_verify_history h;
        struct pitr_err err = { 0 };

        assert_int_equal(pitr_verify_parse_history(bad[i], strlen(bad[i]), 3, &h, &err),
                         PITR_EFORMAT);
        assert_non_null(strstr(err.msg, "timeline 3: malformed line"));
        assert_null(h.v);
    }
}

/* ---- WAL continuity ------------------------------------------------------ */

struct archive {
    struct pitr_cat_wals w;
    struct pitr_verify_history h[4];
    size_t nh;
};

/* keys: WAL names with suffixes ("000000010000000000000001.gz", "00000002.history"). */
static void archive_init(struct archive *a, const char *const *names)
{
    memset(a, 0, sizeof(*a));
    a->w.seg_size = SEG;
    for (size_t i = 0; names[i] != NULL; i++) {
        char key[128];
        struct pitr_cat_wal e;

        if (strstr(names[i], ".history") != NULL)
            snprintf(key, sizeof(key), "srv/wals/%s", names[i]);
        else
            snprintf(key, sizeof(key), "srv/wals/%.16s/%s", names[i], names[i]);
        assert_int_equal(pitr_cat_wal_parse_key("srv/wals/", key, 100, SEG, &e), 1);
        e.key = pitr_strdup(key);
        a->w.v = pitr_realloc(a->w.v, (a->w.n + 1) * sizeof(*a->w.v));
        a->w.v[a->w.n++] = e;
    }
    qsort(a->w.v, a->w.n, sizeof(*a->w.v), pitr_cat_wal_order);
}

static void archive_history(struct archive *a, uint32_t tli, const char *text)
{
    struct pitr_err err = { 0 };

    assert_int_equal(pitr_verify_parse_history(text, strlen(text), tli, &a->h[a->nh++], &err),
                     PITR_OK);
}

static void archive_release(struct archive *a)
{
    pitr_cat_wals_release(&a->w);
    for (size_t i = 0; i < a->nh; i++)
        pitr_verify_history_release(&a->h[i]);
}

static void run_wal(struct archive *a,
                    struct pitr_verify_report *r,
                    const struct pitr_verify_start *b,
                    size_t nb)
{
    pitr_verify_report_init(r);
    pitr_verify_wal(r, &a->w, a->h, a->nh, b, nb);
}

static void wal__one_timeline_whole(void **state)
{
    static const char *const names[] = {
        "000000010000000000000001.gz",
        "000000010000000000000002.gz",
        "000000010000000000000002.00000028.backup.gz",
        "000000010000000000000003.gz",
        "000000010000000000000003.zst", /* same segment twice */
        "000000010000000000000004.gz",
        NULL,
    };
    const struct pitr_verify_start b[] = {
        { "b1", "000000010000000000000002", "000000010000000000000003" }
    };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    archive_init(&a, names);
    run_wal(&a, &r, b, 1);
    expect_clean(&r);
    assert_int_equal(r.wal_segments_checked, 3); /* 2, 3, 4 */
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__gaps_named(void **state)
{
    static const char *const names[] = {
        "000000010000000000000001", "000000010000000000000002", "000000010000000000000004",
        "000000010000000000000008", "000000010000000000000009", NULL,
    };
    const struct pitr_verify_start b[] = {
        { "b1", "000000010000000000000001", "000000010000000000000002" },
        { "b2", "000000010000000000000002", NULL },
    };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    archive_init(&a, names);
    run_wal(&a, &r, b, 2);
    expect_problem(&r, "000000010000000000000003", "segment missing");
    expect_problem(&r, "000000010000000000000005", "3 segments missing");
    expect_problem(&r, "000000010000000000000005", "000000010000000000000007");
    /* each gap once per backup that needs it */
    assert_int_equal(r.n, 4);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__partial_only_at_the_end(void **state)
{
    static const char *const names[] = {
        "000000010000000000000001",
        "000000010000000000000002.partial",
        "000000010000000000000003",
        "000000010000000000000004.partial",
        NULL,
    };
    const struct pitr_verify_start b[] = { { "b1", "000000010000000000000001", NULL } };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    archive_init(&a, names);
    run_wal(&a, &r, b, 1);
    expect_problem(&r, "000000010000000000000002", "segment missing");
    assert_int_equal(r.n, 1);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

/* Timeline 1 to 2 at segment 5, 2 to 3 at segment 7 (16 MiB segments). */
static const char *const three_tl[] = {
    "000000010000000000000002.gz",
    "000000010000000000000003.gz",
    "000000010000000000000004.gz",
    "000000010000000000000005.partial.gz",
    "00000002.history.gz",
    "000000020000000000000005.gz",
    "000000020000000000000006.gz",
    "000000020000000000000007.partial.gz",
    "00000003.history.gz",
    "000000030000000000000007.gz",
    "000000030000000000000008.gz",
    "000000030000000000000009.gz",
    NULL,
};

static void three_tl_histories(struct archive *a)
{
    archive_history(a, 2, "1\t0/5000060\tno recovery target specified\n");
    archive_history(a,
                    3,
                    "1\t0/5000060\tno recovery target specified\n"
                    "2\t0/70000D8\tno recovery target specified\n");
}

/* The three-timeline archive without the segments drop1 and drop2 (NULL: none). */
static void three_tl_without(struct archive *a, const char *drop1, const char *drop2)
{
    const char *names[16];
    size_t n = 0;

    for (size_t i = 0; three_tl[i] != NULL; i++)
        if ((drop1 == NULL || strncmp(three_tl[i], drop1, 24) != 0) &&
            (drop2 == NULL || strncmp(three_tl[i], drop2, 24) != 0))
            names[n++] = three_tl[i];
    names[n] = NULL;
    archive_init(a, names);
    three_tl_histories(a);
}

static void wal__three_timelines_whole(void **state)
{
    const struct pitr_verify_start b[] = {
        { "b1", "000000010000000000000002", "000000010000000000000003" },
        { "b2", "000000020000000000000006", "000000020000000000000006" },
        { "b3", "000000030000000000000008", "000000030000000000000009" },
    };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    three_tl_without(&a, NULL, NULL);
    run_wal(&a, &r, b, 3);
    expect_clean(&r);
    assert_true(r.wal_segments_checked >= 8);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__gap_on_a_later_timeline(void **state)
{
    const struct pitr_verify_start b[] = { { "b1", "000000010000000000000002", NULL } };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    three_tl_without(&a, "000000020000000000000006", "000000030000000000000008");
    run_wal(&a, &r, b, 1);
    /* reported once, for the first timeline whose way needs it */
    expect_problem(&r, "000000020000000000000006", "on the way to timeline 2");
    expect_problem(&r, "000000030000000000000008", "on the way to timeline 3");
    assert_int_equal(r.n, 2);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__gap_before_the_switch(void **state)
{
    const struct pitr_verify_start b[] = { { "b1", "000000010000000000000002", NULL } };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    three_tl_without(&a, "000000010000000000000004", NULL);
    run_wal(&a, &r, b, 1);
    /* needed on timeline 1 itself and on the way to 2 and 3: one problem per object */
    expect_problem(&r, "000000010000000000000004", "segment missing");
    assert_int_equal(r.n, 1);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__timeline_branched_before_the_backup(void **state)
{
    static const char *const names[] = {
        "000000010000000000000004", "000000010000000000000005",
        "000000010000000000000006", "00000002.history",
        "000000020000000000000003", /* gap at 4 on tl 2 */
        "000000020000000000000005", NULL,
    };
    const struct pitr_verify_start b[] = { { "b1", "000000010000000000000005", NULL } };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    archive_init(&a, names);
    archive_history(&a, 2, "1\t0/3000000\tbranched before b1 began\n");
    run_wal(&a, &r, b, 1);
    /* timeline 2 does not contain b1: its gap is not b1's problem */
    expect_clean(&r);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__missing_history_begin_and_end(void **state)
{
    static const char *const names[] = {
        "000000010000000000000003",
        "000000020000000000000004",
        NULL,
    };
    const struct pitr_verify_start b[] = {
        { "b1", "000000010000000000000001", NULL },
        { "b2", "000000010000000000000003", "000000010000000000000004" },
    };
    struct archive a;
    struct pitr_verify_report r;
    const struct pitr_verify_problem *p;

    (void)state;
    archive_init(&a, names);
    run_wal(&a, &r, b, 2);
    expect_problem(&r, "00000002.history", "no history file");
    p = problem(&r, "00000002.history");
    /* the archive's problem, not one backup's */
    assert_true(p != NULL && p->backup_id == NULL);
    expect_problem(&r, "000000010000000000000001", "segment"); /* b1: 1..2 missing */
    expect_problem(&r, "000000010000000000000004", "end_wal is not archived");
    assert_int_equal(r.n, 3);
    pitr_verify_report_release(&r);
    archive_release(&a);
}

static void wal__begin_not_archived(void **state)
{
    static const char *const names[] = { "000000010000000000000001", NULL };
    const struct pitr_verify_start b[] = { { "b1", "000000010000000000000007", NULL },
                                           { "b2", "not-a-wal-name", NULL } };
    struct archive a;
    struct pitr_verify_report r;

    (void)state;
    archive_init(&a, names);
    run_wal(&a, &r, b, 2);
    expect_problem(&r, "000000010000000000000007", "begin_wal is not archived");
    expect_problem(&r, "begin_wal", "malformed");
    pitr_verify_report_release(&r);
    archive_release(&a);
}

/* ---- the run over a local repository -------------------------------------- */

static void put_file(const char *root, const char *rel, const char *body)
{
    assert_int_equal(pitr_test_write_file(root, rel, body), 0);
}

#define INFO_KEYS                                                                                  \
    "begin_time=2024-01-01 00:00:00+00:00\nbegin_wal=000000010000000000000002\n"                   \
    "begin_xlog=0/2000028\nend_time=2024-01-01 00:01:00+00:00\nend_wal=000000010000000000000002\n" \
    "end_xlog=0/2000100\nsystemid=7000000000000000001\ntimeline=1\nversion=150005\n"               \
    "tablespaces=None\n"

struct repo {
    char root[64];
    struct pitr_storage *st;
};

static int repo_setup(void **state)
{
    struct repo *r = pitr_calloc(1, sizeof(*r));
    struct pitr_err err = { 0 };

    snprintf(r->root, sizeof(r->root), "/tmp/pgpitr-verify-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    assert_int_equal(pitr_storage_posix_new(r->root, &r->st, &err), PITR_OK);
    /* a DONE backup named nightly, whole */
    put_file(r->root,
             "srv/base/20240101T000000/backup.info",
             INFO_KEYS "backup_name=nightly\nstatus=DONE\n");
    put_file(r->root, "srv/base/20240101T000000/data.tar", "tar bytes");
    /* a FAILED one: skipped */
    put_file(r->root, "srv/base/20240102T000000/backup.info", INFO_KEYS "status=FAILED\n");
    /* a folder without backup.info */
    put_file(r->root, "srv/base/20240103T000000/data.tar", "tar bytes");
    put_file(r->root, "srv/wals/0000000100000000/000000010000000000000002", "w");
    put_file(r->root, "srv/wals/0000000100000000/000000010000000000000003", "w");
    *state = r;
    return 0;
}

static int repo_teardown(void **state)
{
    struct repo *r = *state;

    pitr_storage_free(r->st);
    pitr_test_rm_rf(r->root);
    pitr_free(r);
    return 0;
}

static void run__every_backup(void **state)
{
    struct repo *rp = *state;
    struct pitr_verify_opts o = { 0 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };

    assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_OK);
    assert_int_equal(r.backups_checked, 2);
    assert_int_equal(r.backups_skipped, 1);
    assert_int_equal(r.wal_segments_checked, 2);
    expect_problem(&r, "backup.info", "no backup.info");
    assert_string_equal(problem(&r, "backup.info") ? problem(&r, "backup.info")->backup_id : "",
                        "20240103T000000");
    assert_int_equal(r.n, 1);
    pitr_verify_report_release(&r);
}

static void run__one_backup_by_id_name_or_latest(void **state)
{
    static const char *const ids[] = { "20240101T000000", "nightly", "latest" };
    struct repo *rp = *state;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct pitr_verify_opts o = { ids[i], 0 };
        struct pitr_verify_report r;
        struct pitr_err err = { 0 };

        assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_OK);
        assert_int_equal(r.backups_checked, 1);
        expect_clean(&r);
        pitr_verify_report_release(&r);
    }
}

static void run__unknown_backup(void **state)
{
    struct repo *rp = *state;
    struct pitr_verify_opts o = { "20000101T000000", 0 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };

    assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "20000101T000000"));
    pitr_verify_report_release(&r);
}

static void run__backup_info_damage(void **state)
{
    struct repo *rp = *state;
    struct pitr_verify_opts o = { "20240101T000000", 0 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };

    /* end_wal gone, begin_wal on another timeline, a tablespace without volume */
    put_file(rp->root,
             "srv/base/20240101T000000/backup.info",
             "begin_time=2024-01-01 00:00:00+00:00\nbegin_wal=000000020000000000000002\n"
             "begin_xlog=0/2000028\nend_time=2024-01-01 00:01:00+00:00\nend_xlog=0/2000100\n"
             "systemid=7000000000000000001\ntimeline=1\nversion=150005\nstatus=DONE\n"
             "tablespaces=[('tbs', 16400, '/srv/tbs')]\n");
    assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_OK);
    expect_problem(&r, "backup.info:end_wal", "no value for 'end_wal'");
    expect_problem(&r, "backup.info:begin_wal", "not on the backup's timeline 1");
    expect_problem(&r, "16400.tar", "lists tablespace 16400");
    pitr_verify_report_release(&r);
    put_file(rp->root,
             "srv/base/20240101T000000/backup.info",
             INFO_KEYS "backup_name=nightly\nstatus=DONE\n");
}

/* The only backup.info is garbage, or cut short: a problem, never "OK". */
static void run__garbage_or_truncated_backup_info(void **state)
{
    static const char *const bodies[] = {
        "\x01\x02\x03 not a backup.info at all \xff\n",
        "begin_time=2024-01-01 00:00:00+00:00\nbegin_wal=0000000100000000000", /* cut */
        "",
    };
    struct repo *rp = *state;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct pitr_verify_opts o = { 0 };
        struct pitr_verify_report r;
        struct pitr_err err = { 0 };

        put_file(rp->root, "one/base/20240101T000000/backup.info", bodies[i]);
        put_file(rp->root, "one/base/20240101T000000/data.tar", "tar bytes");
        assert_int_equal(pitr_verify_run(rp->st, "one", &o, &r, &err), PITR_OK);
        assert_int_equal(r.backups_checked, 1);
        expect_problem(&r, "backup.info", "one/base/20240101T000000/backup.info' has no status");
        pitr_verify_report_release(&r);
    }
}

/*
 * One backup.info over the size limit: a problem naming it; the other
 * backups are still verified, listed and loadable (retention still refuses).
 */
static void run__oversized_backup_info_spares_the_others(void **state)
{
    struct repo *rp = *state;
    struct pitr_verify_opts o = { 0 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };
    struct pitr_cat_backup *v = NULL;
    size_t n = 0, bad = 0, big = (size_t)5 << 20;
    char *body = pitr_malloc(big + 1);

    memset(body, 'x', big);
    body[big] = '\0';
    memcpy(body, "status=DONE\ncomment=", 20);
    put_file(rp->root, "srv/base/20240102T000000/backup.info", body);
    assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_OK);
    expect_problem(&r, "backup.info", "srv/base/20240102T000000/backup.info");
    assert_int_equal(r.backups_checked, 3);
    pitr_verify_report_release(&r);
    assert_int_equal(pitr_cat_load_ex(rp->st, "srv", &v, &n, &bad, &err), PITR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "20240101T000000");
    assert_int_equal(bad, 1);
    pitr_cat_list_release(v, n);
    pitr_free(body);
}

/* verify --full reads every WAL segment and checks it is the segment named. */
static void run__full_checks_every_wal_segment(void **state)
{
    struct repo *rp = *state;
    struct pitr_verify_opts o = { "20240101T000000", 1 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };

    assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_OK);
    expect_problem(&r,
                   "000000010000000000000002",
                   "'srv/wals/0000000100000000/000000010000000000000002': WAL segment too short");
    expect_problem(&r, "000000010000000000000003", "too short");
    pitr_verify_report_release(&r);
    /* Without --full WAL files are not read. */
    o.full = 0;
    assert_int_equal(pitr_verify_run(rp->st, "srv", &o, &r, &err), PITR_OK);
    expect_clean(&r);
    pitr_verify_report_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report__same_object_once),
        cmocka_unit_test(objects__all_match),
        cmocka_unit_test(objects__missing_truncated_and_unrecorded),
        cmocka_unit_test(volumes__table),
        cmocka_unit_test(history__parse),
        cmocka_unit_test(history__malformed),
        cmocka_unit_test(wal__one_timeline_whole),
        cmocka_unit_test(wal__gaps_named),
        cmocka_unit_test(wal__partial_only_at_the_end),
        cmocka_unit_test(wal__three_timelines_whole),
        cmocka_unit_test(wal__gap_on_a_later_timeline),
        cmocka_unit_test(wal__gap_before_the_switch),
        cmocka_unit_test(wal__timeline_branched_before_the_backup),
        cmocka_unit_test(wal__missing_history_begin_and_end),
        cmocka_unit_test(wal__begin_not_archived),
        cmocka_unit_test_setup_teardown(run__every_backup, repo_setup, repo_teardown),
        cmocka_unit_test_setup_teardown(
          run__one_backup_by_id_name_or_latest, repo_setup, repo_teardown),
        cmocka_unit_test_setup_teardown(run__unknown_backup, repo_setup, repo_teardown),
        cmocka_unit_test_setup_teardown(run__backup_info_damage, repo_setup, repo_teardown),
        cmocka_unit_test_setup_teardown(
          run__garbage_or_truncated_backup_info, repo_setup, repo_teardown),
        cmocka_unit_test_setup_teardown(
          run__oversized_backup_info_spares_the_others, repo_setup, repo_teardown),
        cmocka_unit_test_setup_teardown(
          run__full_checks_every_wal_segment, repo_setup, repo_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
