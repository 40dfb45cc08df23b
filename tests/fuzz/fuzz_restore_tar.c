/*
 * fuzz_restore_tar.c - tar member handling of `pgpitr restore`, through its
 * public entry point pitr_restore_run(): the input is the data.tar volume
 * of a backup in a file:// repository (backup.info fixed, no manifest, as
 * barman-cloud writes them), restored into an empty PGDATA.
 *
 * A hostile volume must never write outside PGDATA, and a bug there would
 * let libFuzzer's mutations write anywhere on this machine. So the process
 * confines itself first (fuzz_scratch_confine: everything read-only except
 * the scratch folder, which holds the repository and PGDATA, and libFuzzer's
 * own folders).
 *
 * FUZZ_STRICT_CONFINE=1 also aborts when a run leaves anything beside the
 * repository in the scratch folder (a write that escaped PGDATA):
 * restore's confinement (issue 11, item 1) makes that a crash to report.
 * FUZZ_DEBUG=1 prints why each restore failed (to check a seed reaches the
 * extraction).
 */
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/restore/restore.h"

#define BACKUP_DIR "/repo/srv/base/20240101T000000"

static char top[4096];

/* A path under the scratch folder. */
static const char *at(const char *rel, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", top, rel);
    return buf;
}

static const char backup_info[] = "backup_label=None\n"
                                  "begin_offset=40\n"
                                  "begin_time=2024-01-01 00:00:00.000000+00:00\n"
                                  "begin_wal=000000010000000000000002\n"
                                  "begin_xlog=0/2000028\n"
                                  "end_offset=312\n"
                                  "end_time=2024-01-01 00:00:01.000000+00:00\n"
                                  "end_wal=000000010000000000000002\n"
                                  "end_xlog=0/2000138\n"
                                  "error=None\n"
                                  "pgdata=/var/lib/postgresql/15/main\n"
                                  "server_name=cloud\n"
                                  "status=DONE\n"
                                  "systemid=7311111111111111111\n"
                                  "tablespaces=None\n"
                                  "timeline=1\n"
                                  "version=150000\n"
                                  "xlog_segment_size=16777216\n";

/* Only "repo" may stay in the root after PGDATA is removed. */
static void check_root(void)
{
    DIR *d = opendir(top);
    struct dirent *e;

    if (d == NULL)
        abort();
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strcmp(e->d_name, "repo") != 0) {
            fprintf(stderr, "fuzz_restore_tar: '%s' was written outside PGDATA\n", e->d_name);
            abort();
        }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pitr_config cfg;
    static int ready, strict, debug;
    static char pgdata[4200];
    struct pitr_restore_opts o;
    struct pitr_restore_result res;
    struct pitr_err err = { 0 };

    char path[4600];

    fuzz_quiet();
    if (!ready) {
        const char *s = getenv("FUZZ_STRICT_CONFINE");

        strict = s != NULL && strcmp(s, "1") == 0;
        debug = getenv("FUZZ_DEBUG") != NULL;
        snprintf(top, sizeof(top), "%s", fuzz_scratch());
        fuzz_scratch_confine();
        fuzz_mkdirs(at(BACKUP_DIR, path, sizeof(path)));
        fuzz_write(
          at(BACKUP_DIR "/backup.info", path, sizeof(path)), backup_info, sizeof(backup_info) - 1);
        pitr_config_init(&cfg);
        cfg.repo = pitr_asprintf("file://%s/repo", top);
        cfg.server = pitr_strdup("srv");
        cfg.jobs = 1;
        snprintf(pgdata, sizeof(pgdata), "%s/pgdata", top);
        ready = 1;
    }
    fuzz_write(at(BACKUP_DIR "/data.tar", path, sizeof(path)), data, size);
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.pgdata = pgdata;
    o.jobs = 1;
    o.restore_command = "pgpitr wal-fetch %f %p";
    if (pitr_restore_run(&o, &res, &err) != PITR_OK && debug)
        fprintf(stderr, "fuzz_restore_tar: %s\n", err.msg);
    fuzz_rm_rf(pgdata);
    if (strict)
        check_root();
    return 0;
}
