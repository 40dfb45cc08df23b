/* wal.c - WAL file names and headers; see wal/wal.h. */
#include "pgpitr/wal/wal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

static uint32_t hex32(const char *s)
{
    uint32_t v = 0;
    size_t i;

    for (i = 0; i < 8; i++) {
        char c = s[i];
        uint32_t d = (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);

        v = (v << 4) | d;
    }
    return v;
}

pitr_rc pitr_wal_parse_name(const char *name, struct pitr_wal_name *out, struct pitr_err *err)
{
    size_t n = strlen(name);

    memset(out, 0, sizeof(*out));
    if (n == 16 && is_hex(name, 8) && strcmp(name + 8, ".history") == 0) {
        out->kind = PITR_WAL_HISTORY;
        out->tli = hex32(name);
        goto check_tli;
    }
    if (n < 24 || !is_hex(name, 24))
        goto bad;
    out->tli = hex32(name);
    out->log = hex32(name + 8);
    out->seg = hex32(name + 16);
    if (n == 24)
        out->kind = PITR_WAL_SEGMENT;
    else if (strcmp(name + 24, ".partial") == 0)
        out->kind = PITR_WAL_PARTIAL;
    else if (n == 40 && name[24] == '.' && is_hex(name + 25, 8) &&
             strcmp(name + 33, ".backup") == 0)
        out->kind = PITR_WAL_BACKUP;
    else
        goto bad;
check_tli:
    if (out->tli == 0)
        return pitr_err_set(err, PITR_EUSAGE, "'%s' is not a WAL file name: timeline 0", name);
    return PITR_OK;
bad:
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "'%s' is not a WAL file name: expected a segment, .partial, .backup or "
                        ".history file",
                        name);
}

void pitr_wal_hash_dir(const char *name, const struct pitr_wal_name *w, char out[17])
{
    if (w->kind == PITR_WAL_HISTORY) {
        out[0] = '\0';
        return;
    }
    /* barman writes upper case; keep the name's own digits for the folder. */
    memcpy(out, name, 16);
    out[16] = '\0';
}

/* XLogLongPageHeaderData offsets (access/xlog_internal.h, stable since 9.x). */
#define XLP_MAGIC_OFF    0
#define XLP_INFO_OFF     2
#define XLP_TLI_OFF      4
#define XLP_PAGEADDR_OFF 8
#define XLP_SEG_SIZE_OFF 32
#define XLP_BLCKSZ_OFF   36
#define XLP_LONG_HEADER  0x0002
#define WAL_MIN_SEG_SIZE (1u << 20)
#define WAL_MAX_SEG_SIZE (1u << 30)

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

pitr_rc pitr_wal_segment_size(const void *data,
                              size_t len,
                              uint32_t *seg_size,
                              struct pitr_err *err)
{
    const unsigned char *p = data;
    uint16_t magic, info;
    uint32_t size, blcksz;

    if (len < 40)
        return pitr_err_set(
          err, PITR_EFORMAT, "WAL segment too short for a page header (%zu bytes)", len);
    magic = (uint16_t)(p[XLP_MAGIC_OFF] | p[XLP_MAGIC_OFF + 1] << 8);
    info = (uint16_t)(p[XLP_INFO_OFF] | p[XLP_INFO_OFF + 1] << 8);
    size = le32(p + XLP_SEG_SIZE_OFF);
    blcksz = le32(p + XLP_BLCKSZ_OFF);
    /* Every supported PostgreSQL (9.3+) has magic 0xD07x..0xD1xx: check the family. */
    if ((magic & 0xFF00) != 0xD000 && (magic & 0xFF00) != 0xD100)
        return pitr_err_set(err, PITR_EFORMAT, "bad WAL page magic 0x%04X", magic);
    if (!(info & XLP_LONG_HEADER))
        return pitr_err_set(err, PITR_EFORMAT, "first WAL page has no long header");
    if (size < WAL_MIN_SEG_SIZE || size > WAL_MAX_SEG_SIZE || (size & (size - 1)) != 0)
        return pitr_err_set(err, PITR_EFORMAT, "implausible WAL segment size %u", size);
    if (blcksz < 1024 || blcksz > 65536 || (blcksz & (blcksz - 1)) != 0)
        return pitr_err_set(err, PITR_EFORMAT, "implausible WAL block size %u", blcksz);
    *seg_size = size;
    return PITR_OK;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

pitr_rc pitr_wal_check_segment(const void *hdr,
                               size_t hdr_len,
                               uint64_t size,
                               const struct pitr_wal_name *w,
                               uint32_t *seg_size,
                               struct pitr_err *err)
{
    const unsigned char *p = hdr;
    uint64_t per_log, want, got;
    uint32_t tli;
    pitr_rc rc = pitr_wal_segment_size(hdr, hdr_len, seg_size, err);

    if (rc != PITR_OK)
        return rc;
    if (w->kind != PITR_WAL_SEGMENT && w->kind != PITR_WAL_PARTIAL)
        return pitr_err_set(err, PITR_EINTERNAL, "not a segment name to check against");
    if (w->kind == PITR_WAL_SEGMENT ? size != *seg_size : size > *seg_size)
        return pitr_err_set(
          err, PITR_EFORMAT, "%ju bytes, its header says %u", (uintmax_t)size, *seg_size);
    per_log = 0x100000000ULL / *seg_size;
    want = ((uint64_t)w->log * per_log + w->seg) * *seg_size;
    got = le64(p + XLP_PAGEADDR_OFF);
    if (w->seg >= per_log || got != want)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "its first page is at %X/%X, its name says %X/%X",
                            (unsigned)(got >> 32),
                            (unsigned)got,
                            (unsigned)(want >> 32),
                            (unsigned)want);
    tli = le32(p + XLP_TLI_OFF);
    if (tli == 0 || tli > w->tli)
        return pitr_err_set(
          err, PITR_EFORMAT, "its first page is on timeline %u, its name says %u", tli, w->tli);
    return PITR_OK;
}

void pitr_wal_next_segment(const struct pitr_wal_name *w,
                           uint32_t seg_size,
                           struct pitr_wal_name *next)
{
    uint32_t per_log = (uint32_t)(0x100000000ULL / seg_size);

    *next = *w;
    next->kind = PITR_WAL_SEGMENT;
    if (w->seg + 1 >= per_log) {
        next->log = w->log + 1;
        next->seg = 0;
    } else {
        next->seg = w->seg + 1;
    }
}

void pitr_wal_format_segment(const struct pitr_wal_name *w, char out[25])
{
    snprintf(out, 25, "%08X%08X%08X", w->tli, w->log, w->seg);
}
