/* walkeys.c - where WAL files live in the repository; see archive/archive.h. */
#include <string.h>

#include "pgpitr/archive/archive.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"

char *pitr_wal_key_stem(const char *server, const char *name, struct pitr_err *err)
{
    struct pitr_wal_name w;
    char hash[17];

    if (pitr_wal_parse_name(name, &w, err) != PITR_OK)
        return NULL;
    pitr_wal_hash_dir(name, &w, hash);
    if (hash[0] == '\0')
        return pitr_asprintf("%s/wals/%s", server, name);
    return pitr_asprintf("%s/wals/%s/%s", server, hash, name);
}
