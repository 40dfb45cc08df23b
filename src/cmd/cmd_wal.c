/* cmd_wal.c - the wal-push and wal-fetch commands. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pgpitr/archive/archive.h"
#include "pgpitr/archive/prefetch.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/clock.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/pushstats.h"
#include "pgpitr/wal/wal.h"

/*
 * barman-cloud takes "REPO_URL SERVER" before its own positionals; accept
 * that form too, so existing archive_command lines keep working.
 */
static int take_repo_positionals(const char *cmd,
                                 struct pitr_config *cfg,
                                 int *argc,
                                 char ***argv,
                                 int want,
                                 const struct pitr_opt *opts,
                                 size_t nopts)
{
    struct pitr_err perr = { 0 };
    int npos = 0;

    if (pitr_args_parse(cmd, *argc, *argv, opts, nopts, *argv, &npos, &perr) != PITR_OK) {
        pitr_log_error("%s", perr.msg);
        return PITR_EUSAGE;
    }
    *argc = npos;
    if (*argc == want + 2) {
        struct pitr_err err = { 0 };

        if (pitr_config_set(cfg, "repo", (*argv)[0], &err) != PITR_OK ||
            pitr_config_set(cfg, "server", (*argv)[1], &err) != PITR_OK)
            return PITR_EUSAGE;
        *argc -= 2;
        *argv += 2;
    }
    if (*argc != want) {
        pitr_log_error("%s: expected %s; see 'pgpitr help %s'",
                       cmd,
                       want == 1   ? "one WAL_PATH argument"
                       : want == 0 ? "no argument with --clean-spool"
                                   : "WAL_NAME and DEST_PATH",
                       cmd);
        return PITR_EUSAGE;
    }
    return PITR_OK;
}

static int open_repo(const char *cmd, const struct pitr_config *cfg, struct pitr_storage **st)
{
    struct pitr_err err = { 0 };
    pitr_rc rc;

    if (pitr_config_check_server(cfg->server, &err) != PITR_OK) {
        pitr_log_error("%s: %s", cmd, err.msg);
        return PITR_EUSAGE;
    }
    rc = pitr_storage_open(cfg, st, &err);
    if (rc != PITR_OK)
        pitr_log_error("%s: %s", cmd, err.msg);
    return rc;
}

static double mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * metrics: add this push to the stats file (config stats-file, "off", or
 * by default pg_wal/pgpitr_spool/pushstats when path is in a pg_wal
 * folder). Never fails the push: a problem is a warning.
 */
static void record_stats(const struct pitr_config *cfg,
                         const char *path,
                         int rc,
                         enum pitr_push_outcome outcome,
                         double seconds)
{
    struct pitr_err err = { 0 };
    enum pitr_push_result r = PITR_PUSHSTAT_ERROR;
    const char *base = strrchr(path, '/');
    char *file = NULL, *waldir = NULL, *status = NULL;
    struct stat sb;

    if (cfg->stats_file != NULL && strcmp(cfg->stats_file, "off") == 0)
        return;
    if (cfg->stats_file != NULL) {
        file = pitr_strdup(cfg->stats_file);
    } else {
        waldir = pitr_strdup(base != NULL ? path : ".");
        if (base != NULL)
            waldir[base - path] = '\0';
        status = pitr_asprintf("%s/archive_status", waldir);
        if (stat(status, &sb) == 0 && S_ISDIR(sb.st_mode))
            file = pitr_pushstats_default_path(waldir);
    }
    if (file == NULL)
        goto out;
    if (rc == PITR_OK)
        r = outcome == PITR_PUSH_IDENTICAL ? PITR_PUSHSTAT_IDENTICAL : PITR_PUSHSTAT_OK;
    if (pitr_pushstats_record(
          file, r, seconds, base != NULL ? base + 1 : path, (int64_t)time(NULL), &err) != PITR_OK)
        pitr_log_warn("wal-push: counters not updated: %s", err.msg);
out:
    pitr_free(file);
    pitr_free(waldir);
    pitr_free(status);
}

int pitr_cmd_wal_push(const struct pitr_config *cfg_in, int argc, char **argv)
{
    double t0 = mono_seconds();
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_push_batch_opts o = { 0 };
    struct pitr_err err = { 0 };
    enum pitr_push_outcome outcome = PITR_PUSH_STORED;
    int rc, have_path = 0;
    int64_t tp;

    /* Since main(): the configuration file, the environment, the arguments. */
    pitr_log_debug("timing: config %.3f ms", pitr_clock_ms_since_start());
    pitr_config_copy(&cfg, cfg_in);
    rc = take_repo_positionals("wal-push", &cfg, &argc, &argv, 1, NULL, 0);
    if (rc != PITR_OK)
        goto out;
    have_path = 1;
    rc = pitr_codec_from_name(cfg.compression, &o.push.codec, &err);
    if (rc != PITR_OK) {
        pitr_log_error("wal-push: %s", err.msg);
        goto out;
    }
    /* Fail early on a bad repository; workers open their own handles. */
    tp = pitr_clock_ns();
    rc = open_repo("wal-push", &cfg, &st);
    if (rc != PITR_OK)
        goto out;
    pitr_log_debug("timing: open-repo %.3f ms", pitr_clock_ms_since(tp));
    o.push.server = cfg.server;
    o.look_ahead = cfg.look_ahead;
    o.jobs = cfg.jobs;
    o.push.threads = cfg.jobs;
    tp = pitr_clock_ns();
    rc = pitr_wal_push_batch(&cfg, &o, argv[0], &outcome, &err);
    if (rc != PITR_OK)
        pitr_log_error("wal-push '%s': %s", argv[0], err.msg);
    pitr_log_debug("timing: push %.3f ms", pitr_clock_ms_since(tp));
out:
    tp = pitr_clock_ns();
    if (have_path)
        record_stats(&cfg, argv[0], rc, outcome, mono_seconds() - t0); /* metrics */
    pitr_log_debug("timing: stats-marker %.3f ms", pitr_clock_ms_since(tp));
    tp = pitr_clock_ns();
    pitr_storage_free(st);
    pitr_config_release(&cfg);
    pitr_log_debug("timing: close %.3f ms", pitr_clock_ms_since(tp));
    pitr_log_debug("timing: total %.3f ms", pitr_clock_ms_since_start());
    return rc;
}

/* recovery_end_command: stop the prefetch worker, remove the spool. */
static int clean_spool(const char *spool_dir)
{
    struct pitr_err err = { 0 };
    char *spool = spool_dir ? pitr_strdup(spool_dir) : pitr_strdup("pg_wal/" PITR_PREFETCH_DIR);
    int rc = pitr_prefetch_clean(spool, PITR_PREFETCH_CLEAN_MS, &err);

    if (rc != PITR_OK)
        pitr_log_error("wal-fetch --clean-spool: %s", err.msg);
    pitr_free(spool);
    return rc;
}

/* A WAL segment's name (not history, .partial or .backup). */
static int is_segment_name(const char *name)
{
    struct pitr_wal_name wn;
    struct pitr_err err = { 0 };

    return pitr_wal_parse_name(name, &wn, &err) == PITR_OK && wn.kind == PITR_WAL_SEGMENT;
}

int pitr_cmd_wal_fetch(const struct pitr_config *cfg_in, int argc, char **argv)
{
    const char *spool_dir = NULL;
    int clean = 0, want = 2;
    const struct pitr_opt opts[] = {
        { "spool-dir", 0, 1, &spool_dir, NULL, NULL },
        { "clean-spool", 0, 0, NULL, &clean, NULL },
    };
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_prefetch_opts po = { 0 };
    enum pitr_fetch_source src;
    struct pitr_err err = { 0 };
    char *spool = NULL, *pgdata = NULL;
    int rc;

    pitr_config_copy(&cfg, cfg_in);
    /* --clean-spool takes no positionals; the parser counts it in clean. */
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--clean-spool") == 0)
            want = 0;
    rc = take_repo_positionals(
      "wal-fetch", &cfg, &argc, &argv, want, opts, sizeof(opts) / sizeof(opts[0]));
    if (rc != PITR_OK)
        goto out;
    if (clean) {
        rc = clean_spool(spool_dir);
        goto out;
    }
    rc = open_repo("wal-fetch", &cfg, &st);
    if (rc != PITR_OK)
        goto out;
    /* The spool: --spool-dir, else pg_wal/pgpitr_prefetch when DEST is in a data directory. */
    if (cfg.prefetch > 0)
        spool = spool_dir ? pitr_strdup(spool_dir) : pitr_prefetch_spool_for(argv[1], &pgdata);
    if (spool == NULL) {
        rc = pitr_wal_fetch(st, cfg.server, argv[0], argv[1], &err);
    } else {
        po.cfg = &cfg;
        po.server = cfg.server;
        po.spool = spool;
        po.pgdata = pgdata;
        po.depth = cfg.prefetch;
        po.jobs = cfg.jobs > 0 ? cfg.jobs : 2;
        po.miss_ttl = PITR_PREFETCH_MISS_TTL;
        po.wait_ms = PITR_PREFETCH_WAIT_MS;
        po.detach = 1;
        rc = pitr_wal_fetch_prefetch(st, &po, argv[0], argv[1], &src, &err);
    }
    if (rc == PITR_ENOTFOUND) {
        struct pitr_wal_name wn;
        struct pitr_err perr = { 0 };

        /*
         * A missing segment is worth a line in PostgreSQL's log at the
         * default level: it is where recovery stops (at a gap, too). Asking
         * for history files that do not exist is routine.
         */
        if (pitr_wal_parse_name(argv[0], &wn, &perr) == PITR_OK && wn.kind != PITR_WAL_HISTORY)
            pitr_log_warn("wal-fetch: %s", err.msg);
        else
            pitr_log_info("wal-fetch: %s", err.msg);
    } else if (rc == PITR_EFORMAT && is_segment_name(argv[0])) {
        /*
         * The repository holds the segment, but no stored copy is the WAL
         * its name promises. Exit 1 would make PostgreSQL take that as the
         * end of the archive and promote, leaving every later commit
         * behind; an exit above 125 makes it stop recovery instead, so the
         * operator can repair the archive and start again.
         */
        pitr_log_error("wal-fetch '%s': %s; stopping recovery (exit %d): repair or remove the "
                       "damaged object, then start the server again",
                       argv[0],
                       err.msg,
                       PITR_EXIT_STOP_RECOVERY);
        rc = PITR_EXIT_STOP_RECOVERY;
    } else if (rc != PITR_OK)
        pitr_log_error("wal-fetch '%s': %s", argv[0], err.msg);
out:
    pitr_free(spool);
    pitr_free(pgdata);
    pitr_storage_free(st);
    pitr_config_release(&cfg);
    return rc;
}
