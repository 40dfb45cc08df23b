/*
 * log.h - one line per event on stderr.
 *
 * Lines look like "pgpitr: ERROR: <message>" so that PostgreSQL's log (which
 * captures archive_command's stderr) and journald stay readable. Never pass
 * a secret (secret key, session token, Authorization header) to a log call.
 */
#ifndef PGPITR_CORE_LOG_H
#define PGPITR_CORE_LOG_H

#include "pgpitr/core/err.h"

enum pitr_log_level {
    PITR_LOG_ERROR = 0,
    PITR_LOG_WARN = 1,
    PITR_LOG_INFO = 2,
    PITR_LOG_DEBUG = 3,
    PITR_LOG_TRACE = 4,
};

/* Receives each formatted line (without newline) at or above the level. */
typedef void (*pitr_log_sink_fn)(enum pitr_log_level level, const char *line, void *ud);

void pitr_log_set_level(enum pitr_log_level level);
enum pitr_log_level pitr_log_get_level(void);
/* Parse "error", "warn"/"warning", "info", "debug", "trace". */
PITR_MUST_CHECK pitr_rc pitr_log_parse_level(const char *s,
                                             enum pitr_log_level *out,
                                             struct pitr_err *err);
/* Replace the stderr writer (tests capture lines this way); NULL restores it. */
void pitr_log_set_sink(pitr_log_sink_fn fn, void *ud);
void pitr_log(enum pitr_log_level level, const char *fmt, ...) PITR_PRINTF(2, 3);

#define pitr_log_error(...) pitr_log(PITR_LOG_ERROR, __VA_ARGS__)
#define pitr_log_warn(...)  pitr_log(PITR_LOG_WARN, __VA_ARGS__)
#define pitr_log_info(...)  pitr_log(PITR_LOG_INFO, __VA_ARGS__)
#define pitr_log_debug(...) pitr_log(PITR_LOG_DEBUG, __VA_ARGS__)

#endif
