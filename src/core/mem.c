/* mem.c - allocation wrappers; see include/pgpitr/core/mem.h. */
#include "pgpitr/core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "pgpitr: FATAL: out of memory allocating %zu bytes\n", n);
    abort();
}

void *pitr_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        oom(n);
    return p;
}

void *pitr_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);

    if (p == NULL)
        oom(count * n);
    return p;
}

void *pitr_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        oom(n);
    return q;
}

void pitr_free(void *p)
{
    free(p);
}

char *pitr_strndup(const char *s, size_t n)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = pitr_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *pitr_strdup(const char *s)
{
    return s == NULL ? NULL : pitr_strndup(s, strlen(s));
}

char *pitr_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    s = pitr_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
