/*
 * fuzz_manifest.c - pgpitr.manifest.json as `pgpitr verify` reads it
 * (backup id, begin/end WAL, "objects" with names, sizes and SHA-256,
 * "files"), through pitr_verify_run() on a file:// repository holding one
 * backup (fixed backup.info, a small data.tar) and the input as its
 * manifest. The first byte sets --full (read recorded objects back).
 * Confined like fuzz_restore_tar (fuzz_scratch_confine): manifest names are
 * hostile.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/catalog/verify.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define BACKUP_DIR "/repo/srv/base/20240101T000000"

static const char backup_info[] = "begin_offset=40\n"
                                  "begin_time=2024-01-01 00:00:00.000000+00:00\n"
                                  "begin_wal=000000010000000000000002\n"
                                  "begin_xlog=0/2000028\n"
                                  "end_time=2024-01-01 00:00:01.000000+00:00\n"
                                  "end_wal=000000010000000000000002\n"
                                  "end_xlog=0/2000138\n"
                                  "status=DONE\n"
                                  "systemid=7311111111111111111\n"
                                  "tablespaces=None\n"
                                  "timeline=1\n"
                                  "version=150000\n"
                                  "xlog_segment_size=16777216\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pitr_storage *st;
    static char dir[4200];
    char path[4400];
    struct pitr_verify_opts o = { 0 };
    struct pitr_verify_report r;
    struct pitr_err err = { 0 };

    if (size < 1)
        return 0;
    fuzz_quiet();
    if (st == NULL) {
        struct pitr_config cfg;
        static const char tar[1024]; /* an empty tar: two zero blocks */

        snprintf(dir, sizeof(dir), "%s" BACKUP_DIR, fuzz_scratch());
        fuzz_scratch_confine();
        fuzz_mkdirs(dir);
        snprintf(path, sizeof(path), "%s/repo/srv/wals/0000000100000000", fuzz_scratch());
        fuzz_mkdirs(path);
        snprintf(path, sizeof(path), "%s/backup.info", dir);
        fuzz_write(path, backup_info, sizeof(backup_info) - 1);
        snprintf(path, sizeof(path), "%s/data.tar", dir);
        fuzz_write(path, tar, sizeof(tar));
        pitr_config_init(&cfg);
        cfg.repo = pitr_asprintf("file://%s/repo", fuzz_scratch());
        cfg.server = pitr_strdup("srv");
        if (pitr_storage_open(&cfg, &st, &err) != PITR_OK) {
            fprintf(stderr, "fuzz_manifest: %s\n", err.msg);
            abort();
        }
        pitr_config_release(&cfg);
    }
    snprintf(path, sizeof(path), "%s/pgpitr.manifest.json", dir);
    fuzz_write(path, data + 1, size - 1);
    o.full = data[0] & 1;
    (void)pitr_verify_run(st, "srv", &o, &r, &err);
    pitr_verify_report_release(&r);
    return 0;
}
