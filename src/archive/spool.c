/*
 * spool.c - the prefetch spool's entries; see spool.h.
 *
 * Every file in the spool appears whole: segments are written by
 * pitr_fs_write_atomic (temp file, fsync, rename, directory fsync), the
 * negative entries are empty files whose mtime is the time of the answer.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

#define MISS_SUFFIX ".missing"

pitr_rc spool_take(const char *spool,
                   const char *name,
                   const struct pitr_wal_name *w,
                   const char *dest,
                   uint32_t *seg_size,
                   int *hit,
                   struct pitr_err *err)
{
    char *path = pitr_asprintf("%s/%s", spool, name), *ddir = NULL;
    unsigned char hdr[64];
    struct pitr_err cerr = { 0 };
    struct pitr_buf data;
    struct stat sb;
    ssize_t n;
    int fd;
    pitr_rc rc = PITR_OK, crc;

    *hit = 0;
    pitr_buf_init(&data, PITR_WAL_MAX_FILE);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out; /* not spooled (or removed meanwhile) */
    n = fstat(fd, &sb) == 0 ? pread(fd, hdr, sizeof(hdr), 0) : -1;
    close(fd);
    if (n < 0)
        crc = pitr_err_set_errno(&cerr, PITR_EIO, errno, "cannot read it");
    else
        crc = pitr_wal_check_segment(hdr, (size_t)n, (uint64_t)sb.st_size, w, seg_size, &cerr);
    if (crc != PITR_OK) {
        pitr_log_warn("prefetched '%s' is unusable (%s); removed, fetching it from the archive",
                      path,
                      cerr.msg);
        unlink(path);
        goto out;
    }
    if (rename(path, dest) != 0) {
        if (errno != EXDEV) {
            rc = pitr_err_set_errno(
              err, PITR_EIO, errno, "cannot move prefetched '%s' to '%s'", path, dest);
            goto out;
        }
        /* An explicit spool on another file system: copy, then drop. */
        rc = pitr_fs_read_file(path, &data, err);
        if (rc == PITR_OK)
            rc = pitr_fs_write_atomic(dest, data.data, data.len, 0600, err);
        if (rc != PITR_OK)
            goto out;
        unlink(path);
    }
    ddir = pitr_archive_dir_name(dest);
    rc = pitr_fs_fsync_dir(ddir, err);
    if (rc == PITR_OK)
        rc = pitr_fs_fsync_dir(spool, err);
    if (rc == PITR_OK)
        *hit = 1;
out:
    pitr_buf_release(&data);
    pitr_free(path);
    pitr_free(ddir);
    return rc;
}

int spool_has(const char *spool, const char *name)
{
    char *path = pitr_asprintf("%s/%s", spool, name);
    int r = access(path, F_OK) == 0;

    pitr_free(path);
    return r;
}

void spool_miss_record(const char *spool, const char *name)
{
    char *path = pitr_asprintf("%s/%s" MISS_SUFFIX, spool, name);
    struct pitr_err err = { 0 };

    /* A new file each time: its mtime is the time of the answer. */
    if (pitr_fs_write_atomic(path, "", 0, 0600, &err) != PITR_OK)
        pitr_log_debug("prefetch: cannot record that '%s' is not archived: %s", name, err.msg);
    pitr_free(path);
}

int spool_miss_fresh(const char *spool, const char *name, int ttl, time_t now)
{
    char *path = pitr_asprintf("%s/%s" MISS_SUFFIX, spool, name);
    struct stat sb;
    int r = 0;

    /* A clock that jumped back makes an entry from "the future": not trusted. */
    if (stat(path, &sb) == 0 && sb.st_mtime <= now && now - sb.st_mtime < ttl)
        r = 1;
    pitr_free(path);
    return r;
}

/* Compare segment positions, whatever the timeline. */
static int pos_cmp(const struct pitr_wal_name *a, const struct pitr_wal_name *b)
{
    if (a->log != b->log)
        return a->log < b->log ? -1 : 1;
    if (a->seg != b->seg)
        return a->seg < b->seg ? -1 : 1;
    return 0;
}

enum entry_kind { E_OTHER, E_SEGMENT, E_MISS, E_TEMP, E_CONTROL };

static enum entry_kind classify(const char *name, struct pitr_wal_name *w)
{
    size_t len = strlen(name);
    char seg[PITR_WAL_NAME_MAX];

    if (pitr_fs_is_temp_name(name))
        return E_TEMP;
    if (strcmp(name, SPOOL_LOCK) == 0 || strcmp(name, SPOOL_STOP) == 0)
        return E_CONTROL;
    if (len != 24 && len != 24 + strlen(MISS_SUFFIX))
        return E_OTHER;
    if (len > 24 && strcmp(name + 24, MISS_SUFFIX) != 0)
        return E_OTHER;
    memcpy(seg, name, 24);
    seg[24] = '\0';
    if (pitr_wal_parse_name(seg, w, NULL) != PITR_OK || w->kind != PITR_WAL_SEGMENT)
        return E_OTHER;
    return len == 24 ? E_SEGMENT : E_MISS;
}

/* Call fn for every entry of the spool (but "." and ".."). */
static void each_entry(const char *spool,
                       void (*fn)(const char *path, const char *name, void *ud),
                       void *ud)
{
    DIR *d = opendir(spool);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char *path;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        path = pitr_asprintf("%s/%s", spool, de->d_name);
        fn(path, de->d_name, ud);
        pitr_free(path);
    }
    closedir(d);
}

struct sweep_ctx {
    const struct pitr_wal_name *asked;
    int owner, ttl;
    time_t now;
};

static void sweep_one(const char *path, const char *name, void *ud)
{
    struct sweep_ctx *c = ud;
    struct pitr_wal_name w;
    struct stat sb;
    enum entry_kind k = classify(name, &w);

    if (k == E_OTHER || k == E_CONTROL || lstat(path, &sb) != 0)
        return;
    if (k == E_TEMP) {
        if (c->owner || pitr_fs_temp_is_stale(name, sb.st_mtime, c->now)) {
            pitr_log_debug("prefetch: removing abandoned '%s'", path);
            unlink(path);
        }
        return;
    }
    if (c->asked != NULL && pos_cmp(&w, c->asked) < 0) {
        unlink(path);
        return;
    }
    if (k == E_MISS && (sb.st_mtime > c->now || c->now - sb.st_mtime >= c->ttl))
        unlink(path);
}

void spool_sweep(const char *spool,
                 const struct pitr_wal_name *asked,
                 int owner,
                 int ttl,
                 time_t now)
{
    struct sweep_ctx c = { asked, owner, ttl, now };

    each_entry(spool, sweep_one, &c);
}

static void drop_miss(const char *path, const char *name, void *ud)
{
    struct pitr_wal_name w;

    (void)ud;
    if (classify(name, &w) == E_MISS)
        unlink(path);
}

void spool_drop_misses(const char *spool)
{
    each_entry(spool, drop_miss, NULL);
}

/* Remove an entry of ours; anything else in the directory is left alone. */
static void drop_any(const char *path, const char *name, void *ud)
{
    int keep_control = *(int *)ud;
    struct pitr_wal_name w;
    enum entry_kind k = classify(name, &w);

    if (k == E_OTHER) {
        pitr_log_warn("leaving '%s': not a file the prefetch spool makes", path);
        return;
    }
    if (keep_control && k == E_CONTROL)
        return;
    if (unlink(path) != 0)
        pitr_log_warn("cannot remove '%s': %s", path, strerror(errno));
}

static void count_entry(const char *path, const char *name, void *ud)
{
    (void)path;
    (void)name;
    (*(size_t *)ud)++;
}

struct count_ctx {
    uint32_t tli;
    int n;
};

static void count_segment(const char *path, const char *name, void *ud)
{
    struct count_ctx *c = ud;
    struct pitr_wal_name w;

    (void)path;
    if (classify(name, &w) == E_SEGMENT && w.tli == c->tli)
        c->n++;
}

int spool_count_segments(const char *spool, uint32_t tli)
{
    struct count_ctx c = { tli, 0 };

    each_entry(spool, count_segment, &c);
    return c.n;
}

int spool_is_ours(const char *spool)
{
    char *lock = pitr_asprintf("%s/" SPOOL_LOCK, spool);
    struct stat sb;
    size_t n = 0;
    int r = lstat(lock, &sb) == 0 && S_ISREG(sb.st_mode);

    pitr_free(lock);
    if (!r)
        each_entry(spool, count_entry, &n);
    return r || n == 0;
}

void spool_empty(const char *spool)
{
    int keep = 1;

    each_entry(spool, drop_any, &keep);
}

void spool_remove_all(const char *spool)
{
    int keep = 0;
    char *parent = pitr_archive_dir_name(spool);
    struct pitr_err err = { 0 };

    each_entry(spool, drop_any, &keep);
    if (rmdir(spool) != 0 && errno != ENOENT)
        pitr_log_warn("cannot remove the prefetch spool '%s': %s", spool, strerror(errno));
    else if (pitr_fs_fsync_dir(parent, &err) != PITR_OK)
        pitr_log_debug("prefetch: %s", err.msg);
    pitr_free(parent);
}

int spool_lock_open(const char *spool)
{
    char *path = pitr_asprintf("%s/" SPOOL_LOCK, spool);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    pitr_free(path);
    return fd;
}

int spool_lock_try(int fd)
{
    return flock(fd, LOCK_EX | LOCK_NB) == 0;
}

int spool_stop_requested(const char *spool)
{
    char *path = pitr_asprintf("%s/" SPOOL_STOP, spool);
    int r = access(path, F_OK) == 0;

    pitr_free(path);
    return r;
}
