/* recover.c - bootstrap.recovery of an empty local PGDATA; see agent/recover.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "pgpitr/agent/recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/agent/agent.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/agent/status.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/restore/restore.h"

extern char **environ;

#define ENV_MAX 256 /* environment entries passed to the start command */

/* The work of one recovery, shared by the main thread and the worker. */
struct rjob {
    /* inputs (owned) */
    struct pitr_config cfg; /* the external store's settings (credentials inside) */
    char *pgdata;
    char *conninfo; /* or NULL */
    char *start_command;
    char *ca_pem; /* owned or NULL; the endpointCA, copied into PGDATA for wal-fetch */
    char *target_time, *target_xid, *target_name, *target_lsn, *target_tli, *backup_id;
    int target_immediate, exclusive, own_backup, wait;
    uid_t uid;
    gid_t gid;
    volatile sig_atomic_t cancel;
    /* progress and results */
    volatile sig_atomic_t done;
    int started; /* the server was started (PGDATA is left as it is) */
    pitr_rc rc;
    struct pitr_err err;
    struct pitr_restore_result res;
    int64_t promoted_at;
    char replayed_to[40]; /* pg_last_xact_replay_timestamp() after promotion, or "" */
    pthread_t thread;
};

/* The state of one Cluster with bootstrap.recovery. */
struct rcl {
    char *key; /* owned; "<ns>/<name>" */
    int state; /* RS_* */
    int logged;
    int64_t next_try;
    int backoff;
    struct rjob *job;
    json_t *local;    /* the local status document when the Cluster has no store */
    char *local_path; /* owned */
};

enum { RS_NEW = 0, RS_RUNNING, RS_FAILED, RS_DONE, RS_SKIP };

struct pitr_recover {
    struct rcl *v;
    size_t n;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

char *pitr_recover_shell_quote(const char *s)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    pitr_rc rc;

    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    rc = pitr_buf_append_str(&b, "'", &err);
    for (const char *p = s; rc == PITR_OK && *p != '\0'; p++)
        rc = *p == '\'' ? pitr_buf_append_str(&b, "'\\''", &err) : pitr_buf_append(&b, p, 1, &err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(&b, "'", &err);
    if (rc != PITR_OK) {
        pitr_buf_release(&b);
        return pitr_strdup("''");
    }
    return pitr_buf_detach(&b, NULL);
}

char *pitr_recover_default_start(const char *pgdata, int wait)
{
    char ver[16] = "", path[PATH_MAX], bin[PATH_MAX + 64];
    char *qd, *ql, *out;
    FILE *f;

    snprintf(path, sizeof(path), "%s/PG_VERSION", pgdata);
    f = fopen(path, "re");
    if (f != NULL) {
        if (fgets(ver, sizeof(ver), f) == NULL)
            ver[0] = '\0';
        fclose(f);
    }
    ver[strspn(ver, "0123456789")] = '\0';
    snprintf(bin, sizeof(bin), "pg_ctl");
    if (ver[0] != '\0') {
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/pg_ctl", ver);
        if (access(path, X_OK) == 0)
            snprintf(bin, sizeof(bin), "%s", path);
    }
    snprintf(path, sizeof(path), "%s/pgpitr-startup.log", pgdata);
    qd = pitr_recover_shell_quote(pgdata);
    ql = pitr_recover_shell_quote(path);
    out = pitr_asprintf("%s start -w -t %d -D %s -l %s", bin, wait > 0 ? wait : 60, qd, ql);
    pitr_free(qd);
    pitr_free(ql);
    return out;
}

/* ---- PGDATA ---------------------------------------------------------------- */

/* 0: missing or an empty directory; 1: anything else (why in why[]). */
static int pgdata_in_use(const char *pgdata, char *why, size_t n)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int used = 0;

    if (lstat(pgdata, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, n, "cannot stat it: %s", strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, n, "it is not a directory (a link or a file)");
        return 1;
    }
    d = opendir(pgdata);
    if (d == NULL) {
        snprintf(why, n, "cannot read it: %s", strerror(errno));
        return 1;
    }
    while (!used && (de = readdir(d)) != NULL)
        used = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    if (used)
        snprintf(why, n, "it is not empty");
    return used;
}

/* The owner PostgreSQL runs as: PGDATA's, or its parent's when PGDATA is missing. */
static pitr_rc pgdata_owner(const char *pgdata, uid_t *uid, gid_t *gid, struct pitr_err *err)
{
    struct stat st;
    char parent[PATH_MAX];
    char *slash;

    if (lstat(pgdata, &st) == 0) {
        *uid = st.st_uid;
        *gid = st.st_gid;
        return PITR_OK;
    }
    snprintf(parent, sizeof(parent), "%s", pgdata);
    slash = strrchr(parent, '/');
    if (slash == NULL)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (stat(parent, &st) != 0)
        return pitr_err_set_errno(
          err, PITR_EIO, errno, "cannot stat '%s' (the parent of PGDATA)", parent);
    *uid = st.st_uid;
    *gid = st.st_gid;
    return PITR_OK;
}

/* nftw's callbacks have no context pointer: the worker that walks holds this lock. */
static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;
static uid_t walk_uid;
static gid_t walk_gid;
static int walk_errno;
static const char *walk_root;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (lchown(path, walk_uid, walk_gid) != 0 && walk_errno == 0)
        walk_errno = errno;
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0 || strcmp(path, walk_root) == 0)
        return 0; /* PGDATA itself stays */
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 && walk_errno == 0)
        walk_errno = errno;
    return 0;
}

/* Give the tree under root (links not followed) to uid:gid. */
static pitr_rc chown_tree(const char *root, uid_t uid, gid_t gid, struct pitr_err *err)
{
    int e;

    pthread_mutex_lock(&walk_lock);
    walk_uid = uid;
    walk_gid = gid;
    walk_errno = 0;
    if (nftw(root, chown_one, 32, FTW_PHYS) != 0 && walk_errno == 0)
        walk_errno = errno != 0 ? errno : EIO;
    e = walk_errno;
    pthread_mutex_unlock(&walk_lock);
    if (e != 0)
        return pitr_err_set_errno(err, PITR_EIO, e, "cannot give '%s' to uid %ld", root, (long)uid);
    return PITR_OK;
}

/* Remove what is inside root (not root; links are removed, never followed). */
static void empty_tree(const char *root)
{
    int e;

    pthread_mutex_lock(&walk_lock);
    walk_errno = 0;
    walk_root = root;
    (void)nftw(root, remove_one, 32, FTW_PHYS | FTW_DEPTH);
    e = walk_errno;
    walk_root = NULL;
    pthread_mutex_unlock(&walk_lock);
    if (e != 0)
        pitr_log_warn(
          "recovery: cannot empty '%s' after the failed restore: %s", root, strerror(e));
}

/* The tablespace locations pg_tblspc links to: chowned like PGDATA. */
static pitr_rc chown_tablespaces(const char *pgdata, uid_t uid, gid_t gid, struct pitr_err *err)
{
    char dir[PATH_MAX], link[PATH_MAX + 300], target[PATH_MAX];
    DIR *d;
    struct dirent *de;
    pitr_rc rc = PITR_OK;

    snprintf(dir, sizeof(dir), "%s/pg_tblspc", pgdata);
    d = opendir(dir);
    if (d == NULL)
        return PITR_OK;
    while (rc == PITR_OK && (de = readdir(d)) != NULL) {
        ssize_t n;

        if (de->d_name[0] == '.' || strspn(de->d_name, "0123456789") != strlen(de->d_name))
            continue;
        snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (target[0] == '/') /* the restore made these links: absolute locations */
            rc = chown_tree(target, uid, gid, err);
    }
    closedir(d);
    return rc;
}

/* ---- the files the restored server reads ------------------------------------ */

static pitr_rc conf_kv(struct pitr_buf *b, const char *k, const char *v, struct pitr_err *err)
{
    if (v == NULL)
        return PITR_OK;
    if (strpbrk(v, "\r\n") != NULL)
        return pitr_err_set(err, PITR_EUSAGE, "setting '%s' holds a line break", k);
    return pitr_buf_appendf(b, err, "%s = %s\n", k, v);
}

/* PGDATA/pgpitr-recovery.conf: the external store for wal-fetch (0600, the owner's). */
static pitr_rc write_fetch_conf(const struct rjob *j, const char *path, struct pitr_err *err)
{
    const struct pitr_config *c = &j->cfg;
    struct pitr_buf b;
    pitr_rc rc;

    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    rc = pitr_buf_append_str(
      &b, "# written by pgpitr agent for bootstrap.recovery; removed on promotion\n", err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "repo", c->repo, err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "server", c->server, err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "endpoint-url", c->endpoint_url, err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "region", c->region, err);
    if (rc == PITR_OK && j->ca_pem != NULL) {
        char ca[PATH_MAX];

        snprintf(ca, sizeof(ca), "%s/pgpitr-recovery-ca.pem", j->pgdata);
        rc = pitr_fs_write_atomic(ca, j->ca_pem, strlen(j->ca_pem), 0600, err);
        if (rc == PITR_OK && geteuid() == 0 && lchown(ca, j->uid, j->gid) != 0)
            rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot chown '%s'", ca);
        if (rc == PITR_OK)
            rc = conf_kv(&b, "ca-file", ca, err);
    } else if (rc == PITR_OK) {
        rc = conf_kv(&b, "ca-file", c->ca_file, err);
    }
    if (rc == PITR_OK && c->url_style != PITR_URL_STYLE_AUTO)
        rc = conf_kv(
          &b, "s3-url-style", c->url_style == PITR_URL_STYLE_PATH ? "path" : "virtual", err);
    if (rc == PITR_OK && c->insecure_skip_tls)
        rc = conf_kv(&b, "insecure-skip-tls-verify", "true", err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "aws-access-key-id", c->access_key, err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "aws-secret-access-key", c->secret_key, err);
    if (rc == PITR_OK)
        rc = conf_kv(&b, "aws-session-token", c->session_token, err);
    if (rc == PITR_OK)
        rc = pitr_fs_write_atomic(path, b.data, b.len, 0600, err);
    if (rc == PITR_OK && geteuid() == 0 && lchown(path, j->uid, j->gid) != 0)
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot chown '%s'", path);
    pitr_buf_release_secure(&b);
    return rc;
}

/* Hold archiving during recovery (appended after the restore's recovery settings). */
static pitr_rc hold_archiving(const struct rjob *j, struct pitr_err *err)
{
    char path[PATH_MAX];
    const char *line = j->own_backup
                         ? "# pgpitr agent: archiving held until this Cluster's own is set\n"
                           "archive_command = 'false'\n"
                         : "# pgpitr agent: the Cluster has no spec.backup: no archiving\n"
                           "archive_mode = 'off'\n";
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/postgresql.auto.conf", j->pgdata);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot open '%s'", path);
    n = write(fd, line, strlen(line));
    if (n != (ssize_t)strlen(line) || fsync(fd) != 0) {
        int e = errno;

        close(fd);
        return pitr_err_set_errno(err, PITR_EIO, e, "cannot write '%s'", path);
    }
    close(fd);
    return PITR_OK;
}

/* ---- starting PostgreSQL and waiting for the promotion ------------------------ */

/* The environment without AWS_* / PGPITR_* (the server must not inherit our secrets). */
static char **clean_env(void)
{
    char **env = pitr_calloc(ENV_MAX + 1, sizeof(*env));
    size_t n = 0;

    for (char **e = environ; e != NULL && *e != NULL && n < ENV_MAX; e++)
        if (strncmp(*e, "AWS_", 4) != 0 && strncmp(*e, "PGPITR_", 7) != 0)
            env[n++] = *e;
    return env;
}

/* Run cmd with /bin/sh as uid:gid in pgdata; wait at most secs. */
static pitr_rc run_start(const struct rjob *j, int secs, struct pitr_err *err)
{
    char *argv[] = { (char *)"sh", (char *)"-c", j->start_command, NULL };
    char **env = clean_env();
    int root = geteuid() == 0, status = 0;
    pid_t pid, w = 0;
    pitr_rc rc = PITR_OK;

    pid = fork();
    if (pid < 0) {
        rc = pitr_err_set_errno(err, PITR_EIO, errno, "cannot fork for the start command");
        goto out;
    }
    if (pid == 0) {
        /* async-signal-safe calls only from here on */
        if (root && (setgroups(0, NULL) != 0 || setgid(j->gid) != 0 || setuid(j->uid) != 0))
            _exit(126);
        if (chdir(j->pgdata) != 0)
            _exit(126);
        execve("/bin/sh", argv, env);
        _exit(127);
    }
    for (int i = 0; i < secs * 10 && !j->cancel; i++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };

        w = waitpid(pid, &status, WNOHANG);
        if (w == pid || w < 0)
            break;
        nanosleep(&ts, NULL);
    }
    if (w != pid) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        rc = pitr_err_set(err, PITR_ENETWORK, "the start command did not end within %d s", secs);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = pitr_err_set(err,
                          PITR_EIO,
                          "the start command failed (%s %d); see %s/pgpitr-startup.log or the "
                          "server log",
                          WIFEXITED(status) ? "exit" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                          j->pgdata);
    }
out:
    pitr_free(env);
    return rc;
}

/* Poll pg_is_in_recovery() until false, at most until deadline. */
static pitr_rc wait_promoted(struct rjob *j, int64_t deadline, struct pitr_err *err)
{
    struct pitr_err last = { 0 };

    snprintf(last.msg, sizeof(last.msg), "no answer yet");
    while (!j->cancel && now_s() < deadline) {
        struct pitr_pg *pg = NULL;
        struct pitr_pg_info info;
        struct timespec ts = { 1, 0 };

        memset(&info, 0, sizeof(info));
        if (pitr_pg_connect(j->conninfo, &pg, &last) == PITR_OK &&
            pitr_pg_get_info(pg, PITR_PG_NEED_NOTHING, &info, &last) == PITR_OK) {
            int in_recovery = info.in_recovery;

            pitr_pg_info_release(&info);
            if (!in_recovery) {
                j->promoted_at = now_s();
                /* when the target was reached: the last commit replayed (best effort) */
                if (pitr_pg_last_replay_time(pg, j->replayed_to, &last) != PITR_OK)
                    j->replayed_to[0] = '\0';
                pitr_pg_free(pg);
                return PITR_OK;
            }
            pitr_pg_free(pg);
            snprintf(last.msg, sizeof(last.msg), "the server is still in recovery");
        } else {
            pitr_pg_free(pg);
        }
        nanosleep(&ts, NULL);
    }
    if (j->cancel)
        return pitr_err_set(err, PITR_EGENERAL, "the agent is stopping");
    return pitr_err_set(
      err, PITR_ENETWORK, "the server was not promoted within %d s: %s", j->wait, last.msg);
}

static void *rjob_main(void *arg)
{
    struct rjob *j = arg;
    struct pitr_restore_opts ro;
    struct pitr_buf cmd, end_cmd;
    char exe[PATH_MAX], conf[PATH_MAX];
    char *qexe = NULL, *qconf = NULL;
    ssize_t n;
    int64_t deadline = now_s() + j->wait;
    int wrote, existed;
    struct stat st;
    pitr_rc rc;

    pitr_buf_init(&cmd, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&end_cmd, PITR_BUF_LIMIT_SMALL);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        rc = pitr_err_set_errno(&j->err, PITR_EIO, errno, "cannot read '/proc/self/exe'");
        goto out;
    }
    exe[n] = '\0';
    snprintf(conf, sizeof(conf), "%s/%s", j->pgdata, PITR_RECOVER_CONF_NAME);
    qexe = pitr_recover_shell_quote(exe);
    qconf = pitr_recover_shell_quote(conf);
    rc = pitr_buf_appendf(&cmd, &j->err, "%s --config %s wal-fetch %%f %%p", qexe, qconf);
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(
          &end_cmd, &j->err, "%s --config %s wal-fetch --clean-spool", qexe, qconf);
    if (rc != PITR_OK)
        goto out;
    memset(&ro, 0, sizeof(ro));
    ro.cfg = &j->cfg;
    ro.backup_id = j->backup_id;
    ro.pgdata = j->pgdata;
    ro.target_time = j->target_time;
    ro.target_xid = j->target_xid;
    ro.target_lsn = j->target_lsn;
    ro.target_name = j->target_name;
    ro.target_immediate = j->target_immediate;
    ro.target_tli = j->target_tli;
    ro.target_action = "promote"; /* CNPG: always */
    ro.exclusive = j->exclusive;
    ro.jobs = j->cfg.jobs > 0 ? j->cfg.jobs : 2;
    ro.restore_command = cmd.data;
    ro.recovery_end_command = end_cmd.data;
    /* checked again here: only a PGDATA that is empty now is ever emptied after a failure */
    if (pgdata_in_use(j->pgdata, exe, sizeof(exe))) {
        rc = pitr_err_set(
          &j->err, PITR_EUSAGE, "PGDATA '%s' is no longer empty (%s): not touched", j->pgdata, exe);
        goto out;
    }
    existed = lstat(j->pgdata, &st) == 0;
    pitr_log_info(
      "recovery: restoring '%s' from %s (server %s)", j->pgdata, j->cfg.repo, j->cfg.server);
    rc = pitr_restore_run(&ro, &j->res, &j->err);
    wrote = rc == PITR_OK || !(j->err.code == PITR_EUSAGE && strstr(j->err.msg, "not empty"));
    if (rc == PITR_OK)
        rc = hold_archiving(j, &j->err);
    if (rc == PITR_OK)
        rc = write_fetch_conf(j, conf, &j->err);
    if (rc == PITR_OK && geteuid() == 0) {
        rc = chown_tree(j->pgdata, j->uid, j->gid, &j->err);
        if (rc == PITR_OK)
            rc = chown_tablespaces(j->pgdata, j->uid, j->gid, &j->err);
    }
    if (rc != PITR_OK) {
        /* what the restore wrote goes (never through a link); a refused PGDATA stays as it is */
        if (wrote)
            empty_tree(j->pgdata);
        if (wrote && !existed)
            (void)rmdir(j->pgdata); /* the restore made it (root's): the next try decides again */
        goto out;
    }
    if (j->start_command == NULL)
        j->start_command = pitr_recover_default_start(j->pgdata, j->wait);
    pitr_log_info("recovery: backup %s restored; starting PostgreSQL", j->res.backup_id);
    j->started = 1;
    rc = run_start(j, j->wait, &j->err);
    if (rc == PITR_OK)
        rc = wait_promoted(j, deadline, &j->err);
    if (rc == PITR_OK && unlink(conf) != 0 && errno != ENOENT)
        pitr_log_warn("recovery: cannot remove '%s': %s", conf, strerror(errno));
    if (rc == PITR_OK && j->ca_pem != NULL) {
        snprintf(conf, sizeof(conf), "%s/pgpitr-recovery-ca.pem", j->pgdata);
        (void)unlink(conf);
    }
out:
    pitr_free(qexe);
    pitr_free(qconf);
    pitr_buf_release(&cmd);
    pitr_buf_release(&end_cmd);
    j->rc = rc;
    j->done = 1;
    return NULL;
}

static void rjob_free(struct rjob *j)
{
    if (j == NULL)
        return;
    pitr_config_release(&j->cfg);
    pitr_free(j->pgdata);
    pitr_free(j->conninfo);
    pitr_free(j->start_command);
    pitr_free(j->ca_pem);
    pitr_free(j->target_time);
    pitr_free(j->target_xid);
    pitr_free(j->target_name);
    pitr_free(j->target_lsn);
    pitr_free(j->target_tli);
    pitr_free(j->backup_id);
    pitr_free(j);
}

/* ---- the status -------------------------------------------------------------- */

static const char *target_text(const struct pitr_mf_recovery *r, char *out, size_t n)
{
    const struct pitr_mf_recovery_target *t = &r->target;

    if (t->target_time != NULL)
        snprintf(out, n, "targetTime %s", t->target_time);
    else if (t->target_lsn != NULL)
        snprintf(out, n, "targetLSN %s", t->target_lsn);
    else if (t->target_xid != NULL)
        snprintf(out, n, "targetXID %s", t->target_xid);
    else if (t->target_name != NULL)
        snprintf(out, n, "targetName %s", t->target_name);
    else if (t->target_immediate)
        snprintf(out, n, "targetImmediate (the end of backup %s)", t->backup_id);
    else
        snprintf(out, n, "the end of the WAL archive");
    return out;
}

static json_t *cluster_obj(json_t *doc, const struct pitr_mf_cluster *m)
{
    json_t *it = pitr_status_ensure(doc, "Cluster", m->meta.name, m->meta.namespace, now_s());

    if (json_object_get(it, "status") == NULL)
        json_object_set_new(it, "status", json_object());
    return it;
}

/* Record one step on the Cluster (phase, condition, event, status.recovery). */
static void record(json_t *doc,
                   const struct pitr_mf_cluster *m,
                   const char *phase,
                   const char *cstatus,
                   const char *reason,
                   const char *msg,
                   json_t *recovery)
{
    json_t *st = json_object_get(cluster_obj(doc, m), "status");

    json_object_set_new(st, "phase", json_string(phase));
    json_object_set_new(st, "phaseReason", json_string(msg));
    pitr_status_condition(st, "RecoveryCompleted", cstatus, reason, msg, now_s());
    if (strcmp(cstatus, "True") == 0)
        pitr_status_condition(st, "Ready", "True", "ClusterIsReady", "Cluster is Ready", now_s());
    if (recovery != NULL)
        json_object_set_new(st, "recovery", recovery);
    pitr_status_event(doc,
                      "Cluster",
                      m->meta.name,
                      strcmp(reason, "RecoveryFailed") == 0 ? "Warning" : "Normal",
                      reason,
                      msg,
                      now_s());
}

/* ---- the step ------------------------------------------------------------------ */

static struct rcl *rcl_for(struct pitr_recover *r, const struct pitr_mf_cluster *m)
{
    char *key = pitr_asprintf("%s/%s", m->meta.namespace, m->meta.name);

    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].key, key) == 0) {
            pitr_free(key);
            return &r->v[i];
        }
    }
    r->v = pitr_realloc(r->v, (r->n + 1) * sizeof(*r->v));
    memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
    r->v[r->n].key = key;
    return &r->v[r->n++];
}

/* The document to write: the Cluster's own, or the local copy this module keeps. */
static json_t *doc_for(struct rcl *c,
                       const struct pitr_agent_opts *o,
                       const struct pitr_mf_cluster *m,
                       json_t *doc)
{
    struct pitr_err err = { 0 };
    char path[PATH_MAX];

    if (doc != NULL)
        return doc;
    if (c->local != NULL)
        return c->local;
    snprintf(path, sizeof(path), "%s/%s_%s.json", o->state_dir, m->meta.namespace, m->meta.name);
    c->local_path = pitr_strdup(path);
    if (pitr_status_load(NULL, m->meta.name, c->local_path, &c->local, NULL, NULL, &err) !=
        PITR_OK) {
        pitr_log_warn("cluster '%s': %s: starting with an empty status", m->meta.name, err.msg);
        c->local = pitr_status_new();
    }
    return c->local;
}

static void saved(struct rcl *c, const struct pitr_mf_cluster *m, int *dirty)
{
    struct pitr_err err = { 0 };

    if (dirty != NULL) {
        *dirty = 1;
        return;
    }
    if (c->local != NULL &&
        pitr_status_save(NULL, m->meta.name, c->local_path, c->local, &err) != PITR_OK)
        pitr_log_warn(
          "cluster '%s': cannot write the local status copy: %s", m->meta.name, err.msg);
}

/* A job for m from the external cluster's store; NULL with err when it cannot be built. */
static struct rjob *rjob_new(const struct pitr_agent_opts *o,
                             const struct pitr_mf_cluster *m,
                             struct pitr_err *err)
{
    const struct pitr_mf_recovery *rec = &m->recovery;
    const struct pitr_mf_external *x = pitr_manifest_find_external(m, rec->source);
    struct pitr_mf_cluster ext;
    struct rjob *j;
    char ca[PATH_MAX];

    if (x == NULL || !x->has_store) {
        pitr_err_set(err, PITR_EUSAGE, "the recovery source names no usable external cluster");
        return NULL;
    }
    j = pitr_calloc(1, sizeof(*j));
    /* the external cluster as a Cluster: serverName defaults to its name (CNPG) */
    memset(&ext, 0, sizeof(ext));
    ext.meta = m->meta;
    ext.meta.name = x->name;
    ext.has_store = 1;
    ext.store = x->store;
    /* the agent's own copy of the CA (state-dir); wal-fetch gets one in PGDATA */
    snprintf(
      ca, sizeof(ca), "%s/%s_%s-recovery-ca.pem", o->state_dir, m->meta.namespace, m->meta.name);
    if (pitr_agent_cluster_config(o->cfg, &ext, ca, &j->cfg, err) != PITR_OK) {
        rjob_free(j);
        return NULL;
    }
    if (x->store.endpoint_ca_pem != NULL)
        j->ca_pem = pitr_strdup(x->store.endpoint_ca_pem);
    j->pgdata = pitr_strdup(o->pgdata);
    j->conninfo = o->conninfo != NULL ? pitr_strdup(o->conninfo) : NULL;
    j->start_command = o->start_command != NULL ? pitr_strdup(o->start_command) : NULL;
    j->target_time = pitr_strdup(rec->target.target_time);
    j->target_xid = pitr_strdup(rec->target.target_xid);
    j->target_name = pitr_strdup(rec->target.target_name);
    j->target_lsn = pitr_strdup(rec->target.target_lsn);
    j->target_tli = pitr_strdup(rec->target.target_tli);
    j->backup_id = pitr_strdup(rec->target.backup_id);
    j->target_immediate = rec->target.target_immediate;
    j->exclusive = rec->target.exclusive;
    j->own_backup = m->has_store;
    j->wait = o->recovery_wait > 0 ? o->recovery_wait : PITR_RECOVER_DEFAULT_WAIT;
    return j;
}

static void start(struct rcl *c,
                  const struct pitr_agent_opts *o,
                  const struct pitr_mf_cluster *m,
                  json_t *d,
                  int *dirty)
{
    struct pitr_err err = { 0 };
    char tt[200], msg[600];
    struct rjob *j = rjob_new(o, m, &err);

    if (j != NULL && pgdata_owner(o->pgdata, &j->uid, &j->gid, &err) == PITR_OK && geteuid() == 0 &&
        j->uid == 0) {
        pitr_err_set(&err,
                     PITR_EUSAGE,
                     "PGDATA '%s' (or its parent, when it is missing) belongs to root and "
                     "PostgreSQL does not run as root; give it to the postgres user",
                     o->pgdata);
    } else if (j != NULL && err.code == PITR_OK &&
               pthread_create(&j->thread, NULL, rjob_main, j) == 0) {
        c->job = j;
        c->state = RS_RUNNING;
        snprintf(msg,
                 sizeof(msg),
                 "Recovering PGDATA '%s' from external cluster '%s' to %s",
                 o->pgdata,
                 m->recovery.source,
                 target_text(&m->recovery, tt, sizeof(tt)));
        record(d, m, "Setting up primary", "False", "RecoveryStarted", msg, NULL);
        saved(c, m, dirty);
        return;
    }
    if (j != NULL && err.code == PITR_OK)
        pitr_err_set(&err, PITR_EIO, "cannot start the recovery thread");
    rjob_free(j);
    c->state = RS_FAILED;
    c->backoff = c->backoff == 0 ? PITR_RECOVER_RETRY_FIRST : c->backoff;
    c->next_try = now_s() + c->backoff;
    snprintf(msg, sizeof(msg), "Recovery failed: %.500s", err.msg);
    record(d, m, "Recovery failed", "False", "RecoveryFailed", msg, NULL);
    saved(c, m, dirty);
}

static void finish(struct rcl *c, const struct pitr_mf_cluster *m, json_t *d, int *dirty)
{
    struct rjob *j = c->job;
    char tt[200], when[32], msg[900];

    pthread_join(j->thread, NULL);
    target_text(&m->recovery, tt, sizeof(tt));
    if (j->rc == PITR_OK) {
        json_t *rec = json_object();

        pitr_status_time(j->promoted_at, when);
        json_object_set_new(rec, "source", json_string(m->recovery.source));
        json_object_set_new(rec, "serverName", json_string(j->cfg.server));
        json_object_set_new(rec, "backupID", json_string(j->res.backup_id));
        json_object_set_new(rec, "backupEndTime", json_string(j->res.end_time));
        json_object_set_new(rec, "recoveryTarget", json_string(tt));
        json_object_set_new(rec, "restoredTarget", json_string(j->res.target));
        json_object_set_new(rec, "promotedAt", json_string(when));
        if (j->replayed_to[0] != '\0')
            json_object_set_new(rec, "lastReplayedCommitTime", json_string(j->replayed_to));
        snprintf(msg,
                 sizeof(msg),
                 "PostgreSQL recovered to %s from backup %s and promoted at %s",
                 tt,
                 j->res.backup_id,
                 when);
        record(d, m, "Cluster in healthy state", "True", "RecoveryCompleted", msg, rec);
        c->state = RS_DONE;
    } else {
        snprintf(msg, sizeof(msg), "Recovery to %s failed: %.500s", tt, j->err.msg);
        record(d, m, "Recovery failed", "False", "RecoveryFailed", msg, NULL);
        c->state = RS_FAILED;
        if (j->started) {
            /* a started server owns PGDATA now: it is never touched again */
            c->next_try = INT64_MAX;
        } else {
            c->backoff = c->backoff == 0
                           ? PITR_RECOVER_RETRY_FIRST
                           : (c->backoff * 2 > PITR_RECOVER_RETRY_MAX ? PITR_RECOVER_RETRY_MAX
                                                                      : c->backoff * 2);
            c->next_try = now_s() + c->backoff;
            pitr_log_info(
              "cluster '%s': the recovery is tried again in %d s", m->meta.name, c->backoff);
        }
    }
    saved(c, m, dirty);
    rjob_free(j);
    c->job = NULL;
}

enum pitr_recover_hold pitr_recover_step(struct pitr_recover **rp,
                                         const struct pitr_agent_opts *o,
                                         const struct pitr_mf_cluster *m,
                                         json_t *doc,
                                         int *dirty)
{
    struct rcl *c;
    char why[200];
    json_t *d;

    if (!m->has_recovery)
        return PITR_RECOVER_GO;
    if (*rp == NULL)
        *rp = pitr_calloc(1, sizeof(**rp));
    c = rcl_for(*rp, m);
    switch (c->state) {
    case RS_DONE:
    case RS_SKIP:
        return PITR_RECOVER_GO;
    case RS_RUNNING:
        if (!c->job->done)
            return PITR_RECOVER_RUNNING;
        finish(c, m, doc_for(c, o, m, doc), dirty);
        return c->state == RS_DONE ? PITR_RECOVER_GO : PITR_RECOVER_FAILED;
    case RS_FAILED:
        if (now_s() < c->next_try)
            return PITR_RECOVER_FAILED;
        break;
    default:
        break;
    }
    if (o->pgdata == NULL || m->recovery.unsupported) {
        if (!c->logged)
            pitr_log_warn("%s:%d: Cluster '%s': bootstrap.recovery is not acted on: %s",
                          m->recovery.loc.file != NULL ? m->recovery.loc.file : "(manifest)",
                          m->recovery.loc.line,
                          m->meta.name,
                          o->pgdata == NULL ? "the agent has no pgdata setting"
                                            : "it asks for what pgpitr does not support");
        c->logged = 1;
        c->state = RS_SKIP;
        return PITR_RECOVER_GO;
    }
    if (pgdata_in_use(o->pgdata, why, sizeof(why))) {
        if (c->state == RS_FAILED) {
            /* our failed attempt could not be cleaned away: wait for a person */
            c->next_try = INT64_MAX;
            return PITR_RECOVER_FAILED;
        }
        pitr_log_info("cluster '%s': PGDATA '%s' is left alone (%s): bootstrap.recovery only "
                      "restores into a missing or empty data directory",
                      m->meta.name,
                      o->pgdata,
                      why);
        c->state = RS_SKIP;
        return PITR_RECOVER_GO;
    }
    d = doc_for(c, o, m, doc);
    start(c, o, m, d, dirty);
    return c->state == RS_RUNNING ? PITR_RECOVER_RUNNING : PITR_RECOVER_FAILED;
}

int pitr_recover_holds(const struct pitr_recover *r, const struct pitr_mf_cluster *m)
{
    char key[600];

    if (r == NULL || !m->has_recovery)
        return 0;
    snprintf(key, sizeof(key), "%s/%s", m->meta.namespace, m->meta.name);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].key, key) == 0)
            return r->v[i].state == RS_RUNNING || r->v[i].state == RS_FAILED;
    return 0;
}

void pitr_recover_free(struct pitr_recover *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct rcl *c = &r->v[i];

        if (c->job != NULL) {
            c->job->cancel = 1;
            for (int k = 0; k < PITR_AGENT_STOP_WAIT * 10 && !c->job->done; k++) {
                struct timespec ts = { 0, 100 * 1000 * 1000 };

                nanosleep(&ts, NULL);
            }
            if (c->job->done) {
                pthread_join(c->job->thread, NULL);
                rjob_free(c->job);
            } else {
                pthread_detach(c->job->thread); /* leaked on purpose: its thread may still use it */
            }
        }
        if (c->local != NULL)
            json_decref(c->local);
        pitr_free(c->local_path);
        pitr_free(c->key);
    }
    pitr_free(r->v);
    pitr_free(r);
}
