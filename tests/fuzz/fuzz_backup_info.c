/*
 * fuzz_backup_info.c - backup.info as the catalog reads it: key=value lines,
 * None, Python literals (tablespaces), times and LSNs; then the keep
 * annotation's body and the backup choice over the parsed backup.
 */
#include "fuzz.h"

#include <string.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_cat_backup b;
    struct pitr_err err = { 0 };
    const struct pitr_cat_backup *chosen = NULL;
    struct pitr_cat_query q = { .timeline = -1 };
    int64_t us;
    char pg[64];

    fuzz_quiet();
    memset(&b, 0, sizeof(b));
    if (pitr_cat_parse_info((const char *)data, size, &b, &err) == PITR_OK) {
        b.id = pitr_strdup("20240101T000000");
        (void)pitr_cat_field(&b, "status");
        (void)pitr_cat_select(&b, 1, &q, &chosen, &err);
        q.target = PITR_CAT_TARGET_TIME;
        q.time_us = INT64_MAX;
        (void)pitr_cat_select(&b, 1, &q, &chosen, &err);
        q.target = PITR_CAT_TARGET_LSN;
        q.lsn = UINT64_MAX;
        (void)pitr_cat_select(&b, 1, &q, &chosen, &err);
    }
    pitr_cat_backup_release(&b);
    (void)pitr_cat_keep_from_body((const char *)data, size);
    if (size < 256) {
        char *s = fuzz_cstr(data, size);

        (void)pitr_cat_parse_time(s, &us, pg, &err);
        pitr_free(s);
    }
    return 0;
}
