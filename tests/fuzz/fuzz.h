/*
 * fuzz.h - shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 *
 * Each harness feeds one parser with bytes libFuzzer chooses and asserts
 * nothing but "no crash, no sanitizer report, no leak": ASan, UBSan and
 * LeakSanitizer do the judging. Built and run by `make fuzz` / `make
 * fuzz-smoke` (docs/TESTING.md).
 */
#ifndef PGPITR_FUZZ_H
#define PGPITR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Silence the library's log (a parser's warnings would flood the run). */
void fuzz_quiet(void);

/* A NUL-terminated heap copy of data[0..size) (pitr_free it). */
char *fuzz_cstr(const uint8_t *data, size_t size);

/*
 * A private scratch folder under $TMPDIR (or /tmp), made on the first call
 * and removed at exit. The returned string lives as long as the process.
 */
const char *fuzz_scratch(void);

/*
 * Confine the process: a private mount namespace (in a new user namespace
 * when not root) where every mount is read-only except the scratch folder
 * and the folders in $FUZZ_WRITABLE (colon-separated; default: the current
 * folder), where libFuzzer keeps its corpus and crash files. A parser bug
 * that writes outside its target then fails with EROFS instead of changing
 * this machine. Aborts when that is impossible.
 */
void fuzz_scratch_confine(void);

/* mkdir -p path (absolute); aborts on failure. */
void fuzz_mkdirs(const char *path);

/* Write data to path (created or truncated); aborts on failure. */
void fuzz_write(const char *path, const void *data, size_t size);

/* Remove path and everything under it, never following symbolic links. */
void fuzz_rm_rf(const char *path);

#endif
