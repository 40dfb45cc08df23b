/*
 * prefetch.c - wal-fetch answered from a spool that a background worker
 * fills ahead of PostgreSQL; see archive/prefetch.h.
 *
 * Process model: PostgreSQL runs restore_command once per file and waits
 * for it, so anything fetched inside the call delays replay by that long.
 * The worker therefore runs in a detached process (fork, setsid, fork) that
 * outlives the call and fetches while PostgreSQL replays; the call itself
 * only renames a spooled file, or fetches the one file it was asked for.
 * At most one worker runs per spool: it holds an flock() on the spool's
 * lock file, taken by the call that starts it before the fork, so the lock
 * is never free between decision and worker, and is released by the kernel
 * however the worker ends. A call that finds the lock held and its segment
 * in the worker's plan (written in the lock file) waits for it, bounded by
 * wait_ms, rather than fetching it twice. A worker whose batch is complete
 * waits a few seconds for PostgreSQL to use half of it and then fetches the
 * next batch itself, so one worker usually follows the whole recovery.
 *
 * The worker stops between segments, and never spools a file, once the
 * stop file exists, the spool is gone, or (for a spool inside a data
 * directory) neither recovery.signal nor standby.signal is left: recovery
 * is over.
 */
#include "pgpitr/archive/prefetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fetch_int.h"
#include "paths.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/wal/wal.h"
#include "spool.h"

#define POLL_MS 10

struct plan {
    char names[PITR_PREFETCH_MAX][25];
    size_t n;
    uint32_t seg_size; /* of the segment the plan follows */
};

/* How long a worker whose batch is done waits for PostgreSQL to use it. */
#define IDLE_MS 5000

struct run {
    const struct pitr_prefetch_opts *o;
    const struct plan *p;
    size_t next;    /* next index to fetch */
    size_t end;     /* first index known not to be archived */
    size_t fetched; /* segments spooled */
    pthread_mutex_t lock;
    atomic_int *stop;                         /* the overlap's stop flag, or NULL */
    int listed_done;                          /* the batch listing was tried (under lock) */
    struct wal_variants *listed;              /* owned; p->n entries, or NULL: list one by one */
    unsigned char spooled[PITR_PREFETCH_MAX]; /* 1: names[i] was spooled by this run */
};

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exists(const char *dir, const char *name)
{
    char *path = pitr_asprintf("%s/%s", dir, name);
    int r = access(path, F_OK) == 0;

    pitr_free(path);
    return r;
}

/*
 * A spool inside a data directory serves archive recovery only: PostgreSQL
 * 12+ runs it while recovery.signal or standby.signal exists (older ones
 * while recovery.conf does), and removes them when it ends.
 */
static int recovery_over(const struct pitr_prefetch_opts *o)
{
    return o->pgdata != NULL && !exists(o->pgdata, "recovery.signal") &&
           !exists(o->pgdata, "standby.signal") && !exists(o->pgdata, "recovery.conf");
}

/* Recovery over, cleaner asked, or spool gone: spool nothing more. */
static int must_stop(const struct pitr_prefetch_opts *o)
{
    struct stat sb;

    return stat(o->spool, &sb) != 0 || spool_stop_requested(o->spool) || recovery_over(o);
}

/* ---- the worker ------------------------------------------------------------ */

static void fetch_one(struct run *r, struct pitr_storage *st, size_t i)
{
    const char *name = r->p->names[i];
    struct pitr_wal_name w;
    struct pitr_err err = { 0 };
    struct pitr_buf plain;
    char *key = NULL, *path = NULL;
    int partial;
    pitr_rc rc;

    pitr_buf_init(&plain, PITR_WAL_MAX_FILE);
    if (pitr_wal_parse_name(name, &w, &err) != PITR_OK)
        goto out;
    rc = pitr_archive_fetch_load_listed(
      st, r->o->server, name, 1, r->listed ? &r->listed[i] : NULL, &plain, &key, &partial, &err);
    if (rc == PITR_ENOTFOUND) {
        /* Nothing after it is fetched; only a partial form is no "not found". */
        pthread_mutex_lock(&r->lock);
        if (i < r->end)
            r->end = i;
        pthread_mutex_unlock(&r->lock);
        if (!partial)
            spool_miss_record(r->o->spool, name);
        pitr_log_debug("prefetch: '%s' is not archived%s", name, partial ? " but as partial" : "");
        goto out;
    }
    if (rc != PITR_OK) {
        /* archive_fetch_load checked every stored copy: a bad one is never spooled. */
        pitr_log_info(
          "prefetch of '%s' failed (wal-fetch will fetch it itself): %s", name, err.msg);
        goto out;
    }
    if (must_stop(r->o))
        goto out;
    path = pitr_asprintf("%s/%s", r->o->spool, name);
    if (pitr_fs_write_atomic(path, plain.data, plain.len, 0600, &err) != PITR_OK) {
        pitr_log_info("prefetch: %s", err.msg);
        goto out;
    }
    pthread_mutex_lock(&r->lock);
    r->fetched++;
    r->spooled[i] = 1;
    pthread_mutex_unlock(&r->lock);
    pitr_log_debug("prefetched '%s' from '%s'", name, key);
out:
    pitr_buf_release(&plain);
    pitr_free(key);
    pitr_free(path);
}

/*
 * One listing for the whole plan instead of one per segment (caller holds
 * r->lock). On failure every segment is listed alone, as before.
 */
static void list_batch(struct run *r, struct pitr_storage *st)
{
    struct pitr_err err = { 0 };

    r->listed_done = 1;
    if (r->p->n < 2)
        return;
    r->listed = pitr_calloc(r->p->n, sizeof(*r->listed));
    if (wal_variants_find_many(
          st, r->o->server, (const char(*)[25])r->p->names, r->p->n, r->listed, &err) != PITR_OK) {
        pitr_log_debug("prefetch: listing the batch at once failed (%s); one by one", err.msg);
        pitr_free(r->listed);
        r->listed = NULL;
    }
}

static void run_release(struct run *r)
{
    for (size_t i = 0; r->listed != NULL && i < r->p->n; i++)
        wal_variants_release(&r->listed[i]);
    pitr_free(r->listed);
    r->listed = NULL;
}

static void *run_thread(void *arg)
{
    struct run *r = arg;
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };

    if (pitr_storage_open(r->o->cfg, &st, &err) != PITR_OK) {
        pitr_log_info("prefetch: %s", err.msg);
        return NULL;
    }
    pthread_mutex_lock(&r->lock);
    if (!r->listed_done)
        list_batch(r, st);
    pthread_mutex_unlock(&r->lock);
    for (;;) {
        size_t i;

        pthread_mutex_lock(&r->lock);
        i = r->next < r->p->n && r->next < r->end ? r->next++ : (size_t)-1;
        pthread_mutex_unlock(&r->lock);
        if (i == (size_t)-1 || must_stop(r->o) || (r->stop != NULL && atomic_load(r->stop)))
            break;
        fetch_one(r, st, i);
    }
    pitr_storage_free(st);
    return NULL;
}

/*
 * The segments after w that are neither spooled nor known missing, up to
 * count ahead and up to the first known missing one; *spooled counts those
 * already in the spool.
 */
static void make_plan(const struct pitr_prefetch_opts *o,
                      const struct pitr_wal_name *w,
                      uint32_t seg_size,
                      int count,
                      struct plan *p,
                      int *spooled)
{
    struct pitr_wal_name cur = *w, next;
    time_t now = time(NULL);
    int depth = count < PITR_PREFETCH_MAX ? count : PITR_PREFETCH_MAX;

    p->n = 0;
    p->seg_size = seg_size;
    *spooled = 0;
    for (int i = 0; i < depth; i++) {
        char name[25];

        pitr_wal_next_segment(&cur, seg_size, &next);
        cur = next;
        pitr_wal_format_segment(&cur, name);
        if (spool_miss_fresh(o->spool, name, o->miss_ttl, now))
            break;
        if (spool_has(o->spool, name)) {
            (*spooled)++;
            continue;
        }
        memcpy(p->names[p->n++], name, sizeof(name));
    }
}

/* Fetch one batch on up to jobs threads; returns 1 when all of it is spooled. */
static int run_batch(const struct pitr_prefetch_opts *o, const struct plan *p)
{
    struct run r = { o, p, 0, p->n, 0, PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, { 0 } };
    pthread_t threads[64];
    size_t want = (size_t)(o->jobs > 0 ? o->jobs : 1), n = 0, i;

    if (want > p->n)
        want = p->n;
    if (want > sizeof(threads) / sizeof(threads[0]))
        want = sizeof(threads) / sizeof(threads[0]);
    for (n = 0; n < want; n++)
        if (pthread_create(&threads[n], NULL, run_thread, &r) != 0)
            break;
    if (n == 0)
        run_thread(&r);
    for (i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&r.lock);
    run_release(&r);
    pitr_log_info("prefetch: spooled %zu of %zu segment(s) %s .. %s in '%s'",
                  r.fetched,
                  p->n,
                  p->names[0],
                  p->names[p->n - 1],
                  o->spool);
    return r.fetched == p->n;
}

/* The running worker's plan, for calls that wonder whether to wait. */
static void write_plan(int lockfd, const struct plan *p)
{
    char line[64];
    int len = snprintf(line, sizeof(line), "%s %s\n", p->names[0], p->names[p->n - 1]);

    if (ftruncate(lockfd, 0) != 0 || pwrite(lockfd, line, (size_t)len, 0) != len)
        pitr_log_debug("prefetch: cannot write the plan: %s", strerror(errno));
}

/*
 * The worker; the caller holds the lock. After each complete batch it
 * waits up to idle_ms for PostgreSQL to use half the depth, and then
 * fetches the next batch itself, so the spool stays fed while replay runs
 * without a restart per batch. A miss, a failure, a stalled PostgreSQL or
 * the end of recovery ends it; the next call starts another when needed.
 */
static void run_worker(const struct pitr_prefetch_opts *o,
                       const struct plan *first,
                       int lockfd,
                       int idle_ms)
{
    struct plan p = *first, next;
    struct pitr_wal_name last;
    int spooled;

    while (run_batch(o, &p) && !must_stop(o) &&
           pitr_wal_parse_name(p.names[p.n - 1], &last, NULL) == PITR_OK) {
        long long deadline = now_ms() + idle_ms;
        int left;

        /*
         * Count every segment of the timeline in the spool, not only this
         * batch's: a batch of half the depth or less would otherwise let
         * the next one start at once, and a reader slower than the worker
         * would see the spool grow without bound. The calls' sweep removes
         * what replay has passed, so at most depth segments wait ahead.
         */
        for (;;) {
            left = spool_count_segments(o->spool, last.tli);
            if (left * 2 <= o->depth || now_ms() >= deadline || must_stop(o))
                break;
            sleep_ms(POLL_MS * 2);
        }
        if (left * 2 > o->depth || must_stop(o))
            break;
        make_plan(o, &last, p.seg_size, o->depth - left, &next, &spooled);
        if (next.n == 0)
            break;
        p = next;
        write_plan(lockfd, &p);
    }
    /*
     * Recovery ended while we ran: the cleaner left the spool to us, or
     * there is no cleaner (a hand-written restore_command without
     * recovery_end_command) and nobody will ask for what is left.
     */
    if (spool_stop_requested(o->spool) || recovery_over(o))
        spool_remove_all(o->spool);
}

/*
 * In the detached process: none of PostgreSQL's descriptors, no stdin or
 * stdout. stderr stays when it is a file or terminal (pg_ctl -l, a
 * console), so the worker's lines reach the server log; a pipe is let go,
 * since whoever reads it to its end (a wrapper capturing restore_command's
 * output) would otherwise wait for the worker.
 */
static void detach_fds(int keep)
{
    long max = sysconf(_SC_OPEN_MAX);
    int null = open("/dev/null", O_RDWR);
    struct stat sb;

    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (fstat(2, &sb) != 0 || !(S_ISREG(sb.st_mode) || S_ISCHR(sb.st_mode)))
            dup2(null, 2);
        if (null > 2 && null != keep)
            close(null);
    }
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++)
        if (fd != keep)
            close(fd);
}

/*
 * Start the worker for plan; lockfd holds the lock, which passes to the
 * worker. Writes the plan into the lock file first.
 */
static void start_worker(const struct pitr_prefetch_opts *o, const struct plan *p, int lockfd)
{
    pid_t pid;

    write_plan(lockfd, p);
    pitr_log_info("prefetch: fetching %zu segment(s) %s .. %s into '%s'",
                  p->n,
                  p->names[0],
                  p->names[p->n - 1],
                  o->spool);
    if (!o->detach) {
        run_worker(o, p, lockfd, 0); /* inside the call: nobody uses the spool meanwhile */
        return;
    }
    pid = fork();
    if (pid < 0) {
        pitr_log_info("prefetch: cannot start the worker: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        /* A new session, and a grandchild PostgreSQL's system() does not wait for. */
        if (setsid() < 0 || fork() != 0)
            _exit(0);
        detach_fds(lockfd);
        run_worker(o, p, lockfd, IDLE_MS);
        _exit(0);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        continue;
}

/* ---- the call ---------------------------------------------------------------- */

/* True when the running worker's plan (in the lock file) covers w. */
static int in_plan(int lockfd, const struct pitr_wal_name *w)
{
    char line[64] = { 0 }, a[25], b[25];
    struct pitr_wal_name first, last;
    ssize_t n = pread(lockfd, line, sizeof(line) - 1, 0);

    if (n <= 0 || sscanf(line, "%24s %24s", a, b) != 2 ||
        pitr_wal_parse_name(a, &first, NULL) != PITR_OK ||
        pitr_wal_parse_name(b, &last, NULL) != PITR_OK || first.tli != w->tli)
        return 0;
    if (w->log < first.log || (w->log == first.log && w->seg < first.seg))
        return 0;
    if (w->log > last.log || (w->log == last.log && w->seg > last.seg))
        return 0;
    return 1;
}

/*
 * Wait until the worker spooled name, found it missing, or ended. Returns
 * 1 when this call now holds the lock (the worker ended).
 */
static int wait_worker(const struct pitr_prefetch_opts *o, int lockfd, const char *name)
{
    long long deadline = now_ms() + o->wait_ms;

    pitr_log_debug("prefetch: waiting for the worker to fetch '%s'", name);
    while (now_ms() < deadline) {
        if (spool_has(o->spool, name) || spool_miss_fresh(o->spool, name, o->miss_ttl, time(NULL)))
            return 0;
        if (spool_lock_try(lockfd))
            return 1;
        sleep_ms(POLL_MS);
    }
    pitr_log_info(
      "prefetch: '%s' not spooled within %d ms; fetching it directly", name, o->wait_ms);
    return 0;
}

/* The segment size of the segment just written to dest; 0 for a partial one. */
static uint32_t delivered_size(const char *dest)
{
    unsigned char hdr[64];
    struct stat sb;
    uint32_t seg_size = 0;
    int fd = open(dest, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return 0;
    n = fstat(fd, &sb) == 0 ? pread(fd, hdr, sizeof(hdr), 0) : -1;
    close(fd);
    if (n < 0 || pitr_wal_segment_size(hdr, (size_t)n, &seg_size, NULL) != PITR_OK ||
        (uint64_t)sb.st_size != seg_size)
        return 0;
    return seg_size;
}

static pitr_rc fetch_segment(struct pitr_storage *st,
                             const struct pitr_prefetch_opts *o,
                             const char *name,
                             const struct pitr_wal_name *w,
                             const char *dest,
                             enum pitr_fetch_source *src,
                             struct pitr_err *err)
{
    struct plan plan;
    uint32_t seg_size = 0;
    int lockfd, owner = 0, hit = 0, spooled;
    pitr_rc rc = PITR_OK;

    lockfd = spool_lock_open(o->spool);
    if (lockfd >= 0)
        owner = spool_lock_try(lockfd);
    if (owner && spool_stop_requested(o->spool)) {
        char *stop = pitr_asprintf("%s/" SPOOL_STOP, o->spool);

        /* Left by an earlier end of recovery: nothing in the spool is ours. */
        spool_empty(o->spool);
        unlink(stop);
        pitr_free(stop);
    }
    spool_sweep(o->spool, w, owner, o->miss_ttl, time(NULL));
    for (int attempt = 0;; attempt++) {
        rc = spool_take(o->spool, name, w, dest, &seg_size, &hit, err);
        if (rc != PITR_OK || hit)
            break;
        if (spool_miss_fresh(o->spool, name, o->miss_ttl, time(NULL))) {
            rc = pitr_err_set(err,
                              PITR_ENOTFOUND,
                              "WAL file '%s' is not in the archive (server '%s'; "
                              "answer cached less than %d s ago)",
                              name,
                              o->server,
                              o->miss_ttl);
            goto out;
        }
        if (attempt > 0 || owner || lockfd < 0 || !in_plan(lockfd, w))
            break;
        owner = wait_worker(o, lockfd, name);
    }
    if (rc != PITR_OK)
        goto out;
    if (hit) {
        *src = PITR_FETCH_SPOOL;
        pitr_log_info("served '%s' from the prefetch spool to '%s'", name, dest);
    } else {
        rc = pitr_wal_fetch(st, o->server, name, dest, err);
        if (rc == PITR_ENOTFOUND)
            spool_miss_record(o->spool, name);
        if (rc != PITR_OK)
            goto out;
        /* A partial segment ends its timeline: nothing to fetch after it. */
        seg_size = delivered_size(dest);
    }
    if (!owner || seg_size == 0 || must_stop(o))
        goto out;
    make_plan(o, w, seg_size, o->depth, &plan, &spooled);
    if (plan.n > 0 && spooled * 2 <= o->depth)
        start_worker(o, &plan, lockfd);
out:
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

/* ---- how far replay is ------------------------------------------------------ */

#define POS_FILE_MAX ((size_t)1 << 20) /* postgresql.auto.conf, backup_label.old */

/* The value of the last active "key = value" line of conf (quotes removed), cut to out's size. */
static int conf_value(const char *conf, size_t len, const char *key, char *out, size_t outsz)
{
    size_t klen = strlen(key), i = 0;
    int found = 0;

    while (i < len) {
        size_t e = i, j, n = 0;

        while (e < len && conf[e] != '\n')
            e++;
        j = i;
        while (j < e && (conf[j] == ' ' || conf[j] == '\t'))
            j++;
        if (e - j > klen && strncmp(conf + j, key, klen) == 0 &&
            (conf[j + klen] == ' ' || conf[j + klen] == '\t' || conf[j + klen] == '=')) {
            j += klen;
            while (j < e && (conf[j] == ' ' || conf[j] == '\t' || conf[j] == '='))
                j++;
            if (j < e && conf[j] == '\'')
                j++;
            while (j < e && conf[j] != '\'' && conf[j] != '#' && n + 1 < outsz)
                out[n++] = conf[j++];
            while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
                n--;
            out[n] = '\0';
            found = n > 0;
        }
        i = e + 1;
    }
    return found;
}

static uint64_t seg_number(const struct pitr_wal_name *w, uint32_t seg_size)
{
    return (uint64_t)w->log * (0x100000000ULL / seg_size) + w->seg;
}

/*
 * One info line for each segment delivered to a data directory's recovery:
 * how far it is from the backup's first WAL (backup_label.old, which
 * PostgreSQL leaves at the start of recovery) and from the target
 * (postgresql.auto.conf): for an LSN target, the segments left to its
 * segment; for any other target only what it is, since which WAL holds it
 * is not known before replay reaches it.
 */
static void log_position(const struct pitr_prefetch_opts *o,
                         const char *name,
                         const struct pitr_wal_name *w,
                         uint32_t seg_size)
{
    struct pitr_buf f;
    struct pitr_err err = { 0 };
    struct pitr_wal_name first;
    char *path = NULL, since[96] = "", target[256] = "target: the end of the archive", v[96];
    const char *p;

    pitr_buf_init(&f, POS_FILE_MAX);
    if (seg_size == 0)
        seg_size = 16u << 20;
    path = pitr_asprintf("%s/backup_label.old", o->pgdata);
    if (pitr_fs_read_file(path, &f, &err) == PITR_OK && f.len > 0 &&
        pitr_buf_append(&f, "", 1, &err) == PITR_OK &&
        (p = strstr((const char *)f.data, "START WAL LOCATION: ")) != NULL &&
        (p = strstr(p, "(file ")) != NULL) {
        char fname[25];

        memcpy(fname, p + 6, 24);
        fname[24] = '\0';
        if (pitr_wal_parse_name(fname, &first, NULL) == PITR_OK && first.kind == PITR_WAL_SEGMENT &&
            seg_number(w, seg_size) >= seg_number(&first, seg_size))
            snprintf(since,
                     sizeof(since),
                     "; segment %ju from the backup's first WAL %s",
                     (uintmax_t)(seg_number(w, seg_size) - seg_number(&first, seg_size) + 1),
                     fname);
    }
    pitr_free(path);
    pitr_buf_reset(&f);
    path = pitr_asprintf("%s/postgresql.auto.conf", o->pgdata);
    if (pitr_fs_read_file(path, &f, &err) == PITR_OK) {
        const char *c = (const char *)f.data;
        uint64_t lsn;

        if (conf_value(c, f.len, "recovery_target_lsn", v, sizeof(v)) &&
            pitr_pg_parse_lsn(v, &lsn, NULL) == PITR_OK) {
            uint64_t last = lsn / seg_size, at = seg_number(w, seg_size);

            snprintf(target,
                     sizeof(target),
                     "target LSN %s: %ju segment(s) to go to its segment",
                     v,
                     (uintmax_t)(last > at ? last - at : 0));
        } else if (conf_value(c, f.len, "recovery_target_time", v, sizeof(v)))
            snprintf(target,
                     sizeof(target),
                     "target time %s (its last WAL is not known before replay reaches it)",
                     v);
        else if (conf_value(c, f.len, "recovery_target_xid", v, sizeof(v)))
            snprintf(target, sizeof(target), "target xid %s (its WAL is not known)", v);
        else if (conf_value(c, f.len, "recovery_target_name", v, sizeof(v)))
            snprintf(target, sizeof(target), "target restore point '%s' (its WAL is not known)", v);
        else if (conf_value(c, f.len, "recovery_target", v, sizeof(v)))
            snprintf(target, sizeof(target), "target %s (the end of the backup)", v);
    }
    pitr_log_info("wal-fetch: recovery asked for %s%s; %s", name, since, target);
    pitr_free(path);
    pitr_buf_release(&f);
}

pitr_rc pitr_wal_fetch_prefetch(struct pitr_storage *st,
                                const struct pitr_prefetch_opts *o,
                                const char *name,
                                const char *dest,
                                enum pitr_fetch_source *src,
                                struct pitr_err *err)
{
    struct pitr_wal_name w;
    struct pitr_err serr = { 0 };
    pitr_rc rc;

    *src = PITR_FETCH_ARCHIVE;
    rc = pitr_wal_parse_name(name, &w, err);
    if (rc != PITR_OK)
        return rc;
    if (w.kind != PITR_WAL_SEGMENT || o->depth <= 0) {
        /* History, .partial and .backup files: always from the archive. */
        rc = pitr_wal_fetch(st, o->server, name, dest, err);
        if (rc == PITR_OK && w.kind == PITR_WAL_HISTORY)
            spool_drop_misses(o->spool);
        return rc;
    }
    if (pitr_fs_mkdir_p(o->spool, 0700, &serr) != PITR_OK) {
        pitr_log_warn("prefetch disabled: %s", serr.msg);
        return pitr_wal_fetch(st, o->server, name, dest, err);
    }
    rc = fetch_segment(st, o, name, &w, dest, src, err);
    if (rc == PITR_OK && o->pgdata != NULL)
        log_position(o, name, &w, delivered_size(dest));
    return rc;
}

/* ---- the restore's overlap ------------------------------------------------- */

#define OVERLAP_THREADS 16
#define OVERLAP_NICE    10

struct pitr_prefetch_overlap {
    struct pitr_prefetch_opts o; /* a copy; its strings stay the caller's */
    struct plan p;
    struct run r;
    atomic_int stop;
    atomic_int active; /* threads still fetching */
    pthread_t threads[OVERLAP_THREADS];
    size_t nthreads;
    int lockfd;
};

static void *overlap_thread(void *arg)
{
    struct pitr_prefetch_overlap *ov = arg;

    /*
     * Below the restore's own threads: the data files come first, the WAL
     * takes the CPU they leave (Linux: nice applies per thread).
     */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), OVERLAP_NICE) != 0)
        pitr_log_debug("prefetch: cannot lower the overlap's priority: %s", strerror(errno));
    run_thread(&ov->r);
    atomic_fetch_sub(&ov->active, 1);
    return NULL;
}

int pitr_prefetch_overlap_busy(struct pitr_prefetch_overlap *ov)
{
    return ov != NULL && atomic_load(&ov->active) > 0;
}

struct pitr_prefetch_overlap *pitr_prefetch_overlap_start(const struct pitr_prefetch_opts *o,
                                                          const char *first,
                                                          uint32_t seg_size,
                                                          int count)
{
    struct pitr_prefetch_overlap *ov = NULL;
    struct pitr_wal_name cur, next;
    struct pitr_err err = { 0 };
    size_t want;

    if (count <= 0 || o->pgdata != NULL || pitr_wal_parse_name(first, &cur, &err) != PITR_OK ||
        cur.kind != PITR_WAL_SEGMENT || seg_size < (1u << 20) || seg_size > PITR_WAL_SEG_MAX ||
        (seg_size & (seg_size - 1)) != 0) {
        pitr_log_info("restore: no WAL fetched ahead of recovery (first WAL '%s', %d segment(s))",
                      first,
                      count);
        return NULL;
    }
    if (pitr_fs_mkdir_p(o->spool, 0700, &err) != PITR_OK) {
        pitr_log_info("restore: no WAL fetched ahead of recovery: %s", err.msg);
        return NULL;
    }
    ov = pitr_calloc(1, sizeof(*ov));
    ov->o = *o;
    ov->lockfd = spool_lock_open(o->spool);
    if (ov->lockfd < 0 || !spool_lock_try(ov->lockfd)) {
        pitr_log_info("restore: no WAL fetched ahead of recovery: the spool '%s' is locked or "
                      "has no lock file",
                      o->spool);
        goto fail;
    }
    if (count > PITR_PREFETCH_MAX)
        count = PITR_PREFETCH_MAX;
    ov->p.seg_size = seg_size;
    for (int i = 0; i < count; i++) {
        pitr_wal_format_segment(&cur, ov->p.names[ov->p.n++]);
        pitr_wal_next_segment(&cur, seg_size, &next);
        cur = next;
    }
    write_plan(ov->lockfd, &ov->p);
    atomic_init(&ov->stop, 0);
    atomic_init(&ov->active, 0);
    ov->r.o = &ov->o;
    ov->r.p = &ov->p;
    ov->r.end = ov->p.n;
    ov->r.stop = &ov->stop;
    if (pthread_mutex_init(&ov->r.lock, NULL) != 0)
        goto fail;
    want = (size_t)(o->jobs > 0 ? o->jobs : 1);
    if (want > OVERLAP_THREADS)
        want = OVERLAP_THREADS;
    for (ov->nthreads = 0; ov->nthreads < want; ov->nthreads++) {
        atomic_fetch_add(&ov->active, 1);
        if (pthread_create(&ov->threads[ov->nthreads], NULL, overlap_thread, ov) != 0) {
            atomic_fetch_sub(&ov->active, 1);
            break;
        }
    }
    if (ov->nthreads == 0) {
        pthread_mutex_destroy(&ov->r.lock);
        pitr_log_info("restore: no WAL fetched ahead of recovery: cannot start a thread");
        goto fail;
    }
    pitr_log_info("restore: fetching WAL %s .. %s (%zu segment(s), at most %.0f MiB) into '%s' "
                  "on %zu thread(s) while the data files are restored",
                  ov->p.names[0],
                  ov->p.names[ov->p.n - 1],
                  ov->p.n,
                  (double)ov->p.n * seg_size / 1048576.0,
                  o->spool,
                  ov->nthreads);
    return ov;
fail:
    if (ov->lockfd >= 0)
        close(ov->lockfd);
    pitr_free(ov);
    return NULL;
}

/* True when entry is a segment the overlap spooled itself. */
static int overlap_spooled(const struct pitr_prefetch_overlap *ov, const char *entry)
{
    for (size_t i = 0; i < ov->p.n; i++)
        if (ov->r.spooled[i] && strcmp(ov->p.names[i], entry) == 0)
            return 1;
    return 0;
}

/* True when entry is the "not archived" record of a segment of the overlap's plan. */
static int overlap_missed(const struct pitr_prefetch_overlap *ov, const char *entry)
{
    static const char suffix[] = ".missing";

    if (strlen(entry) != 24 + sizeof(suffix) - 1 || strcmp(entry + 24, suffix) != 0)
        return 0;
    for (size_t i = 0; i < ov->p.n; i++)
        if (strncmp(ov->p.names[i], entry, 24) == 0)
            return 1;
    return 0;
}

size_t pitr_prefetch_overlap_finish(struct pitr_prefetch_overlap *ov)
{
    size_t kept = 0, removed = 0;
    DIR *d;
    struct dirent *de;

    if (ov == NULL)
        return 0;
    atomic_store(&ov->stop, 1);
    for (size_t i = 0; i < ov->nthreads; i++)
        pthread_join(ov->threads[i], NULL);
    pthread_mutex_destroy(&ov->r.lock);
    run_release(&ov->r);
    /* Only what it fetched and checked itself stays: nothing else was in a new spool. */
    d = opendir(ov->o.spool);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, SPOOL_LOCK) == 0)
            continue;
        if (overlap_spooled(ov, de->d_name)) {
            kept++;
            continue;
        }
        /*
         * Its own record that the plan ran past the archive's end: dropped
         * too (recovery asks again), but no cause for a warning.
         */
        if (overlap_missed(ov, de->d_name)) {
            if (unlinkat(dirfd(d), de->d_name, 0) != 0)
                pitr_log_debug(
                  "restore: cannot remove '%s/%s': %s", ov->o.spool, de->d_name, strerror(errno));
            continue;
        }
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            removed++;
        else
            pitr_log_warn("restore: cannot remove '%s/%s', which the WAL prefetch did not make: %s",
                          ov->o.spool,
                          de->d_name,
                          strerror(errno));
    }
    if (d != NULL)
        closedir(d);
    if (removed > 0)
        pitr_log_warn("restore: removed %zu file(s) from '%s' that the WAL prefetch did not make",
                      removed,
                      ov->o.spool);
    pitr_log_info("restore: %zu of %zu WAL segment(s) fetched ahead of recovery into '%s'",
                  kept,
                  ov->p.n,
                  ov->o.spool);
    /* An empty plan in the lock file: no wal-fetch waits for a worker that is gone. */
    if (ftruncate(ov->lockfd, 0) != 0)
        pitr_log_debug("prefetch: cannot clear the plan: %s", strerror(errno));
    close(ov->lockfd);
    pitr_free(ov);
    return kept;
}

/* ---- where the spool is, and its end ----------------------------------------- */

char *pitr_prefetch_spool_for(const char *dest, char **pgdata)
{
    char *waldir = pitr_archive_dir_name(dest), *data = pitr_archive_dir_name(waldir),
         *spool = NULL;
    const char *base = strrchr(waldir, '/');
    struct stat sb;
    char *status = pitr_asprintf("%s/archive_status", waldir);

    *pgdata = NULL;
    base = base ? base + 1 : waldir;
    if (strcmp(base, "pg_wal") == 0 && stat(status, &sb) == 0 && S_ISDIR(sb.st_mode) &&
        exists(data, "PG_VERSION")) {
        spool = pitr_asprintf("%s/" PITR_PREFETCH_DIR, waldir);
        *pgdata = data;
        data = NULL;
    }
    pitr_free(status);
    pitr_free(waldir);
    pitr_free(data);
    return spool;
}

pitr_rc pitr_prefetch_clean(const char *spool, int wait_ms, struct pitr_err *err)
{
    char *stop = pitr_asprintf("%s/" SPOOL_STOP, spool);
    long long deadline = now_ms() + wait_ms;
    struct stat sb;
    int fd = -1, lockfd = -1, got = 0;
    pitr_rc rc = PITR_OK;

    if (stat(spool, &sb) != 0) {
        if (errno != ENOENT)
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot clean '%s'", spool);
        goto out;
    }
    if (!S_ISDIR(sb.st_mode) || !spool_is_ours(spool)) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "'%s' is not a prefetch spool (no " SPOOL_LOCK
                          " in it): refusing to clean it",
                          spool);
        goto out;
    }
    /* Tell a running worker to stop, then wait for its lock. */
    fd = open(stop, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create '%s'", stop);
        goto out;
    }
    lockfd = spool_lock_open(spool);
    if (lockfd < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot open the lock in '%s'", spool);
        goto out;
    }
    while (!(got = spool_lock_try(lockfd)) && now_ms() < deadline)
        sleep_ms(POLL_MS * 2);
    if (got) {
        spool_remove_all(spool);
        pitr_log_info("removed the prefetch spool '%s'", spool);
    } else {
        spool_empty(spool);
        pitr_log_info("a prefetch worker still runs in '%s'; it removes the spool when it stops",
                      spool);
    }
out:
    if (fd >= 0)
        close(fd);
    if (lockfd >= 0)
        close(lockfd);
    pitr_free(stop);
    return rc;
}
