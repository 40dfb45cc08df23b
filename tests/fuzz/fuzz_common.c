/* fuzz_common.c - see fuzz.h. Linked into every harness. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

static void drop_line(enum pitr_log_level level, const char *line, void *ud)
{
    (void)level;
    (void)line;
    (void)ud;
}

void fuzz_quiet(void)
{
    pitr_log_set_sink(drop_line, NULL);
    pitr_log_set_level(PITR_LOG_ERROR);
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = pitr_malloc(size + 1);

    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static char scratch[4096];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fuzz_rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int confined;

static void remove_scratch(void)
{
    if (scratch[0] != '\0' && !confined)
        fuzz_rm_rf(scratch);
}

/*
 * Once confined, the scratch folder is a mount point in a namespace whose
 * /tmp is read-only, so this process cannot remove it. A shell started
 * before (in the original namespace) waits for the end of a pipe that only
 * this process holds, and removes it when this process ends, however.
 */
static void remove_later(const char *root)
{
    int p[2];
    pid_t pid;

    if (pipe(p) != 0) {
        perror("pipe");
        abort();
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        dup2(p[0], 0);
        close(p[0]);
        close(p[1]);
        execl("/bin/sh", "sh", "-c", "cat >/dev/null; rm -rf \"$0\"", root, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    confined = 1;
}

static void write_map(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        abort();
    }
    close(fd);
}

/* A bind mount of dir onto itself, writable again. */
static void writable(const char *dir)
{
    if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) != 0 ||
        mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT, NULL) != 0) {
        fprintf(stderr, "fuzz: cannot make '%s' writable: %s\n", dir, strerror(errno));
        abort();
    }
}

void fuzz_scratch_confine(void)
{
    const char *root = fuzz_scratch();
    const char *extra = getenv("FUZZ_WRITABLE");
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    char cwd[4096];

    if (getcwd(cwd, sizeof(cwd)) == NULL)
        abort();
    remove_later(root);
    if (geteuid() != 0) {
        char map[64];
        unsigned uid = (unsigned)geteuid(), gid = (unsigned)getegid();

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            perror("fuzz: unshare(CLONE_NEWUSER | CLONE_NEWNS)");
            abort();
        }
        write_map("/proc/self/setgroups", "deny");
        snprintf(map, sizeof(map), "0 %u 1", uid);
        write_map("/proc/self/uid_map", map);
        snprintf(map, sizeof(map), "0 %u 1", gid);
        write_map("/proc/self/gid_map", map);
    } else if (unshare(CLONE_NEWNS) != 0) {
        perror("fuzz: unshare(CLONE_NEWNS)");
        abort();
    }
    /* Private mounts, every one of them read-only, then the writable exceptions. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) != 0) {
        perror("fuzz: cannot make the file system read-only");
        abort();
    }
    writable(root);
    if (extra != NULL && extra[0] != '\0') {
        char *list = strdup(extra), *save = NULL;

        for (char *d = strtok_r(list, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save))
            writable(d);
        free(list);
    } else {
        writable(cwd);
    }
}

const char *fuzz_scratch(void)
{
    if (scratch[0] == '\0') {
        const char *tmp = getenv("TMPDIR");

        snprintf(scratch,
                 sizeof(scratch),
                 "%s/pgpitr-fuzz.XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (mkdtemp(scratch) == NULL) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_scratch);
    }
    return scratch;
}

void fuzz_mkdirs(const char *path)
{
    char buf[4600];

    for (const char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            snprintf(buf, sizeof(buf), "%.*s", (int)(p - path), path);
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                perror(buf);
                abort();
            }
        }
        if (*p == '\0')
            break;
    }
}

void fuzz_write(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    const char *p = data;

    if (fd < 0) {
        perror(path);
        abort();
    }
    while (size > 0) {
        ssize_t n = write(fd, p, size);

        if (n <= 0) {
            perror(path);
            abort();
        }
        p += n;
        size -= (size_t)n;
    }
    close(fd);
}
