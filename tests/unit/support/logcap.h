/*
 * logcap.h - capture pgpitr's log lines in a test (linked into every test
 * binary).
 */
#ifndef PGPITR_TEST_LOGCAP_H
#define PGPITR_TEST_LOGCAP_H

#include <stddef.h>

#include "pgpitr/core/log.h"

/* The captured lines, one per line; text is cut when full. */
struct pitr_test_log {
    char text[16384];
};

/*
 * A pitr_log sink: pass it to pitr_log_set_sink() with a struct
 * pitr_test_log as ud (borrowed until the sink is removed).
 */
void pitr_test_log_sink(enum pitr_log_level level, const char *line, void *ud);

#endif
