/*
 * fuzz_config.c - the pgpitr config file ("key = value" lines, '#'
 * comments) through pitr_config_load, with every value checked by its key's
 * parser (sizes, numbers, enums, URLs); then the retention policy and the
 * part size the file may hold. The input is written to a scratch file
 * named with --config; the environment is emptied once so only the file
 * counts.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "pgpitr/catalog/retention.h"
#include "pgpitr/core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[4200];
    struct pitr_config cfg;
    struct pitr_config_flag flag = { "config", path };
    struct pitr_err err = { 0 };
    struct pitr_ret_policy pol;

    fuzz_quiet();
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "%s/pgpitr.conf", fuzz_scratch());
        clearenv();
    }
    fuzz_write(path, data, size);
    pitr_config_init(&cfg);
    if (pitr_config_load(&cfg, &flag, 1, &err) == PITR_OK && cfg.retention_policy != NULL)
        (void)pitr_ret_parse_policy(cfg.retention_policy, &pol, &err);
    pitr_config_release(&cfg);
    return 0;
}
