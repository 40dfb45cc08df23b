/* restore.c - extract a base backup into a new PGDATA and write the recovery settings. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/core/progress.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/repo/manifest.h"
#include "pgpitr/repo/volume.h"
#include "pgpitr/restore/extract.h"
#include "pgpitr/restore/restore.h"
#include "pgpitr/restore/snapframe.h"
#include "pgpitr/storage/storage.h"
#include "walahead_int.h"

#define READ_CHUNK ((size_t)1024 * 1024)

/* ---- directories ---------------------------------------------------------- */

/*
 * Refuse dir when it exists and is not empty; with create, also create it
 * (0700) when missing and set its mode to 0700.
 */
static pitr_rc prepare_dir(const char *dir, const char *what, int create, struct pitr_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    pitr_rc rc;

    if (d == NULL) {
        if (errno != ENOENT)
            return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open %s '%s'", what, dir);
        if (!create)
            return PITR_OK;
        rc = pitr_fs_mkdir_p(dir, 0700, err);
        if (rc != PITR_OK)
            return rc;
    } else {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                closedir(d);
                return pitr_err_set(err,
                                    PITR_EUSAGE,
                                    "%s '%s' is not empty; refusing to restore into it. HINT: "
                                    "restore into a new or empty directory",
                                    what,
                                    dir);
            }
        }
        closedir(d);
    }
    if (!create)
        return PITR_OK;
    if (chmod(dir, 0700) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot chmod %s '%s'", what, dir);
    return PITR_OK;
}

/* ---- volumes ------------------------------------------------------------- */

struct volume {
    char *key;                             /* owned; full key */
    char *name;                            /* owned; file name */
    uint64_t listed;                       /* the size the listing gave */
    const char *dest;                      /* borrowed */
    const struct pitr_repo_mf_object *rec; /* borrowed from the manifest; NULL: not recorded */
    struct pitr_progress *progress;        /* borrowed; the restore's meter, or NULL */
};

struct vlist {
    const char *prefix; /* "<server>/base/<id>/" */
    struct volume *v;
    size_t n;
    int has_manifest;
};

static pitr_rc collect_volume(const char *key,
                              const struct pitr_obj_info *info,
                              void *ud,
                              struct pitr_err *err)
{
    struct vlist *vl = ud;
    const char *name = key + strlen(vl->prefix);
    char stream[PITR_VOLUME_STREAM_MAX];
    unsigned index;

    (void)err;
    if (strcmp(name, PITR_REPO_MANIFEST_NAME) == 0)
        vl->has_manifest = 1;
    if (!pitr_volume_parse(name, stream, &index))
        return PITR_OK;
    vl->v = pitr_realloc(vl->v, (vl->n + 1) * sizeof(*vl->v));
    memset(&vl->v[vl->n], 0, sizeof(vl->v[vl->n]));
    vl->v[vl->n].key = pitr_strdup(key);
    vl->v[vl->n].name = pitr_strdup(name);
    vl->v[vl->n].listed = info != NULL ? info->size : 0;
    vl->n++;
    return PITR_OK;
}

/*
 * libarchive's source: the storage reader, every stored byte counted and
 * hashed on the way, so a volume that is not the one the manifest records
 * fails the restore before PostgreSQL could ever start on it.
 */
struct rd {
    struct pitr_storage_reader *r;
    const struct volume *vol;
    struct pitr_sha256 h;
    uint64_t bytes;
    char *buf;
    struct pitr_snapframe *sf; /* a .tar.snappy volume: its framing decoded here */
    struct pitr_err err;
    int failed;
};

/* Read up to cap stored bytes into p, counted and hashed, bounded by the manifest. */
static pitr_rc rd_read_into(struct rd *rd, void *p, size_t cap, size_t *got)
{
    pitr_rc rc = pitr_storage_reader_read(rd->r, p, cap, got, &rd->err);

    if (rc == PITR_OK && *got > 0) {
        rd->bytes += *got;
        pitr_progress_add(rd->vol->progress, *got);
        rc = pitr_sha256_update(&rd->h, p, *got, &rd->err);
        if (rc == PITR_OK && rd->vol->rec != NULL && rd->bytes > rd->vol->rec->size)
            rc =
              pitr_err_set(&rd->err,
                           PITR_EFORMAT,
                           "volume '%s' is longer than the %" PRIu64 " bytes the manifest records",
                           rd->vol->key,
                           rd->vol->rec->size);
    }
    rd->failed |= rc != PITR_OK;
    return rc;
}

static pitr_rc rd_read(struct rd *rd, size_t *got)
{
    return rd_read_into(rd, rd->buf, READ_CHUNK, got);
}

/* The snappy decoder's source: stored bytes, counted and hashed as any volume's. */
static pitr_rc snap_source(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    struct rd *rd = ud;
    pitr_rc rc = rd_read_into(rd, p, cap, got);

    if (rc != PITR_OK)
        *err = rd->err;
    return rc;
}

/*
 * libarchive reads gzip, bzip2, xz, zstd and lz4 by itself; snappy's framing
 * format (barman-cloud-backup --snappy) it does not know: decoded here.
 */
static la_ssize_t read_cb(struct archive *a, void *ud, const void **out)
{
    struct rd *rd = ud;
    size_t got = 0;

    if (rd->sf != NULL) {
        if (pitr_snapframe_next(rd->sf, out, &got, &rd->err) != PITR_OK) {
            rd->failed = 1;
            archive_set_error(a, EIO, "%s", rd->err.msg);
            return -1;
        }
        return (la_ssize_t)got;
    }
    if (rd_read(rd, &got) != PITR_OK) {
        archive_set_error(a, EIO, "%s", rd->err.msg);
        return -1;
    }
    *out = rd->buf;
    return (la_ssize_t)got;
}

/* The rest of the volume after the tar's end, then its size and SHA-256 against the manifest. */
static pitr_rc finish_volume(struct rd *rd, struct pitr_err *err)
{
    unsigned char md[PITR_SHA256_LEN];
    char hex[PITR_SHA256_HEX_LEN + 1];
    size_t got;
    pitr_rc rc;

    do
        rc = rd_read(rd, &got);
    while (rc == PITR_OK && got > 0);
    if (rc == PITR_OK)
        rc = pitr_sha256_final(&rd->h, md, &rd->err);
    if (rc != PITR_OK) {
        *err = rd->err;
        return pitr_err_prefix(err, "cannot read volume '%s'", rd->vol->key);
    }
    if (rd->vol->rec == NULL)
        return PITR_OK;
    pitr_hex_encode(md, sizeof(md), hex);
    if (rd->bytes != rd->vol->rec->size)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "volume '%s' does not match the manifest: %" PRIu64
                            " bytes, the manifest records %" PRIu64,
                            rd->vol->key,
                            rd->bytes,
                            rd->vol->rec->size);
    if (rd->vol->rec->sha256 != NULL && strcmp(hex, rd->vol->rec->sha256) != 0)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "volume '%s' does not match the manifest: SHA-256 %s, the manifest "
                            "records %s; HINT: the target holds a partial restore, remove it",
                            rd->vol->key,
                            hex,
                            rd->vol->rec->sha256);
    return PITR_OK;
}

static pitr_rc extract_volume(struct pitr_storage *st,
                              const struct volume *vol,
                              struct pitr_err *err)
{
    struct archive *a = NULL;
    struct pitr_extract x;
    struct rd rd = { 0 };
    struct pitr_snapframe sf;
    size_t stem;
    pitr_rc rc;

    memset(&x, 0, sizeof(x));
    x.rootfd = x.cache_fd = -1;
    rd.vol = vol;
    rc = pitr_sha256_init(&rd.h, err);
    if (rc == PITR_OK)
        rc = pitr_extract_init(&x, vol->dest, err);
    if (rc == PITR_OK)
        rc = pitr_storage_open_read(st, vol->key, 0, PITR_STORAGE_TO_END, &rd.r, err);
    if (rc != PITR_OK)
        goto out;
    rd.buf = pitr_malloc(READ_CHUNK);
    if (pitr_codec_from_suffix(vol->name, &stem) == PITR_CODEC_SNAPPY) {
        pitr_snapframe_init(&sf, snap_source, &rd);
        rd.sf = &sf;
    }
    a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open(a, &rd, NULL, read_cb, NULL) != ARCHIVE_OK)
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "volume '%s' is corrupt or not a tar archive: %s",
                          vol->key,
                          archive_error_string(a) ? archive_error_string(a) : "unknown error");
    else
        rc = pitr_extract_archive(&x, a, vol->key, err);
    if (rd.failed) {
        /* The storage or the manifest check failed: that is the cause, not libarchive's echo. */
        *err = rd.err;
        rc = pitr_err_prefix(err, "cannot read volume '%s'", vol->key);
        goto out;
    }
    if (rc == PITR_OK)
        rc = finish_volume(&rd, err);
out:
    archive_read_free(a);
    pitr_extract_release(&x);
    if (rd.sf != NULL)
        pitr_snapframe_release(rd.sf);
    pitr_storage_reader_close(rd.r);
    pitr_sha256_release(&rd.h);
    pitr_free(rd.buf);
    return rc;
}

struct pool {
    const struct pitr_config *cfg;
    struct vlist *vl;
    pthread_mutex_t mu;
    size_t next;
    int failed;
    struct pitr_err err; /* the first failure */
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };
    pitr_rc rc = pitr_storage_open(p->cfg, &st, &err);

    for (;;) {
        size_t i;

        pthread_mutex_lock(&p->mu);
        if (rc != PITR_OK && !p->failed) {
            p->failed = 1;
            p->err = err;
        }
        if (p->failed || p->next >= p->vl->n) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        pitr_log_info("restore: extracting '%s' into '%s'", p->vl->v[i].key, p->vl->v[i].dest);
        rc = extract_volume(st, &p->vl->v[i], &err);
    }
    pitr_storage_free(st);
    return NULL;
}

static pitr_rc extract_all(const struct pitr_config *cfg,
                           struct vlist *vl,
                           int jobs,
                           struct pitr_err *err)
{
    struct pool p;
    pthread_t *th;
    int n = jobs < 1 ? 1 : jobs, started = 0;

    if ((size_t)n > vl->n)
        n = (int)vl->n;
    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.vl = vl;
    pthread_mutex_init(&p.mu, NULL);
    th = pitr_calloc((size_t)n + 1, sizeof(*th));
    for (int i = 0; i < n; i++) {
        if (pthread_create(&th[i], NULL, worker, &p) != 0)
            break;
        started++;
    }
    if (started == 0)
        worker(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    pitr_free(th);
    if (p.failed) {
        *err = p.err;
        return err->code;
    }
    return PITR_OK;
}

/* ---- manifest ------------------------------------------------------------- */

/* SHA-256 of file base in folder dfd, never through a symlink. */
static pitr_rc file_sha256(int dfd,
                           const char *base,
                           uint64_t *size,
                           char hex[PITR_SHA256_HEX_LEN + 1],
                           struct pitr_err *err)
{
    struct pitr_sha256 h = { 0 };
    unsigned char md[PITR_SHA256_LEN];
    char *buf = NULL;
    int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    pitr_rc rc;
    ssize_t n;

    *size = 0;
    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open it");
    rc = pitr_sha256_init(&h, err);
    if (rc != PITR_OK)
        goto out;
    buf = pitr_malloc(READ_CHUNK);
    while ((n = read(fd, buf, READ_CHUNK)) > 0) {
        *size += (uint64_t)n;
        rc = pitr_sha256_update(&h, buf, (size_t)n, err);
        if (rc != PITR_OK)
            goto out;
    }
    if (n < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot read it");
        goto out;
    }
    rc = pitr_sha256_final(&h, md, err);
    if (rc == PITR_OK)
        pitr_hex_encode(md, sizeof(md), hex);
out:
    pitr_sha256_release(&h);
    pitr_free(buf);
    close(fd);
    return rc;
}

/* The volume named volume, or NULL. */
static const struct volume *volume_of(const struct vlist *vl, const char *volume)
{
    for (size_t i = 0; i < vl->n; i++)
        if (strcmp(vl->v[i].name, volume) == 0)
            return &vl->v[i];
    return NULL;
}

/*
 * Read and validate the manifest before anything is extracted: every entry
 * well formed, every stored volume recorded with the size the listing
 * shows, every recorded volume stored. Each volume gets its record (rec) for
 * the check while it streams.
 */
static pitr_rc load_manifest(struct pitr_storage *st,
                             struct vlist *vl,
                             struct pitr_repo_manifest *m,
                             struct pitr_err *err)
{
    struct pitr_buf b;
    char *key = pitr_asprintf("%s" PITR_REPO_MANIFEST_NAME, vl->prefix);
    pitr_rc rc;

    pitr_buf_init(&b, PITR_REPO_MANIFEST_LIMIT);
    rc = pitr_storage_get(st, key, &b, err);
    if (rc == PITR_OK)
        rc = pitr_repo_manifest_parse(b.data, b.len, m, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "manifest '%s'", key);
        goto out;
    }
    if (m->nproblems > 0) {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "manifest '%s' is malformed: %s%s",
                          key,
                          m->problems[0],
                          m->nproblems > 1 ? " (and more)" : "");
        goto out;
    }
    if (!m->has_objects) {
        pitr_log_info("restore: manifest '%s' records no objects (an older pgpitr): volume "
                      "sizes and checksums are not checked",
                      key);
        goto out;
    }
    for (size_t i = 0; i < vl->n; i++) {
        struct volume *v = &vl->v[i];

        v->rec = pitr_repo_manifest_object(m, v->name);
        if (v->rec == NULL) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "volume '%s' is stored but manifest '%s' does not record it",
                              v->key,
                              key);
            goto out;
        }
        if (v->rec->size != v->listed) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "volume '%s' does not match the manifest: %" PRIu64
                              " bytes stored, the manifest records %" PRIu64,
                              v->key,
                              v->listed,
                              v->rec->size);
            goto out;
        }
    }
    for (size_t i = 0; i < m->nobjects; i++) {
        char stream[PITR_VOLUME_STREAM_MAX];
        unsigned index;

        if (pitr_volume_parse(m->objects[i].name, stream, &index) &&
            volume_of(vl, m->objects[i].name) == NULL) {
            rc = pitr_err_set(err,
                              PITR_ENOTFOUND,
                              "volume '%s%s' is missing: manifest '%s' records it",
                              vl->prefix,
                              m->objects[i].name,
                              key);
            goto out;
        }
    }
out:
    pitr_buf_release(&b);
    pitr_free(key);
    return rc;
}

/* Every file the manifest lists, hashed where restore put it (never through a symlink). */
static pitr_rc check_files(const struct vlist *vl,
                           const struct pitr_repo_manifest *m,
                           size_t *checked,
                           struct pitr_err *err)
{
    struct pitr_extract x;
    const char *xdest = NULL;
    pitr_rc rc = PITR_OK;

    memset(&x, 0, sizeof(x));
    x.rootfd = x.cache_fd = -1;
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct pitr_repo_mf_file *f = &m->files[i];
        const struct volume *v = volume_of(vl, f->volume);
        const char *slash = strrchr(f->path, '/');
        char hex[PITR_SHA256_HEX_LEN + 1], *dir;
        uint64_t size;
        int dfd = -1;

        if (v == NULL) {
            rc = pitr_err_set(
              err, PITR_EFORMAT, "the manifest names volume '%s', which is not stored", f->volume);
            goto out;
        }
        if (xdest != v->dest) {
            pitr_extract_release(&x);
            rc = pitr_extract_init(&x, v->dest, err);
            if (rc != PITR_OK)
                goto out;
            xdest = v->dest;
        }
        dir = slash ? pitr_asprintf("%.*s", (int)(slash - f->path), f->path) : pitr_strdup("");
        rc = pitr_extract_open_dir(&x, dir, 0, &dfd, err);
        pitr_free(dir);
        if (rc == PITR_OK)
            rc = file_sha256(dfd, slash ? slash + 1 : f->path, &size, hex, err);
        if (dfd >= 0)
            close(dfd);
        if (rc != PITR_OK) {
            pitr_err_prefix(
              err, "file '%s' (volume '%s') listed in the manifest", f->path, f->volume);
            goto out;
        }
        if (size != f->size || strcmp(hex, f->sha256) != 0) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "restored file '%s' (volume '%s') does not match the manifest: "
                              "%s differs (%" PRIu64 " bytes, expected %" PRIu64 ")",
                              f->path,
                              f->volume,
                              size != f->size ? "size" : "SHA-256",
                              size,
                              f->size);
            goto out;
        }
        (*checked)++;
    }
out:
    pitr_extract_release(&x);
    return rc;
}

/* ---- recovery settings ----------------------------------------------------- */

char *pitr_restore_conf_quote(const char *s)
{
    size_t n = 3;
    char *out, *o;

    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 2 : 1;
    out = o = pitr_malloc(n);
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            *o++ = '\'';
        *o++ = *p;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

static pitr_rc conf_line(struct pitr_buf *b, const char *key, const char *val, struct pitr_err *err)
{
    char *q = pitr_restore_conf_quote(val);
    pitr_rc rc = pitr_buf_appendf(b, err, "%s = %s\n", key, q);

    pitr_free(q);
    return rc;
}

#define AUTO_CONF       "postgresql.auto.conf"
#define AUTO_CONF_LIMIT ((size_t)1024 * 1024)

/*
 * Replace file name in folder dfd with data[0..len): a temporary file made
 * with O_EXCL | O_NOFOLLOW, fsync, rename over name (which replaces a
 * symlink instead of following it), fsync of the folder.
 */
static pitr_rc put_file(int dfd,
                        const char *dir,
                        const char *name,
                        const char *data,
                        size_t len,
                        struct pitr_err *err)
{
    char *tmp = pitr_asprintf("%s.pitr-tmp", name);
    pitr_rc rc = PITR_OK;
    int fd;

    (void)unlinkat(dfd, tmp, 0); /* a member of that name, or a leftover */
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create '%s/%s'", dir, tmp);
        goto out;
    }
    if ((len > 0 && write(fd, data, len) != (ssize_t)len) || fsync(fd) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s/%s'", dir, tmp);
        close(fd);
        goto out;
    }
    close(fd);
    if (renameat(dfd, tmp, dfd, name) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot replace '%s/%s'", dir, name);
        (void)unlinkat(dfd, tmp, 0);
        goto out;
    }
    if (fsync(dfd) != 0)
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot fsync '%s'", dir);
out:
    pitr_free(tmp);
    return rc;
}

/* postgresql.auto.conf as the backup left it, read without following a symlink; ENOENT: empty. */
static pitr_rc read_auto_conf(int dfd, const char *dir, struct pitr_buf *in, struct pitr_err *err)
{
    char chunk[8192];
    struct stat sb;
    pitr_rc rc = PITR_OK;
    ssize_t n;
    int fd = openat(dfd, AUTO_CONF, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT)
        return PITR_OK;
    if (fd < 0 && errno == ELOOP)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "'%s/" AUTO_CONF "' is a symlink (from the backup); refusing to "
                            "write the recovery settings through it",
                            dir);
    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s/" AUTO_CONF "'", dir);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = pitr_err_set(
          err, PITR_EFORMAT, "'%s/" AUTO_CONF "' is not a regular file; refusing it", dir);
        goto out;
    }
    while (rc == PITR_OK && (n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s/" AUTO_CONF "'", dir);
            break;
        }
        rc = pitr_buf_append(in, chunk, (size_t)n, err);
    }
out:
    close(fd);
    return rc;
}

/* Our recovery settings for the end of postgresql.auto.conf, into @b. */
static pitr_rc recovery_settings(const struct pitr_restore_opts *o,
                                 const char *pg_time,
                                 const char *backup_id,
                                 struct pitr_buf *b,
                                 struct pitr_err *err)
{
    pitr_rc rc;

    rc = pitr_buf_appendf(
      b, err, "\n# Recovery settings written by pgpitr restore of backup %s\n", backup_id);
    if (rc == PITR_OK)
        rc = conf_line(b, "restore_command", o->restore_command, err);
    if (rc == PITR_OK && o->recovery_end_command != NULL)
        rc = conf_line(b, "recovery_end_command", o->recovery_end_command, err);
    if (rc == PITR_OK && pg_time != NULL)
        rc = conf_line(b, "recovery_target_time", pg_time, err);
    if (rc == PITR_OK && o->target_xid != NULL)
        rc = conf_line(b, "recovery_target_xid", o->target_xid, err);
    if (rc == PITR_OK && o->target_lsn != NULL)
        rc = conf_line(b, "recovery_target_lsn", o->target_lsn, err);
    if (rc == PITR_OK && o->target_name != NULL)
        rc = conf_line(b, "recovery_target_name", o->target_name, err);
    if (rc == PITR_OK && o->target_immediate)
        rc = conf_line(b, "recovery_target", "immediate", err);
    if (rc == PITR_OK && o->exclusive)
        rc = conf_line(b, "recovery_target_inclusive", "false", err);
    if (rc == PITR_OK && o->target_tli != NULL)
        rc = conf_line(b, "recovery_target_timeline", o->target_tli, err);
    if (rc == PITR_OK)
        rc = conf_line(
          b, "recovery_target_action", o->target_action ? o->target_action : "promote", err);
    return rc;
}

/*
 * The recovery settings: the backup's postgresql.auto.conf with its own
 * recovery settings commented out, ours appended, written back as a new
 * file; then recovery.signal (or standby.signal). Nothing is opened through
 * a symlink: a backup that holds one under these names is refused or has it
 * replaced.
 */
static pitr_rc write_recovery(const struct pitr_restore_opts *o,
                              const char *pg_time,
                              const char *backup_id,
                              struct pitr_err *err)
{
    struct pitr_buf b, in, out;
    struct pitr_extract x;
    size_t ndis = 0;
    pitr_rc rc;

    memset(&x, 0, sizeof(x));
    x.rootfd = x.cache_fd = -1;
    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    /* ALTER SYSTEM files are small; 1 MiB leaves room for any hand-edited one. */
    pitr_buf_init(&in, AUTO_CONF_LIMIT);
    pitr_buf_init(&out, AUTO_CONF_LIMIT * 2 + PITR_BUF_LIMIT_SMALL);
    /*
     * No restore_command (barman-cloud-restore): the caller writes its own
     * recovery settings; the backup's old ones are still commented out.
     */
    rc = PITR_OK;
    if (o->restore_command != NULL)
        rc = recovery_settings(o, pg_time, backup_id, &b, err);
    if (rc == PITR_OK)
        rc = pitr_extract_init(&x, o->pgdata, err);
    if (rc == PITR_OK)
        rc = read_auto_conf(x.rootfd, o->pgdata, &in, err);
    if (rc == PITR_OK)
        rc = pitr_restore_disable_recovery(in.data, in.len, &out, &ndis, err);
    if (rc == PITR_OK && b.len > 0)
        rc = pitr_buf_append(&out, b.data, b.len, err);
    if (rc == PITR_OK)
        rc = put_file(x.rootfd, o->pgdata, AUTO_CONF, out.data, out.len, err);
    if (rc != PITR_OK)
        goto out;
    if (ndis > 0)
        pitr_log_info("restore: commented out %zu recovery setting(s) the backup's '%s/" AUTO_CONF
                      "' held",
                      ndis,
                      o->pgdata);
    if (o->restore_command != NULL)
        rc = put_file(
          x.rootfd, o->pgdata, o->standby ? "standby.signal" : "recovery.signal", "", 0, err);
out:
    pitr_extract_release(&x);
    pitr_buf_release(&b);
    pitr_buf_release(&in);
    pitr_buf_release(&out);
    return rc;
}

/* restore_command, or any recovery_target* key, at the start of a line. */
static int is_recovery_setting(const char *line, size_t n)
{
    static const char rc_key[] = "restore_command", rt_key[] = "recovery_target";
    size_t i = 0, k;

    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    k = i;
    while (i < n && (isalnum((unsigned char)line[i]) || line[i] == '_'))
        i++;
    if (i - k == sizeof(rc_key) - 1 && strncasecmp(line + k, rc_key, i - k) == 0)
        return 1;
    return i - k >= sizeof(rt_key) - 1 && strncasecmp(line + k, rt_key, sizeof(rt_key) - 1) == 0;
}

pitr_rc pitr_restore_disable_recovery(const char *text,
                                      size_t len,
                                      struct pitr_buf *out,
                                      size_t *ndisabled,
                                      struct pitr_err *err)
{
    size_t pos = 0;
    pitr_rc rc = PITR_OK;

    *ndisabled = 0;
    while (rc == PITR_OK && pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) + 1 : len - pos;

        if (is_recovery_setting(line, n)) {
            rc = pitr_buf_append_str(out, "# disabled by pgpitr restore: ", err);
            (*ndisabled)++;
        }
        if (rc == PITR_OK)
            rc = pitr_buf_append(out, line, n, err);
        pos += n;
    }
    return rc;
}

/* ---- the whole restore ----------------------------------------------------- */

/* An absolute path without empty, "." or ".." components, no trailing "/", no control characters.
 */
static int abs_normalised(const char *p)
{
    if (p[0] != '/')
        return 0;
    if (strcmp(p, "/") == 0)
        return 1;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    for (const char *c = p + 1;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);

        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (e == NULL)
            return 1;
        c = e + 1;
    }
}

/* Where tablespace t goes: its --tablespace remap, or its location in backup.info. */
static const char *ts_location(const struct pitr_restore_opts *o,
                               const struct pitr_cat_tablespace *t)
{
    for (size_t j = 0; j < o->nremaps; j++)
        if (o->remaps[j].oid == t->oid)
            return o->remaps[j].dir;
    return t->location;
}

/* pg_tblspc/<oid> -> each tablespace's location: the only links restore makes outside PGDATA. */
static pitr_rc make_tblspc_links(const struct pitr_extract *x,
                                 const struct pitr_restore_opts *o,
                                 const struct pitr_cat_backup *b,
                                 struct pitr_err *err)
{
    int dfd = -1;
    pitr_rc rc = pitr_extract_open_dir(x, "pg_tblspc", 1, &dfd, err);

    for (size_t t = 0; rc == PITR_OK && t < b->ntablespaces; t++) {
        const char *loc = ts_location(o, &b->tablespaces[t]);
        char oid[16];
        struct stat sb;

        snprintf(oid, sizeof(oid), "%" PRIu32, b->tablespaces[t].oid);
        if (fstatat(dfd, oid, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(sb.st_mode))
            (void)unlinkat(dfd, oid, 0);
        if (symlinkat(loc, dfd, oid) != 0)
            rc = pitr_err_set_errno(
              err, PITR_EIO, errno, "cannot link '%s/pg_tblspc/%s' to '%s'", o->pgdata, oid, loc);
    }
    if (dfd >= 0)
        close(dfd);
    return rc;
}

static int is_uint(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

pitr_rc pitr_restore_run(const struct pitr_restore_opts *o,
                         struct pitr_restore_result *res,
                         struct pitr_err *err)
{
    struct pitr_storage *st = NULL;
    struct pitr_cat_backup *cat = NULL;
    const struct pitr_cat_backup *b;
    struct pitr_cat_query q = { 0 };
    struct vlist vl = { 0 };
    struct pitr_repo_manifest m = { 0 };
    struct pitr_extract x;
    struct pitr_restore_wal_ahead wa = { 0 };
    struct pitr_progress meter = { 0 };
    char title[96];
    char pg_time[64], *prefix = NULL;
    size_t ncat = 0;
    int ntargets;
    pitr_rc rc;

    memset(res, 0, sizeof(*res));
    memset(&x, 0, sizeof(x));
    x.rootfd = x.cache_fd = -1;
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    q.id = o->backup_id;
    q.timeline = -1;
    ntargets = (o->target_time != NULL) + (o->target_xid != NULL) + (o->target_lsn != NULL) +
               (o->target_name != NULL) + (o->target_immediate != 0);
    if (ntargets > 1)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "give at most one of --target-time, --target-xid, --target-lsn, "
                            "--target-name and --target-immediate");
    snprintf(res->target, sizeof(res->target), "end of the WAL archive");
    if (o->target_time != NULL) {
        rc = pitr_cat_parse_time(o->target_time, &q.time_us, pg_time, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "--target-time");
        q.target = PITR_CAT_TARGET_TIME;
        snprintf(res->target, sizeof(res->target), "time %s", pg_time);
    } else if (o->target_lsn != NULL) {
        if (pitr_pg_parse_lsn(o->target_lsn, &q.lsn, err) != PITR_OK)
            return pitr_err_set(
              err, PITR_EUSAGE, "--target-lsn: invalid LSN '%s': expected X/X", o->target_lsn);
        q.target = PITR_CAT_TARGET_LSN;
        snprintf(res->target, sizeof(res->target), "LSN %s", o->target_lsn);
    } else if (o->target_xid != NULL) {
        if (!is_uint(o->target_xid))
            return pitr_err_set(
              err, PITR_EUSAGE, "--target-xid: '%s' is not a transaction id", o->target_xid);
        snprintf(res->target, sizeof(res->target), "xid %s", o->target_xid);
    } else if (o->target_name != NULL) {
        if (o->target_name[0] == '\0' || strlen(o->target_name) >= 64)
            return pitr_err_set(err, PITR_EUSAGE, "--target-name must have 1 to 63 bytes");
        snprintf(res->target, sizeof(res->target), "restore point '%s'", o->target_name);
    } else if (o->target_immediate) {
        snprintf(res->target, sizeof(res->target), "end of the backup (immediate)");
    }
    if (o->target_tli != NULL && strcmp(o->target_tli, "latest") != 0 &&
        strcmp(o->target_tli, "current") != 0) {
        if (!is_uint(o->target_tli) || strtoll(o->target_tli, NULL, 10) < 1)
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "--target-tli: '%s' is neither 'latest' nor a timeline number",
                                o->target_tli);
        q.timeline = strtoll(o->target_tli, NULL, 10);
    }
    if (o->target_action != NULL && strcmp(o->target_action, "promote") != 0 &&
        strcmp(o->target_action, "pause") != 0 && strcmp(o->target_action, "shutdown") != 0)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "--target-action: '%s' is not promote, pause or shutdown",
                            o->target_action);
    for (size_t i = 0; i < o->nremaps; i++)
        if (!abs_normalised(o->remaps[i].dir))
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "--tablespace: '%s' is not an absolute, normalised path (no '.', "
                                "'..', '//' or trailing '/')",
                                o->remaps[i].dir);

    rc = pitr_storage_open(o->cfg, &st, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_cat_load(st, o->cfg->server, &cat, &ncat, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_cat_select(cat, ncat, &q, &b, err);
    if (rc != PITR_OK)
        goto out;
    snprintf(res->backup_id, sizeof(res->backup_id), "%s", b->id);
    snprintf(res->end_time, sizeof(res->end_time), "%s", b->end_time ? b->end_time : "None");

    /* Where each volume goes: PGDATA or the tablespace's (remapped) location. */
    prefix = pitr_asprintf("%s/base/%s/", o->cfg->server, b->id);
    vl.prefix = prefix;
    rc = pitr_storage_list(st, prefix, collect_volume, &vl, err);
    if (rc != PITR_OK)
        goto out;
    if (vl.n == 0) {
        rc = pitr_err_set(
          err, PITR_ENOTFOUND, "backup '%s' has no tar volume under '%s'", b->id, prefix);
        goto out;
    }
    /* Tablespace locations come from the repository: absolute and normalised, or remapped. */
    for (size_t i = 0; i < b->ntablespaces; i++) {
        const char *loc = ts_location(o, &b->tablespaces[i]);

        if (loc == NULL || !abs_normalised(loc)) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "backup %s: tablespace '%s' (oid %" PRIu32 ") has location '%s' in "
                              "backup.info, which is not an absolute, normalised path; refusing "
                              "to restore it there. HINT: give --tablespace %" PRIu32 ":DIR",
                              b->id,
                              b->tablespaces[i].name ? b->tablespaces[i].name : "?",
                              b->tablespaces[i].oid,
                              loc ? loc : "",
                              b->tablespaces[i].oid);
            goto out;
        }
    }
    if (vl.has_manifest) {
        rc = load_manifest(st, &vl, &m, err);
        if (rc != PITR_OK)
            goto out;
    }
    /* Check every destination before creating any, so a refusal leaves nothing behind. */
    for (int create = 0; create <= 1; create++) {
        rc = prepare_dir(o->pgdata, "PGDATA", create, err);
        if (rc != PITR_OK)
            goto out;
        for (size_t i = 0; i < b->ntablespaces; i++) {
            rc =
              prepare_dir(ts_location(o, &b->tablespaces[i]), "tablespace location", create, err);
            if (rc != PITR_OK)
                goto out;
        }
    }
    for (size_t i = 0; i < vl.n; i++) {
        char stream[PITR_VOLUME_STREAM_MAX];
        unsigned index;

        (void)pitr_volume_parse(vl.v[i].name, stream, &index);
        if (strcmp(stream, "data") == 0) {
            vl.v[i].dest = o->pgdata;
            continue;
        }
        for (size_t t = 0; t < b->ntablespaces; t++) {
            char oid[16];
            snprintf(oid, sizeof(oid), "%" PRIu32, b->tablespaces[t].oid);
            if (strcmp(oid, stream) != 0)
                continue;
            vl.v[i].dest = ts_location(o, &b->tablespaces[t]);
        }
        if (vl.v[i].dest == NULL) {
            rc =
              pitr_err_set(err,
                           PITR_EFORMAT,
                           "volume '%s' belongs to tablespace %s, which backup.info does not list",
                           vl.v[i].key,
                           stream);
            goto out;
        }
    }
    res->volumes = vl.n;
    {
        uint64_t listed = 0;

        for (size_t i = 0; i < vl.n; i++)
            listed += vl.v[i].listed;
        /* Recovery's first WAL, fetched while the data files come. */
        pitr_restore_wal_ahead_start(
          &wa, o, b, q.target == PITR_CAT_TARGET_LSN ? q.lsn : 0, listed);
        snprintf(title, sizeof(title), "restore %s", b->id);
        pitr_progress_start(&meter, title, listed, o->progress);
        for (size_t i = 0; i < vl.n; i++)
            vl.v[i].progress = &meter;
    }
    rc = extract_all(o->cfg, &vl, o->jobs, err);
    pitr_progress_stop(&meter);
    if (rc != PITR_OK)
        goto out;

    /* pg_tblspc links, pg_wal, the manifest check: all below PGDATA, never through a symlink. */
    rc = pitr_extract_init(&x, o->pgdata, err);
    if (rc == PITR_OK && b->ntablespaces > 0)
        rc = make_tblspc_links(&x, o, b, err);
    if (rc == PITR_OK) {
        int fd = -1;

        rc = pitr_extract_open_dir(&x, "pg_wal/archive_status", 1, &fd, err);
        if (fd >= 0)
            close(fd);
    }
    if (rc != PITR_OK)
        goto out;
    if (vl.has_manifest) {
        rc = check_files(&vl, &m, &res->files_checked, err);
        if (rc != PITR_OK)
            goto out;
    } else {
        pitr_log_info("restore: backup %s has no pgpitr.manifest.json (barman-cloud backup): "
                      "files not checked",
                      b->id);
    }
    /*
     * A stream backup written before data.tar left tablespace_map out
     * carries the server's, which names the original locations; PostgreSQL
     * would rebuild pg_tblspc from it at start and undo --tablespace. The
     * links made above are the truth.
     */
    if (unlinkat(x.rootfd, "tablespace_map", 0) != 0 && errno != ENOENT) {
        rc =
          pitr_err_set_errno(err, PITR_EIO, errno, "cannot remove '%s/tablespace_map'", o->pgdata);
        goto out;
    }
    rc = write_recovery(o, o->target_time ? pg_time : NULL, b->id, err);
out:
    pitr_progress_stop(&meter);
    res->wal_ahead = pitr_restore_wal_ahead_finish(&wa);
    pitr_cat_list_release(cat, ncat);
    for (size_t i = 0; i < vl.n; i++) {
        pitr_free(vl.v[i].key);
        pitr_free(vl.v[i].name);
    }
    pitr_free(vl.v);
    pitr_free(prefix);
    pitr_repo_manifest_release(&m);
    pitr_extract_release(&x);
    pitr_storage_free(st);
    return rc;
}
