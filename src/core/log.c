/* log.c - leveled logging to stderr; see include/pgpitr/core/log.h. */
#include "pgpitr/core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static enum pitr_log_level current_level = PITR_LOG_WARN;
static pitr_log_sink_fn sink_fn;
static void *sink_ud;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };

void pitr_log_set_level(enum pitr_log_level level)
{
    current_level = level;
}

enum pitr_log_level pitr_log_get_level(void)
{
    return current_level;
}

pitr_rc pitr_log_parse_level(const char *s, enum pitr_log_level *out, struct pitr_err *err)
{
    static const struct {
        const char *name;
        enum pitr_log_level level;
    } names[] = {
        { "error", PITR_LOG_ERROR }, { "warn", PITR_LOG_WARN },   { "warning", PITR_LOG_WARN },
        { "info", PITR_LOG_INFO },   { "debug", PITR_LOG_DEBUG }, { "trace", PITR_LOG_TRACE },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return PITR_OK;
        }
    }
    return pitr_err_set(
      err, PITR_EUSAGE, "invalid log level '%s': expected error, warn, info, debug or trace", s);
}

void pitr_log_set_sink(pitr_log_sink_fn fn, void *ud)
{
    sink_fn = fn;
    sink_ud = ud;
}

void pitr_log(enum pitr_log_level level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    if (level > current_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (sink_fn != NULL) {
        sink_fn(level, line, sink_ud);
        return;
    }
    /* One write per line, so lines from parallel processes do not interleave. */
    fprintf(stderr, "pgpitr: %s: %s\n", level_names[level], line);
}
