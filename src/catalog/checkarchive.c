/* checkarchive.c - barman-cloud-check-wal-archive's rule; see catalog/checkarchive.h. */
#include "pgpitr/catalog/checkarchive.h"

#include <stdio.h>
#include <string.h>

#include "pgpitr/catalog/wals.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/wal/wal.h"

void pitr_checkarchive_init(struct pitr_checkarchive *c, uint32_t timeline)
{
    memset(c, 0, sizeof(*c));
    c->timeline = timeline;
}

void pitr_checkarchive_add(struct pitr_checkarchive *c, const char *key)
{
    const char *base = strrchr(key, '/');
    char name[PITR_CHECKARCHIVE_NAME_MAX];
    size_t stem;
    struct pitr_wal_name w;
    struct pitr_err err = { 0 };

    base = base != NULL ? base + 1 : key;
    (void)pitr_codec_from_suffix(base, &stem);
    if (stem >= sizeof(name))
        return; /* far longer than any WAL name */
    memcpy(name, base, stem);
    name[stem] = '\0';
    if (pitr_wal_parse_name(name, &w, &err) != PITR_OK)
        return; /* not WAL: barman ignores it too */
    c->wal_files++;
    if (c->timeline != 0 && w.tli < c->timeline)
        return;
    if (c->offending == 0)
        snprintf(c->first, sizeof(c->first), "%s", base);
    c->offending++;
    if (w.tli > c->max_tli)
        c->max_tli = w.tli;
}

int pitr_checkarchive_usable(const struct pitr_checkarchive *c)
{
    return c->offending == 0;
}

pitr_rc pitr_checkarchive_run(struct pitr_storage *st,
                              const char *server,
                              struct pitr_checkarchive *c,
                              struct pitr_err *err)
{
    struct pitr_cat_wals w;
    /*
     * The smallest segment size PostgreSQL allows admits every segment
     * number any cluster can write, so no WAL name is mistaken for another
     * key whatever the segment size of the cluster that wrote it.
     */
    pitr_rc rc = pitr_cat_wals_list(st, server, (uint32_t)1024 * 1024, &w, err);

    if (rc != PITR_OK && strcmp(err->s3_code, "NoSuchBucket") == 0) {
        /* barman 3.4: a bucket that does not exist yet is an empty archive */
        pitr_err_clear(err);
        rc = PITR_OK;
    } else if (rc != PITR_OK) {
        pitr_err_prefix(err, "check-archive");
    }
    for (size_t i = 0; rc == PITR_OK && i < w.n; i++)
        pitr_checkarchive_add(c, w.v[i].key);
    pitr_cat_wals_release(&w);
    return rc;
}
