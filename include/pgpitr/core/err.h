/*
 * err.h - return codes and the error struct.
 *
 * Every fallible function returns a pitr_rc and takes a `struct pitr_err *err`
 * as its last parameter. On failure it fills *err (code, message, and where
 * they apply errno, HTTP status and S3 error code) and returns the same code,
 * so the usual failure path is one line: `return pitr_err_set(err, ...)`.
 *
 * The numeric values are stable: they are the process exit codes, which
 * PostgreSQL's archive_command/restore_command, CloudNativePG and systemd
 * units look at. Codes 1-4 mean what barman-cloud's exit codes mean (1 not
 * found, 2 network, 3 usage, 4 general). Never renumber; only append.
 * docs/errors.md lists them.
 *
 * struct pitr_err holds no heap memory: it can be copied, and needs no release.
 */
#ifndef PGPITR_CORE_ERR_H
#define PGPITR_CORE_ERR_H

#include <stddef.h>

#define PITR_MUST_CHECK   __attribute__((warn_unused_result))
#define PITR_PRINTF(f, a) __attribute__((format(printf, f, a)))

typedef enum pitr_rc {
    PITR_OK = 0,
    PITR_ENOTFOUND = 1,  /* object or file does not exist */
    PITR_ENETWORK = 2,   /* endpoint unreachable, connection failed, timeout */
    PITR_EUSAGE = 3,     /* bad command line, configuration or argument */
    PITR_EGENERAL = 4,   /* any failure without a more precise code */
    PITR_EIO = 10,       /* local file system error */
    PITR_ENOMEM = 11,    /* allocation failed */
    PITR_ELIMIT = 12,    /* a hard size limit was reached */
    PITR_ECONFLICT = 13, /* an object exists with different content */
    PITR_EAUTH = 14,     /* credentials rejected (signature, access denied) */
    PITR_ES3 = 15,       /* the object store answered with an error */
    PITR_EFORMAT = 16,   /* malformed data: XML, WAL header, compressed stream */
    PITR_EPG = 17,       /* PostgreSQL returned an error */
    PITR_EINTERNAL = 18, /* a bug: an invariant did not hold */
} pitr_rc;

/*
 * wal-fetch's exit status when the repository holds a segment but no stored
 * copy is the WAL its name promises: PostgreSQL stops recovery on an exit
 * status above 125 instead of taking the segment as the end of the archive.
 * A command exit status, never a pitr_rc.
 */
#define PITR_EXIT_STOP_RECOVERY 126

#define PITR_ERR_MSG_MAX    1024
#define PITR_ERR_S3CODE_MAX 64

struct pitr_err {
    pitr_rc code;
    int sys_errno;                     /* errno of the failing system call, or 0 */
    long http_status;                  /* HTTP status of the failing request, or 0 */
    char s3_code[PITR_ERR_S3CODE_MAX]; /* S3 <Code>, e.g. "NoSuchKey", or "" */
    char msg[PITR_ERR_MSG_MAX];        /* lowercase, no final period */
};

/* Reset *err to "no error". */
void pitr_err_clear(struct pitr_err *err);

/* Format the message into *err, set its code and return the code. */
pitr_rc pitr_err_set(struct pitr_err *err, pitr_rc code, const char *fmt, ...) PITR_PRINTF(3, 4);

/*
 * Like pitr_err_set, and appends ": <strerror(errnum)>" and records errnum.
 */
pitr_rc pitr_err_set_errno(struct pitr_err *err, pitr_rc code, int errnum, const char *fmt, ...)
  PITR_PRINTF(4, 5);

#if defined(__clang_analyzer__) && !defined(PITR_ERR_IMPL)
/*
 * For clang-tidy's analyser only (it cannot see err.c from other files):
 * both functions return the code they are given, so "return
 * pitr_err_set(...)" is never PITR_OK when the code is not. Without this
 * every such failure path reads as a possible success with its outputs
 * unset. err.c, which defines them, sets PITR_ERR_IMPL.
 */
#define pitr_err_set(err, code, ...) (pitr_err_set((err), (code), __VA_ARGS__), (code))
#define pitr_err_set_errno(err, code, errnum, ...)                                                 \
    (pitr_err_set_errno((err), (code), (errnum), __VA_ARGS__), (code))
#endif

/*
 * Put context in front of an existing message: "<context>: <old message>".
 * Keeps code, errno, HTTP status and S3 code. Returns err->code.
 */
pitr_rc pitr_err_prefix(struct pitr_err *err, const char *fmt, ...) PITR_PRINTF(2, 3);

/* A short fixed name for a code ("not found", "network", ...). */
const char *pitr_rc_name(pitr_rc code);

/* True when retrying the same operation may succeed (network, 5xx, 429). */
int pitr_err_retryable(const struct pitr_err *err);

#endif
