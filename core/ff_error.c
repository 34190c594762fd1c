/* Filling, printing and reading back the error record of core/ and vm/. */
#include "ff_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ff_error_vset(struct ff_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int ff_error_set(struct ff_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    if (err)
        err->line = err->column = 0; /* not about a text: a reused record keeps no old place */
    va_start(ap, fmt);
    ff_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void ff_error_format(const struct ff_error *err, char *buf, size_t size)
{
    if (err->line == 0)
        snprintf(buf, size, "%s", err->msg);
    else
        snprintf(buf, size, "line %u, column %u: %s", err->line, err->column, err->msg);
}

int ff_error_parse(const char *text, struct ff_error *err)
{
    int used = 0;
    memset(err, 0, sizeof *err);
    if (sscanf(text, "line %u, column %u: %n", &err->line, &err->column, &used) != 2 || !used)
        err->line = err->column = 0;
    snprintf(err->msg, sizeof err->msg, "%.*s", (int)strcspn(text + used, "\n"), text + used);
    return err->msg[0] ? 0 : -EINVAL;
}
