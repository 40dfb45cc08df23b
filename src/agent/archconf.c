/* archconf.c - archiving configured on the local server; see agent/archconf.h. */
#include "pgpitr/agent/archconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/agent/manifest.h"
#include "pgpitr/agent/status.h"
#include "pgpitr/archive/archive.h"
#include "pgpitr/catalog/checkarchive.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define SQL_MAX 256 /* longest value we read back from the server */

/* Why archiving is not (yet) working, in the order the condition prefers. */
enum ac_state {
    AC_NONE = 0,   /* never ran */
    AC_OK,         /* configured; pg_stat_archiver decides */
    AC_CONNECT,    /* the local server did not answer */
    AC_CONFIG,     /* the config file could not be written (a link, a bad value, ...) */
    AC_CHECK_FAIL, /* the empty-archive check could not list the folder */
    AC_NOT_EMPTY,  /* the archive holds WAL: archive_command left unset */
    AC_RESTART,    /* archive_mode needs a restart */
};

struct ac_cluster {
    char *key; /* owned; "<ns>/<name>" */
    int64_t next_run;
    unsigned long cfg_hash; /* of the config text, to run at once on a change */
    enum ac_state state;
    char msg[PITR_ERR_MSG_MAX]; /* for the condition and the log */
    char logged[PITR_ERR_MSG_MAX];
    struct pitr_archconf_stats stats;
};

struct pitr_archconf {
    char *state_dir;
    char *conninfo;
    char *bin;
    enum pitr_archconf_restart restart_policy;
    int every;
    struct ac_cluster *cl; /* owned */
    size_t ncl;
    char *owner; /* owned; the Cluster ("<ns>/<name>") the local server archives for */
};

/* ---- pure parts ---- */

static pitr_rc quote_path(const char *s, struct pitr_buf *out, struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_append_str(out, "'", err);

    for (; rc == PITR_OK && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < 0x20 || c == 0x7f)
            return pitr_err_set(err, PITR_EUSAGE, "path has a control character (0x%02x)", c);
        if (c == '\'')
            rc = pitr_buf_append_str(out, "'\\''", err);
        else if (c == '%')
            rc = pitr_buf_append_str(out, "%%", err);
        else
            rc = pitr_buf_append(out, s, 1, err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "'", err);
    return rc;
}

pitr_rc pitr_archconf_command(const char *bin,
                              const char *conf,
                              const char *verb,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    pitr_rc rc = quote_path(bin, out, err);

    if (rc != PITR_OK)
        return pitr_err_prefix(err, "program '%s'", bin);
    rc = pitr_buf_append_str(out, " --config ", err);
    if (rc == PITR_OK) {
        rc = quote_path(conf, out, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "config file '%s'", conf);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(out, err, " %s", verb);
    return rc;
}

static pitr_rc put_kv(struct pitr_buf *b, const char *key, const char *v, struct pitr_err *err)
{
    size_t n, i;

    if (v == NULL)
        return PITR_OK;
    n = strlen(v);
    if (n == 0)
        return PITR_OK;
    if (n > PITR_ARCHCONF_VALUE_MAX)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "setting '%s' is %zu bytes: a config line holds at most %d",
                            key,
                            n,
                            PITR_ARCHCONF_VALUE_MAX);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c < 0x20 || c == 0x7f)
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "setting '%s' has a control character at offset %zu: a config "
                                "line cannot hold it",
                                key,
                                i);
    }
    if (v[0] == ' ' || v[n - 1] == ' ')
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "setting '%s' starts or ends with a blank: a config line cannot "
                            "hold it",
                            key);
    return pitr_buf_appendf(b, err, "%s = %s\n", key, v);
}

pitr_rc pitr_archconf_config_text(const struct pitr_config *cfg,
                                  const struct pitr_mf_store *store,
                                  const char *ca_file,
                                  struct pitr_buf *out,
                                  struct pitr_err *err)
{
    static const char *const styles[] = { "auto", "path", "virtual" };
    int par = store != NULL ? store->wal_max_parallel : 0;
    char num[32];
    pitr_rc rc;

    rc = pitr_buf_append_str(
      out, "# written by pgpitr agent for archive_command and restore_command: do not edit\n", err);
    if (rc == PITR_OK)
        rc = put_kv(out, "repo", cfg->repo, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "server", cfg->server, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "endpoint-url", cfg->endpoint_url, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "region", cfg->region, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "ca-file", ca_file, err);
    if (rc == PITR_OK && (unsigned)cfg->url_style < 3)
        rc = put_kv(out, "s3-url-style", styles[cfg->url_style], err);
    if (rc == PITR_OK && cfg->insecure_skip_tls)
        rc = put_kv(out, "insecure-skip-tls-verify", "true", err);
    snprintf(num, sizeof(num), "%d", cfg->retry_max_time);
    if (rc == PITR_OK)
        rc = put_kv(out, "retry-max-time", num, err);
    /* barman-cloud-wal-archive compresses nothing unless wal.compression says so */
    if (rc == PITR_OK)
        rc =
          put_kv(out,
                 "compression",
                 store != NULL && store->wal_compression != NULL ? store->wal_compression : "none",
                 err);
    if (rc == PITR_OK)
        rc = put_kv(out,
                    "encryption",
                    store != NULL && store->wal_encryption != NULL ? store->wal_encryption
                                                                   : cfg->encryption,
                    err);
    if (rc == PITR_OK)
        rc = put_kv(out, "sse-kms-key-id", cfg->sse_kms_key_id, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "tags", cfg->tags, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "history-tags", cfg->history_tags, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "storage-class", cfg->storage_class, err);
    if (par > 0) {
        snprintf(num, sizeof(num), "%d", par - 1 > 64 ? 64 : par - 1);
        if (rc == PITR_OK)
            rc = put_kv(out, "look-ahead", num, err);
        if (rc == PITR_OK)
            rc = put_kv(out, "prefetch", num, err);
    }
    if (rc == PITR_OK)
        rc = put_kv(out, "aws-access-key-id", cfg->access_key, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "aws-secret-access-key", cfg->secret_key, err);
    if (rc == PITR_OK)
        rc = put_kv(out, "aws-session-token", cfg->session_token, err);
    return rc;
}

static int same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int satisfies(const char *name, const char *want, const char *v)
{
    if (v == NULL)
        return 0;
    if (strcmp(name, "archive_mode") == 0 && strcmp(want, "on") == 0)
        return strcmp(v, "on") == 0 || strcmp(v, "always") == 0;
    return strcmp(v, want) == 0;
}

int pitr_archconf_guc_action(const char *name,
                             const char *want,
                             const char *setting,
                             const char *file_value,
                             int postmaster)
{
    int act = 0;

    /* the files decide what the next reload or restart gives; no file: the current value stays */
    if (file_value != NULL ? !satisfies(name, want, file_value) : !satisfies(name, want, setting))
        act |= PITR_ARCHCONF_ALTER;
    if (!satisfies(name, want, setting))
        act |= postmaster ? PITR_ARCHCONF_RESTART : PITR_ARCHCONF_RELOAD;
    return act;
}

int pitr_archconf_archiving_ok(const struct pitr_archconf_stats *s, char *msg, size_t msg_len)
{
    char when[32];

    if (s->last_failed_time == 0 || s->last_archived_time >= s->last_failed_time) {
        snprintf(msg, msg_len, "Continuous archiving is working");
        return 1;
    }
    pitr_status_time(s->last_failed_time, when);
    snprintf(msg,
             msg_len,
             "archiving WAL %s failed at %s (%lld failures in all); the last WAL archived is %s",
             s->last_failed_wal[0] ? s->last_failed_wal : "(unknown)",
             when,
             (long long)s->failed_count,
             s->last_archived_wal[0] ? s->last_archived_wal : "none");
    return 0;
}

/* ---- state ---- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? pitr_strdup(s) : NULL;
}

/* This binary's path (the kernel's view), " (deleted)" dropped after an upgrade. */
static char *self_path(void)
{
    char p[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", p, sizeof(p) - 1);
    const char *del = " (deleted)";
    size_t dl = strlen(del);

    if (n <= 0)
        return pitr_strdup("/usr/bin/pgpitr");
    p[n] = '\0';
    if ((size_t)n > dl && strcmp(p + n - dl, del) == 0)
        p[n - dl] = '\0';
    return pitr_strdup(p);
}

struct pitr_archconf *pitr_archconf_new(const struct pitr_archconf_opts *o)
{
    struct pitr_archconf *ac = pitr_calloc(1, sizeof(*ac));

    ac->state_dir = pitr_strdup(o->state_dir);
    ac->conninfo = dup_or_null(o->conninfo);
    ac->bin = o->pgpitr_bin != NULL ? pitr_strdup(o->pgpitr_bin) : self_path();
    ac->restart_policy = o->restart_policy;
    ac->every = o->every > 0 ? o->every : PITR_ARCHCONF_EVERY;
    return ac;
}

void pitr_archconf_free(struct pitr_archconf *ac)
{
    size_t i;

    if (ac == NULL)
        return;
    for (i = 0; i < ac->ncl; i++)
        pitr_free(ac->cl[i].key);
    pitr_free(ac->cl);
    pitr_free(ac->owner);
    pitr_free(ac->state_dir);
    pitr_free(ac->conninfo);
    pitr_free(ac->bin);
    pitr_free(ac);
}

static struct ac_cluster *find(const struct pitr_archconf *ac, const char *ns, const char *name)
{
    size_t i, nl = strlen(ns);

    for (i = 0; i < ac->ncl; i++) {
        const char *k = ac->cl[i].key;

        if (strncmp(k, ns, nl) == 0 && k[nl] == '/' && strcmp(k + nl + 1, name) == 0)
            return &ac->cl[i];
    }
    return NULL;
}

int pitr_archconf_stats_get(const struct pitr_archconf *ac,
                            const char *ns,
                            const char *name,
                            struct pitr_archconf_stats *out)
{
    const struct ac_cluster *c = ac != NULL ? find(ac, ns, name) : NULL;

    if (c == NULL || !c->stats.valid)
        return 0;
    *out = c->stats;
    return 1;
}

/* Log a state's message once (each new message once; a return to OK once). */
static void set_state(struct ac_cluster *c, enum ac_state st, const char *fmt, ...)
  PITR_PRINTF(3, 4);

static void set_state(struct ac_cluster *c, enum ac_state st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    c->state = st;
    if (strcmp(c->msg, c->logged) == 0)
        return;
    memcpy(c->logged, c->msg, sizeof(c->logged));
    if (st == AC_OK)
        pitr_log_info("cluster '%s': archiving: %s", c->key, c->msg);
    else
        pitr_log_warn("cluster '%s': archiving: %s", c->key, c->msg);
}

/* ---- files ---- */

/*
 * Write path (mode 0600, owned by uid:gid when we are root) so that readers
 * see the old or the whole new file. A path that exists as anything but a
 * regular file (a symlink someone planted) is refused: never written
 * through, never replaced.
 */
static pitr_rc write_private(const char *path,
                             const char *data,
                             size_t len,
                             uid_t uid,
                             gid_t gid,
                             struct pitr_err *err)
{
    struct stat sb;
    char *tmp = NULL;
    int fd = -1;
    size_t off = 0;
    pitr_rc rc = PITR_OK;

    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return pitr_err_set(err,
                            PITR_EIO,
                            "cannot write '%s': it is a %s, not a file this agent made; remove it",
                            path,
                            S_ISLNK(sb.st_mode) ? "symbolic link" : "special file");
    tmp = pitr_fs_temp_path(path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot create '%s'", tmp);
        goto out;
    }
    if (geteuid() == 0 && fchown(fd, uid, gid) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot chown '%s'", tmp);
        goto out;
    }
    if (fchmod(fd, 0600) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot chmod '%s'", tmp);
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot write '%s'", tmp);
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot fsync '%s'", tmp);
        goto out;
    }
    close(fd);
    fd = -1;
    /* checked again just before the rename: a link planted meanwhile is still refused */
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        rc = pitr_err_set(err,
                          PITR_EIO,
                          "cannot write '%s': it became a %s; remove it",
                          path,
                          S_ISLNK(sb.st_mode) ? "symbolic link" : "special file");
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot rename '%s' to '%s'", tmp, path);
        goto out;
    }
    pitr_free(tmp);
    tmp = NULL;
    {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');

        snprintf(dir,
                 sizeof(dir),
                 "%.*s",
                 slash != NULL ? (int)(slash - path) : 1,
                 slash != NULL ? path : ".");
        rc = pitr_fs_fsync_dir(dir[0] ? dir : "/", err);
    }
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL) {
        (void)unlink(tmp);
        pitr_free(tmp);
    }
    return rc;
}

/*
 * 1 when path is a regular file (not a link) of exactly data, mode 0600 and
 * (as root) owned by uid: nothing to write.
 */
static int file_is(const char *path, const char *data, size_t len, uid_t uid)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    struct stat sb;
    int fd, ok = 0;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 07777) != 0600 ||
        (geteuid() == 0 && sb.st_uid != uid) || (size_t)sb.st_size != len) {
        close(fd);
        return 0;
    }
    pitr_buf_init(&b, PITR_ARCHCONF_FILE_MAX);
    for (;;) {
        ssize_t r;

        if (pitr_buf_grow(&b, 4096, &err) != PITR_OK)
            break;
        r = read(fd, b.data + b.len, b.cap - b.len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = r == 0 && b.len == len && memcmp(b.data, data, len) == 0;
            break;
        }
        pitr_buf_commit(&b, (size_t)r);
    }
    close(fd);
    pitr_buf_release_secure(&b);
    return ok;
}

static pitr_rc ensure_file(const char *path,
                           const char *data,
                           size_t len,
                           uid_t uid,
                           gid_t gid,
                           int *written,
                           struct pitr_err *err)
{
    struct stat sb;

    *written = 0;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return write_private(path, data, len, uid, gid, err); /* refuses, naming it */
    if (file_is(path, data, len, uid))
        return PITR_OK;
    *written = 1;
    return write_private(path, data, len, uid, gid, err);
}

/* PostgreSQL (another user) must reach files in the state folder: the search bits only. */
static void open_state_dir(const char *dir)
{
    struct stat sb;

    if (geteuid() != 0 || stat(dir, &sb) != 0 || sb.st_uid != 0 || (sb.st_mode & 0011) == 0011)
        return;
    if (chmod(dir, (sb.st_mode & 07777) | 0011) == 0)
        pitr_log_info("state folder '%s': mode %04o so that PostgreSQL can reach its "
                      "archive settings (it cannot list the folder)",
                      dir,
                      (unsigned)((sb.st_mode & 07777) | 0011));
}

/* ---- the server ---- */

struct srv {
    PGconn *conn;
    int in_recovery;
    uint64_t sysid;
    char data_dir[PATH_MAX];
    char setting[3][SQL_MAX * 16];
    char file_value[3][SQL_MAX * 16];
    int has_file[3];
    int postmaster[3];
};

static const char *const guc_names[3] = { "archive_mode", "archive_command", "restore_command" };

static pitr_rc pg_fail(PGconn *conn, const char *what, struct pitr_err *err)
{
    const char *m = conn != NULL ? PQerrorMessage(conn) : "out of memory";

    return pitr_err_set(err, PITR_EPG, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
}

static pitr_rc exec_ok(PGconn *conn, const char *sql, const char *what, struct pitr_err *err)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType s = PQresultStatus(r);

    PQclear(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return pg_fail(conn, what, err);
    return PITR_OK;
}

static void copy_val(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v != NULL ? v : "");
}

static pitr_rc srv_open(const char *conninfo, struct srv *s, struct pitr_err *err)
{
    const char *keys[] = { "connect_timeout", "fallback_application_name", "dbname", NULL };
    const char *vals[] = { "5", "pgpitr_archconf", NULL, NULL };
    PGresult *r = NULL;
    pitr_rc rc = PITR_OK;
    int i;

    vals[2] = conninfo != NULL && conninfo[0] != '\0' ? conninfo : "postgres";
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK)
        return pg_fail(s->conn, "cannot connect to the local PostgreSQL", err);
    rc = exec_ok(s->conn, "set statement_timeout = '10s'", "set statement_timeout", err);
    if (rc != PITR_OK)
        return rc;
    r = PQexec(s->conn,
               "select pg_is_in_recovery(), current_setting('data_directory'), "
               "(select system_identifier from pg_control_system())::text");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 3) {
        rc = pg_fail(s->conn, "cannot read the server's role", err);
        goto out;
    }
    s->in_recovery = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    copy_val(s->data_dir, sizeof(s->data_dir), PQgetvalue(r, 0, 1));
    s->sysid = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    r = PQexec(s->conn,
               "select name, setting, context = 'postmaster' from pg_settings where name in "
               "('archive_mode', 'archive_command', 'restore_command')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 3) {
        rc = pg_fail(s->conn, "cannot read pg_settings", err);
        goto out;
    }
    for (i = 0; i < PQntuples(r) && i < 8; i++) {
        int k;

        for (k = 0; k < 3; k++)
            if (strcmp(PQgetvalue(r, i, 0), guc_names[k]) == 0) {
                copy_val(s->setting[k], sizeof(s->setting[k]), PQgetvalue(r, i, 1));
                s->postmaster[k] = strcmp(PQgetvalue(r, i, 2), "t") == 0;
            }
    }
    PQclear(r);
    /* the last line of the files for each name is what a reload or restart applies */
    r = PQexec(s->conn,
               "select name, setting from pg_file_settings where name in "
               "('archive_mode', 'archive_command', 'restore_command') order by seqno");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) != 2) {
        rc = pg_fail(s->conn, "cannot read pg_file_settings", err);
        goto out;
    }
    for (i = 0; i < PQntuples(r) && i < 1000; i++) {
        int k;

        for (k = 0; k < 3; k++)
            if (strcmp(PQgetvalue(r, i, 0), guc_names[k]) == 0) {
                copy_val(s->file_value[k], sizeof(s->file_value[k]), PQgetvalue(r, i, 1));
                s->has_file[k] = 1;
            }
    }
    /* archive_command shows "(disabled)" while archive_mode is off: the files say what it is */
    if (strcmp(s->setting[1], "(disabled)") == 0)
        copy_val(s->setting[1], sizeof(s->setting[1]), s->has_file[1] ? s->file_value[1] : "");
out:
    PQclear(r);
    return rc;
}

static int64_t num_or_zero(PGresult *r, int col)
{
    const char *v = PQgetvalue(r, 0, col);
    char *end;
    long long x;

    if (PQgetisnull(r, 0, col) || v == NULL)
        return 0;
    errno = 0;
    x = strtoll(v, &end, 10);
    return errno != 0 || end == v ? 0 : (int64_t)x;
}

static pitr_rc read_stats(struct srv *s,
                          struct pitr_archconf_stats *st,
                          int64_t now,
                          struct pitr_err *err)
{
    PGresult *r =
      PQexec(s->conn,
             "select archived_count, coalesce(last_archived_wal, ''), "
             "floor(extract(epoch from last_archived_time))::bigint, failed_count, "
             "coalesce(last_failed_wal, ''), floor(extract(epoch from last_failed_time))::bigint, "
             "floor(extract(epoch from stats_reset))::bigint from pg_stat_archiver");
    pitr_rc rc = PITR_OK;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 7) {
        rc = pg_fail(s->conn, "cannot read pg_stat_archiver", err);
        goto out;
    }
    memset(st, 0, sizeof(*st));
    st->archived_count = num_or_zero(r, 0);
    copy_val(st->last_archived_wal, sizeof(st->last_archived_wal), PQgetvalue(r, 0, 1));
    st->last_archived_time = num_or_zero(r, 2);
    st->failed_count = num_or_zero(r, 3);
    copy_val(st->last_failed_wal, sizeof(st->last_failed_wal), PQgetvalue(r, 0, 4));
    st->last_failed_time = num_or_zero(r, 5);
    st->stats_reset = num_or_zero(r, 6);
    st->in_recovery = s->in_recovery;
    st->read_at = now;
    st->valid = 1;
out:
    PQclear(r);
    return rc;
}

static pitr_rc alter(struct srv *s, const char *name, const char *value, struct pitr_err *err)
{
    char *lit = PQescapeLiteral(s->conn, value, strlen(value));
    struct pitr_buf q;
    pitr_rc rc;

    if (lit == NULL)
        return pg_fail(s->conn, "cannot quote a setting", err);
    pitr_buf_init(&q, 64 * 1024);
    rc = pitr_buf_appendf(&q, err, "alter system set %s = %s", name, lit);
    PQfreemem(lit);
    if (rc == PITR_OK)
        rc = exec_ok(s->conn, q.data, "ALTER SYSTEM", err);
    pitr_buf_release(&q);
    if (rc == PITR_OK)
        pitr_log_info("local server: ALTER SYSTEM SET %s = '%s'", name, value);
    return rc;
}

/* ---- restart (restart-policy always) ---- */

/* The pg_ctl beside the running postmaster (its pid is postmaster.pid's first line). */
static pitr_rc find_pg_ctl(const char *data_dir, char *out, size_t n, struct pitr_err *err)
{
    char path[PATH_MAX + 32], exe[PATH_MAX], line[32];
    FILE *f;
    long pid;
    char *end, *slash;
    ssize_t len;

    snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
    f = fopen(path, "re");
    if (f == NULL)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s'", path);
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        return pitr_err_set(err, PITR_EFORMAT, "'%s' is empty", path);
    }
    fclose(f);
    errno = 0;
    pid = strtol(line, &end, 10);
    if (errno != 0 || end == line || pid <= 1 || pid > INT_MAX)
        return pitr_err_set(err, PITR_EFORMAT, "'%s' does not start with a pid", path);
    snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
    len = readlink(path, exe, sizeof(exe) - 1);
    if (len <= 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '%s'", path);
    exe[len] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return pitr_err_set(err, PITR_EFORMAT, "'%s' is no path", exe);
    *slash = '\0';
    if ((size_t)snprintf(out, n, "%s/pg_ctl", exe) >= n)
        return pitr_err_set(err, PITR_ELIMIT, "path '%s/pg_ctl' is too long", exe);
    if (access(out, X_OK) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot run '%s'", out);
    return PITR_OK;
}

static pitr_rc restart_server(const struct pitr_archconf *ac,
                              const struct ac_cluster *c,
                              const struct srv *s,
                              struct pitr_err *err)
{
    char pg_ctl[PATH_MAX + 16], logp[PATH_MAX + 16], data_dir[PATH_MAX];
    char a_restart[] = "restart", a_d[] = "-D", a_m[] = "-m", a_fast[] = "fast", a_w[] = "-w",
         a_t[] = "-t", a_45[] = "45", e_path[] = "PATH=/usr/bin:/bin", e_lang[] = "LANG=C.UTF-8";
    char *argv[] = { pg_ctl, a_restart, a_d, NULL, a_m, a_fast, a_w, a_t, a_45, NULL };
    char *envp[] = { e_path, e_lang, NULL }; /* nothing of ours: no credential reaches the server */
    struct stat sb;
    pid_t pid;
    int logfd, status = 0, i;
    pitr_rc rc;

    rc = find_pg_ctl(s->data_dir, pg_ctl, sizeof(pg_ctl), err);
    if (rc != PITR_OK)
        return rc;
    if (stat(s->data_dir, &sb) != 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot stat '%s'", s->data_dir);
    argv[3] = data_dir;
    snprintf(data_dir, sizeof(data_dir), "%s", s->data_dir);
    {
        const char *slash = strchr(c->key, '/');

        snprintf(logp,
                 sizeof(logp),
                 "%s/%.*s_%s.restart.log",
                 ac->state_dir,
                 (int)(slash - c->key),
                 c->key,
                 slash + 1);
    }
    logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (logfd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s'", logp);
    pitr_log_info("cluster '%s': restart-policy always: %s restart -D '%s' (output in '%s')",
                  c->key,
                  pg_ctl,
                  s->data_dir,
                  logp);
    pid = fork();
    if (pid < 0) {
        close(logfd);
        return pitr_err_set_errno(err, PITR_EGENERAL, errno, "cannot fork");
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(127);
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(sb.st_gid) != 0 || setuid(sb.st_uid) != 0))
            _exit(126);
        execve(pg_ctl, argv, envp);
        _exit(127);
    }
    close(logfd);
    for (i = 0; i < PITR_ARCHCONF_RESTART_WAIT * 10; i++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return pitr_err_set_errno(err, PITR_EGENERAL, errno, "cannot wait for pg_ctl");
        nanosleep(&ts, NULL);
    }
    if (i == PITR_ARCHCONF_RESTART_WAIT * 10) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        return pitr_err_set(err,
                            PITR_EGENERAL,
                            "pg_ctl restart did not end in %d s (killed)",
                            PITR_ARCHCONF_RESTART_WAIT);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return pitr_err_set(err,
                            PITR_EGENERAL,
                            "pg_ctl restart failed (status %d); see '%s'",
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                            logp);
    return PITR_OK;
}

/* ---- the empty-archive check ---- */

static int is_segment_name(const char *n)
{
    size_t i;

    for (i = 0; i < 24; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'A' && n[i] <= 'F')))
            return 0;
    return n[24] == '\0' || n[24] == '.';
}

/*
 * The system identifier in the long page header of WAL segment name
 * (fetched into tmp, read, removed): xlp_sysid at offset 8+8+4+4, after
 * magic, info, timeline, page address, rem_len and padding.
 */
static pitr_rc archived_sysid(struct pitr_storage *st,
                              const char *server,
                              const char *name,
                              const char *tmp,
                              uint64_t *sysid,
                              struct pitr_err *err)
{
    char seg[25];
    unsigned char hdr[40];
    ssize_t r;
    int fd;
    pitr_rc rc;

    snprintf(seg, sizeof(seg), "%.24s", name);
    (void)unlink(tmp);
    rc = pitr_wal_fetch(st, server, seg, tmp, err);
    if (rc != PITR_OK)
        return rc;
    fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s'", tmp);
        goto out;
    }
    r = read(fd, hdr, sizeof(hdr));
    close(fd);
    if (r != (ssize_t)sizeof(hdr) || hdr[0] == 0) {
        rc = pitr_err_set(err, PITR_EFORMAT, "WAL '%s' of the archive has no page header", seg);
        goto out;
    }
    memcpy(sysid, hdr + 24, sizeof(*sysid)); /* written in the server's byte order, as ours */
out:
    (void)unlink(tmp);
    return rc;
}

/*
 * barman-cloud-check-wal-archive's rule, with one exception: WAL of this
 * very system (the server's last archived segment, else the first segment
 * found, carries our system identifier) means the Cluster archives there
 * already. *usable = 0 with why naming the object otherwise.
 */
static pitr_rc check_archive(const struct pitr_config *cfg,
                             const char *last_archived,
                             uint64_t our_sysid,
                             const char *tmp,
                             int *usable,
                             char *why,
                             size_t n,
                             struct pitr_err *err)
{
    struct pitr_config sc = *cfg; /* shallow: strings stay owned by cfg */
    struct pitr_storage *st = NULL;
    struct pitr_checkarchive ca;
    struct pitr_err fe = { 0 };
    const char *cand = NULL;
    uint64_t sysid = 0;
    pitr_rc rc;

    *usable = 0;
    if (sc.retry_max_time > 5)
        sc.retry_max_time = 5;
    rc = pitr_storage_open(&sc, &st, err);
    if (rc != PITR_OK)
        return rc;
    pitr_checkarchive_init(&ca, 0);
    rc = pitr_checkarchive_run(st, cfg->server, &ca, err);
    if (rc != PITR_OK)
        goto out;
    if (pitr_checkarchive_usable(&ca)) {
        *usable = 1;
        snprintf(why, n, "the WAL archive is empty");
        goto out;
    }
    /* our last archived segment, else the first segment found there */
    if (last_archived != NULL && is_segment_name(last_archived) &&
        archived_sysid(st, cfg->server, last_archived, tmp, &sysid, &fe) == PITR_OK)
        cand = last_archived;
    else if (is_segment_name(ca.first) &&
             archived_sysid(st, cfg->server, ca.first, tmp, &sysid, &fe) == PITR_OK)
        cand = ca.first;
    if (cand != NULL && our_sysid != 0 && sysid == our_sysid) {
        *usable = 1;
        snprintf(why,
                 n,
                 "the WAL archive holds this system's WAL (%.24s, system %llu)",
                 cand,
                 (unsigned long long)sysid);
        goto out;
    }
    if (cand != NULL)
        snprintf(why,
                 n,
                 "WAL '%.24s' there is of system %llu, this server is system %llu",
                 cand,
                 (unsigned long long)sysid,
                 (unsigned long long)our_sysid);
    else
        snprintf(why, n, "first WAL object '%s'", ca.first);
out:
    pitr_storage_free(st);
    return rc;
}

/* ---- one run ---- */

static unsigned long hash_text(const char *p, size_t n)
{
    unsigned long h = 5381;
    size_t i;

    for (i = 0; i < n; i++)
        h = h * 33 + (unsigned char)p[i];
    return h;
}

static void paths(const struct pitr_archconf *ac,
                  const char *ns,
                  const char *name,
                  const char *suffix,
                  char *out,
                  size_t n)
{
    snprintf(out, n, "%s/%s_%s.%s", ac->state_dir, ns, name, suffix);
}

/* The marker's first line: which destination passed the check. */
static void dest_line(const struct pitr_config *cfg, char *out, size_t n)
{
    snprintf(out, n, "checked %s %s\n", cfg->repo, cfg->server);
}

static int marker_matches(const char *marker, const char *line)
{
    char buf[PITR_ARCHCONF_VALUE_MAX * 2 + 32];
    FILE *f = fopen(marker, "re");
    int ok;

    if (f == NULL)
        return 0;
    ok = fgets(buf, sizeof(buf), f) != NULL && strcmp(buf, line) == 0;
    fclose(f);
    return ok;
}

/*
 * The empty-archive check for this destination, unless its marker says it
 * passed. Returns 1 when archiving may be configured.
 */
static int archive_check(struct ac_cluster *c,
                         const struct pitr_config *cfg,
                         const struct srv *s,
                         const char *marker,
                         const char *tmpwal)
{
    char dest[PITR_ARCHCONF_VALUE_MAX * 2 + 32], why[PITR_ERR_MSG_MAX];
    struct pitr_buf line;
    struct pitr_err err = { 0 };
    int pass = 0, w = 0;

    dest_line(cfg, dest, sizeof(dest));
    if (marker_matches(marker, dest))
        return 1;
    if (s->in_recovery) {
        pass = 1;
        snprintf(why, sizeof(why), "standby: the cluster archives there already");
    } else if (check_archive(cfg,
                             c->stats.valid ? c->stats.last_archived_wal : NULL,
                             s->sysid,
                             tmpwal,
                             &pass,
                             why,
                             sizeof(why),
                             &err) != PITR_OK) {
        set_state(c, AC_CHECK_FAIL, "cannot check that the WAL archive is empty: %s", err.msg);
        return 0;
    }
    if (!pass) {
        set_state(c,
                  AC_NOT_EMPTY,
                  "Expected empty archive: '%s/wals/' of repository '%s' holds WAL (%s); "
                  "archive_command not set. HINT: give the Cluster another serverName or "
                  "empty that folder",
                  cfg->server,
                  cfg->repo,
                  why);
        return 0;
    }
    pitr_buf_init(&line, sizeof(dest) + sizeof(why) + 8);
    if (pitr_buf_appendf(&line, &err, "%s%s\n", dest, why) != PITR_OK ||
        ensure_file(marker, line.data, line.len, 0, 0, &w, &err) != PITR_OK)
        pitr_log_warn("cluster '%s': %s", c->key, err.msg);
    pitr_buf_release(&line);
    pitr_log_info("cluster '%s': archive check of '%s/wals/' passed: %s", c->key, cfg->server, why);
    return 1;
}

static void run(struct pitr_archconf *ac,
                struct ac_cluster *c,
                const char *ns,
                const char *name,
                const struct pitr_config *cfg,
                const struct pitr_mf_store *store,
                const struct pitr_buf *text,
                int64_t now)
{
    struct srv s;
    struct pitr_err err = { 0 };
    char conf[PATH_MAX], ca[PATH_MAX], marker[PATH_MAX], tmpwal[PATH_MAX];
    struct pitr_buf want_ac, want_rc, ctext;
    const char *want[3];
    struct stat sb;
    int written = 0, act, k, do_reload = 0, need_restart = 0;

    memset(&s, 0, sizeof(s));
    pitr_buf_init(&want_ac, 16 * 1024);
    pitr_buf_init(&want_rc, 16 * 1024);
    pitr_buf_init(&ctext, PITR_ARCHCONF_FILE_MAX);
    paths(ac, ns, name, "archive.conf", conf, sizeof(conf));
    paths(ac, ns, name, "archive-ca.pem", ca, sizeof(ca));
    paths(ac, ns, name, "archive-checked", marker, sizeof(marker));
    paths(ac, ns, name, "archive-check.wal", tmpwal, sizeof(tmpwal));
    if (pitr_archconf_command(ac->bin, conf, "wal-push %p", &want_ac, &err) != PITR_OK ||
        pitr_archconf_command(ac->bin, conf, "wal-fetch %f %p", &want_rc, &err) != PITR_OK) {
        set_state(c, AC_CONFIG, "%s", err.msg);
        goto out;
    }
    want[0] = "on";
    want[1] = want_ac.data;
    want[2] = want_rc.data;
    if (srv_open(ac->conninfo, &s, &err) != PITR_OK) {
        set_state(c, AC_CONNECT, "%s", err.msg);
        goto out;
    }
    if (read_stats(&s, &c->stats, now, &err) != PITR_OK)
        pitr_log_warn("cluster '%s': %s", c->key, err.msg);
    if (stat(s.data_dir, &sb) != 0) {
        set_state(
          c, AC_CONFIG, "cannot stat the data directory '%s': %s", s.data_dir, strerror(errno));
        goto out;
    }
    /* before the file names a new destination: is it empty (or ours)? */
    if (!archive_check(c, cfg, &s, marker, tmpwal)) {
        /* an archive_command of ours would write there: take it back */
        if (c->state == AC_NOT_EMPTY &&
            (same(s.setting[1], want[1]) || (s.has_file[1] && same(s.file_value[1], want[1])))) {
            if (alter(&s, guc_names[1], "", &err) != PITR_OK ||
                exec_ok(s.conn, "select pg_reload_conf()", "pg_reload_conf()", &err) != PITR_OK)
                pitr_log_warn("cluster '%s': %s", c->key, err.msg);
        }
        goto out;
    }
    open_state_dir(ac->state_dir);
    /* the CA copy PostgreSQL can read, then the settings file pointing at it */
    if (store != NULL && store->endpoint_ca_pem != NULL) {
        if (ensure_file(ca,
                        store->endpoint_ca_pem,
                        strlen(store->endpoint_ca_pem),
                        sb.st_uid,
                        sb.st_gid,
                        &written,
                        &err) != PITR_OK) {
            set_state(c, AC_CONFIG, "%s", err.msg);
            goto out;
        }
        if (pitr_archconf_config_text(cfg, store, ca, &ctext, &err) != PITR_OK) {
            set_state(c, AC_CONFIG, "cannot write '%s': %s", conf, err.msg);
            goto out;
        }
        text = &ctext;
    }
    if (ensure_file(conf, text->data, text->len, sb.st_uid, sb.st_gid, &written, &err) != PITR_OK) {
        set_state(c, AC_CONFIG, "%s", err.msg);
        goto out;
    }
    if (written)
        pitr_log_info("cluster '%s': archive settings written to '%s' (mode 0600, uid %ld)",
                      c->key,
                      conf,
                      (long)sb.st_uid);
    for (k = 0; k < 3; k++) {
        act = pitr_archconf_guc_action(guc_names[k],
                                       want[k],
                                       s.setting[k],
                                       s.has_file[k] ? s.file_value[k] : NULL,
                                       s.postmaster[k]);
        if ((act & PITR_ARCHCONF_ALTER) != 0) {
            if (alter(&s, guc_names[k], want[k], &err) != PITR_OK) {
                set_state(c, AC_CONFIG, "%s", err.msg);
                goto out;
            }
            do_reload = 1;
        }
        if ((act & PITR_ARCHCONF_RELOAD) != 0)
            do_reload = 1;
        if ((act & PITR_ARCHCONF_RESTART) != 0)
            need_restart = 1;
    }
    if (do_reload) {
        if (exec_ok(s.conn, "select pg_reload_conf()", "pg_reload_conf()", &err) != PITR_OK) {
            set_state(c, AC_CONFIG, "%s", err.msg);
            goto out;
        }
        pitr_log_info("cluster '%s': local server: pg_reload_conf()", c->key);
    }
    if (need_restart && ac->restart_policy == PITR_ARCHCONF_RESTART_ALWAYS) {
        PQfinish(s.conn);
        s.conn = NULL;
        if (restart_server(ac, c, &s, &err) != PITR_OK) {
            set_state(c,
                      AC_RESTART,
                      "archive_mode is '%s' and needs a restart to become 'on': the restart "
                      "failed: %s",
                      s.setting[0],
                      err.msg);
        } else {
            pitr_log_info("cluster '%s': local server restarted for archive_mode", c->key);
            c->next_run = now; /* look again at once */
        }
        goto out;
    }
    if (need_restart) {
        set_state(c,
                  AC_RESTART,
                  "archive_mode is '%s' and needs a restart to become 'on' (pending_restart); "
                  "restart-policy is never: restart PostgreSQL to start archiving",
                  s.setting[0]);
        goto out;
    }
    set_state(c, AC_OK, "archive_command and restore_command set (settings in '%s')", conf);
out:
    if (s.conn != NULL)
        PQfinish(s.conn);
    pitr_buf_release(&want_ac);
    pitr_buf_release(&want_rc);
    pitr_buf_release_secure(&ctext);
}

/* The leader's view on the Cluster's status. */
static void report(struct ac_cluster *c, json_t *cst, int64_t now)
{
    char msg[PITR_ERR_MSG_MAX + 64];
    const char *reason = NULL;

    switch (c->state) {
    case AC_NONE:
    case AC_CONNECT:
        return; /* nothing new known */
    case AC_CONFIG:
        reason = "ArchiveConfigFailed";
        break;
    case AC_CHECK_FAIL:
        reason = "ArchiveCheckFailed";
        break;
    case AC_NOT_EMPTY:
        reason = "ArchiveNotEmpty";
        break;
    case AC_RESTART:
        reason = "ArchiveModeNeedsRestart";
        break;
    case AC_OK:
        break;
    }
    if (c->stats.valid && !c->stats.in_recovery) {
        char when[32];

        json_object_set_new(cst, "lastArchivedWAL", json_string(c->stats.last_archived_wal));
        json_object_set_new(cst, "lastFailedWAL", json_string(c->stats.last_failed_wal));
        pitr_status_time(c->stats.last_archived_time, when);
        if (c->stats.last_archived_time != 0)
            json_object_set_new(cst, "lastArchivedWALTime", json_string(when));
        else
            json_object_del(cst, "lastArchivedWALTime");
        pitr_status_time(c->stats.last_failed_time, when);
        if (c->stats.last_failed_time != 0)
            json_object_set_new(cst, "lastFailedWALTime", json_string(when));
        else
            json_object_del(cst, "lastFailedWALTime");
    }
    if (reason != NULL) {
        pitr_status_condition(cst, "ContinuousArchiving", "False", reason, c->msg, now);
        return;
    }
    if (!c->stats.valid || c->stats.in_recovery)
        return; /* a standby does not archive: its pg_stat_archiver says nothing */
    if (pitr_archconf_archiving_ok(&c->stats, msg, sizeof(msg)))
        pitr_status_condition(
          cst, "ContinuousArchiving", "True", "ContinuousArchivingSuccess", msg, now);
    else
        pitr_status_condition(
          cst, "ContinuousArchiving", "False", "ContinuousArchivingFailing", msg, now);
}

int pitr_archconf_tick(struct pitr_archconf *ac,
                       const char *ns,
                       const char *name,
                       const struct pitr_config *cfg,
                       const struct pitr_mf_store *store,
                       json_t *cluster_status,
                       int64_t now)
{
    struct ac_cluster *c = find(ac, ns, name);
    struct pitr_buf text;
    struct pitr_err err = { 0 };
    unsigned long h = 0;
    char *before = NULL, *after = NULL;
    int changed = 0;

    if (c == NULL) {
        struct pitr_buf k;

        ac->cl = pitr_realloc(ac->cl, (ac->ncl + 1) * sizeof(*ac->cl));
        c = &ac->cl[ac->ncl++];
        memset(c, 0, sizeof(*c));
        pitr_buf_init(&k, 1024);
        if (pitr_buf_appendf(&k, &err, "%s/%s", ns, name) != PITR_OK)
            pitr_buf_reset(&k);
        c->key = pitr_buf_detach(&k, NULL);
    }
    pitr_buf_init(&text, PITR_ARCHCONF_FILE_MAX);
    /* one local server archives for one Cluster: the first one seen */
    if (ac->owner == NULL && cfg != NULL)
        ac->owner = pitr_strdup(c->key);
    if (ac->owner != NULL && strcmp(ac->owner, c->key) != 0) {
        if (c->state == AC_NONE)
            set_state(c,
                      AC_CONFIG,
                      "the local server archives for Cluster '%s' already; one instance "
                      "belongs to one Cluster",
                      ac->owner);
        cfg = NULL;
        c->next_run = now + 3600;
    } else if (cfg == NULL) {
        if (now >= c->next_run)
            set_state(c, AC_CONFIG, "the Cluster's barmanObjectStore settings are not usable");
    } else if (pitr_archconf_config_text(cfg, store, cfg->ca_file, &text, &err) != PITR_OK) {
        set_state(c, AC_CONFIG, "cannot write the archive settings: %s", err.msg);
        cfg = NULL;
    } else {
        h = hash_text(text.data, text.len);
    }
    if (cfg != NULL && (now >= c->next_run || h != c->cfg_hash)) {
        c->cfg_hash = h;
        c->next_run = now + ac->every;
        run(ac, c, ns, name, cfg, store, &text, now);
    } else if (now >= c->next_run) {
        c->next_run = now + ac->every;
    }
    pitr_buf_release_secure(&text);
    if (cluster_status == NULL)
        return 0;
    before = json_dumps(cluster_status, JSON_SORT_KEYS | JSON_COMPACT);
    report(c, cluster_status, now);
    after = json_dumps(cluster_status, JSON_SORT_KEYS | JSON_COMPACT);
    changed = before == NULL || after == NULL || strcmp(before, after) != 0;
    pitr_free(before);
    pitr_free(after);
    return changed;
}
