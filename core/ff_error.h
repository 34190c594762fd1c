/*
 * The one error convention of core/ and vm/: a function returns -errno and
 * fills a struct ff_error whose message names the bad value. The code is
 * what callers decide on; the message is for people and is never parsed.
 * An error found in a text (a ctl batch) also carries its line and column.
 */
#ifndef FAULTFS_FF_ERROR_H
#define FAULTFS_FF_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define FF_ERROR_MSG_MAX 320

struct ff_error {
    int code;        /* the -errno returned with it; 0 = no error */
    unsigned line;   /* 1-based line of a text; 0 = not about a text */
    unsigned column; /* 1-based byte column of the offending word */
    char msg[FF_ERROR_MSG_MAX];
};

/* Fills ERR (which may be NULL) with CODE and the formatted message, no line or column; returns CODE. */
int ff_error_set(struct ff_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As ff_error_set, with the arguments in AP, leaving ERR's line and column as they are. */
int ff_error_vset(struct ff_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* "line 2, column 6: MSG", or just MSG when LINE is 0. */
void ff_error_format(const struct ff_error *err, char *buf, size_t size);

/* The inverse of ff_error_format (up to its newline): 0, or -EINVAL if the text is empty. */
int ff_error_parse(const char *text, struct ff_error *err);

#endif
