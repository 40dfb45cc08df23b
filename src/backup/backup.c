/* backup.c - one base backup; see include/pgpitr/backup/backup.h. */
#include "pgpitr/backup/backup.h"

#include "backup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/backup/info.h"
#include "pgpitr/backup/sink.h"
#include "pgpitr/backup/tarstream.h"
#include "pgpitr/backup/walker.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/core/progress.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/repo/manifest.h"
#include "pgpitr/storage/storage.h"

/* The largest file PostgreSQL keeps in PGDATA (a 1 GiB relation segment), plus slack. */
#define VOLUME_OVERSHOOT ((uint64_t)1 << 31)

double pitr_backup_elapsed(const struct timespec *since)
{
    return pitr_progress_elapsed(since);
}

void pitr_backup_format_progress(char *out,
                                 size_t n,
                                 const char *id,
                                 uint64_t done,
                                 uint64_t stored,
                                 uint64_t total,
                                 double secs)
{
    char what[96], extra[48];

    snprintf(what, sizeof(what), "backup %s", id);
    snprintf(extra, sizeof(extra), ", %.1f MiB stored", (double)stored / 1048576.0);
    pitr_progress_format(out, n, what, done, total, secs, extra);
}

static void show_progress(const struct pitr_tarstream_stats *s, void *ud)
{
    struct pitr_backup_run *r = ud;
    char line[256];

    pitr_backup_format_progress(line,
                                sizeof(line),
                                r->res->backup_id,
                                s->file_bytes,
                                s->stored_bytes,
                                r->total_estimate,
                                pitr_backup_elapsed(&r->t0));
    pitr_progress_draw(line);
}

/* The system identifier in global/pg_control (its first 8 bytes). */
static pitr_rc check_pgdata(const char *pgdata, const char *systemid, struct pitr_err *err)
{
    char path[PATH_MAX + 32];
    uint64_t id = 0;
    unsigned long long want;
    char *end;
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/global/pg_control", pgdata);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pitr_err_set_errno(err,
                                  errno == ENOENT ? PITR_EUSAGE : PITR_EIO,
                                  errno,
                                  "'%s' is not a readable PostgreSQL data directory: cannot open "
                                  "'%s'",
                                  pgdata,
                                  path);
    n = read(fd, &id, sizeof(id));
    close(fd);
    errno = 0;
    want = strtoull(systemid, &end, 10);
    if (n != (ssize_t)sizeof(id) || errno != 0 || *end != '\0')
        return pitr_err_set(err, PITR_EUSAGE, "cannot read the system identifier in '%s'", path);
    if (id != want)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "'%s' is not the data directory of the server we are connected to "
                            "(system identifier %" PRIu64 ", server's %s); HINT: check --pgdata, "
                            "PGDATA and the connection settings",
                            pgdata,
                            id,
                            systemid);
    return PITR_OK;
}

/* Local mode is possible when this process can read PGDATA's pg_control. */
static int pgdata_readable(const char *pgdata)
{
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/global/pg_control", pgdata);
    return access(path, R_OK) == 0;
}

/* No --method, no --pgdata: local when this process can read the data directory. */
static void auto_method(struct pitr_backup_run *r, const char *pgdata)
{
    r->method = pgdata_readable(pgdata) ? PITR_BACKUP_LOCAL : PITR_BACKUP_STREAM;
    pitr_log_info("backup: method %s (the data directory '%s' is %sreadable here)",
                  r->method == PITR_BACKUP_LOCAL ? "local" : "stream",
                  pgdata,
                  r->method == PITR_BACKUP_LOCAL ? "" : "not ");
}

static enum pitr_pg_need need_of(enum pitr_backup_method m)
{
    return m == PITR_BACKUP_AUTO    ? PITR_PG_NEED_NOTHING
           : m == PITR_BACKUP_LOCAL ? PITR_PG_NEED_BACKUP_API
                                    : PITR_PG_NEED_REPLICATION;
}

static pitr_rc exists_cb(const char *key,
                         const struct pitr_obj_info *info,
                         void *ud,
                         struct pitr_err *err)
{
    (void)key;
    (void)info;
    (void)err;
    *(int *)ud = 1;
    return PITR_OK;
}

/* YYYYMMDDTHHMMSS in local time, as barman names backups. */
static pitr_rc choose_id(struct pitr_backup_run *r, struct pitr_err *err)
{
    time_t now = time(NULL);
    struct tm tm;
    int found = 0;
    pitr_rc rc;

    if (localtime_r(&now, &tm) == NULL ||
        strftime(r->res->backup_id, sizeof(r->res->backup_id), "%Y%m%dT%H%M%S", &tm) != 15)
        return pitr_err_set(err, PITR_EINTERNAL, "cannot format the backup id");
    r->prefix = pitr_asprintf("%s/base/%s/", r->o->cfg->server, r->res->backup_id);
    rc = pitr_storage_list(r->st, r->prefix, exists_cb, &found, err);
    if (rc != PITR_OK)
        return pitr_err_prefix(err, "cannot list the repository");
    if (found) {
        rc = pitr_err_set(err,
                          PITR_ECONFLICT,
                          "backup '%s' already exists in the repository; HINT: wait a second "
                          "and run the backup again",
                          r->res->backup_id);
        r->res->backup_id[0] = '\0';
    }
    return rc;
}

/*
 * ---- the backup's lease ------------------------------------------------
 *
 * On a store whose driver keeps leases (S3), a backup stores the empty
 * object "<prefix>backup.pitr-tmp.<host>.<pid>.<n>" before its first volume,
 * refreshes it every PITR_STORAGE_LEASE_REFRESH seconds and removes it only
 * once backup.info (DONE or FAILED) is stored. A folder without backup.info
 * whose backup lease, and every other lease, names a dead writer was left
 * by a killed backup: sweep_dead_backups removes it. A folder with no
 * lease (barman-cloud's, an older pgpitr's) or with backup.info is never
 * touched.
 */
#define LEASE_NAME "backup"
/* Bounds one sweep; the rest waits for the next backup. */
#define SWEEP_MAX_FOLDERS 10000
#define SWEEP_MAX_KEYS    100000

static pitr_rc take_lease(struct pitr_backup_run *r, struct pitr_err *err)
{
    char *key;
    pitr_rc rc;

    if (!pitr_storage_has_leases(r->st))
        return PITR_OK;
    key = pitr_asprintf("%s" LEASE_NAME, r->prefix);
    r->lease = pitr_fs_temp_path(key);
    pitr_free(key);
    rc = pitr_storage_put(r->st, r->lease, "", 0, err);
    if (rc != PITR_OK) {
        pitr_free(r->lease);
        r->lease = NULL;
        return pitr_err_prefix(err, "cannot store the lease of backup '%s'", r->res->backup_id);
    }
    r->lease_at = time(NULL);
    return PITR_OK;
}

static void refresh_lease(struct pitr_backup_run *r)
{
    struct pitr_err lerr = { 0 };
    time_t now = time(NULL);

    if (r->lease == NULL || now - r->lease_at <= PITR_STORAGE_LEASE_REFRESH)
        return;
    if (pitr_storage_put(r->st, r->lease, "", 0, &lerr) == PITR_OK) {
        r->lease_at = now;
        return;
    }
    pitr_log_warn("backup %s: cannot refresh its lease: %s", r->res->backup_id, lerr.msg);
    /* Try again in a minute, not on every file. */
    r->lease_at = now - PITR_STORAGE_LEASE_REFRESH + 60;
}

static void drop_lease(struct pitr_backup_run *r)
{
    struct pitr_err lerr = { 0 };

    if (r->lease == NULL)
        return;
    if (pitr_storage_remove(r->st, r->lease, &lerr) != PITR_OK)
        pitr_log_warn("backup %s: cannot remove its lease '%s' (the next backup will): %s",
                      r->res->backup_id,
                      r->lease,
                      lerr.msg);
}

struct lease_folder {
    char *folder; /* owned; "<server>/base/<id>/" */
    char *lease;  /* owned; a stale backup lease in it, NULL: none */
    int live;     /* some lease in it names a live writer */
};

struct sweep {
    const char *base; /* "<server>/base/" */
    size_t base_len;
    struct lease_folder *v; /* owned; n of them */
    size_t n, cap;
};

static pitr_rc on_base_lease(const char *key, int stale, void *ud, struct pitr_err *err)
{
    struct sweep *sw = ud;
    const char *id = key + sw->base_len, *slash;
    struct lease_folder *f = NULL;
    size_t flen;

    (void)err;
    if (strncmp(key, sw->base, sw->base_len) != 0 || (slash = strchr(id, '/')) == NULL ||
        slash == id)
        return PITR_OK;
    flen = (size_t)(slash + 1 - key);
    /* The listing is in key order, so a folder's leases come together. */
    if (sw->n > 0 && strncmp(sw->v[sw->n - 1].folder, key, flen) == 0 &&
        sw->v[sw->n - 1].folder[flen] == '\0')
        f = &sw->v[sw->n - 1];
    if (f == NULL) {
        if (sw->n >= SWEEP_MAX_FOLDERS)
            return PITR_OK;
        if (sw->n == sw->cap) {
            sw->cap = sw->cap ? 2 * sw->cap : 16;
            sw->v = pitr_realloc(sw->v, sw->cap * sizeof(*sw->v));
        }
        f = &sw->v[sw->n++];
        memset(f, 0, sizeof(*f));
        f->folder = pitr_strndup(key, flen);
    }
    if (!stale)
        f->live = 1;
    else if (f->lease == NULL && pitr_fs_temp_base_len(key) == flen + strlen(LEASE_NAME) &&
             strncmp(key + flen, LEASE_NAME, strlen(LEASE_NAME)) == 0)
        f->lease = pitr_strdup(key);
    return PITR_OK;
}

struct key_vec {
    char **v; /* owned; n of them */
    size_t n, cap;
};

static pitr_rc collect_key(const char *key,
                           const struct pitr_obj_info *info,
                           void *ud,
                           struct pitr_err *err)
{
    struct key_vec *kv = ud;

    (void)info;
    (void)err;
    if (kv->n >= SWEEP_MAX_KEYS)
        return PITR_OK;
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? 2 * kv->cap : 16;
        kv->v = pitr_realloc(kv->v, kv->cap * sizeof(*kv->v));
    }
    kv->v[kv->n++] = pitr_strdup(key);
    return PITR_OK;
}

/* Remove folder f's objects, then its lease, unless it holds backup.info. */
static pitr_rc sweep_folder(struct pitr_storage *st,
                            const struct lease_folder *f,
                            size_t *removed,
                            struct pitr_err *err)
{
    struct pitr_obj_info oi;
    struct key_vec kv = { 0 };
    char *info_key = pitr_asprintf("%sbackup.info", f->folder);
    size_t i;
    pitr_rc rc;

    rc = pitr_storage_head(st, info_key, &oi, err);
    if (rc == PITR_OK) {
        /* A finished backup: only its lease is left, which cleanup removes. */
        goto out;
    }
    if (rc != PITR_ENOTFOUND)
        goto out;
    pitr_err_clear(err);
    rc = pitr_storage_list(st, f->folder, collect_key, &kv, err);
    if (rc == PITR_OK)
        rc = pitr_storage_remove_many(st, (const char *const *)kv.v, kv.n, err);
    /* The lease last, and only once all is gone: a run that stops halfway keeps the evidence. */
    if (rc == PITR_OK && kv.n < SWEEP_MAX_KEYS)
        rc = pitr_storage_remove(st, f->lease, err);
    if (rc != PITR_OK)
        goto out;
    pitr_log_info("backup: removed '%s' (%zu object(s)): a backup killed before it wrote "
                  "backup.info, its lease names a writer that is gone",
                  f->folder,
                  kv.n);
    *removed += kv.n;
out:
    for (i = 0; i < kv.n; i++)
        pitr_free(kv.v[i]);
    pitr_free(kv.v);
    pitr_free(info_key);
    return rc;
}

/*
 * Remove the folders under base (<server>/base/) that killed backups left:
 * no backup.info, a backup lease, and no lease of a live writer. *removed
 * counts the objects removed.
 */
static pitr_rc sweep_dead_backups(struct pitr_storage *st,
                                  const char *base,
                                  size_t *removed,
                                  struct pitr_err *err)
{
    struct sweep sw = { base, strlen(base), NULL, 0, 0 };
    size_t i;
    pitr_rc rc;

    *removed = 0;
    rc = pitr_storage_list_leases(st, base, on_base_lease, &sw, err);
    for (i = 0; rc == PITR_OK && i < sw.n; i++)
        if (sw.v[i].lease != NULL && !sw.v[i].live)
            rc = sweep_folder(st, &sw.v[i], removed, err);
    for (i = 0; i < sw.n; i++) {
        pitr_free(sw.v[i].folder);
        pitr_free(sw.v[i].lease);
    }
    pitr_free(sw.v);
    return rc;
}

static pitr_rc add_entry(const struct pitr_walk_entry *e, void *ud, struct pitr_err *err)
{
    struct pitr_backup_run *r = ud;

    refresh_lease(r);
    return pitr_tarstream_add(r->ts, e, err);
}

void pitr_backup_add_item(struct pitr_backup_run *r, const char *name, double secs)
{
    r->items = pitr_realloc(r->items, (r->nitems + 1) * sizeof(*r->items));
    r->item_names = pitr_realloc(r->item_names, (r->nitems + 1) * sizeof(*r->item_names));
    r->item_names[r->nitems] = pitr_strdup(name);
    r->items[r->nitems].name = r->item_names[r->nitems];
    r->items[r->nitems].copy_time = secs;
    r->items[r->nitems].serialized_copy_time = secs;
    r->nitems++;
    r->copy_time += secs;
}

static pitr_rc backup_tablespaces(struct pitr_backup_run *r, struct pitr_err *err)
{
    char prefix[32];
    size_t i;
    pitr_rc rc = PITR_OK;

    if (r->info.version >= 100000)
        snprintf(prefix, sizeof(prefix), "PG_%d_", r->info.version / 10000);
    else
        snprintf(prefix,
                 sizeof(prefix),
                 "PG_%d.%d_",
                 r->info.version / 10000,
                 r->info.version / 100 % 100);
    for (i = 0; i < r->info.ntablespaces && rc == PITR_OK; i++) {
        const struct pitr_pg_tablespace *t = &r->info.tablespaces[i];
        struct pitr_walk_opts w = { 0 };
        struct timespec t0;
        char name[16];

        clock_gettime(CLOCK_MONOTONIC, &t0);
        snprintf(name, sizeof(name), "%" PRIu32, t->oid);
        w.root = t->location;
        w.kind = PITR_WALK_TABLESPACE;
        w.tblspc_prefix = prefix;
        rc = pitr_tarstream_begin(r->ts, name, err);
        if (rc == PITR_OK)
            rc = pitr_walk(&w, add_entry, r, err);
        if (rc == PITR_OK)
            rc = pitr_tarstream_end(r->ts, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "tablespace '%s' (%s)", t->name, t->location);
        pitr_backup_add_item(r, name, pitr_backup_elapsed(&t0));
    }
    return rc;
}

/* An extra file (pg_control, a config file outside PGDATA) under a given member name. */
static pitr_rc add_path_as(struct pitr_backup_run *r,
                           const char *path,
                           const char *name,
                           struct pitr_err *err)
{
    struct pitr_walk_entry e;

    memset(&e, 0, sizeof(e));
    if (lstat(path, &e.st) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot stat '%s'", path);
    if (!S_ISREG(e.st.st_mode))
        return PITR_OK;
    e.type = PITR_WALK_FILE;
    e.path = path;
    e.name = name;
    return pitr_tarstream_add(r->ts, &e, err);
}

static int inside_pgdata(const struct pitr_backup_run *r, const char *path)
{
    size_t n = strlen(r->pgdata);

    return strncmp(path, r->pgdata, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static pitr_rc backup_pgdata(struct pitr_backup_run *r, struct timespec *t0, struct pitr_err *err)
{
    struct pitr_walk_opts w = { 0 };
    const char **skip = pitr_calloc(r->info.ntablespaces + 1, sizeof(*skip));
    char **real = pitr_calloc(r->info.ntablespaces + 1, sizeof(*real));
    const char *conf[3];
    char path[PATH_MAX + 32];
    size_t i, nskip = 0;
    pitr_rc rc;

    clock_gettime(CLOCK_MONOTONIC, t0);
    /* A tablespace located inside PGDATA is in its own tar already. */
    for (i = 0; i < r->info.ntablespaces; i++) {
        real[i] = realpath(r->info.tablespaces[i].location, NULL);
        if (real[i] != NULL && inside_pgdata(r, real[i]))
            skip[nskip++] = real[i];
    }
    w.root = r->pgdata;
    w.kind = PITR_WALK_PGDATA;
    w.skip = skip;
    w.nskip = nskip;
    rc = pitr_tarstream_begin(r->ts, "data", err);
    if (rc == PITR_OK)
        rc = pitr_walk(&w, add_entry, r, err);
    /* pg_control last in the PGDATA stream, as barman adds it. */
    snprintf(path, sizeof(path), "%s/global/pg_control", r->pgdata);
    if (rc == PITR_OK)
        rc = add_path_as(r, path, "global/pg_control", err);
    /* Configuration files outside PGDATA go in under their basename. */
    conf[0] = r->info.config_file;
    conf[1] = r->info.hba_file;
    conf[2] = r->info.ident_file;
    for (i = 0; i < 3 && rc == PITR_OK; i++) {
        const char *base;

        if (conf[i] == NULL || *conf[i] == '\0' || inside_pgdata(r, conf[i]))
            continue;
        base = strrchr(conf[i], '/');
        rc = add_path_as(r, conf[i], base ? base + 1 : conf[i], err);
        if (rc == PITR_ENOTFOUND && i == 2)
            rc = PITR_OK; /* ident_file is optional, as for barman */
    }
    for (i = 0; i < r->info.ntablespaces; i++)
        free(real[i]); /* from realpath() */
    pitr_free(real);
    pitr_free(skip);
    return rc;
}

/* Is the end WAL segment (any compression suffix) in <server>/wals/? */
struct wal_seen {
    size_t stem_len;
    int found;
};

static pitr_rc wal_cb(const char *key,
                      const struct pitr_obj_info *info,
                      void *ud,
                      struct pitr_err *err)
{
    struct wal_seen *ws = ud;
    size_t stem;

    (void)info;
    (void)err;
    /* The segment itself, not its .partial or a .backup history file. */
    pitr_codec_from_suffix(key, &stem);
    if (stem == ws->stem_len)
        ws->found = 1;
    return PITR_OK;
}

static pitr_rc wait_for_wal(struct pitr_backup_run *r, struct pitr_err *err)
{
    char *key =
      pitr_asprintf("%s/wals/%.16s/%s", r->o->cfg->server, r->res->end_wal, r->res->end_wal);
    struct timespec t0;
    struct wal_seen ws = { strlen(key), 0 };
    pitr_rc rc = PITR_OK;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        rc = pitr_storage_list(r->st, key, wal_cb, &ws, err);
        if (rc != PITR_OK || ws.found)
            break;
        if (pitr_backup_elapsed(&t0) >= r->o->wal_wait_timeout) {
            rc = pitr_err_set(err,
                              PITR_EGENERAL,
                              "the backup's end WAL segment %s did not reach the archive within "
                              "%d s; HINT: check archive_command and pg_stat_archiver, or raise "
                              "--wal-wait-timeout",
                              r->res->end_wal,
                              r->o->wal_wait_timeout);
            break;
        }
        if (r->o->cancel != NULL && *r->o->cancel) {
            rc = pitr_err_set(err, PITR_EGENERAL, "interrupted by a signal");
            break;
        }
        refresh_lease(r);
        sleep(1);
    }
    pitr_free(key);
    return rc;
}

static pitr_rc put_manifest(struct pitr_backup_run *r, struct pitr_err *err)
{
    struct pitr_repo_manifest_out m = { 0 };
    struct pitr_repo_mf_tablespace *tbs = NULL;
    struct pitr_repo_mf_file *files = NULL;
    struct pitr_repo_mf_object *objs = NULL;
    const struct pitr_manifest_file *f;
    const struct pitr_sink_object *o;
    size_t n, i;
    char *text = NULL, *key = NULL;
    pitr_rc rc;

    m.backup_id = r->res->backup_id;
    m.backup_name = r->o->name;
    m.compression = pitr_codec_name(r->codec);
    m.systemid = r->info.systemid;
    m.version = r->info.version;
    m.timeline = r->start.timeline;
    m.begin_wal = r->res->begin_wal;
    m.end_wal = r->res->end_wal;
    m.begin_lsn = r->begin_xlog;
    m.end_lsn = r->end_xlog;
    tbs = pitr_calloc(r->info.ntablespaces + 1, sizeof(*tbs));
    for (i = 0; i < r->info.ntablespaces; i++) {
        tbs[i].oid = r->info.tablespaces[i].oid;
        tbs[i].name = r->info.tablespaces[i].name;
        tbs[i].location = r->info.tablespaces[i].location;
    }
    m.tablespaces = tbs;
    m.ntablespaces = r->info.ntablespaces;
    m.volumes = pitr_tarstream_volumes(r->ts, &m.nvolumes);
    f = pitr_tarstream_files(r->ts, &n);
    files = pitr_calloc(n + 1, sizeof(*files));
    for (i = 0; i < n; i++) {
        files[i].path = f[i].path;
        files[i].volume = f[i].volume;
        files[i].size = f[i].size;
        files[i].sha256 = f[i].sha256;
    }
    m.files = files;
    m.nfiles = n;
    /* The stored objects as verify checks them: name, stored size, SHA-256 of the stored bytes. */
    o = pitr_sink_digest_objects(r->sink, &n);
    objs = pitr_calloc(n + 1, sizeof(*objs));
    for (i = 0; i < n; i++) {
        objs[i].name = o[i].name;
        objs[i].size = o[i].size;
        objs[i].sha256 = o[i].sha256;
    }
    m.objects = objs;
    m.nobjects = n;
    text = pitr_repo_manifest_write(&m);
    pitr_free(tbs);
    pitr_free(files);
    pitr_free(objs);
    if (text == NULL)
        return pitr_err_set(err, PITR_ENOMEM, "cannot serialise the manifest");
    key = pitr_asprintf("%s" PITR_REPO_MANIFEST_NAME, r->prefix);
    rc = pitr_storage_put(r->st, key, text, strlen(text), err);
    pitr_free(key);
    pitr_free(text);
    return rc;
}

static pitr_rc put_info(struct pitr_backup_run *r,
                        const char *status,
                        const char *error,
                        struct pitr_err *err)
{
    struct pitr_backup_info bi;
    struct pitr_info_copy_stats cs;
    struct pitr_info_tablespace *tbs = NULL;
    struct pitr_buf text;
    char *key;
    size_t i;
    pitr_rc rc;

    pitr_backup_info_init(&bi);
    bi.backup_name = r->o->name;
    bi.status = status;
    bi.error = error;
    bi.pgdata = r->pgdata;
    bi.systemid = r->info.systemid;
    bi.config_file = r->info.config_file;
    bi.hba_file = r->info.hba_file;
    bi.ident_file = r->info.ident_file;
    if (r->info.version > 0)
        bi.version = r->info.version;
    if (r->info.seg_size > 0)
        bi.xlog_segment_size = r->info.seg_size;
    tbs = pitr_calloc(r->info.ntablespaces + 1, sizeof(*tbs));
    for (i = 0; i < r->info.ntablespaces; i++) {
        tbs[i].name = r->info.tablespaces[i].name;
        tbs[i].oid = r->info.tablespaces[i].oid;
        tbs[i].location = r->info.tablespaces[i].location;
    }
    bi.tablespaces = tbs;
    bi.ntablespaces = r->info.ntablespaces;
    if (r->started) {
        bi.begin_offset = (int64_t)pitr_pg_lsn_offset(r->start.lsn, r->info.seg_size);
        bi.begin_time = r->begin_time;
        bi.begin_wal = r->res->begin_wal;
        bi.begin_xlog = r->begin_xlog;
        bi.timeline = r->start.timeline;
    }
    if (r->stopped) {
        bi.backup_label = r->stop.label;
        bi.end_offset = (int64_t)pitr_pg_lsn_offset(r->stop.lsn, r->info.seg_size);
        bi.end_time = r->end_time;
        bi.end_wal = r->res->end_wal;
        bi.end_xlog = r->end_xlog;
    }
    if (strcmp(status, "DONE") == 0) {
        memset(&cs, 0, sizeof(cs));
        cs.total_time = pitr_backup_elapsed(&r->t0);
        cs.number_of_workers = r->o->jobs;
        cs.items = r->items;
        cs.nitems = r->nitems;
        cs.copy_time = r->copy_time;
        cs.serialized_copy_time = r->copy_time;
        bi.copy_stats = &cs;
    }
    pitr_buf_init(&text, 1 << 20);
    rc = pitr_backup_info_write(&bi, &text, err);
    key = pitr_asprintf("%sbackup.info", r->prefix);
    if (rc == PITR_OK)
        rc = pitr_storage_put(r->st, key, text.data, text.len, err);
    if (rc == PITR_OK)
        snprintf(r->res->status, sizeof(r->res->status), "%s", status);
    pitr_free(key);
    pitr_buf_release(&text);
    pitr_free(tbs);
    return rc;
}

void pitr_backup_note_start(struct pitr_backup_run *r)
{
    pitr_pg_lsn_walfile(r->start.timeline, r->start.lsn, r->info.seg_size, r->res->begin_wal);
    pitr_pg_format_lsn(r->start.lsn, r->begin_xlog);
    pitr_pg_format_time(&r->start.time, r->begin_time);
    pitr_log_info(
      "backup %s: started at %s (%s)", r->res->backup_id, r->begin_xlog, r->res->begin_wal);
}

void pitr_backup_note_stop(struct pitr_backup_run *r)
{
    pitr_pg_lsn_walfile(r->stop.timeline, r->stop.lsn, r->info.seg_size, r->res->end_wal);
    pitr_pg_format_lsn(r->stop.lsn, r->end_xlog);
    pitr_pg_format_time(&r->stop.time, r->end_time);
}

static pitr_rc sum_cb(const struct pitr_walk_entry *e, void *ud, struct pitr_err *err)
{
    (void)err;
    if (e->type == PITR_WALK_FILE)
        *(uint64_t *)ud += (uint64_t)e->st.st_size;
    return PITR_OK;
}

/* What local mode will read (the walker's size sum), for the progress line's ETA. */
static void estimate_local(struct pitr_backup_run *r)
{
    struct pitr_walk_opts w = { 0 };
    struct pitr_err err = { 0 };
    size_t i;

    w.root = r->pgdata;
    w.kind = PITR_WALK_PGDATA;
    if (pitr_walk(&w, sum_cb, &r->total_estimate, &err) != PITR_OK)
        r->total_estimate = 0;
    for (i = 0; i < r->info.ntablespaces && r->total_estimate > 0; i++) {
        memset(&w, 0, sizeof(w));
        w.root = r->info.tablespaces[i].location;
        w.kind = PITR_WALK_TABLESPACE;
        if (pitr_walk(&w, sum_cb, &r->total_estimate, &err) != PITR_OK)
            r->total_estimate = 0;
    }
}

/* Local mode's copy: start, read the tablespaces and PGDATA ("data" left open), stop. */
static pitr_rc copy_local(struct pitr_backup_run *r, struct timespec *data_t0, struct pitr_err *err)
{
    char *label = pitr_asprintf("pgpitr backup %s", r->res->backup_id);
    pitr_rc rc;

    rc = pitr_pg_backup_start(
      r->pg, r->info.version, label, r->o->immediate_checkpoint, &r->start, err);
    pitr_free(label);
    if (rc != PITR_OK)
        return rc;
    r->started = 1;
    pitr_backup_note_start(r);
    if (r->o->progress)
        estimate_local(r);
    rc = backup_tablespaces(r, err);
    if (rc == PITR_OK)
        rc = backup_pgdata(r, data_t0, err);
    if (rc != PITR_OK)
        return rc;
    pitr_log_info("backup %s: PGDATA read in %.2f s; stopping the backup",
                  r->res->backup_id,
                  pitr_backup_elapsed(data_t0));
    /*
     * On a standby the end segment completes only when the primary moves on,
     * and a standby cannot switch WAL: PostgreSQL's own wait could last for
     * ever. There we stop without it and wait for the segment in the
     * repository below, which --wal-wait-timeout bounds.
     */
    rc = pitr_pg_backup_stop(r->pg, r->info.version, !r->info.in_recovery, &r->stop, err);
    if (rc != PITR_OK)
        return rc;
    r->stopped = 1;
    pitr_backup_note_stop(r);
    return PITR_OK;
}

/* backup_label last in data.tar (local mode), owned like PGDATA, from the stop call. */
static pitr_rc add_label(struct pitr_backup_run *r, struct pitr_err *err)
{
    struct stat pst;

    if (stat(r->pgdata, &pst) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot stat '%s'", r->pgdata);
    return pitr_tarstream_add_bytes(r->ts,
                                    "backup_label",
                                    r->stop.label,
                                    strlen(r->stop.label),
                                    0600,
                                    pst.st_uid,
                                    pst.st_gid,
                                    (time_t)r->stop.time.sec,
                                    err);
}

/* Everything from the backup start to the end WAL in the archive, for either method. */
static pitr_rc take_backup(struct pitr_backup_run *r, const char **phase, struct pitr_err *err)
{
    struct pitr_tarstream_opts to = { 0 };
    struct pitr_tarstream_stats s;
    struct timespec data_t0;
    char *restore_point = pitr_asprintf("barman_%s", r->res->backup_id);
    pitr_rc rc;

    *phase = "uploading data";
    to.sink = r->sink;
    to.key_prefix = r->prefix;
    to.codec = r->codec;
    to.jobs = r->o->jobs;
    to.max_volume = r->o->max_archive_size;
    to.cancel = r->o->cancel;
    if (r->o->progress) {
        to.progress = show_progress;
        to.progress_ud = r;
    }
    clock_gettime(CLOCK_MONOTONIC, &data_t0);
    rc = pitr_tarstream_new(&to, &r->ts, err);
    if (rc == PITR_OK)
        rc = r->method == PITR_BACKUP_STREAM ? pitr_backup_copy_stream(r, &data_t0, err)
                                             : copy_local(r, &data_t0, err);
    if (rc != PITR_OK)
        goto out;
    if (!r->info.in_recovery) {
        rc = pitr_pg_switch_wal(r->pg, r->info.version, err);
        if (rc == PITR_OK)
            rc = pitr_pg_restore_point(r->pg, restore_point, err);
        if (rc != PITR_OK)
            goto out;
    }
    /* Stream mode: the server put backup_label into base.tar (tablespace_map is left out). */
    if (r->method != PITR_BACKUP_STREAM)
        rc = add_label(r, err);
    if (rc == PITR_OK)
        rc = pitr_tarstream_end(r->ts, err);
    if (rc != PITR_OK)
        goto out;
    pitr_backup_add_item(r, "data", pitr_backup_elapsed(&data_t0));
    pitr_tarstream_get_stats(r->ts, &s);
    r->res->bytes = s.file_bytes;
    r->res->stored_bytes = s.stored_bytes;
    r->res->volumes = s.volumes;
    if (r->o->progress) {
        show_progress(&s, r);
        fputc('\n', stderr);
    }
    pitr_log_info("backup %s: stopped at %s (%s); waiting for it in the archive",
                  r->res->backup_id,
                  r->end_xlog,
                  r->res->end_wal);
    *phase = "waiting for WAL archiving";
    rc = wait_for_wal(r, err);
    if (rc != PITR_OK)
        goto out;
    *phase = "uploading the manifest";
    rc = put_manifest(r, err);
out:
    pitr_free(restore_point);
    return rc;
}

pitr_rc pitr_backup_run(const struct pitr_backup_opts *o,
                        struct pitr_backup_result *res,
                        struct pitr_err *err)
{
    struct pitr_backup_run r;
    const char *pgdata = o->pgdata, *phase = "starting";
    uint64_t sink_limit;
    pitr_rc rc;

    memset(&r, 0, sizeof(r));
    memset(res, 0, sizeof(*res));
    r.o = o;
    r.res = res;
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    clock_gettime(CLOCK_MONOTONIC, &r.t0);

    rc = pitr_codec_from_name(o->cfg->compression ? o->cfg->compression : "gzip", &r.codec, err);
    if (rc != PITR_OK)
        goto out;
    if (r.codec == PITR_CODEC_XZ) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "compression '%s' is not supported for backups; use gzip, zstd, lz4, "
                          "bzip2, snappy or none",
                          pitr_codec_name(r.codec));
        goto out;
    }
    rc = pitr_storage_open(o->cfg, &r.st, err);
    if (rc == PITR_OK)
        rc = pitr_storage_open(o->cfg, &r.sink_st, err);
    if (rc != PITR_OK)
        goto out;
    {
        /* What an earlier, killed backup was still writing. */
        char *base = pitr_asprintf("%s/base/", o->cfg->server);
        struct pitr_err cerr = { 0 };
        size_t removed = 0, swept = 0;

        /*
         * Killed backups' folders first: cleanup deletes stale leases, and
         * a folder's lease is what proves its backup dead.
         */
        if (sweep_dead_backups(r.st, base, &swept, &cerr) != PITR_OK)
            pitr_log_warn("backup: cannot remove what killed backups left: %s", cerr.msg);
        else if (pitr_storage_cleanup(r.st, base, &removed, &cerr) != PITR_OK)
            pitr_log_warn("backup: cannot clean up after earlier backups: %s", cerr.msg);
        else if (removed + swept > 0)
            pitr_log_info("backup: removed %zu file(s) an interrupted backup left behind",
                          removed + swept);
        pitr_free(base);
    }
    /* A volume may overshoot --max-archive-size by one file, as barman's do. */
    sink_limit = o->max_archive_size > UINT64_MAX - VOLUME_OVERSHOOT
                   ? UINT64_MAX
                   : o->max_archive_size + VOLUME_OVERSHOOT;
    /* Lets S3 keep small parts (and little memory) for volumes of bounded size. */
    pitr_storage_set_write_limit(r.sink_st, sink_limit);
    {
        struct pitr_sink *inner = NULL;

        /* The digest sink records each volume's stored size and SHA-256 for the manifest. */
        rc = pitr_sink_storage_new(r.sink_st, sink_limit, &inner, err);
        if (rc == PITR_OK)
            rc = pitr_sink_digest_new(inner, &r.sink, err);
        if (rc != PITR_OK) {
            pitr_sink_free(inner);
            goto out;
        }
    }

    /* --pgdata means local mode; else $PGDATA or data_directory decide. */
    r.method = o->method;
    if (r.method == PITR_BACKUP_AUTO && pgdata != NULL && *pgdata != '\0')
        r.method = PITR_BACKUP_LOCAL;
    if (pgdata == NULL || *pgdata == '\0')
        pgdata = getenv("PGDATA");
    if (r.method == PITR_BACKUP_AUTO && pgdata != NULL && *pgdata != '\0')
        auto_method(&r, pgdata);
    rc = pitr_pg_connect(o->conninfo, &r.pg, err);
    if (rc == PITR_OK)
        rc = pitr_pg_get_info(r.pg, need_of(r.method), &r.info, err);
    if (rc != PITR_OK)
        goto out;
    if (r.method == PITR_BACKUP_AUTO) {
        pgdata = r.info.data_directory;
        auto_method(&r, pgdata);
        rc = pitr_pg_check_role(r.pg, need_of(r.method), r.info.version, err);
        if (rc != PITR_OK)
            goto out;
    }
    if (r.method == PITR_BACKUP_STREAM) {
        /* The server reads its own data directory; backup.info records where it is. */
        r.pgdata = pitr_strdup(r.info.data_directory);
    } else {
        char *rp;

        if (pgdata == NULL || *pgdata == '\0')
            pgdata = r.info.data_directory;
        rp = realpath(pgdata, NULL);
        if (rp == NULL) {
            rc = pitr_err_set_errno(err,
                                    errno == ENOENT ? PITR_EUSAGE : PITR_EIO,
                                    errno,
                                    "cannot use data directory '%s'",
                                    pgdata);
            goto out;
        }
        r.pgdata = pitr_strdup(rp);
        free(rp); /* from realpath() */
        rc = check_pgdata(r.pgdata, r.info.systemid, err);
        if (rc != PITR_OK)
            goto out;
    }
    rc = choose_id(&r, err);
    if (rc == PITR_OK)
        rc = take_lease(&r, err);
    if (rc != PITR_OK)
        goto out;

    rc = take_backup(&r, &phase, err);
    if (rc == PITR_OK) {
        phase = "uploading backup.info file";
        rc = put_info(&r, "DONE", NULL, err);
    }
out:
    /* Stop the pipeline first: an open volume is aborted, never committed. */
    pitr_tarstream_free(r.ts);
    r.ts = NULL;
    if (rc != PITR_OK && r.prefix != NULL && res->backup_id[0] != '\0' &&
        strcmp(res->status, "DONE") != 0) {
        struct pitr_err ferr = { 0 };
        char *msg = pitr_asprintf("failure %s (%s)", phase, err->msg);

        /* Only the first line: backup.info is one key per line. */
        msg[strcspn(msg, "\n")] = '\0';
        if (put_info(&r, "FAILED", msg, &ferr) != PITR_OK)
            pitr_log_error("backup %s: cannot write backup.info with status FAILED: %s",
                           res->backup_id,
                           ferr.msg);
        pitr_free(msg);
    }
    /* Without backup.info the lease stays: the next backup removes the folder. */
    if (res->status[0] != '\0')
        drop_lease(&r);
    res->seconds = pitr_backup_elapsed(&r.t0);
    /* Closing the sessions aborts a backup PostgreSQL still has running. */
    pitr_pg_free(r.repl);
    pitr_pg_free(r.pg);
    pitr_sink_free(r.sink);
    pitr_storage_free(r.sink_st);
    pitr_storage_free(r.st);
    pitr_pg_stop_release(&r.stop);
    pitr_pg_info_release(&r.info);
    while (r.nitems > 0)
        pitr_free(r.item_names[--r.nitems]);
    pitr_free(r.item_names);
    pitr_free(r.items);
    pitr_free(r.pgdata);
    pitr_free(r.lease);
    pitr_free(r.prefix);
    return rc;
}
