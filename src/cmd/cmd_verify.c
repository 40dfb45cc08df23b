/* cmd_verify.c - the check-archive and verify commands. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/catalog/checkarchive.h"
#include "pgpitr/catalog/verify.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

/*
 * barman-cloud's exit codes for check-wal-archive: 1 the operation ran and
 * failed (the archive is not usable), 2 the endpoint cannot be reached,
 * 3 bad arguments, 4 anything else.
 */
static int barman_exit(pitr_rc rc)
{
    if (rc == PITR_OK || rc == PITR_ENETWORK || rc == PITR_EUSAGE)
        return rc;
    return PITR_EGENERAL;
}

/* "REPO_URL SERVER" positionals (barman-cloud's form) replace repo and server. */
static int repo_and_server(const char *cmd, struct pitr_config *cfg, char **pos, int *npos)
{
    struct pitr_err rerr = { 0 };

    if (*npos >= 2 && strstr(pos[0], "://") != NULL) {
        cfg->repo = pos[0];
        cfg->server = pos[1];
        memmove(pos, pos + 2, (size_t)(*npos - 2) * sizeof(*pos));
        *npos -= 2;
    }
    if (pitr_config_require_repo(cfg, &rerr) != PITR_OK) {
        pitr_log_error("%s: %s", cmd, rerr.msg);
        return PITR_EUSAGE;
    }
    return PITR_OK;
}

int pitr_cmd_check_archive(const struct pitr_config *cfg_in, int argc, char **argv)
{
    const char *tli_arg = NULL;
    const struct pitr_opt opts[] = {
        { "timeline", 0, 1, &tli_arg, NULL, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    struct pitr_config cfg = *cfg_in; /* shallow copy; owns nothing */
    struct pitr_storage *st = NULL;
    struct pitr_checkarchive c;
    struct pitr_err err = { 0 };
    unsigned long tli = 0;
    int npos = 0, unusable = 0, rc;

    rc = pitr_args_parse(
      "check-archive", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    rc = repo_and_server("check-archive", &cfg, pos, &npos);
    if (rc != PITR_OK)
        goto out;
    if (npos != 0) {
        pitr_log_error("check-archive: unexpected argument '%s'; expected [REPO_URL SERVER] "
                       "[--timeline N]",
                       pos[0]);
        rc = PITR_EUSAGE;
        goto out;
    }
    if (tli_arg != NULL) {
        char *end;

        errno = 0;
        tli = strtoul(tli_arg, &end, 10);
        if (errno != 0 || end == tli_arg || *end != '\0' || tli < 1 || tli > 0xffffffffUL) {
            pitr_log_error("check-archive: option '--timeline' needs a positive timeline "
                           "number, not '%s'",
                           tli_arg);
            rc = PITR_EUSAGE;
            goto out;
        }
    }
    rc = pitr_storage_open(&cfg, &st, &err);
    if (rc != PITR_OK) {
        pitr_log_error("check-archive: %s", err.msg);
        goto out;
    }
    pitr_checkarchive_init(&c, (uint32_t)tli);
    rc = pitr_checkarchive_run(st, cfg.server, &c, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    if (pitr_checkarchive_usable(&c)) {
        pitr_log_info("check-archive: the WAL archive of server '%s' in '%s' is usable "
                      "(%zu WAL file(s), none offending)",
                      cfg.server,
                      cfg.repo,
                      c.wal_files);
        goto out;
    }
    if (tli == 0)
        pitr_log_error("check-archive: expected an empty WAL archive for server '%s' in '%s', "
                       "found %zu WAL file(s), the first '%s'. HINT: is another cluster "
                       "archiving into the same repository and server name?",
                       cfg.server,
                       cfg.repo,
                       c.offending,
                       c.first);
    else
        pitr_log_error("check-archive: found %zu file(s) in the WAL archive of server '%s' in "
                       "'%s' equal to or newer than timeline %lu (up to timeline %u), the "
                       "first '%s'",
                       c.offending,
                       cfg.server,
                       cfg.repo,
                       tli,
                       c.max_tli,
                       c.first);
    unusable = 1;
out:
    pitr_free(pos);
    pitr_storage_free(st);
    /* barman-cloud-check-wal-archive exits 1 when the archive is not usable */
    return unusable ? 1 : barman_exit(rc);
}

static void print_console(const struct pitr_verify_report *r, const char *server)
{
    for (size_t i = 0; i < r->n; i++)
        printf("%s %s: %s: %s\n",
               r->v[i].backup_id ? "backup" : "WAL",
               r->v[i].backup_id ? r->v[i].backup_id : "archive",
               r->v[i].object,
               r->v[i].what);
    printf("verify %s: %zu backup(s) checked (%zu not DONE, skipped), %zu object(s), %" PRIu64
           " byte(s) hashed, %zu WAL segment(s): %s (%zu problem(s))\n",
           server,
           r->backups_checked,
           r->backups_skipped,
           r->objects_checked,
           r->bytes_hashed,
           r->wal_segments_checked,
           r->n == 0 ? "OK" : "DAMAGED",
           r->n);
}

static void print_json(const struct pitr_verify_report *r, const char *server)
{
    json_t *root, *probs = json_array();
    char *text;

    json_set_alloc_funcs(pitr_malloc, pitr_free);
    root = json_object();
    json_object_set_new(root, "server", json_string(server));
    json_object_set_new(root, "ok", json_boolean(r->n == 0));
    json_object_set_new(root, "backups_checked", json_integer((json_int_t)r->backups_checked));
    json_object_set_new(root, "backups_skipped", json_integer((json_int_t)r->backups_skipped));
    json_object_set_new(root, "objects_checked", json_integer((json_int_t)r->objects_checked));
    json_object_set_new(root, "bytes_hashed", json_integer((json_int_t)r->bytes_hashed));
    json_object_set_new(
      root, "wal_segments_checked", json_integer((json_int_t)r->wal_segments_checked));
    for (size_t i = 0; i < r->n; i++) {
        json_t *p = json_object();

        json_object_set_new(
          p, "backup_id", r->v[i].backup_id ? json_string(r->v[i].backup_id) : json_null());
        json_object_set_new(p, "object", json_string(r->v[i].object));
        json_object_set_new(p, "problem", json_string(r->v[i].what));
        json_array_append_new(probs, p);
    }
    json_object_set_new(root, "problems", probs);
    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text != NULL) {
        printf("%s\n", text);
        pitr_free(text);
    }
}

int pitr_cmd_verify(const struct pitr_config *cfg_in, int argc, char **argv)
{
    const char *format = NULL;
    int full = 0, npos = 0, damaged = 0, rc;
    const struct pitr_opt opts[] = {
        { "format", 0, 1, &format, NULL, NULL },
        { "full", 0, 0, NULL, &full, NULL },
    };
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    struct pitr_config cfg = *cfg_in; /* shallow copy; owns nothing */
    struct pitr_storage *st = NULL;
    struct pitr_verify_opts o = { 0 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };

    pitr_verify_report_init(&r);
    rc =
      pitr_args_parse("verify", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, &npos, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s", err.msg);
        goto out;
    }
    rc = repo_and_server("verify", &cfg, pos, &npos);
    if (rc != PITR_OK)
        goto out;
    if (npos > 1 ||
        (format != NULL && strcmp(format, "console") != 0 && strcmp(format, "json") != 0)) {
        pitr_log_error("verify: expected [ID|all] [--full] [--format console|json]; see 'pgpitr "
                       "help verify'");
        rc = PITR_EUSAGE;
        goto out;
    }
    o.id = npos == 1 ? pos[0] : NULL;
    o.full = full > 0;
    rc = pitr_storage_open(&cfg, &st, &err);
    if (rc == PITR_OK)
        rc = pitr_verify_run(st, cfg.server, &o, &r, &err);
    if (rc != PITR_OK) {
        pitr_log_error("verify: %s", err.msg);
        goto out;
    }
    if (format != NULL && strcmp(format, "json") == 0)
        print_json(&r, cfg.server);
    else
        print_console(&r, cfg.server);
    damaged = r.n > 0;
out:
    pitr_verify_report_release(&r);
    pitr_free(pos);
    pitr_storage_free(st);
    /* 1, as barman-cloud's "the operation ran and failed": something is damaged */
    return damaged ? 1 : rc;
}
