/*
 * stream.c - stream mode's copy: BASE_BACKUP's tars re-packed into the
 * backup pipeline; see backup_int.h.
 *
 * Each server tar is read by libarchive straight from the CopyData
 * messages (its read callback hands out one message at a time and reports
 * the end of the archive when the next non-data message arrives), and each
 * member goes into the tarstream with its contents pulled through
 * archive_read_data(): nothing is staged, and memory holds one message
 * plus the pipeline's chunks.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/basebackup.h"

#define LABEL_LIMIT ((size_t)64 * 1024)

/* libarchive's view of the message stream. */
struct msg_reader {
    struct pitr_pg_bb *bb;
    struct pitr_pg_bb_msg pending; /* the message that ended the archive */
    int have_pending;
    int at_end;
    int failed;
    struct pitr_err err;
};

static la_ssize_t on_read(struct archive *a, void *ud, const void **buf)
{
    struct msg_reader *mr = ud;

    if (mr->at_end)
        return 0;
    for (;;) {
        struct pitr_pg_bb_msg m;

        if (pitr_pg_bb_next(mr->bb, &m, &mr->err) != PITR_OK) {
            mr->failed = 1;
            archive_set_error(a, EIO, "%s", mr->err.msg);
            return -1;
        }
        if (m.kind == PITR_PG_BB_DATA && m.len > 0) {
            *buf = m.data;
            return (la_ssize_t)m.len;
        }
        if (m.kind == PITR_PG_BB_DATA || m.kind == PITR_PG_BB_PROGRESS)
            continue;
        mr->pending = m;
        mr->have_pending = 1;
        mr->at_end = 1;
        return 0;
    }
}

/* A member's contents, optionally kept (backup_label). */
struct member_reader {
    struct archive *a;
    struct msg_reader *mr;
    const char *archive;
    const char *name;
    struct pitr_buf *keep; /* NULL or where to copy the bytes */
};

static pitr_rc read_member(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    struct member_reader *m = ud;
    la_ssize_t n = archive_read_data(m->a, p, cap);

    *got = 0;
    if (n < 0) {
        if (m->mr->failed) {
            *err = m->mr->err;
            return err->code ? err->code : PITR_EPG;
        }
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "cannot read '%s' in the server's '%s': %s",
                            m->name,
                            m->archive,
                            archive_error_string(m->a) ? archive_error_string(m->a) : "?");
    }
    *got = (size_t)n;
    if (m->keep != NULL && n > 0)
        return pitr_buf_append(m->keep, p, (size_t)n, err);
    return PITR_OK;
}

/* Re-pack one server tar (already begun in the tarstream) until its end. */
static pitr_rc repack(struct pitr_backup_run *r,
                      struct msg_reader *mr,
                      const char *archive,
                      struct pitr_buf *label,
                      struct pitr_err *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    pitr_rc rc = PITR_OK;
    int ret;

    mr->at_end = 0;
    mr->have_pending = 0;
    if (a == NULL)
        return pitr_err_set(err, PITR_ENOMEM, "cannot create a tar reader");
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_open(a, mr, NULL, on_read, NULL) != ARCHIVE_OK) {
        rc = mr->failed ? (*err = mr->err, mr->err.code)
                        : pitr_err_set(err,
                                       PITR_EFORMAT,
                                       "cannot read the server's '%s': %s",
                                       archive,
                                       archive_error_string(a) ? archive_error_string(a) : "?");
        goto out;
    }
    while ((ret = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        struct pitr_walk_entry e;
        struct member_reader m = { a, mr, archive, archive_entry_pathname(ae), NULL };

        memset(&e, 0, sizeof(e));
        if (m.name == NULL)
            continue;
        /*
         * base.tar's tablespace_map stays out: barman-cloud's layout has
         * none (backup.info names the tablespaces and every restore links
         * pg_tblspc from it), and left in PGDATA by barman-cloud-restore it
         * makes PostgreSQL point the links back at the original locations,
         * undoing --tablespace (libarchive skips the unread contents).
         */
        if (label != NULL && strcmp(m.name, "tablespace_map") == 0) {
            pitr_log_debug("backup: leaving the server's tablespace_map out of data.tar");
            continue;
        }
        switch (archive_entry_filetype(ae)) {
        case AE_IFDIR:
            e.type = PITR_WALK_DIR;
            break;
        case AE_IFREG:
            e.type = PITR_WALK_FILE;
            break;
        case AE_IFLNK:
            e.type = PITR_WALK_SYMLINK;
            e.target = archive_entry_symlink(ae);
            break;
        default:
            pitr_log_warn("backup: skipping '%s' in the server's '%s': not a file, directory "
                          "or symlink",
                          m.name,
                          archive);
            continue;
        }
        e.path = m.name;
        e.name = m.name;
        e.st.st_mode = archive_entry_mode(ae);
        e.st.st_uid = (uid_t)archive_entry_uid(ae);
        e.st.st_gid = (gid_t)archive_entry_gid(ae);
        e.st.st_mtim.tv_sec = archive_entry_mtime(ae);
        e.st.st_size = (off_t)archive_entry_size(ae);
        if (label != NULL && strcmp(m.name, "backup_label") == 0)
            m.keep = label;
        rc = pitr_tarstream_add_from(r->ts, &e, read_member, &m, err);
        if (rc != PITR_OK)
            goto out;
    }
    if (ret != ARCHIVE_EOF) {
        if (mr->failed) {
            *err = mr->err;
            rc = err->code ? err->code : PITR_EPG;
        } else {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "cannot read the server's '%s': %s",
                              archive,
                              archive_error_string(a) ? archive_error_string(a) : "?");
        }
    }
out:
    archive_read_free(a);
    return rc;
}

/* "base.tar" -> "data", "16385.tar" -> "16385"; anything else is refused. */
static pitr_rc stream_name(const char *archive, char out[16], struct pitr_err *err)
{
    size_t n = strlen(archive), i;

    if (strcmp(archive, "base.tar") == 0) {
        snprintf(out, 16, "data");
        return PITR_OK;
    }
    if (n < 5 || n > 14 || strcmp(archive + n - 4, ".tar") != 0)
        goto bad;
    for (i = 0; i < n - 4; i++)
        if (archive[i] < '0' || archive[i] > '9')
            goto bad;
    snprintf(out, 16, "%.*s", (int)(n - 4), archive);
    return PITR_OK;
bad:
    return pitr_err_set(
      err, PITR_EFORMAT, "unexpected archive '%s' in the BASE_BACKUP stream", archive);
}

pitr_rc pitr_backup_copy_stream(struct pitr_backup_run *r,
                                struct timespec *data_t0,
                                struct pitr_err *err)
{
    struct pitr_pg_bb_opts bo = { 0 };
    struct pitr_pg_bb *bb = NULL;
    struct msg_reader mr;
    struct pitr_storage_writer *mw = NULL;
    struct pitr_buf label;
    const struct pitr_pg_bb_tablespace *tbs;
    char *label_text = pitr_asprintf("pgpitr backup %s", r->res->backup_id);
    char *key = NULL;
    char cur[16] = "";
    struct timespec cur_t0 = { 0, 0 };
    int in_manifest = 0, have_data = 0;
    size_t ntbs, i;
    pitr_rc rc;

    memset(&mr, 0, sizeof(mr));
    pitr_buf_init(&label, LABEL_LIMIT);
    rc = pitr_pg_connect_replication(r->o->conninfo, &r->repl, err);
    if (rc == PITR_OK)
        rc = pitr_pg_now(r->pg, &r->start.time, err);
    if (rc != PITR_OK)
        goto out;
    bo.label = label_text;
    bo.fast = r->o->immediate_checkpoint;
    /* As in local mode: a standby's own wait could last for ever (see backup.c). */
    bo.wait = !r->info.in_recovery;
    bo.checksums = "CRC32C";
    rc = pitr_pg_bb_start(r->repl, &bo, &bb, err);
    if (rc != PITR_OK)
        goto out;
    r->start.lsn = pitr_pg_bb_start_pos(bb)->lsn;
    r->start.timeline = pitr_pg_bb_start_pos(bb)->timeline;
    r->started = 1;
    pitr_backup_note_start(r);
    tbs = pitr_pg_bb_tablespaces(bb, &ntbs);
    for (i = 0; i < ntbs; i++)
        if (tbs[i].size > 0)
            r->total_estimate += (uint64_t)tbs[i].size;
    mr.bb = bb;

    for (;;) {
        struct pitr_pg_bb_msg m;

        if (mr.have_pending) {
            m = mr.pending;
            mr.have_pending = 0;
        } else {
            rc = pitr_pg_bb_next(bb, &m, err);
            if (rc != PITR_OK)
                goto out;
        }
        if (m.kind != PITR_PG_BB_DATA && m.kind != PITR_PG_BB_PROGRESS && cur[0] != '\0' &&
            strcmp(cur, "data") != 0) {
            /* A tablespace's tar is complete. */
            rc = pitr_tarstream_end(r->ts, err);
            if (rc != PITR_OK)
                goto out;
            pitr_backup_add_item(r, cur, pitr_backup_elapsed(&cur_t0));
            cur[0] = '\0';
        }
        if (m.kind == PITR_PG_BB_ARCHIVE) {
            char archive[64];

            snprintf(archive, sizeof(archive), "%s", m.name);
            if (cur[0] != '\0' || in_manifest) {
                rc = pitr_err_set(
                  err, PITR_EFORMAT, "BASE_BACKUP stream: archive '%s' after base.tar", archive);
                goto out;
            }
            rc = stream_name(archive, cur, err);
            if (rc != PITR_OK)
                goto out;
            clock_gettime(CLOCK_MONOTONIC, &cur_t0);
            if (strcmp(cur, "data") == 0) {
                *data_t0 = cur_t0;
                have_data = 1;
            }
            pitr_log_debug("backup %s: receiving '%s'", r->res->backup_id, archive);
            rc = pitr_tarstream_begin(r->ts, cur, err);
            if (rc == PITR_OK)
                rc = repack(r, &mr, archive, strcmp(cur, "data") == 0 ? &label : NULL, err);
            if (rc != PITR_OK) {
                pitr_err_prefix(err, "server archive '%s'", archive);
                goto out;
            }
        } else if (m.kind == PITR_PG_BB_MANIFEST) {
            pitr_free(key);
            key = pitr_asprintf("%sbackup_manifest", r->prefix);
            rc = pitr_storage_open_write(r->st, key, &mw, err);
            if (rc != PITR_OK)
                goto out;
            in_manifest = 1;
        } else if (m.kind == PITR_PG_BB_DATA && in_manifest) {
            rc = pitr_storage_writer_write(mw, m.data, m.len, err);
            if (rc != PITR_OK)
                goto out;
        } else if (m.kind == PITR_PG_BB_END) {
            break;
        }
        /* Data between archives (a tar's end blocks) and progress need nothing. */
    }
    if (mw == NULL || !have_data || label.len == 0) {
        rc = pitr_err_set(err,
                          PITR_EPG,
                          "BASE_BACKUP stream ended without %s",
                          mw == NULL   ? "a backup_manifest"
                          : !have_data ? "base.tar"
                                       : "a backup_label in base.tar");
        goto out;
    }
    rc = pitr_storage_writer_commit(mw, err);
    mw = NULL;
    if (rc != PITR_OK)
        goto out;
    r->stop.lsn = pitr_pg_bb_end_pos(bb)->lsn;
    r->stop.timeline = pitr_pg_bb_end_pos(bb)->timeline;
    rc = pitr_pg_now(r->pg, &r->stop.time, err);
    if (rc != PITR_OK)
        goto out;
    r->stop.label = pitr_malloc(label.len + 1);
    memcpy(r->stop.label, label.data, label.len);
    r->stop.label[label.len] = '\0';
    r->stopped = 1;
    pitr_backup_note_stop(r);
out:
    pitr_storage_writer_abort(mw);
    pitr_pg_bb_free(bb);
    pitr_buf_release(&label);
    pitr_free(label_text);
    pitr_free(key);
    return rc;
}
