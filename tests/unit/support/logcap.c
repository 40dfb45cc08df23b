/* logcap.c - see logcap.h. */
#include "logcap.h"

#include <stdio.h>
#include <string.h>

void pitr_test_log_sink(enum pitr_log_level level, const char *line, void *ud)
{
    struct pitr_test_log *l = ud;
    size_t used = strlen(l->text);

    (void)level;
    snprintf(l->text + used, sizeof(l->text) - used, "%s\n", line);
}
