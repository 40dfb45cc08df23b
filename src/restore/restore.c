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
#include "pgpitr/crypto/hash.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/restore/restore.h"
#include "pgpitr/restore/snapframe.h"
#include "pgpitr/storage/storage.h"

#define MANIFEST_LIMIT ((size_t)1024 * 1024 * 1024)
#define READ_CHUNK     ((size_t)1024 * 1024)

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
    char *key;        /* owned; full key */
    char *name;       /* owned; file name */
    const char *dest; /* borrowed */
};

struct vlist {
    const char *prefix; /* "<server>/base/<id>/" */
    struct volume *v;
    size_t n;
    int has_manifest;
};

/* "data.tar…", "data_0001.tar…", "<oid>.tar…", "<oid>_0001.tar…": the stream ("data" or oid). */
static int volume_stream(const char *name, char *stream, size_t cap)
{
    size_t i = 0;

    if (strncmp(name, "data", 4) == 0)
        i = 4;
    else
        while (name[i] >= '0' && name[i] <= '9')
            i++;
    if (i == 0 || i >= cap)
        return 0;
    memcpy(stream, name, i);
    stream[i] = '\0';
    if (name[i] == '_') {
        size_t j = i + 1;
        while (name[j] >= '0' && name[j] <= '9')
            j++;
        if (j == i + 1)
            return 0;
        i = j;
    }
    return strncmp(name + i, ".tar", 4) == 0 &&
           (name[i + 4] == '\0' || (name[i + 4] == '.' && strchr(name + i + 5, '/') == NULL));
}

static pitr_rc collect_volume(const char *key,
                              const struct pitr_obj_info *info,
                              void *ud,
                              struct pitr_err *err)
{
    struct vlist *vl = ud;
    const char *name = key + strlen(vl->prefix);
    char stream[16];

    (void)info;
    (void)err;
    if (strcmp(name, "pgpitr.manifest.json") == 0)
        vl->has_manifest = 1;
    if (!volume_stream(name, stream, sizeof(stream)))
        return PITR_OK;
    vl->v = pitr_realloc(vl->v, (vl->n + 1) * sizeof(*vl->v));
    vl->v[vl->n].key = pitr_strdup(key);
    vl->v[vl->n].name = pitr_strdup(name);
    vl->v[vl->n].dest = NULL;
    vl->n++;
    return PITR_OK;
}

struct rd {
    struct pitr_storage_reader *r;
    char *buf;
    struct pitr_snapframe *sf; /* a .tar.snappy volume: its framing decoded here */
    struct pitr_err err;
    int failed;
};

static pitr_rc snap_source(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    return pitr_storage_reader_read(ud, p, cap, got, err);
}

/*
 * libarchive reads gzip, bzip2, xz, zstd and lz4 by itself; snappy's framing
 * format (barman-cloud-backup --snappy) it does not know: decoded here.
 */
static la_ssize_t read_cb(struct archive *a, void *ud, const void **out)
{
    struct rd *rd = ud;
    size_t got = 0;

    (void)a;
    if (rd->sf != NULL) {
        if (pitr_snapframe_next(rd->sf, out, &got, &rd->err) != PITR_OK) {
            rd->failed = 1;
            archive_set_error(a, EIO, "%s", rd->err.msg);
            return -1;
        }
        return (la_ssize_t)got;
    }
    if (pitr_storage_reader_read(rd->r, rd->buf, READ_CHUNK, &got, &rd->err) != PITR_OK) {
        rd->failed = 1;
        archive_set_error(a, EIO, "%s", rd->err.msg);
        return -1;
    }
    *out = rd->buf;
    return (la_ssize_t)got;
}

/* A member name is safe when relative and free of ".." components. */
static int safe_name(const char *n)
{
    const char *p = n;

    if (n[0] == '/')
        return 0;
    while (*p != '\0') {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (e == NULL)
            break;
        p = e + 1;
    }
    return 1;
}

static const char *strip_dot(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    return n;
}

static pitr_rc extract_volume(struct pitr_storage *st,
                              const struct volume *vol,
                              struct pitr_err *err)
{
    struct archive *a = NULL, *w = NULL;
    struct archive_entry *ae;
    struct rd rd = { 0 };
    struct pitr_snapframe sf;
    char *path = NULL;
    pitr_rc rc = PITR_OK;
    size_t stem;
    int r;

    rc = pitr_storage_open_read(st, vol->key, 0, PITR_STORAGE_TO_END, &rd.r, err);
    if (rc != PITR_OK)
        return rc;
    rd.buf = pitr_malloc(READ_CHUNK);
    if (pitr_codec_from_suffix(vol->name, &stem) == PITR_CODEC_SNAPPY) {
        pitr_snapframe_init(&sf, snap_source, rd.r);
        rd.sf = &sf;
    }
    a = archive_read_new();
    w = archive_write_disk_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_write_disk_set_options(w,
                                   ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
    if (archive_read_open(a, &rd, NULL, read_cb, NULL) != ARCHIVE_OK)
        goto arch_err;
    for (;;) {
        const char *name, *link;
        const void *blk;
        size_t sz;
        la_int64_t off;

        r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            goto arch_err;
        name = strip_dot(archive_entry_pathname(ae));
        if (!safe_name(name)) {
            rc = pitr_err_set(
              err, PITR_EFORMAT, "volume '%s': unsafe member name '%s'", vol->key, name);
            goto out;
        }
        pitr_free(path);
        path = name[0] ? pitr_asprintf("%s/%s", vol->dest, name) : pitr_strdup(vol->dest);
        archive_entry_set_pathname(ae, path);
        link = archive_entry_hardlink(ae);
        if (link != NULL) {
            char *lp;
            if (!safe_name(strip_dot(link))) {
                rc =
                  pitr_err_set(err, PITR_EFORMAT, "volume '%s': unsafe link '%s'", vol->key, link);
                goto out;
            }
            lp = pitr_asprintf("%s/%s", vol->dest, strip_dot(link));
            archive_entry_set_hardlink(ae, lp);
            pitr_free(lp);
        }
        r = archive_write_header(w, ae);
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = pitr_err_set(err,
                              PITR_EIO,
                              "cannot write '%s' from volume '%s': %s",
                              path,
                              vol->key,
                              archive_error_string(w));
            goto out;
        }
        while ((r = archive_read_data_block(a, &blk, &sz, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(w, blk, sz, off) != ARCHIVE_OK) {
                rc = pitr_err_set(err,
                                  PITR_EIO,
                                  "cannot write '%s' from volume '%s': %s",
                                  path,
                                  vol->key,
                                  archive_error_string(w));
                goto out;
            }
        }
        if (r != ARCHIVE_EOF)
            goto arch_err;
        if (archive_write_finish_entry(w) != ARCHIVE_OK) {
            rc = pitr_err_set(err,
                              PITR_EIO,
                              "cannot finish '%s' from volume '%s': %s",
                              path,
                              vol->key,
                              archive_error_string(w));
            goto out;
        }
    }
    if (archive_write_close(w) != ARCHIVE_OK) {
        rc = pitr_err_set(err,
                          PITR_EIO,
                          "volume '%s': cannot finish writing: %s",
                          vol->key,
                          archive_error_string(w));
        goto out;
    }
    goto out;
arch_err:
    if (rd.failed) {
        *err = rd.err;
        rc = pitr_err_prefix(err, "cannot read volume '%s'", vol->key);
    } else {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "volume '%s' is corrupt or not a tar archive: %s",
                          vol->key,
                          archive_error_string(a) ? archive_error_string(a) : "unknown error");
    }
out:
    archive_read_free(a);
    archive_write_free(w);
    if (rd.sf != NULL)
        pitr_snapframe_release(rd.sf);
    pitr_storage_reader_close(rd.r);
    pitr_free(rd.buf);
    pitr_free(path);
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

static pitr_rc file_sha256(const char *path,
                           uint64_t *size,
                           char hex[PITR_SHA256_HEX_LEN + 1],
                           struct pitr_err *err)
{
    struct pitr_sha256 h = { 0 };
    unsigned char md[PITR_SHA256_LEN];
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    pitr_rc rc;
    ssize_t n;

    *size = 0;
    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s'", path);
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
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s'", path);
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

/* The destination directory of a volume name (data or a tablespace). */
static const char *dest_of(const struct vlist *vl, const char *volume)
{
    for (size_t i = 0; i < vl->n; i++)
        if (strcmp(vl->v[i].name, volume) == 0)
            return vl->v[i].dest;
    return NULL;
}

static pitr_rc check_manifest(struct pitr_storage *st,
                              const struct vlist *vl,
                              size_t *checked,
                              struct pitr_err *err)
{
    struct pitr_buf b;
    json_t *root = NULL, *files;
    json_error_t je;
    char *key = pitr_asprintf("%spgpitr.manifest.json", vl->prefix), *path = NULL;
    pitr_rc rc;
    size_t i;
    json_t *f;

    pitr_buf_init(&b, MANIFEST_LIMIT);
    rc = pitr_storage_get(st, key, &b, err);
    if (rc != PITR_OK)
        goto out;
    root = json_loadb(b.data, b.len, 0, &je);
    files = root ? json_object_get(root, "files") : NULL;
    if (!json_is_array(files)) {
        rc = pitr_err_set(err, PITR_EFORMAT, "manifest '%s' is malformed", key);
        goto out;
    }
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        const char *vol = json_string_value(json_object_get(f, "volume"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        json_t *js = json_object_get(f, "size");
        const char *dest;
        char hex[PITR_SHA256_HEX_LEN + 1];
        uint64_t size;

        if (p == NULL || vol == NULL || sha == NULL || !json_is_integer(js)) {
            rc = pitr_err_set(err, PITR_EFORMAT, "manifest '%s': malformed entry %zu", key, i);
            goto out;
        }
        dest = dest_of(vl, vol);
        if (dest == NULL) {
            rc = pitr_err_set(
              err, PITR_EFORMAT, "manifest '%s' names volume '%s', which is not stored", key, vol);
            goto out;
        }
        pitr_free(path);
        path = pitr_asprintf("%s/%s", dest, strip_dot(p));
        rc = file_sha256(path, &size, hex, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "file '%s' (volume '%s') listed in the manifest", p, vol);
            goto out;
        }
        if (size != (uint64_t)json_integer_value(js) || strcmp(hex, sha) != 0) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "restored file '%s' (volume '%s') does not match the manifest: "
                              "%s differs (%" PRIu64 " bytes, expected %" PRId64 ")",
                              p,
                              vol,
                              size != (uint64_t)json_integer_value(js) ? "size" : "SHA-256",
                              size,
                              (int64_t)json_integer_value(js));
            goto out;
        }
        (*checked)++;
    }
out:
    json_decref(root);
    pitr_buf_release(&b);
    pitr_free(key);
    pitr_free(path);
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

static pitr_rc write_recovery(const struct pitr_restore_opts *o,
                              const char *pg_time,
                              const char *backup_id,
                              struct pitr_err *err)
{
    struct pitr_buf b;
    char *path = pitr_asprintf("%s/postgresql.auto.conf", o->pgdata), *sig = NULL;
    pitr_rc rc;
    int fd = -1;

    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    rc = pitr_buf_appendf(
      &b, err, "\n# Recovery settings written by pgpitr restore of backup %s\n", backup_id);
    if (rc == PITR_OK)
        rc = conf_line(&b, "restore_command", o->restore_command, err);
    if (rc == PITR_OK && o->recovery_end_command != NULL)
        rc = conf_line(&b, "recovery_end_command", o->recovery_end_command, err);
    if (rc == PITR_OK && pg_time != NULL)
        rc = conf_line(&b, "recovery_target_time", pg_time, err);
    if (rc == PITR_OK && o->target_xid != NULL)
        rc = conf_line(&b, "recovery_target_xid", o->target_xid, err);
    if (rc == PITR_OK && o->target_lsn != NULL)
        rc = conf_line(&b, "recovery_target_lsn", o->target_lsn, err);
    if (rc == PITR_OK && o->target_name != NULL)
        rc = conf_line(&b, "recovery_target_name", o->target_name, err);
    if (rc == PITR_OK && o->target_immediate)
        rc = conf_line(&b, "recovery_target", "immediate", err);
    if (rc == PITR_OK && o->exclusive)
        rc = conf_line(&b, "recovery_target_inclusive", "false", err);
    if (rc == PITR_OK && o->target_tli != NULL)
        rc = conf_line(&b, "recovery_target_timeline", o->target_tli, err);
    if (rc == PITR_OK)
        rc = conf_line(
          &b, "recovery_target_action", o->target_action ? o->target_action : "promote", err);
    if (rc != PITR_OK)
        goto out;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot append to '%s'", path);
        goto out;
    }
    sig = pitr_asprintf("%s/%s", o->pgdata, o->standby ? "standby.signal" : "recovery.signal");
    rc = pitr_fs_write_atomic(sig, "", 0, 0600, err);
out:
    if (fd >= 0)
        close(fd);
    pitr_buf_release(&b);
    pitr_free(path);
    pitr_free(sig);
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

#define AUTO_CONF_LIMIT ((size_t)1024 * 1024)

/* Comment out the recovery settings the backup's postgresql.auto.conf carries. */
static pitr_rc disable_backup_recovery(const char *pgdata, struct pitr_err *err)
{
    char *path = pitr_asprintf("%s/postgresql.auto.conf", pgdata);
    struct pitr_buf in, out;
    size_t n = 0;
    pitr_rc rc;

    /* ALTER SYSTEM files are small; 1 MiB leaves room for any hand-edited one. */
    pitr_buf_init(&in, AUTO_CONF_LIMIT);
    pitr_buf_init(&out, AUTO_CONF_LIMIT * 2);
    rc = pitr_fs_read_file(path, &in, err);
    if (rc == PITR_ENOTFOUND) {
        rc = PITR_OK;
        goto out;
    }
    if (rc == PITR_OK)
        rc = pitr_restore_disable_recovery(in.data, in.len, &out, &n, err);
    if (rc == PITR_OK && n > 0)
        rc = pitr_fs_write_atomic(path, out.data, out.len, 0600, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot disable the recovery settings in '%s'", path);
        goto out;
    }
    if (n > 0)
        pitr_log_info(
          "restore: commented out %zu recovery setting(s) the backup's '%s' held", n, path);
out:
    pitr_buf_release(&in);
    pitr_buf_release(&out);
    pitr_free(path);
    return rc;
}

/* ---- the whole restore ----------------------------------------------------- */

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
    char pg_time[64], *link = NULL, *prefix = NULL, *tmp = NULL;
    size_t ncat = 0;
    int ntargets;
    pitr_rc rc;

    memset(res, 0, sizeof(*res));
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
        if (o->remaps[i].dir[0] != '/')
            return pitr_err_set(
              err, PITR_EUSAGE, "--tablespace: '%s' is not an absolute path", o->remaps[i].dir);

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
    /* Check every destination before creating any, so a refusal leaves nothing behind. */
    for (int create = 0; create <= 1; create++) {
        rc = prepare_dir(o->pgdata, "PGDATA", create, err);
        if (rc != PITR_OK)
            goto out;
        for (size_t i = 0; i < b->ntablespaces; i++) {
            const char *loc = b->tablespaces[i].location;
            for (size_t j = 0; j < o->nremaps; j++)
                if (o->remaps[j].oid == b->tablespaces[i].oid)
                    loc = o->remaps[j].dir;
            rc = prepare_dir(loc, "tablespace location", create, err);
            if (rc != PITR_OK)
                goto out;
        }
    }
    for (size_t i = 0; i < vl.n; i++) {
        char stream[16];

        (void)volume_stream(vl.v[i].name, stream, sizeof(stream));
        if (strcmp(stream, "data") == 0) {
            vl.v[i].dest = o->pgdata;
            continue;
        }
        for (size_t t = 0; t < b->ntablespaces; t++) {
            char oid[16];
            snprintf(oid, sizeof(oid), "%" PRIu32, b->tablespaces[t].oid);
            if (strcmp(oid, stream) != 0)
                continue;
            vl.v[i].dest = b->tablespaces[t].location;
            for (size_t j = 0; j < o->nremaps; j++)
                if (o->remaps[j].oid == b->tablespaces[t].oid)
                    vl.v[i].dest = o->remaps[j].dir;
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
    rc = extract_all(o->cfg, &vl, o->jobs, err);
    if (rc != PITR_OK)
        goto out;

    /* pg_tblspc links, pg_wal. */
    for (size_t t = 0; t < b->ntablespaces; t++) {
        const char *loc = b->tablespaces[t].location;
        for (size_t j = 0; j < o->nremaps; j++)
            if (o->remaps[j].oid == b->tablespaces[t].oid)
                loc = o->remaps[j].dir;
        pitr_free(tmp);
        tmp = pitr_asprintf("%s/pg_tblspc", o->pgdata);
        rc = pitr_fs_mkdir_p(tmp, 0700, err);
        if (rc != PITR_OK)
            goto out;
        pitr_free(link);
        link = pitr_asprintf("%s/pg_tblspc/%" PRIu32, o->pgdata, b->tablespaces[t].oid);
        (void)unlink(link);
        if (symlink(loc, link) != 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot link '%s' to '%s'", link, loc);
            goto out;
        }
    }
    pitr_free(tmp);
    tmp = pitr_asprintf("%s/pg_wal/archive_status", o->pgdata);
    rc = pitr_fs_mkdir_p(tmp, 0700, err);
    if (rc != PITR_OK)
        goto out;

    if (vl.has_manifest) {
        rc = check_manifest(st, &vl, &res->files_checked, err);
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
    pitr_free(tmp);
    tmp = pitr_asprintf("%s/tablespace_map", o->pgdata);
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot remove '%s'", tmp);
        goto out;
    }
    rc = disable_backup_recovery(o->pgdata, err);
    if (rc != PITR_OK)
        goto out;
    rc = write_recovery(o, o->target_time ? pg_time : NULL, b->id, err);
out:
    pitr_cat_list_release(cat, ncat);
    for (size_t i = 0; i < vl.n; i++) {
        pitr_free(vl.v[i].key);
        pitr_free(vl.v[i].name);
    }
    pitr_free(vl.v);
    pitr_free(prefix);
    pitr_free(link);
    pitr_free(tmp);
    pitr_storage_free(st);
    return rc;
}
