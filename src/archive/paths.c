/* paths.c - local path helpers; see paths.h. */
#include "paths.h"

#include <string.h>

#include "pgpitr/core/mem.h"

char *pitr_archive_dir_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return pitr_strdup(".");
    return pitr_strndup(path, slash == path ? 1 : (size_t)(slash - path));
}
