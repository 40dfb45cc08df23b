/*
 * manifest_dir.c - a watched folder of manifests (pitr_manifest_dir_*).
 *
 * Each poll lists the folder (names ending in .yaml or .yml, not starting
 * with '.', at most PITR_MF_MAX_FILES, in byte order) and re-reads a file
 * only when its inode, size, mtime or ctime changed. Links are never
 * followed: a symbolic link in the folder is reported and left out (the
 * folder itself may be reached through one: it is the administrator's
 * setting), and files are opened with O_NOFOLLOW and checked to be regular
 * files of at most PITR_MF_MAX_FILE_BYTES. A file that no longer parses
 * keeps its last good documents (its error is a diagnostic); a removed
 * file's documents go away. The merged set is rebuilt from every file's
 * documents in file order: an object (kind, namespace, name) defined again
 * in a later file is an error diagnostic and the first one stays. Then the
 * Secret references are resolved, and a SHA-256 over every object tells
 * whether the set changed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent/manifest_int.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"

struct mf_file {
    char *name; /* owned; the name in the folder */
    char *path; /* owned; folder/name, used in locations */
    int have_stat;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
    time_t read_at;            /* when it was last read */
    struct pitr_mf_set good;   /* owned; the last documents that parsed (unresolved) */
    struct pitr_mf_diag error; /* owned; msg NULL when the last read worked */
};

struct pitr_manifest_dir {
    char *path; /* owned */
    struct mf_file *files;
    size_t n_files;
    struct pitr_mf_set cur; /* merged, resolved, every current diagnostic */
    char **seen;            /* owned; keys of cur.diags after the last poll */
    size_t n_seen;
    struct pitr_mf_diag *fresh; /* owned; diagnostics first seen in the last poll */
    size_t n_fresh;
    unsigned char digest[PITR_SHA256_LEN];
    int have_digest;
};

static void file_release(struct mf_file *f)
{
    pitr_free(f->name);
    pitr_free(f->path);
    pitr_manifest_set_release(&f->good);
    pitr_mf_diag_release(&f->error);
    memset(f, 0, sizeof(*f));
}

static void diags_free(struct pitr_mf_diag *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pitr_mf_diag_release(&d[i]);
    pitr_free(d);
}

pitr_rc pitr_manifest_dir_new(const char *path,
                              struct pitr_manifest_dir **out,
                              struct pitr_err *err)
{
    struct stat st;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return pitr_err_set(err, PITR_EUSAGE, "the manifest folder is not set");
    if (stat(path, &st) != 0)
        return pitr_err_set_errno(err,
                                  errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO,
                                  errno,
                                  "cannot open manifest folder '%s'",
                                  path);
    if (!S_ISDIR(st.st_mode))
        return pitr_err_set(err, PITR_EUSAGE, "manifest folder '%s' is not a folder", path);
    *out = pitr_calloc(1, sizeof(**out));
    (*out)->path = pitr_strdup(path);
    return PITR_OK;
}

void pitr_manifest_dir_free(struct pitr_manifest_dir *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_files; i++)
        file_release(&d->files[i]);
    pitr_free(d->files);
    pitr_manifest_set_release(&d->cur);
    for (size_t i = 0; i < d->n_seen; i++)
        pitr_free(d->seen[i]);
    pitr_free(d->seen);
    diags_free(d->fresh, d->n_fresh);
    pitr_free(d->path);
    pitr_free(d);
}

/* Folder entries looked at in one poll (a folder of millions of other files). */
#define MAX_ENTRIES 100000

/* 1: a manifest name; 0: not one; -1: a manifest name with control characters. */
static int name_wanted(const char *n)
{
    size_t len = strlen(n);

    if (n[0] == '.' || len > 255)
        return 0;
    if (!((len > 5 && strcmp(n + len - 5, ".yaml") == 0) ||
          (len > 4 && strcmp(n + len - 4, ".yml") == 0)))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f)
            return -1;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The manifest names in the folder, sorted; *extra counts those over the
 * limit (or not looked at after MAX_ENTRIES entries), *bad the names with
 * control characters (left out: they would reach log lines).
 */
static pitr_rc list_names(int dfd,
                          const char *path,
                          char ***names,
                          size_t *n,
                          size_t *extra,
                          size_t *bad,
                          struct pitr_err *err)
{
    int fd = dup(dfd);
    DIR *dp;
    const struct dirent *de;
    size_t seen = 0;

    *names = NULL;
    *n = 0;
    *extra = 0;
    *bad = 0;
    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot list manifest folder '%s'", path);
    dp = fdopendir(fd);
    if (dp == NULL) {
        int e = errno;

        close(fd);
        return pitr_err_set_errno(err, PITR_EIO, e, "cannot list manifest folder '%s'", path);
    }
    while ((de = readdir(dp)) != NULL) {
        int want = name_wanted(de->d_name);

        if (++seen > MAX_ENTRIES) {
            (*extra)++;
            break;
        }
        if (want < 0)
            (*bad)++;
        if (want <= 0)
            continue;
        if (*n >= PITR_MF_MAX_FILES) {
            (*extra)++;
            continue;
        }
        *names = pitr_realloc(*names, (*n + 1) * sizeof(**names));
        (*names)[(*n)++] = pitr_strdup(de->d_name);
    }
    closedir(dp);
    if (*n > 1)
        qsort(*names, *n, sizeof(**names), cmp_str);
    return PITR_OK;
}

/* Turn "path:line: cause" (a parse failure) into the file's error diagnostic. */
static void set_error(struct mf_file *f, enum pitr_mf_severity sev, const char *msg)
{
    size_t plen = strlen(f->path);
    int line = 1;
    const char *rest = msg;

    if (strncmp(msg, f->path, plen) == 0 && msg[plen] == ':') {
        char *end = NULL;
        long l = strtol(msg + plen + 1, &end, 10);

        if (end != NULL && end != msg + plen + 1 && *end == ':' && l > 0 && l < 1000000000) {
            line = (int)l;
            rest = end + 1;
            while (*rest == ' ')
                rest++;
        } else {
            rest = msg + plen + 1;
            while (*rest == ' ')
                rest++;
        }
    }
    pitr_mf_diag_release(&f->error);
    f->error.severity = sev;
    f->error.loc.file = pitr_strdup(f->path);
    f->error.loc.line = line;
    f->error.msg = pitr_strdup(rest);
}

/* Read and parse one changed file; failures become its error diagnostic. */
static void read_file(int dfd, struct mf_file *f)
{
    struct pitr_buf text;
    struct pitr_err err = { 0 };
    struct pitr_mf_set parsed = { 0 };
    struct stat st;
    int fd;

    pitr_buf_init(&text, PITR_MF_MAX_FILE_BYTES);
    fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        char msg[300];

        snprintf(msg, sizeof(msg), "cannot open the file: %s", strerror(errno));
        set_error(f, PITR_MF_ERROR, msg);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_error(f, PITR_MF_ERROR, "not a regular file (ignored)");
        goto out;
    }
    if ((size_t)st.st_size > PITR_MF_MAX_FILE_BYTES) {
        char msg[200];

        snprintf(msg,
                 sizeof(msg),
                 "the file is larger than %zu bytes (its last good version stays in force)",
                 PITR_MF_MAX_FILE_BYTES);
        set_error(f, PITR_MF_ERROR, msg);
        goto out;
    }
    for (;;) {
        char chunk[16384];
        ssize_t got = read(fd, chunk, sizeof(chunk));

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            char msg[300];

            snprintf(msg, sizeof(msg), "cannot read the file: %s", strerror(errno));
            set_error(f, PITR_MF_ERROR, msg);
            goto out;
        }
        if (got == 0)
            break;
        if (pitr_buf_append(&text, chunk, (size_t)got, &err) != PITR_OK) {
            char msg[200];

            snprintf(msg,
                     sizeof(msg),
                     "the file is larger than %zu bytes (its last good version stays in force)",
                     PITR_MF_MAX_FILE_BYTES);
            set_error(f, PITR_MF_ERROR, msg);
            goto out;
        }
    }
    if (pitr_manifest_parse(f->path, text.data, text.len, &parsed, &err) != PITR_OK) {
        char msg[PITR_ERR_MSG_MAX + 64];

        snprintf(msg, sizeof(msg), "%s (the last good version stays in force)", err.msg);
        set_error(f, PITR_MF_ERROR, msg);
        goto out;
    }
    pitr_manifest_set_release(&f->good);
    f->good = parsed;
    memset(&parsed, 0, sizeof(parsed));
    pitr_mf_diag_release(&f->error);
out:
    if (fd >= 0)
        close(fd);
    pitr_manifest_set_release(&parsed);
    /* The text may hold Secrets. */
    pitr_buf_release_secure(&text);
}

static int same_stat(const struct mf_file *f, const struct stat *st)
{
    return f->have_stat && f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
           f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static void keep_stat(struct mf_file *f, const struct stat *st)
{
    f->have_stat = 1;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    f->ctime = st->st_ctim;
}

/* ---- merging ---------------------------------------------------------- */

static const struct pitr_mf_meta *find_meta(const struct pitr_mf_set *s,
                                            const char *kind,
                                            const struct pitr_mf_meta *m)
{
#define FIND(arr, n)                                                                               \
    for (size_t i = 0; i < s->n; i++)                                                              \
        if (strcmp(s->arr[i].meta.name, m->name) == 0 &&                                           \
            strcmp(s->arr[i].meta.namespace, m->namespace) == 0)                                   \
            return &s->arr[i].meta;
    if (strcmp(kind, "Cluster") == 0) {
        FIND(clusters, n_clusters)
    } else if (strcmp(kind, "ScheduledBackup") == 0) {
        FIND(scheduled, n_scheduled)
    } else if (strcmp(kind, "Backup") == 0) {
        FIND(backups, n_backups)
    } else {
        FIND(secrets, n_secrets)
    }
#undef FIND
    return NULL;
}

/* 1 when m is new in dst; otherwise a diagnostic naming the first definition. */
static int first_definition(struct pitr_mf_set *dst, const char *kind, const struct pitr_mf_meta *m)
{
    const struct pitr_mf_meta *first = find_meta(dst, kind, m);

    if (first == NULL)
        return 1;
    pitr_mf_diag_add(dst,
                     PITR_MF_ERROR,
                     m->loc.file,
                     m->loc.line,
                     "%s '%s/%s' is already defined at %s:%d (this one is ignored)",
                     kind,
                     m->namespace,
                     m->name,
                     first->loc.file,
                     first->loc.line);
    return 0;
}

static void merge_file(struct pitr_mf_set *dst, const struct mf_file *f)
{
    const struct pitr_mf_set *s = &f->good;

    for (size_t i = 0; i < s->n_diags; i++) {
        struct pitr_mf_diag d;

        pitr_mf_diag_copy(&d, &s->diags[i]);
        dst->diags = pitr_realloc(dst->diags, (dst->n_diags + 1) * sizeof(*dst->diags));
        dst->diags[dst->n_diags++] = d;
    }
    for (size_t i = 0; i < s->n_clusters; i++) {
        struct pitr_mf_cluster c;

        if (!first_definition(dst, "Cluster", &s->clusters[i].meta))
            continue;
        pitr_mf_cluster_copy(&c, &s->clusters[i]);
        pitr_mf_set_take_cluster(dst, &c);
    }
    for (size_t i = 0; i < s->n_scheduled; i++) {
        struct pitr_mf_scheduled c;

        if (!first_definition(dst, "ScheduledBackup", &s->scheduled[i].meta))
            continue;
        pitr_mf_scheduled_copy(&c, &s->scheduled[i]);
        pitr_mf_set_take_scheduled(dst, &c);
    }
    for (size_t i = 0; i < s->n_backups; i++) {
        struct pitr_mf_backup c;

        if (!first_definition(dst, "Backup", &s->backups[i].meta))
            continue;
        pitr_mf_backup_copy(&c, &s->backups[i]);
        pitr_mf_set_take_backup(dst, &c);
    }
    for (size_t i = 0; i < s->n_secrets; i++) {
        struct pitr_mf_secret c;

        if (!first_definition(dst, "Secret", &s->secrets[i].meta))
            continue;
        pitr_mf_secret_copy(&c, &s->secrets[i]);
        pitr_mf_set_take_secret(dst, &c);
    }
    if (f->error.msg != NULL) {
        struct pitr_mf_diag d;

        pitr_mf_diag_copy(&d, &f->error);
        dst->diags = pitr_realloc(dst->diags, (dst->n_diags + 1) * sizeof(*dst->diags));
        dst->diags[dst->n_diags++] = d;
    }
}

/* ---- the digest: did the objects change? ------------------------------ */

static pitr_rc feed(struct pitr_sha256 *h, const char *s, struct pitr_err *err)
{
    char len[32];
    pitr_rc rc;

    /* Length first (or "-" for NULL), so no two different lists hash alike. */
    if (s == NULL)
        return pitr_sha256_update(h, "-;", 2, err);
    snprintf(len, sizeof(len), "%zu:", strlen(s));
    rc = pitr_sha256_update(h, len, strlen(len), err);
    if (rc == PITR_OK)
        rc = pitr_sha256_update(h, s, strlen(s), err);
    return rc;
}

static pitr_rc feed_int(struct pitr_sha256 *h, long v, struct pitr_err *err)
{
    char s[32];

    snprintf(s, sizeof(s), "%ld", v);
    return feed(h, s, err);
}

static pitr_rc feed_meta(struct pitr_sha256 *h,
                         const char *kind,
                         const struct pitr_mf_meta *m,
                         struct pitr_err *err)
{
    pitr_rc rc = feed(h, kind, err);

    if (rc == PITR_OK)
        rc = feed(h, m->namespace, err);
    if (rc == PITR_OK)
        rc = feed(h, m->name, err);
    if (rc == PITR_OK)
        rc = feed(h, m->uid, err);
    return rc;
}

/* bootstrap.recovery and the external clusters' stores (secrets included: a new key counts). */
static pitr_rc feed_recovery(struct pitr_sha256 *h,
                             const struct pitr_mf_cluster *c,
                             struct pitr_err *err)
{
    const struct pitr_mf_recovery *r = &c->recovery;
    const char *strs[] = { r->source,
                           r->backup_name,
                           r->target.target_time,
                           r->target.target_xid,
                           r->target.target_name,
                           r->target.target_lsn,
                           r->target.target_tli,
                           r->target.backup_id };
    const long ints[] = { c->has_recovery,     r->has_target,        r->unsupported,
                          r->target.exclusive, (long)c->n_externals, r->target.target_immediate };
    pitr_rc rc = PITR_OK;

    for (size_t i = 0; rc == PITR_OK && i < sizeof(strs) / sizeof(strs[0]); i++)
        rc = feed(h, strs[i], err);
    for (size_t i = 0; rc == PITR_OK && i < sizeof(ints) / sizeof(ints[0]); i++)
        rc = feed_int(h, ints[i], err);
    for (size_t i = 0; rc == PITR_OK && i < c->n_externals; i++) {
        const struct pitr_mf_external *x = &c->externals[i];
        const struct pitr_mf_store *s = &x->store;
        const char *xs[] = {
            x->name,        s->destination_path, s->endpoint_url,      s->endpoint_ca_pem,
            s->server_name, s->access_key_id,    s->secret_access_key, s->session_token,
            s->region
        };

        for (size_t k = 0; rc == PITR_OK && k < sizeof(xs) / sizeof(xs[0]); k++)
            rc = feed(h, xs[k], err);
        if (rc == PITR_OK)
            rc = feed_int(h, (long)x->has_store * 4 + s->resolved * 2 + s->inherit_iam_role, err);
    }
    return rc;
}

static pitr_rc feed_cluster(struct pitr_sha256 *h,
                            const struct pitr_mf_cluster *c,
                            struct pitr_err *err)
{
    const struct pitr_mf_store *s = &c->store;
    const char *strs[] = {
        c->retention_policy, c->target,         s->destination_path, s->endpoint_url,
        s->endpoint_ca_pem,  s->server_name,    s->access_key_id,    s->secret_access_key,
        s->session_token,    s->region,         s->wal_compression,  s->wal_encryption,
        s->data_compression, s->data_encryption
    };
    const long ints[] = { c->has_store,
                          s->inherit_iam_role,
                          s->wal_max_parallel,
                          s->data_jobs,
                          s->data_immediate_checkpoint,
                          s->resolved,
                          s->unsupported,
                          (long)s->n_tags,
                          (long)s->n_history_tags };
    pitr_rc rc = feed_meta(h, "Cluster", &c->meta, err);

    for (size_t i = 0; rc == PITR_OK && i < sizeof(strs) / sizeof(strs[0]); i++)
        rc = feed(h, strs[i], err);
    for (size_t i = 0; rc == PITR_OK && i < sizeof(ints) / sizeof(ints[0]); i++)
        rc = feed_int(h, ints[i], err);
    for (size_t i = 0; rc == PITR_OK && i < s->n_tags; i++)
        rc = feed(h, s->tags[i], err);
    for (size_t i = 0; rc == PITR_OK && i < s->n_history_tags; i++)
        rc = feed(h, s->history_tags[i], err);
    if (rc == PITR_OK)
        rc = feed_recovery(h, c, err);
    return rc;
}

static pitr_rc set_digest(const struct pitr_mf_set *set,
                          unsigned char out[PITR_SHA256_LEN],
                          struct pitr_err *err)
{
    struct pitr_sha256 h = { 0 };
    pitr_rc rc = pitr_sha256_init(&h, err);

    for (size_t i = 0; rc == PITR_OK && i < set->n_clusters; i++)
        rc = feed_cluster(&h, &set->clusters[i], err);
    for (size_t i = 0; rc == PITR_OK && i < set->n_scheduled; i++) {
        const struct pitr_mf_scheduled *s = &set->scheduled[i];

        rc = feed_meta(&h, "ScheduledBackup", &s->meta, err);
        if (rc == PITR_OK)
            rc = feed(&h, s->schedule, err);
        if (rc == PITR_OK)
            rc = feed(&h, s->cluster, err);
        if (rc == PITR_OK)
            rc = feed(&h, s->owner_reference, err);
        if (rc == PITR_OK)
            rc = feed(&h, s->method, err);
        if (rc == PITR_OK)
            rc = feed(&h, s->target, err);
        if (rc == PITR_OK)
            rc = feed_int(&h, (long)s->suspend * 2 + s->immediate, err);
    }
    for (size_t i = 0; rc == PITR_OK && i < set->n_backups; i++) {
        const struct pitr_mf_backup *b = &set->backups[i];

        rc = feed_meta(&h, "Backup", &b->meta, err);
        if (rc == PITR_OK)
            rc = feed(&h, b->cluster, err);
        if (rc == PITR_OK)
            rc = feed(&h, b->method, err);
        if (rc == PITR_OK)
            rc = feed(&h, b->target, err);
    }
    if (rc == PITR_OK)
        rc = pitr_sha256_final(&h, out, err);
    pitr_sha256_release(&h);
    return rc;
}

static char *diag_key(const struct pitr_mf_diag *d)
{
    return pitr_asprintf("%d|%s|%d|%s", (int)d->severity, d->loc.file, d->loc.line, d->msg);
}

static int seen_has(const struct pitr_manifest_dir *d, const char *key)
{
    for (size_t i = 0; i < d->n_seen; i++)
        if (strcmp(d->seen[i], key) == 0)
            return 1;
    return 0;
}

/* ---- polling ------------------------------------------------------------ */

static struct mf_file *find_file(struct mf_file *files, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (files[i].name != NULL && strcmp(files[i].name, name) == 0)
            return &files[i];
    return NULL;
}

pitr_rc pitr_manifest_dir_poll(struct pitr_manifest_dir *d, int *changed, struct pitr_err *err)
{
    int dfd = -1;
    char **names = NULL;
    size_t n_names = 0, extra = 0, bad = 0, n_new = 0;
    struct mf_file *nf = NULL;
    struct pitr_mf_set merged = { 0 };
    unsigned char digest[PITR_SHA256_LEN];
    char **keys = NULL;
    pitr_rc rc;

    *changed = 0;
    dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = pitr_err_set_errno(err,
                                errno == ENOENT ? PITR_ENOTFOUND : PITR_EIO,
                                errno,
                                "cannot open manifest folder '%s'",
                                d->path);
        goto out;
    }
    rc = list_names(dfd, d->path, &names, &n_names, &extra, &bad, err);
    if (rc != PITR_OK)
        goto out;

    /* The new file list: known files carried over, then each checked. */
    nf = pitr_calloc(n_names > 0 ? n_names : 1, sizeof(*nf));
    for (size_t i = 0; i < n_names; i++) {
        struct mf_file *old = find_file(d->files, d->n_files, names[i]);
        struct mf_file *f = &nf[n_new];
        struct stat st;

        if (old != NULL) {
            *f = *old;
            memset(old, 0, sizeof(*old));
        } else {
            f->name = pitr_strdup(names[i]);
            f->path = pitr_asprintf("%s/%s", d->path, names[i]);
        }
        if (fstatat(dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            file_release(f); /* gone since the listing */
            continue;
        }
        n_new++;
        /*
         * File times move in clock ticks: a rewrite of the same size in the
         * tick of the last read keeps every stat field, so a file changed
         * less than 2 s before its last read is read again ("racy" files,
         * as git does); an unchanged one parses to the same set.
         */
        if (same_stat(f, &st) && st.st_mtim.tv_sec + 2 < f->read_at &&
            st.st_ctim.tv_sec + 2 < f->read_at)
            continue;
        keep_stat(f, &st);
        f->read_at = time(NULL);
        if (S_ISLNK(st.st_mode)) {
            pitr_manifest_set_release(&f->good);
            set_error(f,
                      PITR_MF_WARNING,
                      "a symbolic link: pgpitr does not follow links in the manifest folder "
                      "(file ignored)");
        } else if (!S_ISREG(st.st_mode)) {
            pitr_manifest_set_release(&f->good);
            set_error(f, PITR_MF_WARNING, "not a regular file (ignored)");
        } else {
            read_file(dfd, f);
        }
    }
    /* Files no longer listed: their documents go. */
    for (size_t i = 0; i < d->n_files; i++)
        file_release(&d->files[i]);
    pitr_free(d->files);
    d->files = nf;
    d->n_files = n_new;
    nf = NULL;

    for (size_t i = 0; i < d->n_files; i++)
        merge_file(&merged, &d->files[i]);
    if (extra > 0)
        pitr_mf_diag_add(&merged,
                         PITR_MF_ERROR,
                         d->path,
                         0,
                         "more than %d manifest files (or %d entries); %zu were ignored",
                         PITR_MF_MAX_FILES,
                         MAX_ENTRIES,
                         extra);
    if (bad > 0)
        pitr_mf_diag_add(&merged,
                         PITR_MF_WARNING,
                         d->path,
                         0,
                         "%zu file name(s) with control characters ignored",
                         bad);
    rc = pitr_manifest_resolve(&merged, err);
    if (rc == PITR_OK)
        rc = set_digest(&merged, digest, err);
    if (rc != PITR_OK)
        goto out;

    /* Diagnostics not present after the previous poll are new. */
    diags_free(d->fresh, d->n_fresh);
    d->fresh = NULL;
    d->n_fresh = 0;
    keys = pitr_calloc(merged.n_diags > 0 ? merged.n_diags : 1, sizeof(*keys));
    for (size_t i = 0; i < merged.n_diags; i++) {
        keys[i] = diag_key(&merged.diags[i]);
        if (seen_has(d, keys[i]))
            continue;
        d->fresh = pitr_realloc(d->fresh, (d->n_fresh + 1) * sizeof(*d->fresh));
        pitr_mf_diag_copy(&d->fresh[d->n_fresh++], &merged.diags[i]);
    }
    for (size_t i = 0; i < d->n_seen; i++)
        pitr_free(d->seen[i]);
    pitr_free(d->seen);
    d->seen = keys;
    d->n_seen = merged.n_diags;
    keys = NULL;

    *changed = !d->have_digest || memcmp(digest, d->digest, sizeof(digest)) != 0 || d->n_fresh > 0;
    memcpy(d->digest, digest, sizeof(digest));
    d->have_digest = 1;
    pitr_manifest_set_release(&d->cur);
    d->cur = merged;
    memset(&merged, 0, sizeof(merged));
out:
    if (dfd >= 0)
        close(dfd);
    for (size_t i = 0; i < n_names; i++)
        pitr_free(names[i]);
    pitr_free(names);
    pitr_free(nf);
    pitr_free(keys);
    pitr_manifest_set_release(&merged);
    return rc;
}

pitr_rc pitr_manifest_dir_snapshot(const struct pitr_manifest_dir *d,
                                   struct pitr_mf_set *out,
                                   struct pitr_err *err)
{
    const struct pitr_mf_set *s = &d->cur;

    (void)err;
    memset(out, 0, sizeof(*out));
    if (s->n_clusters > 0) {
        out->clusters = pitr_calloc(s->n_clusters, sizeof(*out->clusters));
        for (size_t i = 0; i < s->n_clusters; i++)
            pitr_mf_cluster_copy(&out->clusters[i], &s->clusters[i]);
        out->n_clusters = s->n_clusters;
    }
    if (s->n_scheduled > 0) {
        out->scheduled = pitr_calloc(s->n_scheduled, sizeof(*out->scheduled));
        for (size_t i = 0; i < s->n_scheduled; i++)
            pitr_mf_scheduled_copy(&out->scheduled[i], &s->scheduled[i]);
        out->n_scheduled = s->n_scheduled;
    }
    if (s->n_backups > 0) {
        out->backups = pitr_calloc(s->n_backups, sizeof(*out->backups));
        for (size_t i = 0; i < s->n_backups; i++)
            pitr_mf_backup_copy(&out->backups[i], &s->backups[i]);
        out->n_backups = s->n_backups;
    }
    if (s->n_secrets > 0) {
        out->secrets = pitr_calloc(s->n_secrets, sizeof(*out->secrets));
        for (size_t i = 0; i < s->n_secrets; i++)
            pitr_mf_secret_copy(&out->secrets[i], &s->secrets[i]);
        out->n_secrets = s->n_secrets;
    }
    if (d->n_fresh > 0) {
        out->diags = pitr_calloc(d->n_fresh, sizeof(*out->diags));
        for (size_t i = 0; i < d->n_fresh; i++)
            pitr_mf_diag_copy(&out->diags[i], &d->fresh[i]);
        out->n_diags = d->n_fresh;
    }
    return PITR_OK;
}
