/*
 * test_s3_multipart.c - multipart uploads, parallel ranged reads, batch
 * deletes and the new-object headers against a real S3 server (the Swift
 * rig; see test_s3_storage.c for the environment it needs).
 *
 * PITR_TEST_S3_JOBS_SWEEP=1 repeats the large round trip with 1, 2 and 4
 * workers and prints the rates (for the report; the assertions are the same).
 * PITR_TEST_SKIP=pattern skips tests by name (cmocka's skip filter), e.g.
 * "*200mb*" for a valgrind run, where 200 MB would take too long; refused
 * (the binary fails) under make check and CI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/s3/client.h"
#include "pgpitr/s3/transfer.h"
#include "pgpitr/storage/storage.h"
#include "storage/s3_int.h"

#include "../unit/support/rigenv.h"

#define MiB ((size_t)1024 * 1024)

static const char *const env_names[] = {
    "PITR_TEST_S3_ENDPOINT", "PITR_TEST_BUCKET", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
};

static char run_prefix[64];

static void rig_config(struct pitr_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->endpoint_url = getenv("PITR_TEST_S3_ENDPOINT");
    cfg->region = getenv("AWS_REGION");
    cfg->access_key = getenv("AWS_ACCESS_KEY_ID");
    cfg->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    cfg->url_style = PITR_URL_STYLE_AUTO;
    cfg->jobs = 4;
    cfg->part_size = PITR_PART_SIZE_DEFAULT;
    cfg->max_parts = PITR_MAX_PARTS_LIMIT;
    cfg->retry_max_time = 30;
}

static struct pitr_storage *open_cfg(const struct pitr_config *cfg, const char *sub)
{
    struct pitr_storage *st = NULL;
    struct pitr_err err;
    char prefix[256];

    snprintf(prefix, sizeof(prefix), "%s/%s", run_prefix, sub);
    pitr_err_clear(&err);
    if (pitr_storage_s3_new(cfg, getenv("PITR_TEST_BUCKET"), prefix, &st, &err) != PITR_OK)
        fail_msg("pitr_storage_s3_new: %s", err.msg);
    return st;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic, incompressible-looking bytes (xorshift64*). */
static void fill_random(unsigned char *p, size_t n, uint64_t *s)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((i & 7) == 0) {
            *s ^= *s >> 12;
            *s ^= *s << 25;
            *s ^= *s >> 27;
        }
        p[i] = (unsigned char)((*s * 0x2545F4914F6CDD1DULL) >> (8 * (i & 7)));
    }
}

struct upload_seen {
    const char *key;
    int n;
};

static pitr_rc count_uploads(const char *key,
                             const char *upload_id,
                             int64_t initiated,
                             void *ud,
                             struct pitr_err *err)
{
    struct upload_seen *u = ud;

    (void)upload_id;
    /* Swift's s3api says when each upload began; cleanup's age rule needs it. */
    if (strcmp(key, u->key) == 0 && initiated < (int64_t)time(NULL) - 3600)
        return pitr_err_set(err, PITR_EFORMAT, "'%s': Initiated %lld", key, (long long)initiated);
    (void)err;
    if (strcmp(key, u->key) == 0)
        u->n++;
    return PITR_OK;
}

static pitr_rc count_raw(const char *key,
                         const struct pitr_s3_object_info *info,
                         void *ud,
                         struct pitr_err *err)
{
    (void)key;
    (void)info;
    (void)err;
    (*(size_t *)ud)++;
    return PITR_OK;
}

/* Multipart uploads in progress for okey (a full object key). */
static int uploads_for(struct pitr_s3_client *c, const char *okey)
{
    struct upload_seen u = { okey, 0 };
    struct pitr_err err;

    pitr_err_clear(&err);
    if (pitr_s3_list_uploads(c, okey, count_uploads, &u, &err) != PITR_OK)
        fail_msg("list uploads: %s", err.msg);
    return u.n;
}

/* Upload size bytes through the storage writer with jobs workers, read them back, compare. */
static void round_trip(size_t size, int jobs, int report)
{
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_storage_writer *w = NULL;
    struct pitr_storage_reader *r = NULL;
    struct pitr_obj_info info;
    struct pitr_sha256 h_up, h_down;
    unsigned char d_up[PITR_SHA256_LEN], d_down[PITR_SHA256_LEN];
    struct pitr_err err;
    size_t chunk = MiB + 7, off = 0, got = 0, total = 0;
    unsigned char *buf = pitr_malloc(4 * MiB);
    uint64_t seed = 0x9E3779B97F4A7C15ULL ^ (uint64_t)size;
    double t0, t_up, t_down;
    const char *dash;
    char sub[32], okey[256];

    rig_config(&cfg);
    cfg.jobs = jobs;
    snprintf(sub, sizeof(sub), "big-%d", jobs);
    st = open_cfg(&cfg, sub);
    pitr_err_clear(&err);
    assert_int_equal(pitr_sha256_init(&h_up, &err), PITR_OK);
    assert_int_equal(pitr_sha256_init(&h_down, &err), PITR_OK);

    t0 = now_s();
    if (pitr_storage_open_write(st, "big.bin", &w, &err) != PITR_OK)
        fail_msg("open_write: %s", err.msg);
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;

        fill_random(buf, n, &seed);
        assert_int_equal(pitr_sha256_update(&h_up, buf, n, &err), PITR_OK);
        if (pitr_storage_writer_write(w, buf, n, &err) != PITR_OK)
            fail_msg("write at %zu: %s", off, err.msg);
        off += n;
    }
    if (pitr_storage_writer_commit(w, &err) != PITR_OK)
        fail_msg("commit: %s", err.msg);
    t_up = now_s() - t0;

    assert_int_equal(pitr_storage_head(st, "big.bin", &info, &err), PITR_OK);
    assert_true(info.size == size);
    /* A multipart object's ETag ends in "-<parts>". */
    dash = strrchr(info.etag, '-');
    assert_non_null(dash);
    assert_true(strtol(dash + 1, NULL, 10) >= 8);

    t0 = now_s();
    if (pitr_storage_open_read(st, "big.bin", 0, PITR_STORAGE_TO_END, &r, &err) != PITR_OK)
        fail_msg("open_read: %s", err.msg);
    assert_true(r->object_size == size);
    do {
        if (pitr_storage_reader_read(r, buf, 3 * MiB + 5, &got, &err) != PITR_OK)
            fail_msg("read at %zu: %s", total, err.msg);
        assert_int_equal(pitr_sha256_update(&h_down, buf, got, &err), PITR_OK);
        total += got;
    } while (got > 0);
    pitr_storage_reader_close(r);
    t_down = now_s() - t0;

    assert_int_equal(total, size);
    assert_int_equal(pitr_sha256_final(&h_up, d_up, &err), PITR_OK);
    assert_int_equal(pitr_sha256_final(&h_down, d_down, &err), PITR_OK);
    pitr_sha256_release(&h_up);
    pitr_sha256_release(&h_down);
    assert_memory_equal(d_up, d_down, PITR_SHA256_LEN);
    if (report)
        printf("# %zu bytes in %s parts, jobs %d: upload %.1f MB/s, download %.1f MB/s\n",
               size,
               dash + 1,
               jobs,
               (double)size / 1e6 / t_up,
               (double)size / 1e6 / t_down);

    /* A ranged read from the middle, across a part boundary. */
    if (pitr_storage_open_read(st, "big.bin", 16 * MiB - 10, 20, &r, &err) != PITR_OK)
        fail_msg("open_read range: %s", err.msg);
    assert_int_equal(pitr_storage_reader_read(r, buf, 100, &got, &err), PITR_OK);
    assert_int_equal(got, 20);
    pitr_storage_reader_close(r);
    {
        unsigned char *want = pitr_malloc(16 * MiB + 10);

        seed = 0x9E3779B97F4A7C15ULL ^ (uint64_t)size;
        off = 0;
        while (off < 16 * MiB + 10) {
            size_t n = 16 * MiB + 10 - off < chunk ? 16 * MiB + 10 - off : chunk;

            fill_random(want + off, n, &seed);
            off += n;
        }
        assert_memory_equal(buf, want + 16 * MiB - 10, 20);
        pitr_free(want);
    }

    /* Complete left no upload in progress behind. */
    snprintf(okey, sizeof(okey), "%s/%s/big.bin", run_prefix, sub);
    assert_int_equal(uploads_for(pitr_storage_s3_client(st), okey), 0);
    assert_int_equal(pitr_storage_remove(st, "big.bin", &err), PITR_OK);
    pitr_storage_free(st);
    pitr_free(buf);
}

static void s3_multipart__200mb_parallel_round_trip(void **state)
{
    static const int sweep[] = { 1, 2, 4 };
    size_t size = (size_t)200 * 1000 * 1000 + 12345; /* 24 parts of 8 MiB */
    const char *s = getenv("PITR_TEST_S3_JOBS_SWEEP");
    size_t i;

    (void)state;
    if (s != NULL && strcmp(s, "1") == 0) {
        for (i = 0; i < sizeof(sweep) / sizeof(sweep[0]); i++)
            round_trip(size, sweep[i], 1);
    } else {
        round_trip(size, 4, 1);
    }
}

static void s3_multipart__abort_leaves_no_upload_and_no_object(void **state)
{
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_s3_client *c;
    struct pitr_s3_pool *pool = NULL;
    struct pitr_s3_writer *w = NULL;
    struct pitr_s3_writer_opts wo = { .part_size = 5 * MiB, .max_parts = 10000, .inflight = 2 };
    struct pitr_s3_object_info oi;
    struct pitr_err err;
    unsigned char *buf = pitr_malloc(MiB);
    uint64_t seed = 1;
    char okey[256];
    int i;

    (void)state;
    rig_config(&cfg);
    st = open_cfg(&cfg, "abort");
    c = pitr_storage_s3_client(st);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_pool_new(c, 2, &pool, &err), PITR_OK);

    /* 1: the caller gives up after three parts were sent. */
    snprintf(okey, sizeof(okey), "%s/abort/explicit", run_prefix);
    assert_int_equal(pitr_s3_writer_open(c, pool, okey, &wo, &w, &err), PITR_OK);
    for (i = 0; i < 16; i++) {
        fill_random(buf, MiB, &seed);
        assert_int_equal(pitr_s3_writer_write(w, buf, MiB, &err), PITR_OK);
    }
    assert_non_null(pitr_s3_writer_upload_id(w));
    assert_int_equal(pitr_s3_writer_parts(w), 3);
    assert_int_equal(uploads_for(c, okey), 1); /* it really was in progress */
    pitr_s3_writer_abort(w);
    assert_int_equal(uploads_for(c, okey), 0);
    assert_int_equal(pitr_s3_head_object(c, okey, &oi, &err), PITR_ENOTFOUND);

    /* 2: a failure mid-upload (more data than max-parts parts hold) aborts as well. */
    snprintf(okey, sizeof(okey), "%s/abort/too-big", run_prefix);
    wo.max_parts = 2;
    assert_int_equal(pitr_s3_writer_open(c, pool, okey, &wo, &w, &err), PITR_OK);
    for (i = 0; i < 16; i++) {
        fill_random(buf, MiB, &seed);
        if (pitr_s3_writer_write(w, buf, MiB, &err) != PITR_OK)
            break;
    }
    assert_true(i < 16);
    assert_int_equal(err.code, PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "max-parts"));
    assert_int_equal(uploads_for(c, okey), 1);
    assert_int_equal(pitr_s3_writer_commit(w, &err), PITR_ELIMIT);
    assert_int_equal(uploads_for(c, okey), 0);
    assert_int_equal(pitr_s3_head_object(c, okey, &oi, &err), PITR_ENOTFOUND);

    /* 3: a part the store refuses (5 MiB parts are the minimum; 1,000 parts Swift's maximum). */
    snprintf(okey, sizeof(okey), "%s/abort/refused", run_prefix);
    {
        char *id = NULL;
        char etag[128];

        assert_int_equal(pitr_s3_multipart_create(c, okey, &id, &err), PITR_OK);
        assert_int_equal(pitr_s3_multipart_upload_part(c, okey, id, 10001, "x", 1, etag, &err),
                         PITR_ES3);
        assert_int_equal(pitr_s3_multipart_abort(c, okey, id, &err), PITR_OK);
        /* Aborting twice is fine: the upload is gone either way. */
        assert_int_equal(pitr_s3_multipart_abort(c, okey, id, &err), PITR_OK);
        pitr_free(id);
    }
    assert_int_equal(uploads_for(c, okey), 0);

    /* 4: small objects go as one PUT and leave no upload. */
    snprintf(okey, sizeof(okey), "%s/abort/small", run_prefix);
    wo.max_parts = 10000;
    assert_int_equal(pitr_s3_writer_open(c, pool, okey, &wo, &w, &err), PITR_OK);
    assert_int_equal(pitr_s3_writer_write(w, "small", 5, &err), PITR_OK);
    assert_null(pitr_s3_writer_upload_id(w));
    assert_int_equal(pitr_s3_writer_commit(w, &err), PITR_OK);
    assert_int_equal(pitr_s3_head_object(c, okey, &oi, &err), PITR_OK);
    assert_int_equal(oi.size, 5);
    assert_int_equal(pitr_s3_delete_object(c, okey, &err), PITR_OK);

    pitr_s3_pool_free(pool);
    pitr_storage_free(st);
    pitr_free(buf);
}

static pitr_rc count_keys(const char *key,
                          const struct pitr_obj_info *info,
                          void *ud,
                          struct pitr_err *err)
{
    (void)key;
    (void)info;
    (void)err;
    (*(size_t *)ud)++;
    return PITR_OK;
}

struct putter {
    char **keys;
    size_t from, to;
    int failed;
    pthread_t thread;
};

/* Store keys[from..to) on a storage handle of this thread's own. */
static void *put_keys(void *ud)
{
    struct putter *p = ud;
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_err err;
    size_t i;

    rig_config(&cfg);
    st = open_cfg(&cfg, "many");
    for (i = p->from; i < p->to && !p->failed; i++) {
        pitr_err_clear(&err);
        if (pitr_storage_put(st, p->keys[i], p->keys[i], strlen(p->keys[i]), &err) != PITR_OK) {
            fprintf(stderr, "put '%s': %s\n", p->keys[i], err.msg);
            p->failed = 1;
        }
    }
    pitr_storage_free(st);
    return NULL;
}

static void s3_multipart__delete_objects_1100_keys(void **state)
{
    enum { N = 1100, THREADS = 4 };
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_err err;
    struct putter putters[THREADS];
    char **keys = pitr_calloc(N + 1, sizeof(*keys));
    size_t i, n = 0;

    (void)state;
    rig_config(&cfg);
    st = open_cfg(&cfg, "many");
    pitr_err_clear(&err);
    for (i = 0; i < N; i++)
        keys[i] = pitr_asprintf("k/%04zu%s", i, i % 100 == 0 ? " & <odd>" : "");
    for (i = 0; i < THREADS; i++) {
        putters[i] = (struct putter){ keys, N * i / THREADS, N * (i + 1) / THREADS, 0, 0 };
        assert_int_equal(pthread_create(&putters[i].thread, NULL, put_keys, &putters[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(putters[i].thread, NULL);
        assert_false(putters[i].failed);
    }
    keys[N] = pitr_strdup("k/never-existed"); /* missing keys count as deleted */
    assert_int_equal(pitr_storage_list(st, "k/", count_keys, &n, &err), PITR_OK);
    assert_int_equal(n, N);
    if (pitr_storage_remove_many(st, (const char *const *)keys, N + 1, &err) != PITR_OK)
        fail_msg("remove_many: %s", err.msg);
    n = 0;
    assert_int_equal(pitr_storage_list(st, "k/", count_keys, &n, &err), PITR_OK);
    assert_int_equal(n, 0);
    for (i = 0; i <= N; i++)
        pitr_free(keys[i]);
    pitr_free(keys);
    pitr_storage_free(st);
}

/* A store without SSE (Swift unless encryption is on) must say so clearly, at once. */
static void s3_multipart__sse_tags_storage_class(void **state)
{
    static const char *const sse[] = { "AES256", "aws:kms" };
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_storage_writer *w = NULL;
    struct pitr_obj_info info;
    struct pitr_err err;
    char *big = pitr_calloc(1, 6 * MiB);
    double t0;
    size_t i;
    pitr_rc rc;

    (void)state;
    for (i = 0; i < 2; i++) {
        rig_config(&cfg);
        cfg.encryption = (char *)sse[i];
        cfg.sse_kms_key_id = i == 1 ? (char *)"alias/pgpitr-test" : NULL;
        cfg.part_size = 5 * MiB;
        st = open_cfg(&cfg, "sse");
        pitr_err_clear(&err);
        t0 = now_s();
        rc = pitr_storage_put(st, "obj", "data", 4, &err);
        if (rc == PITR_OK) {
            /* A store that encrypts: the object is there. */
            assert_int_equal(pitr_storage_head(st, "obj", &info, &err), PITR_OK);
            assert_int_equal(pitr_storage_remove(st, "obj", &err), PITR_OK);
        } else {
            assert_int_equal(rc, PITR_ES3);
            assert_int_equal(err.http_status, 501);
            assert_string_equal(err.s3_code, "NotImplemented");
            assert_non_null(strstr(err.msg, "Server-side encryption is not supported"));
            assert_true(now_s() - t0 < 5.0); /* not retried */
            assert_int_equal(pitr_storage_head(st, "obj", &info, &err), PITR_ENOTFOUND);
            /* The multipart path fails the same way, before CreateMultipartUpload. */
            assert_int_equal(pitr_storage_open_write(st, "mp", &w, &err), PITR_OK);
            rc = pitr_storage_writer_write(w, big, 6 * MiB, &err);
            assert_int_equal(rc, PITR_ES3);
            /* Its lease object is refused first, so no upload ever begins. */
            assert_non_null(strstr(err.msg, "lease of the multipart upload"));
            assert_int_equal(pitr_storage_writer_commit(w, &err), PITR_ES3);
            assert_int_equal(pitr_storage_head(st, "mp", &info, &err), PITR_ENOTFOUND);
        }
        pitr_storage_free(st);
    }

    /* Tags: sent URL-encoded; Swift does not implement them and says so. */
    rig_config(&cfg);
    cfg.tags = (char *)"env=test,team=db ops";
    st = open_cfg(&cfg, "tags");
    rc = pitr_storage_put(st, "obj", "data", 4, &err);
    if (rc != PITR_OK) {
        assert_int_equal(rc, PITR_ES3);
        assert_non_null(strstr(err.msg, "tagging"));
    } else {
        assert_int_equal(pitr_storage_remove(st, "obj", &err), PITR_OK);
    }
    pitr_storage_free(st);

    /* Storage class: STANDARD is accepted everywhere; an unknown one is refused by name. */
    rig_config(&cfg);
    cfg.storage_class = (char *)"STANDARD";
    st = open_cfg(&cfg, "class");
    if (pitr_storage_put(st, "obj", "data", 4, &err) != PITR_OK)
        fail_msg("put with STANDARD: %s", err.msg);
    assert_int_equal(pitr_storage_remove(st, "obj", &err), PITR_OK);
    pitr_storage_free(st);
    cfg.storage_class = (char *)"NO_SUCH_CLASS";
    st = open_cfg(&cfg, "class");
    assert_int_equal(pitr_storage_put(st, "obj", "data", 4, &err), PITR_ES3);
    assert_string_equal(err.s3_code, "InvalidStorageClass");
    pitr_storage_free(st);
    pitr_free(big);
}

/* A pid that no longer exists (a reaped child's). */
static long dead_pid(void)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return (long)pid;
}

/* The lease name a writer of this host with process pid would use for okey. */
static void lease_name(char *out, size_t n, const char *okey, long pid)
{
    char *ours = pitr_fs_temp_path(okey); /* "<okey>.pitr-tmp.<host>.<our pid>.<n>" */
    char *pid_at = ours + strlen(ours);
    char ourpid[32];

    snprintf(ourpid, sizeof(ourpid), ".%ld.", (long)getpid());
    while (pid_at > ours && strncmp(pid_at, ourpid, strlen(ourpid)) != 0)
        pid_at--;
    assert_true(pid_at > ours);
    snprintf(out, n, "%.*s.%ld.0", (int)(pid_at - ours), ours, pid);
    pitr_free(ours);
}

static int object_exists(struct pitr_s3_client *c, const char *okey)
{
    struct pitr_s3_object_info oi;
    struct pitr_err err;

    pitr_err_clear(&err);
    return pitr_s3_head_object(c, okey, &oi, &err) == PITR_OK;
}

/*
 * cleanup aborts the uploads of writers that are gone (their lease names a
 * dead process of this host) and removes stale leases, through listings of
 * one entry per page; it leaves a live writer's upload and an upload
 * without lease that began less than a day ago.
 */
static void s3_multipart__cleanup_aborts_dead_writers_only(void **state)
{
    static const char *const subs[] = { "dead/a", "dead/d", "live/b", "nolease/c" };
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_storage_writer *w = NULL;
    struct pitr_s3_client *c;
    struct pitr_err err;
    char okeys[4][256], leases[4][512], orphan[512], okey[256], *ids[4] = { NULL };
    unsigned char *buf = pitr_malloc(MiB);
    uint64_t seed = 7;
    long gone = dead_pid();
    size_t removed = 0, i;

    (void)state;
    rig_config(&cfg);
    cfg.part_size = 5 * MiB;
    st = open_cfg(&cfg, "cleanup");
    pitr_storage_s3_set_page_size(st, 1);
    c = pitr_storage_s3_client(st);
    pitr_err_clear(&err);

    for (i = 0; i < 4; i++) {
        snprintf(okeys[i], sizeof(okeys[i]), "%s/cleanup/%s", run_prefix, subs[i]);
        lease_name(leases[i], sizeof(leases[i]), okeys[i], i == 2 ? (long)getpid() : gone);
        if (i != 3)
            assert_int_equal(pitr_s3_put_object(c, leases[i], "", 0, &err), PITR_OK);
        assert_int_equal(pitr_s3_multipart_create(c, okeys[i], &ids[i], &err), PITR_OK);
        assert_int_equal(uploads_for(c, okeys[i]), 1);
    }
    snprintf(okey, sizeof(okey), "%s/cleanup/orphan/e", run_prefix);
    lease_name(orphan, sizeof(orphan), okey, gone);
    assert_int_equal(pitr_s3_put_object(c, orphan, "", 0, &err), PITR_OK);

    /* A real writer keeps a lease while its upload runs, hidden from list(). */
    assert_int_equal(pitr_storage_open_write(st, "writer/f", &w, &err), PITR_OK);
    for (i = 0; i < 6; i++) {
        fill_random(buf, MiB, &seed);
        assert_int_equal(pitr_storage_writer_write(w, buf, MiB, &err), PITR_OK);
    }
    snprintf(okey, sizeof(okey), "%s/cleanup/writer/f", run_prefix);
    assert_int_equal(uploads_for(c, okey), 1);
    {
        size_t n = 0;

        assert_int_equal(pitr_storage_list(st, "writer/", count_keys, &n, &err), PITR_OK);
        assert_int_equal(n, 0);
    }

    assert_int_equal(pitr_storage_cleanup(st, "", &removed, &err), PITR_OK);
    assert_int_equal(removed, 5); /* 2 uploads and 3 stale leases */
    assert_int_equal(uploads_for(c, okeys[0]), 0);
    assert_int_equal(uploads_for(c, okeys[1]), 0);
    assert_int_equal(uploads_for(c, okeys[2]), 1); /* its writer (this process) is alive */
    assert_int_equal(uploads_for(c, okeys[3]), 1); /* no lease, begun just now */
    assert_int_equal(uploads_for(c, okey), 1);     /* the running writer's */
    assert_false(object_exists(c, leases[0]));
    assert_false(object_exists(c, leases[1]));
    assert_false(object_exists(c, orphan));
    assert_true(object_exists(c, leases[2]));

    /* The writer finishes: the object is there, its lease is gone. */
    assert_int_equal(pitr_storage_writer_commit(w, &err), PITR_OK);
    assert_int_equal(uploads_for(c, okey), 0);
    assert_true(object_exists(c, okey));
    {
        size_t n = 0;

        assert_int_equal(pitr_s3_list_objects(c, okey, count_raw, &n, &err), PITR_OK);
        assert_int_equal(n, 1); /* the object alone: no lease left beside it */
    }

    assert_int_equal(pitr_s3_multipart_abort(c, okeys[2], ids[2], &err), PITR_OK);
    assert_int_equal(pitr_s3_multipart_abort(c, okeys[3], ids[3], &err), PITR_OK);
    assert_int_equal(pitr_s3_delete_object(c, leases[2], &err), PITR_OK);
    assert_int_equal(pitr_s3_delete_object(c, okey, &err), PITR_OK);
    for (i = 0; i < 4; i++)
        pitr_free(ids[i]);
    pitr_free(buf);
    pitr_storage_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s3_multipart__200mb_parallel_round_trip),
        cmocka_unit_test(s3_multipart__abort_leaves_no_upload_and_no_object),
        cmocka_unit_test(s3_multipart__delete_objects_1100_keys),
        cmocka_unit_test(s3_multipart__sse_tags_storage_class),
        cmocka_unit_test(s3_multipart__cleanup_aborts_dead_writers_only),
    };

    if (!pitr_test_rig_env_ok(
          "test_s3_multipart", env_names, sizeof(env_names) / sizeof(env_names[0])))
        return 1;
    snprintf(run_prefix, sizeof(run_prefix), "mp-%ld-%ld", (long)getpid(), (long)time(NULL));
    if (!pitr_test_skip_filter_ok("test_s3_multipart"))
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
