/*
 * test_lookahead.c - unit tests for src/archive/lookahead.c: how a batch's
 * work is spread (worker threads, compression threads per job) and a batch
 * pushed to a posix repository in a mkdtemp folder with more .ready
 * segments than workers: every one stored, a marker for each look-ahead one
 * only, and the later call answered from its marker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "archive/push_int.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

#define SEG_SIZE ((size_t)1 << 20)
#define NSEG     7

/* ---- the split ------------------------------------------------------------ */

static void pitr_lookahead_workers__one_segment_or_one_job_is_one(void **state)
{
    (void)state;
    assert_int_equal(pitr_lookahead_workers(2, 1), 1);
    assert_int_equal(pitr_lookahead_workers(8, 0), 1);
    assert_int_equal(pitr_lookahead_workers(1, 9), 1);
    assert_int_equal(pitr_lookahead_workers(0, 9), 1);
}

static void pitr_lookahead_workers__two_per_job_at_most_n_and_64(void **state)
{
    (void)state;
    assert_int_equal(pitr_lookahead_workers(2, 9), 4);
    assert_int_equal(pitr_lookahead_workers(2, 3), 3);
    assert_int_equal(pitr_lookahead_workers(4, 65), 8);
    assert_int_equal(pitr_lookahead_workers(64, 65), 64);
    assert_int_equal(pitr_lookahead_workers(64, 1000), 64);
}

static void pitr_lookahead_job_threads__alone_uses_all(void **state)
{
    (void)state;
    assert_int_equal(pitr_lookahead_job_threads(2, 1, 0, 1), 2);
    assert_int_equal(pitr_lookahead_job_threads(4, 1, 0, 1), 4);
}

static void pitr_lookahead_job_threads__batch_one_each_but_the_last(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i + 1 < 9; i++)
        assert_int_equal(pitr_lookahead_job_threads(2, 9, i, 4), 1);
    assert_int_equal(pitr_lookahead_job_threads(2, 9, 8, 4), 2);
    /* One worker (jobs 1): one thread for every job, as before. */
    assert_int_equal(pitr_lookahead_job_threads(2, 9, 8, 1), 1);
}

/* ---- a batch ----------------------------------------------------------------- */

struct fx {
    char dir[64];
    char wal[128];
    struct pitr_config cfg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char path[256];

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-lookahead-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->wal, sizeof(f->wal), "%s/pg_wal", f->dir);
    snprintf(path, sizeof(path), "%s/pg_wal/archive_status", f->dir);
    if (mkdir(f->wal, 0700) != 0 || mkdir(path, 0700) != 0) {
        pitr_test_rm_rf(f->dir);
        free(f);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/repo", f->dir);
    if (mkdir(path, 0700) != 0) {
        pitr_test_rm_rf(f->dir);
        free(f);
        return -1;
    }
    pitr_config_init(&f->cfg);
    f->cfg.repo = pitr_asprintf("file://%s/repo", f->dir);
    f->cfg.server = pitr_strdup("pg1");
    pitr_log_set_level(PITR_LOG_ERROR);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_config_release(&f->cfg);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

static void seg_name(char *out, size_t n, int i)
{
    snprintf(out, n, "0000000100000000000000%02X", i);
}

/* A 1 MiB segment i (header says 1 MiB, page address of segment i) and its .ready. */
static void make_ready(struct fx *f, int i)
{
    unsigned char *p = calloc(1, SEG_SIZE);
    char name[32], path[256];
    uint64_t addr = (uint64_t)i * SEG_SIZE;
    size_t k;
    int fd;

    assert_non_null(p);
    for (k = 64; k < SEG_SIZE; k++)
        p[k] = (unsigned char)(k * 31 + (size_t)i);
    p[0] = 0x10; /* magic 0xD110 */
    p[1] = 0xD1;
    p[2] = 0x02; /* XLP_LONG_HEADER */
    p[4] = 0x01; /* timeline 1 */
    for (k = 0; k < 8; k++)
        p[8 + k] = (unsigned char)(addr >> (8 * k));
    p[34] = 0x10; /* segment size 1 MiB */
    p[37] = 0x20; /* block size 8192 */
    seg_name(name, sizeof(name), i);
    snprintf(path, sizeof(path), "%s/%s", f->wal, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, SEG_SIZE), (ssize_t)SEG_SIZE);
    assert_int_equal(close(fd), 0);
    snprintf(path, sizeof(path), "%s/archive_status/%s.ready", f->wal, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(close(fd), 0);
    free(p);
}

/* Is there a stored object of segment name, or a look-ahead marker for it? */
static int stored(struct fx *f, const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/repo/pg1/wals/0000000100000000/%s.gz", f->dir, name);
    return access(path, F_OK) == 0;
}

static int marked(struct fx *f, const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/pgpitr_spool/%s.ok", f->wal, name);
    return access(path, F_OK) == 0;
}

static void pitr_wal_push_batch__more_segments_than_workers_all_stored(void **state)
{
    struct fx *f = *state;
    struct pitr_push_batch_opts o;
    enum pitr_push_outcome outcome = PITR_PUSH_STORED;
    struct pitr_err err = { 0 };
    char name[32], path[256];
    int i;

    memset(&o, 0, sizeof(o));
    o.push.server = "pg1";
    o.push.codec = PITR_CODEC_GZIP;
    o.push.threads = 2;
    o.look_ahead = NSEG - 1;
    o.jobs = 2; /* 4 workers for 7 segments */
    for (i = 1; i <= NSEG; i++)
        make_ready(f, i);

    seg_name(name, sizeof(name), 1);
    snprintf(path, sizeof(path), "%s/%s", f->wal, name);
    assert_int_equal(pitr_wal_push_batch(&f->cfg, &o, path, &outcome, &err), PITR_OK);
    assert_int_equal(outcome, PITR_PUSH_STORED);
    for (i = 1; i <= NSEG; i++) {
        seg_name(name, sizeof(name), i);
        assert_true(stored(f, name));
        /* A marker for each look-ahead segment, none for the one asked for. */
        assert_int_equal(marked(f, name), i != 1);
    }

    /* The call for the last one is answered from its marker, which it consumes. */
    seg_name(name, sizeof(name), NSEG);
    snprintf(path, sizeof(path), "%s/%s", f->wal, name);
    assert_int_equal(pitr_wal_push_batch(&f->cfg, &o, path, &outcome, &err), PITR_OK);
    assert_int_equal(outcome, PITR_PUSH_SPOOLED);
    assert_false(marked(f, name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_lookahead_workers__one_segment_or_one_job_is_one),
        cmocka_unit_test(pitr_lookahead_workers__two_per_job_at_most_n_and_64),
        cmocka_unit_test(pitr_lookahead_job_threads__alone_uses_all),
        cmocka_unit_test(pitr_lookahead_job_threads__batch_one_each_but_the_last),
        cmocka_unit_test_setup_teardown(
          pitr_wal_push_batch__more_segments_than_workers_all_stored, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
