/*
 * test_prefetch.c - unit tests for src/archive/prefetch.c and spool.c:
 * wal-fetch answered from the prefetch spool, against a posix repository
 * in a mkdtemp folder. The worker runs inside the call (detach = 0), so
 * every test sees the spool after the worker finished.
 *
 * Segments are synthetic: a long page header with the segment size and the
 * page address of the segment's name, then bytes from a seed.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../support/logcap.h"
#include "../support/tmpdir.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/archive/prefetch.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"
#include "pgpitr/wal/wal.h"

#define MIB ((uint32_t)1 << 20)

struct fx {
    char dir[64];
    char repo[128];
    char spool[128];
    char dest[128];
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_prefetch_opts o;
    struct pitr_err err;
    struct pitr_test_log log; /* the log lines of the test */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char url[160];

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-prefetch-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
    snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
    snprintf(f->dest, sizeof(f->dest), "%s/RECOVERYXLOG", f->dir);
    snprintf(url, sizeof(url), "file://%s", f->repo);
    pitr_config_init(&f->cfg);
    if (mkdir(f->repo, 0700) != 0 || pitr_config_set(&f->cfg, "repo", url, &f->err) != PITR_OK ||
        pitr_config_set(&f->cfg, "server", "pg1", &f->err) != PITR_OK ||
        pitr_storage_open(&f->cfg, &f->st, &f->err) != PITR_OK) {
        pitr_test_rm_rf(f->dir);
        free(f);
        return -1;
    }
    f->o.cfg = &f->cfg;
    f->o.server = "pg1";
    f->o.spool = f->spool;
    f->o.pgdata = NULL;
    f->o.depth = 3;
    f->o.jobs = 2;
    f->o.miss_ttl = 5;
    f->o.wait_ms = 1000;
    f->o.detach = 0;
    pitr_log_set_level(PITR_LOG_INFO);
    pitr_log_set_sink(pitr_test_log_sink, &f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pitr_log_set_sink(NULL, NULL);
    pitr_log_set_level(PITR_LOG_WARN);
    pitr_storage_free(f->st);
    pitr_config_release(&f->cfg);
    pitr_test_rm_rf(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Segment name of a seg_size segment: its header says seg_size and its own start. */
static unsigned char *make_segment(const char *name, uint32_t seg_size, unsigned seed)
{
    struct pitr_wal_name w;
    unsigned char *p = malloc(seg_size);
    uint64_t addr;
    uint32_t x = 2463534242u + seed * 7919u;

    assert_non_null(p);
    assert_int_equal(pitr_wal_parse_name(name, &w, NULL), PITR_OK);
    for (uint32_t i = 0; i < seg_size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    memset(p, 0, 40);
    p[0] = 0x10; /* magic 0xD110 */
    p[1] = 0xD1;
    p[2] = 0x02; /* XLP_LONG_HEADER */
    p[4] = (unsigned char)w.tli;
    addr = ((uint64_t)w.log * (0x100000000ULL / seg_size) + w.seg) * seg_size;
    for (int i = 0; i < 8; i++)
        p[8 + i] = (unsigned char)(addr >> (8 * i));
    for (int i = 0; i < 4; i++)
        p[32 + i] = (unsigned char)(seg_size >> (8 * i));
    p[37] = 0x20; /* block size 8192 */
    return p;
}

/* Store name uncompressed under the barman key. */
static void archive(struct fx *f, const char *name, const void *data, size_t len)
{
    char *stem = pitr_wal_key_stem("pg1", name, &f->err);

    assert_non_null(stem);
    assert_int_equal(pitr_storage_put(f->st, stem, data, len, &f->err), PITR_OK);
    pitr_free(stem);
}

static unsigned char *archive_segment(struct fx *f, const char *name, uint32_t seg_size)
{
    unsigned char *p = make_segment(name, seg_size, (unsigned)strtoul(name + 16, NULL, 16));

    archive(f, name, p, seg_size);
    return p;
}

static pitr_rc fetch(struct fx *f, const char *name, enum pitr_fetch_source *src)
{
    pitr_err_clear(&f->err);
    unlink(f->dest);
    return pitr_wal_fetch_prefetch(f->st, &f->o, name, f->dest, src, &f->err);
}

static void fetch_ok(struct fx *f, const char *name, enum pitr_fetch_source want)
{
    enum pitr_fetch_source src = (enum pitr_fetch_source) - 1;

    if (fetch(f, name, &src) != PITR_OK) {
        print_error("fetch of %s failed: %s\n", name, f->err.msg);
        fail();
    }
    assert_int_equal(src, want);
}

/* dest holds exactly data. */
static void assert_dest(struct fx *f, const void *data, size_t len)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    pitr_buf_init(&b, 64u << 20);
    assert_int_equal(pitr_fs_read_file(f->dest, &b, &err), PITR_OK);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, data, len);
    pitr_buf_release(&b);
}

static int in_spool(struct fx *f, const char *entry)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", f->spool, entry);
    return access(path, F_OK) == 0;
}

static void write_spool(struct fx *f, const char *entry, const void *data, size_t len)
{
    char path[256];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", f->spool, entry);
    mkdir(f->spool, 0700);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Move the mtime of a spool entry seconds into the past. */
static void age_entry(struct fx *f, const char *entry, int seconds)
{
    char path[256];
    struct stat sb;
    struct timeval tv[2];

    snprintf(path, sizeof(path), "%s/%s", f->spool, entry);
    assert_int_equal(stat(path, &sb), 0);
    tv[0].tv_sec = tv[1].tv_sec = sb.st_mtime - seconds;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    assert_int_equal(utimes(path, tv), 0);
}

#define S1 "000000010000000000000001"
#define S2 "000000010000000000000002"
#define S3 "000000010000000000000003"
#define S4 "000000010000000000000004"
#define S5 "000000010000000000000005"

/* ---- tests -------------------------------------------------------------- */

static void fetch_prefetch__spools_ahead_and_serves_by_rename(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = archive_segment(f, S2, MIB);
    unsigned char *s3 = archive_segment(f, S3, MIB), *s4 = archive_segment(f, S4, MIB);
    unsigned char *s5 = archive_segment(f, S5, MIB);

    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_dest(f, s1, MIB);
    assert_true(in_spool(f, S2) && in_spool(f, S3) && in_spool(f, S4));
    assert_false(in_spool(f, S5)); /* depth 3 */
    fetch_ok(f, S2, PITR_FETCH_SPOOL);
    assert_dest(f, s2, MIB);
    assert_false(in_spool(f, S2)); /* renamed away */
    assert_non_null(strstr(f->log.text, "served '" S2 "' from the prefetch spool"));
    /* Two of three left ahead: more than half, no new batch yet. */
    assert_false(in_spool(f, S5));
    fetch_ok(f, S3, PITR_FETCH_SPOOL);
    assert_dest(f, s3, MIB);
    /* One of three left: the next batch came. */
    assert_true(in_spool(f, S5));
    fetch_ok(f, S4, PITR_FETCH_SPOOL);
    assert_dest(f, s4, MIB);
    fetch_ok(f, S5, PITR_FETCH_SPOOL);
    assert_dest(f, s5, MIB);
    free(s1), free(s2), free(s3), free(s4), free(s5);
}

static void fetch_prefetch__worker_stops_at_the_depth(void **state)
{
    struct fx *f = *state;
    const char *names[] = {
        S1, S2, S3, S4, S5, "000000010000000000000006", "000000010000000000000007"
    };
    unsigned char *segs[7];

    for (int i = 0; i < 7; i++)
        segs[i] = archive_segment(f, names[i], MIB);
    /* Two of four ahead already spooled: the worker fetches S4 and S5. Its
     * batch is half the depth, but with S2 and S3 still unused the spool
     * holds four, the depth: nothing after S5 is fetched. */
    f->o.depth = 4;
    write_spool(f, S2, segs[1], MIB);
    write_spool(f, S3, segs[2], MIB);
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_true(in_spool(f, S4) && in_spool(f, S5));
    assert_false(in_spool(f, names[5]) || in_spool(f, names[6]));
    for (int i = 0; i < 7; i++)
        free(segs[i]);
}

static void fetch_prefetch__miss_is_cached_until_it_expires(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2;
    enum pitr_fetch_source src;

    f->o.jobs = 1; /* one at a time: the stop after the first miss is visible */
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    /* The worker found S2 missing, recorded it, and stopped there. */
    assert_true(in_spool(f, S2 ".missing"));
    assert_false(in_spool(f, S3 ".missing"));
    s2 = archive_segment(f, S2, MIB);
    assert_int_equal(fetch(f, S2, &src), PITR_ENOTFOUND);
    assert_non_null(strstr(f->err.msg, "cached"));
    /* Older than the TTL: asked again, and found. */
    age_entry(f, S2 ".missing", f->o.miss_ttl + 1);
    fetch_ok(f, S2, PITR_FETCH_ARCHIVE);
    assert_dest(f, s2, MIB);
    assert_false(in_spool(f, S2 ".missing"));
    free(s1), free(s2);
}

static void fetch_prefetch__direct_miss_is_cached_too(void **state)
{
    struct fx *f = *state;
    enum pitr_fetch_source src;

    assert_int_equal(fetch(f, S3, &src), PITR_ENOTFOUND);
    assert_true(in_spool(f, S3 ".missing"));
    assert_null(strstr(f->err.msg, "cached"));
    assert_int_equal(fetch(f, S3, &src), PITR_ENOTFOUND);
    assert_non_null(strstr(f->err.msg, "cached"));
}

static void fetch_prefetch__bad_spool_files_are_refetched(void **state)
{
    struct fx *f = *state;
    unsigned char *s2 = archive_segment(f, S2, MIB), *s3 = archive_segment(f, S3, MIB);
    unsigned char *s4 = archive_segment(f, S4, MIB);
    unsigned char junk[4096] = { 0 };

    f->o.depth = 1;
    /* Wrong magic. */
    write_spool(f, S2, junk, sizeof(junk));
    fetch_ok(f, S2, PITR_FETCH_ARCHIVE);
    assert_dest(f, s2, MIB);
    assert_non_null(strstr(f->log.text, "unusable"));
    /* Truncated: its header says 1 MiB. */
    write_spool(f, S3, s3, MIB / 2);
    fetch_ok(f, S3, PITR_FETCH_ARCHIVE);
    assert_dest(f, s3, MIB);
    /* A whole, valid segment, but another one (its page address is S3's). */
    write_spool(f, S4, s3, MIB);
    fetch_ok(f, S4, PITR_FETCH_ARCHIVE);
    assert_dest(f, s4, MIB);
    assert_non_null(strstr(f->log.text, "its name says"));
    free(s2), free(s3), free(s4);
}

static void fetch_prefetch__any_segment_size(void **state)
{
    struct fx *f = *state;
    /* 1 MiB segments: 4096 a log file, so FFF is followed by log 1, segment 0. */
    const char *last = "000000010000000000000FFF", *first = "000000010000000100000000";
    unsigned char *a = archive_segment(f, last, MIB), *b = archive_segment(f, first, MIB);
    /* 2 MiB segments on timeline 2. */
    const char *t2a = "000000020000000300000010", *t2b = "000000020000000300000011";
    unsigned char *c = archive_segment(f, t2a, 2 * MIB), *d = archive_segment(f, t2b, 2 * MIB);

    fetch_ok(f, last, PITR_FETCH_ARCHIVE);
    assert_true(in_spool(f, first));
    fetch_ok(f, first, PITR_FETCH_SPOOL);
    assert_dest(f, b, MIB);
    fetch_ok(f, t2a, PITR_FETCH_ARCHIVE);
    fetch_ok(f, t2b, PITR_FETCH_SPOOL);
    assert_dest(f, d, 2 * MIB);
    free(a), free(b), free(c), free(d);
}

static void fetch_prefetch__history_files_are_never_spooled(void **state)
{
    struct fx *f = *state;
    const char hist[] = "1\t0/3000000\tno recovery target specified\n";
    unsigned char *s1 = archive_segment(f, S1, MIB);
    enum pitr_fetch_source src;

    archive(f, "00000002.history", hist, sizeof(hist) - 1);
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_true(in_spool(f, S2 ".missing"));
    assert_int_equal(fetch(f, "00000003.history", &src), PITR_ENOTFOUND);
    assert_false(in_spool(f, "00000003.history.missing"));
    assert_int_equal(fetch(f, "00000003.history", &src), PITR_ENOTFOUND);
    assert_null(strstr(f->err.msg, "cached"));
    /* A new timeline is known: no "not found" from before it holds. */
    fetch_ok(f, "00000002.history", PITR_FETCH_ARCHIVE);
    assert_dest(f, hist, sizeof(hist) - 1);
    assert_false(in_spool(f, S2 ".missing"));
    assert_false(in_spool(f, "00000002.history"));
    free(s1);
}

static void fetch_prefetch__partial_segments_are_not_spooled(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = make_segment(S2, MIB, 7);
    enum pitr_fetch_source src;
    char *stem = pitr_wal_key_stem("pg1", S2, &f->err);
    char key[256];

    snprintf(key, sizeof(key), "%s.partial", stem);
    assert_int_equal(pitr_storage_put(f->st, key, s2, MIB / 4, &f->err), PITR_OK);
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_false(in_spool(f, S2));
    assert_false(in_spool(f, S2 ".missing")); /* a partial is not "not archived" */
    /* Asked for, the partial form is still restored (as plain wal-fetch does). */
    assert_int_equal(fetch(f, S2, &src), PITR_OK);
    assert_int_equal(src, PITR_FETCH_ARCHIVE);
    assert_dest(f, s2, MIB / 4);
    pitr_free(stem);
    free(s1), free(s2);
}

static void fetch_prefetch__sweeps_older_entries_and_abandoned_temp_files(void **state)
{
    struct fx *f = *state;
    unsigned char *s3 = archive_segment(f, S3, MIB);
    const char *tmp = S5 ".pitr-tmp.somehost.4242.0";

    f->o.depth = 1;
    write_spool(f, S1, s3, 100);
    write_spool(f, "000000020000000000000002", s3, 100); /* older, other timeline */
    write_spool(f, S1 ".missing", "", 0);
    write_spool(f, tmp, s3, 100);
    fetch_ok(f, S3, PITR_FETCH_ARCHIVE);
    assert_false(in_spool(f, S1));
    assert_false(in_spool(f, "000000020000000000000002"));
    assert_false(in_spool(f, S1 ".missing"));
    assert_false(in_spool(f, tmp)); /* no worker held the lock: nobody writes it */
    free(s3);
}

static void fetch_prefetch__waits_for_running_worker_then_fetches(void **state)
{
    struct fx *f = *state;
    unsigned char *s2 = archive_segment(f, S2, MIB);
    char path[256];
    int fd;

    /* A "worker" that holds the lock with S2 in its plan but never delivers. */
    mkdir(f->spool, 0700);
    snprintf(path, sizeof(path), "%s/prefetch.lock", f->spool);
    fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(write(fd, S2 " " S4 "\n", 50), 50);
    f->o.wait_ms = 200;
    fetch_ok(f, S2, PITR_FETCH_ARCHIVE);
    assert_dest(f, s2, MIB);
    assert_non_null(strstr(f->log.text, "not spooled within 200 ms"));
    /* The lock is held: this call started no worker of its own. */
    assert_false(in_spool(f, S3 ".missing"));
    close(fd);
    free(s2);
}

static void fetch_prefetch__only_while_recovery_runs(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = archive_segment(f, S2, MIB);
    char signal[160];
    int fd;

    /* The spool serves f->dir as a data directory: no signal file, no worker. */
    f->o.pgdata = f->dir;
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_false(in_spool(f, S2));
    snprintf(signal, sizeof(signal), "%s/recovery.signal", f->dir);
    fd = open(signal, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_true(in_spool(f, S2));
    free(s1), free(s2);
}

static void prefetch_clean__removes_the_spool(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = archive_segment(f, S2, MIB);

    assert_int_equal(pitr_prefetch_clean(f->spool, 100, &f->err), PITR_OK); /* none yet */
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_true(in_spool(f, S2));
    assert_int_equal(pitr_prefetch_clean(f->spool, 100, &f->err), PITR_OK);
    assert_int_equal(access(f->spool, F_OK), -1);
    free(s1), free(s2);
}

static void prefetch_clean__leaves_the_rest_to_a_running_worker(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = archive_segment(f, S2, MIB);
    char path[256];
    int fd;

    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    snprintf(path, sizeof(path), "%s/prefetch.lock", f->spool);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(pitr_prefetch_clean(f->spool, 50, &f->err), PITR_OK);
    assert_false(in_spool(f, S2));
    assert_true(in_spool(f, "prefetch.stop"));
    assert_non_null(strstr(f->log.text, "still runs"));
    close(fd);
    /* A later call that finds the stop file and a free lock starts afresh. */
    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_false(in_spool(f, "prefetch.stop"));
    assert_true(in_spool(f, S2));
    free(s1), free(s2);
}

static void prefetch_spool_for__only_in_a_data_directory(void **state)
{
    struct fx *f = *state;
    char data[160], wal[192], status[224], ver[192], dest[224], want[224];
    char *pgdata = NULL, *spool;

    snprintf(data, sizeof(data), "%s/data", f->dir);
    snprintf(wal, sizeof(wal), "%s/pg_wal", data);
    snprintf(status, sizeof(status), "%s/archive_status", wal);
    snprintf(ver, sizeof(ver), "%s/PG_VERSION", data);
    snprintf(dest, sizeof(dest), "%s/RECOVERYXLOG", wal);
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(mkdir(wal, 0700), 0);
    assert_int_equal(mkdir(status, 0700), 0);
    assert_null(pitr_prefetch_spool_for(dest, &pgdata)); /* no PG_VERSION yet */
    {
        int fd = open(ver, O_WRONLY | O_CREAT, 0600);

        assert_true(fd >= 0);
        close(fd);
    }
    spool = pitr_prefetch_spool_for(dest, &pgdata);
    snprintf(want, sizeof(want), "%s/pgpitr_prefetch", wal);
    assert_string_equal(spool, want);
    assert_string_equal(pgdata, data);
    pitr_free(spool);
    pitr_free(pgdata);
    assert_null(pitr_prefetch_spool_for(f->dest, &pgdata)); /* not a pg_wal */
    assert_null(pgdata);
}

static void put_file(const char *dir, const char *name)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static void rm_file(const char *dir, const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

static int has_file(const char *dir, const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* --clean-spool on a directory that is not a spool: refused, nothing removed. */
static void prefetch_clean__refuses_a_directory_that_is_not_a_spool(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mkdir(f->spool, 0700), 0);
    put_file(f->spool, "important.conf");
    put_file(f->spool, S1); /* even a segment name: no lock, not ours */
    assert_int_equal(pitr_prefetch_clean(f->spool, 50, &f->err), PITR_EUSAGE);
    assert_non_null(strstr(f->err.msg, "is not a prefetch spool"));
    assert_true(has_file(f->spool, "important.conf"));
    assert_true(has_file(f->spool, S1));
    assert_false(has_file(f->spool, "prefetch.stop"));
    /* An empty directory is fine (a spool whose worker removed everything). */
    rm_file(f->spool, "important.conf");
    rm_file(f->spool, S1);
    assert_int_equal(pitr_prefetch_clean(f->spool, 50, &f->err), PITR_OK);
}

/* In a real spool, only the files the spool makes are removed. */
static void prefetch_clean__removes_only_its_own_files(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = archive_segment(f, S2, MIB);

    fetch_ok(f, S1, PITR_FETCH_ARCHIVE);
    assert_true(in_spool(f, S2));
    put_file(f->spool, "notes.txt");
    put_file(f->spool, S2 ".missing.bak");
    put_file(f->spool, "00000001000000000000000G");
    assert_int_equal(pitr_prefetch_clean(f->spool, 100, &f->err), PITR_OK);
    assert_false(in_spool(f, S2));
    assert_false(in_spool(f, "prefetch.lock"));
    assert_true(has_file(f->spool, "notes.txt"));
    assert_true(has_file(f->spool, S2 ".missing.bak"));
    assert_true(has_file(f->spool, "00000001000000000000000G"));
    assert_non_null(strstr(f->log.text, "not a file the prefetch spool makes"));
    free(s1), free(s2);
}

/* ---- the restore's overlap ------------------------------------------------ */

/* Let the overlap fetch all it can (bounded: 10 s), as a long restore would. */
static void overlap_wait(struct pitr_prefetch_overlap *ov)
{
    for (int i = 0; i < 1000 && pitr_prefetch_overlap_busy(ov); i++)
        usleep(10000);
    assert_false(pitr_prefetch_overlap_busy(ov));
}

static void prefetch_overlap__spools_only_checked_copies(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = archive_segment(f, S2, MIB);
    unsigned char *s4 = archive_segment(f, S4, MIB);
    struct pitr_prefetch_overlap *ov;

    /* A hostile object under S3's name: a valid segment, but S2's. */
    archive(f, S3, s2, MIB);
    ov = pitr_prefetch_overlap_start(&f->o, S1, MIB, 4);
    assert_non_null(ov);
    overlap_wait(ov);
    assert_int_equal(pitr_prefetch_overlap_finish(ov), 3);
    assert_true(in_spool(f, S1) && in_spool(f, S2) && in_spool(f, S4));
    assert_false(in_spool(f, S3));
    assert_non_null(strstr(f->log.text, "not a valid copy"));
    /* wal-fetch serves what the overlap checked, and never the hostile copy. */
    f->o.depth = 1;
    fetch_ok(f, S1, PITR_FETCH_SPOOL);
    assert_dest(f, s1, MIB);
    fetch_ok(f, S2, PITR_FETCH_SPOOL);
    assert_int_equal(fetch(f, S3, &(enum pitr_fetch_source){ 0 }), PITR_EFORMAT);
    assert_int_equal(access(f->dest, F_OK), -1);
    fetch_ok(f, S4, PITR_FETCH_SPOOL);
    assert_dest(f, s4, MIB);
    free(s1), free(s2), free(s4);
}

static void prefetch_overlap__finish_removes_what_it_did_not_make(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s2 = make_segment(S2, MIB, 9);
    struct pitr_prefetch_overlap *ov;

    ov = pitr_prefetch_overlap_start(&f->o, S1, MIB, 1);
    assert_non_null(ov);
    overlap_wait(ov);
    /* Planted meanwhile (a backup's tar may carry pg_wal/pgpitr_prefetch/...): a good header. */
    write_spool(f, S2, s2, MIB);
    write_spool(f, "notes", "x", 1);
    assert_int_equal(pitr_prefetch_overlap_finish(ov), 1);
    assert_true(in_spool(f, S1) && in_spool(f, "prefetch.lock"));
    assert_false(in_spool(f, S2));
    assert_false(in_spool(f, "notes"));
    assert_non_null(strstr(f->log.text, "did not make"));
    free(s1), free(s2);
}

static void prefetch_overlap__stops_at_the_first_missing_segment(void **state)
{
    struct fx *f = *state;
    unsigned char *s1 = archive_segment(f, S1, MIB), *s3 = archive_segment(f, S3, MIB);
    struct pitr_prefetch_overlap *ov;

    f->o.jobs = 1; /* in order: S2 is found missing before S3 is started */
    ov = pitr_prefetch_overlap_start(&f->o, S1, MIB, 3);
    assert_non_null(ov);
    overlap_wait(ov);
    assert_int_equal(pitr_prefetch_overlap_finish(ov), 1);
    assert_true(in_spool(f, S1));
    assert_false(in_spool(f, S3));
    /* Its own "not archived" record goes quietly: not something it did not make. */
    assert_false(in_spool(f, S2 ".missing"));
    assert_null(strstr(f->log.text, "did not make"));
    free(s1), free(s3);
}

static void prefetch_overlap__refuses_bad_arguments(void **state)
{
    struct fx *f = *state;

    assert_null(pitr_prefetch_overlap_start(&f->o, S1, MIB, 0));
    assert_null(pitr_prefetch_overlap_start(&f->o, "00000001.history", MIB, 2));
    assert_null(pitr_prefetch_overlap_start(&f->o, S1, 3 * MIB, 2));
    f->o.pgdata = f->dir; /* recovery has not started: must be NULL */
    assert_null(pitr_prefetch_overlap_start(&f->o, S1, MIB, 2));
    assert_null(pitr_prefetch_overlap_finish(NULL) ? (void *)1 : NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(fetch_prefetch__spools_ahead_and_serves_by_rename),
        T(fetch_prefetch__worker_stops_at_the_depth),
        T(fetch_prefetch__miss_is_cached_until_it_expires),
        T(fetch_prefetch__direct_miss_is_cached_too),
        T(fetch_prefetch__bad_spool_files_are_refetched),
        T(fetch_prefetch__any_segment_size),
        T(fetch_prefetch__history_files_are_never_spooled),
        T(fetch_prefetch__partial_segments_are_not_spooled),
        T(fetch_prefetch__sweeps_older_entries_and_abandoned_temp_files),
        T(fetch_prefetch__waits_for_running_worker_then_fetches),
        T(fetch_prefetch__only_while_recovery_runs),
        T(prefetch_clean__removes_the_spool),
        T(prefetch_clean__leaves_the_rest_to_a_running_worker),
        T(prefetch_clean__refuses_a_directory_that_is_not_a_spool),
        T(prefetch_clean__removes_only_its_own_files),
        T(prefetch_spool_for__only_in_a_data_directory),
        T(prefetch_overlap__spools_only_checked_copies),
        T(prefetch_overlap__finish_removes_what_it_did_not_make),
        T(prefetch_overlap__stops_at_the_first_missing_segment),
        T(prefetch_overlap__refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
