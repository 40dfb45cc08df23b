/* spool.c - the wal-receive spool after a crash; see walrecv/walrecv.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"
#include "pgpitr/walrecv/walrecv.h"
#include "walrecv_int.h"

/* XLogPageHeaderData: magic u16, info u16, tli u32, pageaddr u64 (native byte order). */
#define XLP_LONG_HEADER 0x0002
#define XLP_ALL_FLAGS   0x0007
#define LONG_HDR_LEN    40

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

size_t walrecv_valid_prefix(const uint8_t *seg,
                            size_t len,
                            const struct pitr_wal_name *w,
                            uint32_t seg_size)
{
    struct pitr_wal_name as = *w;
    struct pitr_err err = { 0 };
    uint64_t seg_start = ((uint64_t)w->log << 32 | w->seg) * seg_size;
    uint32_t got_size, blcksz;
    uint16_t magic;
    uint32_t tli0;
    size_t off, last = 0;

    as.kind = PITR_WAL_SEGMENT;
    if (len < LONG_HDR_LEN)
        return 0;
    if (pitr_wal_check_segment(seg, len, seg_size, &as, &got_size, &err) != PITR_OK ||
        got_size != seg_size)
        return 0;
    blcksz = rd32(seg + 36);
    if (blcksz < 1024 || blcksz > 65536 || (blcksz & (blcksz - 1)) != 0 || seg_size % blcksz != 0)
        return 0;
    magic = rd16(seg);
    tli0 = rd32(seg + 4);
    if (len < blcksz)
        return 0; /* not even the first page is whole */
    for (off = blcksz; off + blcksz <= len; off += blcksz) {
        const uint8_t *p = seg + off;
        uint16_t info = rd16(p + 2);
        uint32_t tli = rd32(p + 4);

        if (rd16(p) != magic || (info & ~XLP_ALL_FLAGS) != 0 || (info & XLP_LONG_HEADER) != 0 ||
            rd64(p + 8) != seg_start + off || tli < tli0 || tli > w->tli)
            break;
        last = off;
    }
    /* Resume at the last valid page's start: it may not have been whole. */
    return last;
}

/* The newest "<segment>.partial" name in dir (by timeline, then position). */
static pitr_rc find_partial(const char *dir,
                            struct pitr_walrecv_resume *out,
                            struct pitr_wal_name *best,
                            struct pitr_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t seen = 0;

    if (d == NULL)
        return pitr_err_set(err, PITR_EIO, "cannot read spool '%s': %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL && seen < 100000) {
        struct pitr_wal_name w;
        struct pitr_err perr = { 0 };

        seen++;
        if (strlen(de->d_name) != 32 || strcmp(de->d_name + 24, ".partial") != 0)
            continue;
        if (pitr_wal_parse_name(de->d_name, &w, &perr) != PITR_OK || w.kind != PITR_WAL_PARTIAL)
            continue;
        if (out->found) {
            out->others++;
            if (w.tli < best->tli ||
                (w.tli == best->tli &&
                 ((uint64_t)w.log << 32 | w.seg) < ((uint64_t)best->log << 32 | best->seg)))
                continue;
        }
        *best = w;
        out->found = 1;
        memcpy(out->name, de->d_name, 24);
        out->name[24] = '\0';
    }
    closedir(d);
    return PITR_OK;
}

pitr_rc pitr_walrecv_spool_recover(const char *dir,
                                   uint32_t seg_size,
                                   struct pitr_walrecv_resume *out,
                                   struct pitr_err *err)
{
    struct pitr_wal_name w = { 0 };
    uint8_t *seg = NULL;
    char *path = NULL;
    struct stat sb;
    size_t have = 0, keep;
    int fd = -1;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    rc = find_partial(dir, out, &w, err);
    if (rc != PITR_OK || !out->found)
        return rc;
    path = pitr_asprintf("%s/%s.partial", dir, out->name);
    fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        rc = pitr_err_set(err, PITR_EIO, "cannot open spool file '%s': %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = pitr_err_set(err, PITR_EIO, "spool file '%s' is not a regular file", path);
        goto out;
    }
    seg = pitr_calloc(1, seg_size);
    while (have < seg_size) {
        ssize_t n = pread(fd, seg + have, seg_size - have, (off_t)have);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc =
              pitr_err_set(err, PITR_EIO, "cannot read spool file '%s': %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    keep = walrecv_valid_prefix(seg, have, &w, seg_size);
    if ((uint64_t)sb.st_size != seg_size)
        pitr_log_warn("spool file '%s' has %jd bytes, not the segment size %" PRIu32
                      ": cut to its last valid page",
                      path,
                      (intmax_t)sb.st_size,
                      seg_size);
    /* Everything from the resume point on is received again: zero it, re-pad. */
    if (ftruncate(fd, (off_t)keep) != 0 || ftruncate(fd, (off_t)seg_size) != 0 || fsync(fd) != 0) {
        rc =
          pitr_err_set(err, PITR_EIO, "cannot repair spool file '%s': %s", path, strerror(errno));
        goto out;
    }
    out->tli = w.tli;
    out->lsn = ((uint64_t)w.log << 32 | w.seg) * seg_size + keep;
    pitr_log_info("spool file '%s': %zu valid bytes kept, resuming there", path, keep);
out:
    if (fd >= 0)
        close(fd);
    pitr_free(seg);
    pitr_free(path);
    return rc;
}

pitr_rc pitr_walrecv_spool_seg_size(const char *dir, uint32_t *seg_size, struct pitr_err *err)
{
    struct pitr_walrecv_resume res;
    struct pitr_wal_name w = { 0 };
    uint8_t hdr[LONG_HDR_LEN];
    struct pitr_err herr = { 0 };
    char *path;
    ssize_t n;
    int fd;
    pitr_rc rc;

    *seg_size = 0;
    memset(&res, 0, sizeof(res));
    rc = find_partial(dir, &res, &w, err);
    if (rc != PITR_OK || !res.found)
        return rc;
    path = pitr_asprintf("%s/%s.partial", dir, res.name);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    pitr_free(path);
    if (fd < 0)
        return PITR_OK; /* recovery after connecting names the problem */
    n = pread(fd, hdr, sizeof(hdr), 0);
    close(fd);
    if (n == (ssize_t)sizeof(hdr) &&
        pitr_wal_segment_size(hdr, sizeof(hdr), seg_size, &herr) != PITR_OK)
        *seg_size = 0;
    return PITR_OK;
}
