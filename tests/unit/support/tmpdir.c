/* tmpdir.c - see tmpdir.h. */
#include "tmpdir.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void pitr_test_rm_rf(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    char sub[1024];

    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        pitr_test_rm_rf(sub);
    }
    if (d != NULL)
        closedir(d);
    rmdir(path);
}

int pitr_test_write_file(const char *root, const char *rel, const char *body)
{
    char path[1024];
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        (void)mkdir(path, 0700);
        *p = '/';
    }
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    rc = fputs(body, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}
