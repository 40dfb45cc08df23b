/* pushstats.c - wal-push's counters file; see wal/pushstats.h. */
#include "pgpitr/wal/pushstats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

const double pitr_pushstats_bounds[PITR_PUSHSTATS_NBOUNDS] = { 0.05, 0.1, 0.25, 0.5, 1,
                                                               2.5,  5,   10,   30,  60 };

static const char MAGIC[8] = { 'P', 'G', 'P', 'I', 'T', 'R', 'P', 'S' };

/* Offsets inside one slot (little endian). */
#define OFF_VERSION  8
#define OFF_SEQ      16
#define OFF_COUNT    24
#define OFF_BUCKET   (OFF_COUNT + 8 * PITR_PUSHSTAT_NRESULTS)
#define OFF_SUM      (OFF_BUCKET + 8 * PITR_PUSHSTATS_NBUCKETS)
#define OFF_ARCH_T   (OFF_SUM + 8)
#define OFF_FAIL_T   (OFF_ARCH_T + 8)
#define OFF_ARCH_WAL (OFF_FAIL_T + 8)
#define OFF_FAIL_WAL (OFF_ARCH_WAL + PITR_PUSHSTATS_WAL_MAX)
#define OFF_END      (OFF_FAIL_WAL + PITR_PUSHSTATS_WAL_MAX)
#define OFF_CRC      (PITR_PUSHSTATS_SLOT_SIZE - 4)

_Static_assert(OFF_END <= OFF_CRC, "pushstats slot too small");

const char *pitr_pushstats_result_name(enum pitr_push_result r)
{
    switch (r) {
    case PITR_PUSHSTAT_OK:
        return "ok";
    case PITR_PUSHSTAT_IDENTICAL:
        return "already_archived";
    case PITR_PUSHSTAT_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

char *pitr_pushstats_default_path(const char *waldir)
{
    return pitr_asprintf("%s/" PITR_PUSHSTATS_SPOOL "/" PITR_PUSHSTATS_NAME, waldir);
}

static void put64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put32(unsigned char *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t slot_crc(const unsigned char *slot)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), slot, OFF_CRC);
}

void pitr_pushstats_encode(const struct pitr_pushstats *s,
                           unsigned char slot[PITR_PUSHSTATS_SLOT_SIZE])
{
    int i;

    memset(slot, 0, PITR_PUSHSTATS_SLOT_SIZE);
    memcpy(slot, MAGIC, sizeof(MAGIC));
    put32(slot + OFF_VERSION, PITR_PUSHSTATS_VERSION);
    put64(slot + OFF_SEQ, s->seq);
    for (i = 0; i < PITR_PUSHSTAT_NRESULTS; i++)
        put64(slot + OFF_COUNT + 8 * i, s->count[i]);
    for (i = 0; i < PITR_PUSHSTATS_NBUCKETS; i++)
        put64(slot + OFF_BUCKET + 8 * i, s->bucket[i]);
    put64(slot + OFF_SUM, s->sum_us);
    put64(slot + OFF_ARCH_T, (uint64_t)s->last_archived_time);
    put64(slot + OFF_FAIL_T, (uint64_t)s->last_failed_time);
    memcpy(slot + OFF_ARCH_WAL, s->last_archived_wal, PITR_PUSHSTATS_WAL_MAX - 1);
    memcpy(slot + OFF_FAIL_WAL, s->last_failed_wal, PITR_PUSHSTATS_WAL_MAX - 1);
    put32(slot + OFF_CRC, slot_crc(slot));
}

/* A WAL name field: NUL-terminated inside the field, only [0-9A-Za-z.]. */
static int wal_field_ok(const unsigned char *p)
{
    size_t i;

    for (i = 0; i < PITR_PUSHSTATS_WAL_MAX; i++) {
        unsigned char ch = p[i];

        if (ch == '\0')
            return 1;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              ch == '.'))
            return 0;
    }
    return 0;
}

int pitr_pushstats_decode(const unsigned char slot[PITR_PUSHSTATS_SLOT_SIZE],
                          struct pitr_pushstats *s)
{
    int i;

    if (memcmp(slot, MAGIC, sizeof(MAGIC)) != 0 ||
        get32(slot + OFF_VERSION) != PITR_PUSHSTATS_VERSION ||
        get32(slot + OFF_CRC) != slot_crc(slot) || !wal_field_ok(slot + OFF_ARCH_WAL) ||
        !wal_field_ok(slot + OFF_FAIL_WAL))
        return -1;
    memset(s, 0, sizeof(*s));
    s->seq = get64(slot + OFF_SEQ);
    for (i = 0; i < PITR_PUSHSTAT_NRESULTS; i++)
        s->count[i] = get64(slot + OFF_COUNT + 8 * i);
    for (i = 0; i < PITR_PUSHSTATS_NBUCKETS; i++)
        s->bucket[i] = get64(slot + OFF_BUCKET + 8 * i);
    s->sum_us = get64(slot + OFF_SUM);
    s->last_archived_time = (int64_t)get64(slot + OFF_ARCH_T);
    s->last_failed_time = (int64_t)get64(slot + OFF_FAIL_T);
    memcpy(s->last_archived_wal, slot + OFF_ARCH_WAL, PITR_PUSHSTATS_WAL_MAX);
    memcpy(s->last_failed_wal, slot + OFF_FAIL_WAL, PITR_PUSHSTATS_WAL_MAX);
    return 0;
}

/* flock with a bounded wait. */
static pitr_rc lock_file(int fd, int op, const char *path, struct pitr_err *err)
{
    int waited = 0;

    while (flock(fd, op | LOCK_NB) != 0) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };

        if (errno != EWOULDBLOCK && errno != EINTR)
            return pitr_err_set_errno(err, PITR_EIO, errno, "stats file '%s': flock", path);
        if (waited >= PITR_PUSHSTATS_LOCK_WAIT_MS)
            return pitr_err_set(err,
                                PITR_EIO,
                                "stats file '%s': still locked after %d ms",
                                path,
                                PITR_PUSHSTATS_LOCK_WAIT_MS);
        nanosleep(&ts, NULL);
        waited += 10;
    }
    return PITR_OK;
}

/*
 * The newest valid slot of a file of the right size into *s; returns the
 * index of the slot to write next (the other one), or -1 when no slot is
 * valid.
 */
static int pick(const unsigned char *file, struct pitr_pushstats *s)
{
    struct pitr_pushstats a, b;
    int va = pitr_pushstats_decode(file, &a) == 0;
    int vb = pitr_pushstats_decode(file + PITR_PUSHSTATS_SLOT_SIZE, &b) == 0;

    if (va && (!vb || a.seq >= b.seq)) {
        *s = a;
        return 1;
    }
    if (vb) {
        *s = b;
        return 0;
    }
    return -1;
}

static pitr_rc open_regular(const char *path, int flags, int *fd_out, struct pitr_err *err)
{
    struct stat sb;
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

    if (fd < 0)
        return pitr_err_set_errno(err,
                                  errno == ENOENT  ? PITR_ENOTFOUND
                                  : errno == ELOOP ? PITR_EFORMAT
                                                   : PITR_EIO,
                                  errno,
                                  "stats file '%s': open",
                                  path);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return pitr_err_set(err, PITR_EFORMAT, "stats file '%s': not a regular file", path);
    }
    *fd_out = fd;
    return PITR_OK;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

pitr_rc pitr_pushstats_record(const char *path,
                              enum pitr_push_result r,
                              double seconds,
                              const char *wal,
                              int64_t now,
                              struct pitr_err *err)
{
    unsigned char file[PITR_PUSHSTATS_FILE_SIZE], slot[PITR_PUSHSTATS_SLOT_SIZE];
    struct pitr_pushstats s;
    struct stat sb;
    char *dir = pitr_strdup(path), *slash = strrchr(dir, '/');
    int fd = -1, next = 0, b;
    pitr_rc rc;

    memset(&s, 0, sizeof(s));
    if ((unsigned)r >= PITR_PUSHSTAT_NRESULTS) {
        rc = pitr_err_set(err, PITR_EINTERNAL, "stats file '%s': bad result %d", path, (int)r);
        goto out;
    }
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        rc = pitr_fs_mkdir_p(dir, 0700, err);
        if (rc != PITR_OK)
            goto out;
    }
    rc = open_regular(path, O_RDWR | O_CREAT, &fd, err);
    if (rc != PITR_OK)
        goto out;
    rc = lock_file(fd, LOCK_EX, path, err);
    if (rc != PITR_OK)
        goto out;
    if (fstat(fd, &sb) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "stats file '%s': fstat", path);
        goto out;
    }
    if (sb.st_size == PITR_PUSHSTATS_FILE_SIZE &&
        pread(fd, file, sizeof(file), 0) == (ssize_t)sizeof(file))
        next = pick(file, &s);
    else
        next = -1;
    if (next < 0) {
        if (sb.st_size != 0)
            pitr_log_warn("stats file '%s': damaged or not ours (%lld bytes); counters reset",
                          path,
                          (long long)sb.st_size);
        memset(&s, 0, sizeof(s));
        if (ftruncate(fd, 0) != 0 || ftruncate(fd, PITR_PUSHSTATS_FILE_SIZE) != 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "stats file '%s': truncate", path);
            goto out;
        }
        next = 0;
    }
    s.seq++;
    s.count[r] = sat_add(s.count[r], 1);
    if (seconds < 0)
        seconds = 0;
    for (b = 0; b < PITR_PUSHSTATS_NBOUNDS && seconds > pitr_pushstats_bounds[b]; b++)
        ;
    s.bucket[b] = sat_add(s.bucket[b], 1);
    s.sum_us = sat_add(s.sum_us, seconds < 1e9 ? (uint64_t)(seconds * 1e6) : UINT64_MAX);
    if (r == PITR_PUSHSTAT_ERROR) {
        s.last_failed_time = now;
        snprintf(s.last_failed_wal, sizeof(s.last_failed_wal), "%s", wal != NULL ? wal : "");
        if (!wal_field_ok((const unsigned char *)s.last_failed_wal))
            s.last_failed_wal[0] = '\0';
    } else {
        s.last_archived_time = now;
        snprintf(s.last_archived_wal, sizeof(s.last_archived_wal), "%s", wal != NULL ? wal : "");
        if (!wal_field_ok((const unsigned char *)s.last_archived_wal))
            s.last_archived_wal[0] = '\0';
    }
    pitr_pushstats_encode(&s, slot);
    if (pwrite(fd, slot, sizeof(slot), (off_t)next * PITR_PUSHSTATS_SLOT_SIZE) !=
        (ssize_t)sizeof(slot)) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "stats file '%s': write", path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd); /* releases the lock */
    pitr_free(dir);
    return rc;
}

pitr_rc pitr_pushstats_read(const char *path, struct pitr_pushstats *out, struct pitr_err *err)
{
    unsigned char file[PITR_PUSHSTATS_FILE_SIZE];
    struct stat sb;
    int fd = -1;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    rc = open_regular(path, O_RDONLY, &fd, err);
    if (rc != PITR_OK)
        goto out;
    rc = lock_file(fd, LOCK_SH, path, err);
    if (rc != PITR_OK)
        goto out;
    if (fstat(fd, &sb) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "stats file '%s': fstat", path);
        goto out;
    }
    if (sb.st_size != PITR_PUSHSTATS_FILE_SIZE) {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "stats file '%s': %lld bytes, not %d",
                          path,
                          (long long)sb.st_size,
                          PITR_PUSHSTATS_FILE_SIZE);
        goto out;
    }
    if (pread(fd, file, sizeof(file), 0) != (ssize_t)sizeof(file) || pick(file, out) < 0) {
        memset(out, 0, sizeof(*out));
        rc = pitr_err_set(err, PITR_EFORMAT, "stats file '%s': no valid record", path);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
