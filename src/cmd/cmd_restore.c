/* cmd_restore.c - the restore command: options, restore_command, summary. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/restore/restore.h"

/* Append a shell word: bare when it is made of safe characters, else '...'. */
static pitr_rc shell_word(struct pitr_buf *b, const char *s, struct pitr_err *err)
{
    pitr_rc rc;

    if (s[0] != '\0' && strspn(s,
                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "/._:=@+,-") == strlen(s))
        return pitr_buf_appendf(b, err, " %s", s);
    rc = pitr_buf_append_str(b, " '", err);
    for (const char *p = s; rc == PITR_OK && *p; p++)
        rc = *p == '\'' ? pitr_buf_append_str(b, "'\\''", err) : pitr_buf_append(b, p, 1, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(b, "'", err);
    return rc;
}

static pitr_rc flag(struct pitr_buf *b, const char *name, const char *v, struct pitr_err *err)
{
    pitr_rc rc;

    if (v == NULL)
        return PITR_OK;
    rc = pitr_buf_appendf(b, err, " --%s", name);
    return rc == PITR_OK ? shell_word(b, v, err) : rc;
}

/* This binary and, when a file was read, --config FILE. */
static pitr_rc this_binary(const struct pitr_config *cfg, struct pitr_buf *b, struct pitr_err *err)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    pitr_rc rc;

    if (n <= 0)
        return pitr_err_set_errno(err, PITR_EIO, errno, "cannot read '/proc/self/exe'");
    exe[n] = '\0';
    rc = shell_word(b, exe, err);
    if (rc == PITR_OK)
        rc = flag(b, "config", cfg->config_file, err);
    return rc;
}

/* This binary, the repository settings (never secrets), wal-fetch %f %p. */
static pitr_rc build_restore_command(const struct pitr_config *cfg,
                                     struct pitr_buf *b,
                                     struct pitr_err *err)
{
    int s3 = cfg->repo != NULL && strncmp(cfg->repo, "s3://", 5) == 0;
    pitr_rc rc = this_binary(cfg, b, err);

    if (rc == PITR_OK)
        rc = flag(b, "repo", cfg->repo, err);
    if (rc == PITR_OK)
        rc = flag(b, "server", cfg->server, err);
    if (rc == PITR_OK && s3) {
        rc = flag(b, "endpoint-url", cfg->endpoint_url, err);
        if (rc == PITR_OK)
            rc = flag(b, "region", cfg->region, err);
        if (rc == PITR_OK)
            rc = flag(b, "ca-file", cfg->ca_file, err);
        if (rc == PITR_OK && cfg->url_style != PITR_URL_STYLE_AUTO)
            rc = flag(
              b, "s3-url-style", cfg->url_style == PITR_URL_STYLE_PATH ? "path" : "virtual", err);
        if (rc == PITR_OK && cfg->insecure_skip_tls)
            rc = pitr_buf_append_str(b, " --insecure-skip-tls-verify", err);
    }
    /* The default needs no flag; any other depth (0: off) travels along. */
    if (rc == PITR_OK && cfg->prefetch != PITR_PREFETCH_DEFAULT)
        rc = pitr_buf_appendf(b, err, " --prefetch %d", cfg->prefetch);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(b, " wal-fetch %f %p", err);
    return rc;
}

/* Runs in the data directory when recovery ends: drop wal-fetch's prefetch spool. */
static pitr_rc build_recovery_end_command(const struct pitr_config *cfg,
                                          struct pitr_buf *b,
                                          struct pitr_err *err)
{
    pitr_rc rc = this_binary(cfg, b, err);

    if (rc == PITR_OK)
        rc = pitr_buf_append_str(b, " wal-fetch --clean-spool", err);
    return rc;
}

int pitr_cmd_restore(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *t_time = NULL, *t_xid = NULL, *t_lsn = NULL, *t_name = NULL, *t_tli = NULL;
    const char *action = NULL, *jobs = NULL, *tbs[64];
    int immediate = 0, exclusive = 0, standby = 0, ntbs_set = 0, npos = 0, no_conf = 0, rc;
    const struct pitr_opt opts[] = {
        { "target-time", 0, 1, &t_time, NULL, NULL },
        { "target-xid", 0, 1, &t_xid, NULL, NULL },
        { "target-lsn", 0, 1, &t_lsn, NULL, NULL },
        { "target-name", 0, 1, &t_name, NULL, NULL },
        { "target-immediate", 0, 0, NULL, &immediate, NULL },
        { "target-tli", 0, 1, &t_tli, NULL, NULL },
        { "target-action", 0, 1, &action, NULL, NULL },
        { "exclusive", 0, 0, NULL, &exclusive, NULL },
        { "standby", 0, 0, NULL, &standby, NULL },
        { "tablespace", 0, 1, &tbs[0], &ntbs_set, NULL },
        { "jobs", 'J', 1, &jobs, NULL, NULL },
        { "no-recovery-conf", 0, 0, NULL, &no_conf, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    struct pitr_restore_remap remaps[64];
    size_t nremaps = 0;
    struct pitr_restore_opts o;
    struct pitr_restore_result res;
    struct pitr_buf cmd, end_cmd;
    struct pitr_err err = { 0 };

    pitr_buf_init(&cmd, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&end_cmd, PITR_BUF_LIMIT_SMALL);
    memset(&o, 0, sizeof(o));
    /* --tablespace may repeat: collect every occurrence before the parser sees the rest. */
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        char *colon, *end;
        unsigned long oid;

        if (argv[i] == NULL)
            break;
        if (strcmp(argv[i], "--tablespace") == 0 && i + 1 < argc)
            v = argv[i + 1];
        else if (strncmp(argv[i], "--tablespace=", 13) == 0)
            v = argv[i] + 13;
        if (v == NULL)
            continue;
        colon = strchr(v, ':');
        errno = 0;
        oid = strtoul(v, &end, 10);
        if (colon == NULL || end != colon || end == v || errno != 0 || oid == 0 ||
            oid > 0xffffffffUL || nremaps >= 64) {
            pitr_log_error("restore: --tablespace '%s': expected OID:DIR", v);
            rc = PITR_EUSAGE;
            goto out;
        }
        remaps[nremaps].oid = (uint32_t)oid;
        remaps[nremaps].dir = colon + 1;
        nremaps++;
    }
    rc = pitr_args_parse(
      "restore", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    if (npos == 1) {
        o.backup_id = "latest";
        o.pgdata = pos[0];
    } else if (npos == 2) {
        o.backup_id = pos[0];
        o.pgdata = pos[1];
    } else {
        pitr_log_error("restore: expected [BACKUP_ID|latest] PGDATA; see 'pgpitr help restore'");
        rc = PITR_EUSAGE;
        goto out;
    }
    if (pitr_config_require_repo(cfg, &err) != PITR_OK) {
        pitr_log_error("restore: %s", err.msg);
        rc = PITR_EUSAGE;
        goto out;
    }
    o.jobs = cfg->jobs > 0 ? cfg->jobs : 2;
    if (jobs != NULL) {
        char *end;
        long n;
        errno = 0;
        n = strtol(jobs, &end, 10);
        if (errno != 0 || end == jobs || *end != '\0' || n < 1 || n > 64) {
            pitr_log_error("restore: option '--jobs' needs a number from 1 to 64, not '%s'", jobs);
            rc = PITR_EUSAGE;
            goto out;
        }
        o.jobs = (int)n;
    }
    rc = build_restore_command(cfg, &cmd, &err);
    if (rc == PITR_OK)
        rc = build_recovery_end_command(cfg, &end_cmd, &err);
    if (rc != PITR_OK) {
        pitr_log_error("restore: %s", err.msg);
        goto out;
    }
    o.cfg = cfg;
    o.target_time = t_time;
    o.target_xid = t_xid;
    o.target_lsn = t_lsn;
    o.target_name = t_name;
    o.target_immediate = immediate > 0;
    o.target_tli = t_tli;
    o.target_action = action;
    o.exclusive = exclusive > 0;
    o.standby = standby > 0;
    o.remaps = remaps;
    o.nremaps = nremaps;
    o.progress = isatty(STDERR_FILENO);
    o.restore_command = cmd.data + 1;          /* skip the leading space */
    o.recovery_end_command = end_cmd.data + 1; /* likewise */
    if (no_conf) {
        /* as barman-cloud-restore: the caller (CloudNativePG) configures recovery */
        if (t_time || t_xid || t_lsn || t_name || immediate || t_tli || action || standby) {
            pitr_log_error("restore: --no-recovery-conf writes no recovery settings; it "
                           "excludes the --target-* options and --standby");
            rc = PITR_EUSAGE;
            goto out;
        }
        o.restore_command = NULL;
        o.recovery_end_command = NULL;
    }

    rc = pitr_restore_run(&o, &res, &err);
    if (rc != PITR_OK) {
        pitr_log_error("restore: %s", err.msg);
        goto out;
    }
    printf("restored backup %s (ended %s) into %s: %zu volume(s)",
           res.backup_id,
           res.end_time,
           o.pgdata,
           res.volumes);
    if (res.files_checked > 0)
        printf(", %zu files checked against the manifest", res.files_checked);
    if (res.wal_ahead > 0)
        printf(", %zu WAL segment(s) fetched ahead for recovery", res.wal_ahead);
    if (no_conf)
        printf("\nno recovery settings written (--no-recovery-conf)\n");
    else
        printf("\nrecovery target: %s; %s created\n",
               res.target,
               o.standby ? "standby.signal" : "recovery.signal");
out:
    pitr_buf_release(&cmd);
    pitr_buf_release(&end_cmd);
    pitr_free(pos);
    return rc;
}
