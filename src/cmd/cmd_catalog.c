/* cmd_catalog.c - the list, show, keep, delete and retention commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/catalog/retention.h"
#include "pgpitr/catalog/show.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

/*
 * What every catalog command does first: parse its options, take barman's
 * "SOURCE_URL SERVER_NAME" positionals when there are nargs + 2 of them,
 * check the server name and open the repository. cfg is a shallow copy of
 * the caller's (owns nothing); *args points into argv.
 */
struct setup {
    const char *cmd;
    struct pitr_config cfg;
    struct pitr_storage *st; /* owned */
    char **pos;              /* owned array, entries borrowed */
    int npos;
    char **args; /* the command's own positionals (after URL and server) */
};

static int setup_cmd(struct setup *s,
                     const char *cmd,
                     const struct pitr_config *cfg_in,
                     int argc,
                     char **argv,
                     const struct pitr_opt *opts,
                     size_t nopts,
                     int min_args,
                     int max_args,
                     const char *usage)
{
    struct pitr_err err = { 0 };
    int nargs;
    pitr_rc rc;

    memset(s, 0, sizeof(*s));
    s->cmd = cmd;
    s->cfg = *cfg_in;
    s->pos = pitr_calloc((size_t)argc + 1, sizeof(*s->pos));
    rc = pitr_args_parse(cmd, argc, argv, opts, nopts, s->pos, &s->npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        return rc;
    }
    nargs = s->npos;
    s->args = s->pos;
    if (nargs >= min_args + 2 && nargs <= max_args + 2) {
        s->cfg.repo = s->pos[0];
        s->cfg.server = s->pos[1];
        s->args += 2;
        nargs -= 2;
    }
    if (nargs < min_args || nargs > max_args) {
        pitr_log_error("%s: expected %s; see 'pgpitr help %s'", cmd, usage, cmd);
        return PITR_EUSAGE;
    }
    s->npos = nargs;
    if (pitr_config_require_repo(&s->cfg, &err) != PITR_OK) {
        pitr_log_error("%s: %s", cmd, err.msg);
        return PITR_EUSAGE;
    }
    rc = pitr_storage_open(&s->cfg, &s->st, &err);
    if (rc != PITR_OK)
        pitr_log_error("%s: %s", cmd, err.msg);
    return rc;
}

static void setup_release(struct setup *s)
{
    pitr_storage_free(s->st);
    pitr_free(s->pos);
}

static int want_json(const char *cmd, const char *format, int *json)
{
    /* barman: any value other than "console" selects JSON */
    *json = format != NULL && strcmp(format, "console") != 0;
    if (format != NULL && *json && strcmp(format, "json") != 0)
        pitr_log_warn(
          "%s: --format '%s' is not console: printing JSON as barman does", cmd, format);
    return PITR_OK;
}

static int print_buf(struct pitr_buf *b)
{
    fwrite(b->data, 1, b->len, stdout);
    return fflush(stdout) == 0 ? PITR_OK : PITR_EIO;
}

int pitr_cmd_list(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *format = NULL;
    const struct pitr_opt opts[] = { { "format", 0, 1, &format, NULL, NULL } };
    struct setup s;
    struct pitr_cat_backup *v = NULL;
    size_t n = 0;
    struct pitr_buf out;
    struct pitr_err err = { 0 };
    int json = 0, rc;

    pitr_buf_init(&out, (size_t)256 * 1024 * 1024);
    rc =
      setup_cmd(&s, "list", cfg, argc, argv, opts, 1, 0, 0, "no arguments, or SOURCE_URL SERVER");
    if (rc == PITR_OK)
        rc = want_json("list", format, &json);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_cat_load(s.st, s.cfg.server, &v, &n, &err);
    if (rc == PITR_OK)
        rc = json ? pitr_cat_list_json(v, n, &out, &err) : pitr_cat_list_console(v, n, &out, &err);
    if (rc == PITR_OK)
        rc = print_buf(&out);
    else
        pitr_log_error("list '%s': %s", s.cfg.server, err.msg);
out:
    pitr_cat_list_release(v, n);
    pitr_buf_release(&out);
    setup_release(&s);
    return rc;
}

int pitr_cmd_show(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *format = NULL;
    const struct pitr_opt opts[] = { { "format", 0, 1, &format, NULL, NULL } };
    struct setup s;
    struct pitr_cat_backup *v = NULL;
    size_t n = 0, idx = 0;
    struct pitr_buf out;
    struct pitr_err err = { 0 };
    int json = 0, rc;

    pitr_buf_init(&out, (size_t)16 * 1024 * 1024);
    rc = setup_cmd(&s, "show", cfg, argc, argv, opts, 1, 1, 1, "BACKUP_ID (or name, or latest)");
    if (rc == PITR_OK)
        rc = want_json("show", format, &json);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_cat_load(s.st, s.cfg.server, &v, &n, &err);
    if (rc == PITR_OK)
        rc = pitr_ret_resolve(v, n, s.args[0], &idx, &err);
    if (rc == PITR_OK)
        rc = json ? pitr_cat_show_json(&v[idx], &out, &err)
                  : pitr_cat_show_console(&v[idx], &out, &err);
    if (rc == PITR_OK)
        rc = print_buf(&out);
    else
        pitr_log_error("show '%s': %s", s.args[0], err.msg);
out:
    pitr_cat_list_release(v, n);
    pitr_buf_release(&out);
    setup_release(&s);
    return rc;
}

int pitr_cmd_keep(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *target = NULL;
    int release = 0, status = 0, rc;
    const struct pitr_opt opts[] = {
        { "target", 0, 1, &target, NULL, NULL },
        { "release", 'r', 0, NULL, &release, NULL },
        { "status", 's', 0, NULL, &status, NULL },
    };
    struct setup s;
    struct pitr_cat_backup *v = NULL;
    size_t n = 0, idx = 0;
    struct pitr_err err = { 0 };
    char *key = NULL;

    rc = setup_cmd(&s, "keep", cfg, argc, argv, opts, 3, 1, 1, "BACKUP_ID (or name)");
    if (rc != PITR_OK)
        goto out;
    if ((target != NULL) + (release != 0) + (status != 0) != 1) {
        pitr_log_error("keep: give exactly one of --target full|standalone, --release, --status");
        rc = PITR_EUSAGE;
        goto out;
    }
    if (target != NULL && strcmp(target, "full") != 0 && strcmp(target, "standalone") != 0) {
        pitr_log_error("keep: invalid --target '%s': expected full or standalone", target);
        rc = PITR_EUSAGE;
        goto out;
    }
    rc = pitr_cat_load(s.st, s.cfg.server, &v, &n, &err);
    if (rc == PITR_OK)
        rc = pitr_ret_resolve(v, n, s.args[0], &idx, &err);
    if (rc == PITR_ENOTFOUND)
        rc = PITR_EGENERAL; /* barman-cloud-backup-keep: 4 for an unknown backup */
    if (rc != PITR_OK)
        goto fail;
    key = pitr_asprintf("%s/base/%s/annotations/keep", s.cfg.server, v[idx].id);
    if (status) {
        enum pitr_cat_keep k;

        rc = pitr_cat_read_keep(s.st, s.cfg.server, v[idx].id, &k, &err);
        if (rc == PITR_OK)
            printf("Keep: %s\n", pitr_cat_keep_name(k));
    } else if (release) {
        const char *keys[1] = { key };

        rc = pitr_storage_remove_many(s.st, keys, 1, &err);
    } else {
        if (v[idx].status == NULL || strcmp(v[idx].status, "DONE") != 0) {
            rc = pitr_err_set(&err,
                              PITR_ENOTFOUND,
                              "backup '%s' has status %s: only DONE backups can be kept",
                              v[idx].id,
                              v[idx].status ? v[idx].status : "None");
            goto fail;
        }
        rc = pitr_storage_put(s.st, key, target, strlen(target), &err);
    }
fail:
    if (rc != PITR_OK)
        pitr_log_error("keep '%s': %s", s.args[0], err.msg);
out:
    pitr_free(key);
    pitr_cat_list_release(v, n);
    setup_release(&s);
    return rc;
}

static int parse_uint(const char *cmd, const char *name, const char *v, unsigned *out)
{
    char *end;
    long x;

    if (v == NULL)
        return PITR_OK;
    x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < 0 || x > 100000) {
        pitr_log_error("%s: invalid --%s '%s': expected a number from 0 to 100000", cmd, name, v);
        return PITR_EUSAGE;
    }
    *out = (unsigned)x;
    return PITR_OK;
}

static int64_t now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int run_retention(struct setup *s,
                         const char *policy,
                         const char *min_red,
                         const char *now,
                         int dry_run)
{
    struct pitr_ret_policy p;
    struct pitr_ret_result res;
    struct pitr_err err = { 0 };
    unsigned minimum = 0;
    int64_t t = now_us();
    int rc;

    if (policy == NULL)
        policy = s->cfg.retention_policy;
    if (policy == NULL) {
        pitr_log_error("%s: no policy: give --policy P or set retention-policy in the config file",
                       s->cmd);
        return PITR_EUSAGE;
    }
    rc = pitr_ret_parse_policy(policy, &p, &err);
    if (rc == PITR_OK && now != NULL)
        rc = pitr_cat_parse_time(now, &t, NULL, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s: %s", s->cmd, err.msg);
        return rc;
    }
    rc = parse_uint(s->cmd, "minimum-redundancy", min_red, &minimum);
    if (rc != PITR_OK)
        return rc;
    rc = pitr_ret_apply(s->st, s->cfg.server, &p, minimum, t, dry_run, stdout, &res, &err);
    fflush(stdout);
    if (rc != PITR_OK)
        pitr_log_error("%s '%s': %s", s->cmd, s->cfg.server, err.msg);
    return rc;
}

int pitr_cmd_retention(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *policy = NULL, *policy2 = NULL, *min_red = NULL, *now = NULL;
    int dry_run = 0, rc;
    const struct pitr_opt opts[] = {
        { "policy", 'p', 1, &policy, NULL, NULL },
        { "retention-policy", 'r', 1, &policy2, NULL, NULL },
        { "minimum-redundancy", 'm', 1, &min_red, NULL, NULL },
        { "now", 0, 1, &now, NULL, NULL },
        { "dry-run", 0, 0, NULL, &dry_run, NULL },
    };
    struct setup s;

    rc = setup_cmd(&s,
                   "retention",
                   cfg,
                   argc,
                   argv,
                   opts,
                   sizeof(opts) / sizeof(opts[0]),
                   0,
                   0,
                   "no arguments, or SOURCE_URL SERVER");
    if (rc == PITR_OK)
        rc = run_retention(&s, policy ? policy : policy2, min_red, now, dry_run);
    setup_release(&s);
    return rc;
}

int pitr_cmd_delete(const struct pitr_config *cfg, int argc, char **argv)
{
    const char *id = NULL, *policy = NULL, *min_red = NULL, *batch = NULL;
    int dry_run = 0, rc;
    const struct pitr_opt opts[] = {
        { "backup-id", 'b', 1, &id, NULL, NULL },
        { "retention-policy", 'r', 1, &policy, NULL, NULL },
        { "minimum-redundancy", 'm', 1, &min_red, NULL, NULL },
        { "batch-size", 0, 1, &batch, NULL, NULL },
        { "dry-run", 0, 0, NULL, &dry_run, NULL },
    };
    struct setup s;
    struct pitr_ret_result res;
    struct pitr_err err = { 0 };

    rc = setup_cmd(&s,
                   "delete",
                   cfg,
                   argc,
                   argv,
                   opts,
                   sizeof(opts) / sizeof(opts[0]),
                   0,
                   1,
                   "BACKUP_ID (or name), or -b ID, or -r POLICY");
    if (rc != PITR_OK)
        goto out;
    /* -b and -r are only known once parsed: check the positional count now */
    if ((id || policy) ? s.npos != 0 : s.npos != 1) {
        pitr_log_error("delete: expected %s; see 'pgpitr help delete'",
                       (id || policy) ? "no BACKUP_ID with -b or -r" : "BACKUP_ID (or name)");
        rc = PITR_EUSAGE;
        goto out;
    }
    if (id != NULL && policy != NULL) {
        pitr_log_error("delete: -b/--backup-id and -r/--retention-policy exclude each other");
        rc = PITR_EUSAGE;
        goto out;
    }
    if (batch != NULL)
        pitr_log_info("delete: --batch-size is accepted for barman compatibility; the S3 "
                      "driver deletes 1000 keys a request");
    if (policy != NULL) {
        rc = run_retention(&s, policy, min_red, NULL, dry_run);
        goto out;
    }
    if (id == NULL)
        id = s.args[0];
    rc = pitr_ret_delete_one(s.st, s.cfg.server, id, dry_run, stdout, &res, &err);
    fflush(stdout);
    if (rc != PITR_OK)
        pitr_log_error("delete '%s': %s", id, err.msg);
    else
        pitr_log_info("delete '%s': %zu object(s) and %zu WAL file(s) %s",
                      id,
                      res.objects_removed,
                      res.wals_removed,
                      dry_run ? "would be removed" : "removed");
out:
    setup_release(&s);
    return rc;
}
