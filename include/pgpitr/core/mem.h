/*
 * mem.h - the only way src/ allocates memory.
 *
 * Allocation failure is not recoverable in a short-lived command and is
 * rare enough that checking every call site would hide the real logic, so
 * these functions print a message and abort() when the system has no memory
 * (as git's xmalloc does). They never return NULL. pitr_free(NULL) is a no-op.
 */
#ifndef PGPITR_CORE_MEM_H
#define PGPITR_CORE_MEM_H

#include <stddef.h>

void *pitr_malloc(size_t n);
void *pitr_calloc(size_t count, size_t n);
/* May move the block: pointers into the old block are invalid afterwards. */
void *pitr_realloc(void *p, size_t n);
void pitr_free(void *p);
/* A heap copy of s (owned by the caller); NULL in, NULL out. */
char *pitr_strdup(const char *s);
char *pitr_strndup(const char *s, size_t n);
/* A heap string made with printf formatting (owned by the caller). */
char *pitr_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
