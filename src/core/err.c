/* err.c - the error struct; see include/pgpitr/core/err.h. */
#define PITR_ERR_IMPL /* no analyser-only macros over the definitions */
#include "pgpitr/core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pitr_err_clear(struct pitr_err *err)
{
    memset(err, 0, sizeof(*err));
}

static PITR_PRINTF(3, 0) void vset(struct pitr_err *err, pitr_rc code, const char *fmt, va_list ap)
{
    err->code = code;
    err->sys_errno = 0;
    err->http_status = 0;
    err->s3_code[0] = '\0';
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

pitr_rc pitr_err_set(struct pitr_err *err, pitr_rc code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

pitr_rc pitr_err_set_errno(struct pitr_err *err, pitr_rc code, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t used;
    char ebuf[256];

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    err->sys_errno = errnum;
    /* The XSI strerror_r fills ebuf; _DEFAULT_SOURCE without _GNU_SOURCE gives it. */
    if (strerror_r(errnum, ebuf, sizeof(ebuf)) != 0)
        snprintf(ebuf, sizeof(ebuf), "errno %d", errnum);
    used = strlen(err->msg);
    snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", ebuf);
    return code;
}

pitr_rc pitr_err_prefix(struct pitr_err *err, const char *fmt, ...)
{
    char old[PITR_ERR_MSG_MAX];
    char ctx[PITR_ERR_MSG_MAX];
    va_list ap;
    int n;

    if (err == NULL)
        return PITR_EGENERAL;
    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    /* Truncation is fine: the message stays NUL-terminated. */
    n = snprintf(err->msg, sizeof(err->msg), "%s: ", ctx);
    if (n > 0 && (size_t)n < sizeof(err->msg)) {
        /* A bounded copy: snprintf here trips -Wformat-truncation at -O1. */
        size_t room = sizeof(err->msg) - (size_t)n - 1;
        size_t len = strnlen(old, sizeof(old) - 1);

        if (len > room)
            len = room;
        memcpy(err->msg + n, old, len);
        err->msg[(size_t)n + len] = '\0';
    }
    return err->code;
}

const char *pitr_rc_name(pitr_rc code)
{
    switch (code) {
    case PITR_OK:
        return "ok";
    case PITR_ENOTFOUND:
        return "not found";
    case PITR_ENETWORK:
        return "network";
    case PITR_EUSAGE:
        return "usage";
    case PITR_EGENERAL:
        return "general";
    case PITR_EIO:
        return "i/o";
    case PITR_ENOMEM:
        return "out of memory";
    case PITR_ELIMIT:
        return "size limit";
    case PITR_ECONFLICT:
        return "conflict";
    case PITR_EAUTH:
        return "authentication";
    case PITR_ES3:
        return "object store";
    case PITR_EFORMAT:
        return "format";
    case PITR_EPG:
        return "postgresql";
    case PITR_EINTERNAL:
        return "internal";
    }
    return "unknown";
}

int pitr_err_retryable(const struct pitr_err *err)
{
    if (err->code == PITR_ENETWORK)
        return 1;
    if (err->http_status >= 500 || err->http_status == 429 || err->http_status == 408)
        return 1;
    return strcmp(err->s3_code, "SlowDown") == 0 || strcmp(err->s3_code, "RequestTimeout") == 0;
}
