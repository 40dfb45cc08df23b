/*
 * lookahead.c - push the segments PostgreSQL will ask for next, in parallel.
 *
 * PostgreSQL's archiver calls archive_command for one segment at a time and
 * waits for each. When it falls behind, pg_wal/archive_status/ holds a .ready
 * file for every segment still waiting. We push the current segment and
 * the next few .ready ones on worker threads at once, record each look-ahead
 * success in pg_wal/pgpitr_spool/<name>.ok (the identity of the file that
 * was stored), and answer PostgreSQL's later calls for those segments from
 * the marker after checking that the file is still that same file. The spool lives in
 * pg_wal because base backups leave pg_wal's contents out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/core/clock.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"
#include "push_int.h"

#define SPOOL_DIR      "pgpitr_spool"
#define MAX_LOOK_AHEAD 64
#define MAX_WORKERS    64

struct job {
    char *path; /* owned */
    char *name; /* owned; basename of path */
    int is_main;
    pitr_rc rc;
    enum pitr_push_outcome outcome;
    struct pitr_err err;
};

struct batch {
    const struct pitr_config *cfg;
    const struct pitr_push_batch_opts *o;
    const char *spool; /* NULL: no markers */
    struct job *jobs;
    size_t n, next;
    size_t workers; /* threads taking jobs */
    pthread_mutex_t lock;
};

size_t pitr_lookahead_workers(int jobs, size_t n)
{
    size_t want;

    if (n <= 1 || jobs <= 1)
        return 1;
    /*
     * Two segments in flight per core: while one waits for the store's
     * answer (its listing, its upload), the other compresses.
     */
    want = (size_t)jobs * 2;
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    return want < n ? want : n;
}

int pitr_lookahead_job_threads(int jobs, size_t n, size_t index, size_t workers)
{
    if (n <= 1)
        return jobs; /* the segment alone: all of them */
    /*
     * The last jobs of a batch would leave cores idle while they finish:
     * the final one (taken when every other job is taken) splits its
     * compression over the cores; the others compress on their own.
     */
    if (workers > 1 && index + 1 == n)
        return jobs;
    return 1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/*
 * A marker names the exact file that was stored: device, inode, size and
 * the nanosecond mtime and ctime. PostgreSQL never rewrites a segment that
 * is .ready; recycling renames the file (a new ctime) and rewrites it (a new
 * mtime), so a file that still matches all five is the one we stored.
 */
static pitr_rc file_identity(const char *path, char *out, size_t n, struct pitr_err *err)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot stat '%s'", path);
    snprintf(out,
             n,
             "%ju %ju %jd %jd.%09ld %jd.%09ld\n",
             (uintmax_t)sb.st_dev,
             (uintmax_t)sb.st_ino,
             (intmax_t)sb.st_size,
             (intmax_t)sb.st_mtim.tv_sec,
             sb.st_mtim.tv_nsec,
             (intmax_t)sb.st_ctim.tv_sec,
             sb.st_ctim.tv_nsec);
    return PITR_OK;
}

/* Read path, push it, and for look-ahead jobs leave a marker. */
static void run_job(struct batch *b, struct pitr_storage *st, struct job *j, size_t index)
{
    struct pitr_push_opts po = b->o->push;
    struct pitr_buf data;
    char id[256];
    int64_t t0;

    /* Several segments at once already keep every core busy. */
    po.threads = pitr_lookahead_job_threads(po.threads, b->n, index, b->workers);
    pitr_buf_init(&data, PITR_WAL_MAX_FILE);
    /* Identity before reading: a file changed meanwhile will not match it. */
    if (file_identity(j->path, id, sizeof(id), &j->err) != PITR_OK)
        id[0] = '\0';
    t0 = pitr_clock_ns();
    j->rc = pitr_fs_read_file(j->path, &data, &j->err);
    pitr_log_debug("timing: read '%s' %.3f ms", j->name, pitr_clock_ms_since(t0));
    if (j->rc == PITR_OK)
        j->rc = pitr_archive_push_loaded(st, &po, j->path, &data, &j->outcome, &j->err);
    if (j->rc == PITR_OK && !j->is_main && b->spool != NULL && id[0] != '\0') {
        char *marker = pitr_asprintf("%s/%s.ok", b->spool, j->name);
        struct pitr_err merr = { 0 };

        t0 = pitr_clock_ns();
        if (pitr_fs_write_atomic(marker, id, strlen(id), 0600, &merr) != PITR_OK)
            pitr_log_debug("look-ahead: cannot record '%s': %s", j->name, merr.msg);
        pitr_log_debug("timing: spool-marker '%s' %.3f ms", j->name, pitr_clock_ms_since(t0));
        pitr_free(marker);
    }
    if (j->rc != PITR_OK && !j->is_main)
        pitr_log_debug(
          "look-ahead push of '%s' failed (PostgreSQL will retry it): %s", j->name, j->err.msg);
    pitr_buf_release(&data);
}

static void *worker(void *arg)
{
    struct batch *b = arg;
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };
    int64_t t0 = pitr_clock_ns();
    pitr_rc open_rc = pitr_storage_open(b->cfg, &st, &err);

    pitr_log_debug("timing: worker open-repo %.3f ms", pitr_clock_ms_since(t0));

    for (;;) {
        struct job *j = NULL;
        size_t index = 0;

        pthread_mutex_lock(&b->lock);
        if (b->next < b->n) {
            index = b->next++;
            j = &b->jobs[index];
        }
        pthread_mutex_unlock(&b->lock);
        if (j == NULL)
            break;
        if (open_rc != PITR_OK) {
            j->rc = open_rc;
            j->err = err;
            continue;
        }
        run_job(b, st, j, index);
    }
    pitr_storage_free(st);
    return NULL;
}

/*
 * If a look-ahead marker for path exists and still names this very file,
 * the segment is stored. The marker is removed either way.
 */
static int consume_marker(const char *spool, const char *path, const char *name)
{
    char *marker = pitr_asprintf("%s/%s.ok", spool, name);
    struct pitr_buf want;
    struct pitr_err err = { 0 };
    char id[256];
    int hit = 0;

    pitr_buf_init(&want, 512);
    if (pitr_fs_read_file(marker, &want, &err) != PITR_OK)
        goto out;
    if (file_identity(path, id, sizeof(id), &err) == PITR_OK && strcmp(want.data, id) == 0)
        hit = 1;
    else
        pitr_log_warn("look-ahead marker for '%s' does not match the file; archiving it again",
                      name);
    unlink(marker);
out:
    pitr_free(marker);
    pitr_buf_release(&want);
    return hit;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Names of .ready segments after name (ascending), up to max, that have no
 * marker yet. Also removes markers whose segment is no longer .ready.
 */
static size_t find_ready(const char *waldir,
                         const char *spool,
                         const char *name,
                         char **out,
                         size_t max)
{
    char *status = pitr_asprintf("%s/archive_status", waldir);
    char **all = NULL;
    size_t n = 0, cap = 0, taken = 0, i;
    DIR *d = opendir(status);
    struct dirent *de;

    if (d == NULL)
        goto out;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct pitr_wal_name w;
        char seg[PITR_WAL_NAME_MAX];

        if (len != 24 + 6 || strcmp(de->d_name + 24, ".ready") != 0)
            continue;
        memcpy(seg, de->d_name, 24);
        seg[24] = '\0';
        if (pitr_wal_parse_name(seg, &w, NULL) != PITR_OK || strcmp(seg, name) <= 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            all = pitr_realloc(all, cap * sizeof(*all));
        }
        all[n++] = pitr_strdup(seg);
    }
    closedir(d);
    if (n > 1)
        qsort(all, n, sizeof(*all), cmp_str);
    for (i = 0; i < n; i++) {
        char *marker = pitr_asprintf("%s/%s.ok", spool, all[i]);

        if (taken < max && access(marker, F_OK) != 0)
            out[taken++] = pitr_asprintf("%s/%s", waldir, all[i]);
        pitr_free(marker);
        pitr_free(all[i]);
    }
out:
    pitr_free(all);
    pitr_free(status);
    return taken;
}

/* Markers of segments that are no longer .ready were consumed or are stale. */
static void prune_markers(const char *waldir, const char *spool)
{
    DIR *d = opendir(spool);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char *ready, *marker;

        if (len < 4 || strcmp(de->d_name + len - 3, ".ok") != 0)
            continue;
        ready = pitr_asprintf("%s/archive_status/%.*s.ready", waldir, (int)(len - 3), de->d_name);
        if (access(ready, F_OK) != 0) {
            marker = pitr_asprintf("%s/%s", spool, de->d_name);
            unlink(marker);
            pitr_free(marker);
        }
        pitr_free(ready);
    }
    closedir(d);
}

pitr_rc pitr_wal_push_batch(const struct pitr_config *cfg,
                            const struct pitr_push_batch_opts *o,
                            const char *path,
                            enum pitr_push_outcome *outcome,
                            struct pitr_err *err)
{
    const char *name = base_name(path);
    char *waldir = NULL, *spool = NULL, *status = NULL;
    char *extra[MAX_LOOK_AHEAD];
    struct pitr_wal_name w;
    struct batch b;
    struct stat sb;
    pthread_t threads[MAX_WORKERS];
    size_t n_extra = 0, i, n_threads = 0;
    pitr_rc rc;

    memset(&b, 0, sizeof(b));
    rc = pitr_wal_parse_name(name, &w, err);
    if (rc != PITR_OK)
        return rc;
    waldir = pitr_archive_dir_name(path);
    status = pitr_asprintf("%s/archive_status", waldir);
    if (o->look_ahead > 0 && w.kind == PITR_WAL_SEGMENT && stat(status, &sb) == 0 &&
        S_ISDIR(sb.st_mode)) {
        struct pitr_err serr = { 0 };

        spool = pitr_asprintf("%s/" SPOOL_DIR, waldir);
        if (consume_marker(spool, path, name)) {
            pitr_log_info("'%s' was archived by an earlier look-ahead push", name);
            *outcome = PITR_PUSH_SPOOLED;
            goto out;
        }
        if (pitr_fs_mkdir_p(spool, 0700, &serr) != PITR_OK) {
            pitr_log_debug("look-ahead disabled: %s", serr.msg);
            pitr_free(spool);
            spool = NULL;
        } else {
            prune_markers(waldir, spool);
            n_extra =
              find_ready(waldir,
                         spool,
                         name,
                         extra,
                         (size_t)(o->look_ahead < MAX_LOOK_AHEAD ? o->look_ahead : MAX_LOOK_AHEAD));
        }
    }

    b.cfg = cfg;
    b.o = o;
    b.spool = spool;
    b.n = 1 + n_extra;
    b.jobs = pitr_calloc(b.n, sizeof(*b.jobs));
    b.jobs[0].path = pitr_strdup(path);
    b.jobs[0].name = pitr_strdup(name);
    b.jobs[0].is_main = 1;
    for (i = 0; i < n_extra; i++) {
        b.jobs[1 + i].path = extra[i];
        b.jobs[1 + i].name = pitr_strdup(base_name(extra[i]));
    }
    pthread_mutex_init(&b.lock, NULL);
    b.workers = pitr_lookahead_workers(o->jobs, b.n);
    if (b.workers == 1) {
        worker(&b);
    } else {
        for (n_threads = 0; n_threads < b.workers; n_threads++)
            if (pthread_create(&threads[n_threads], NULL, worker, &b) != 0)
                break;
        if (n_threads == 0)
            worker(&b);
        for (i = 0; i < n_threads; i++)
            pthread_join(threads[i], NULL);
    }
    pthread_mutex_destroy(&b.lock);
    rc = b.jobs[0].rc;
    if (rc == PITR_OK)
        *outcome = b.jobs[0].outcome;
    else
        *err = b.jobs[0].err;
    for (i = 0; i < b.n; i++) {
        pitr_free(b.jobs[i].path);
        pitr_free(b.jobs[i].name);
    }
    pitr_free(b.jobs);
out:
    pitr_free(waldir);
    pitr_free(status);
    pitr_free(spool);
    return rc;
}
