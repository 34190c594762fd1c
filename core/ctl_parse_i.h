/* Private to the parser's two files: ctl_parse.c (lines, batches) and rule_parse.c (rules). */
#ifndef FAULTFS_CTL_PARSE_I_H
#define FAULTFS_CTL_PARSE_I_H

#include "ctl_parse.h"

#include <stdbool.h>

/* Most words on one line: a mode, a delay, three directions and the keys. */
#define CTL_MAX_WORDS 24

struct ctl_word {
    const char *text;
    size_t len;
    unsigned column;
};

struct ctl_line {
    struct ctl_word words[CTL_MAX_WORDS];
    size_t count;
    unsigned number;
};

/* The words quoted into an error are cut to this many bytes. */
#define CTL_QUOTE_MAX 96

/* Fills ERR for line LINE, column COLUMN; returns -EINVAL. */
int ctl_fail(struct ff_error *err, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Printable copy of a word for an error message (escapes control and stray bytes). */
const char *ctl_quote(const struct ctl_word *w, char buf[CTL_QUOTE_MAX + 4]);

bool ctl_word_is(const struct ctl_word *w, const char *s);

/* Parses all LEN bytes of TEXT as a decimal number. */
bool ctl_parse_u64(const char *text, size_t len, uint64_t *out);

/* Refuses words past the first ALLOWED: "WHAT: unexpected argument '...'". */
int ctl_too_many(const struct ctl_line *line, size_t allowed, const char *what,
                 struct ff_error *err);

/*
 * rule_parse.c: the rule that the words after LINE->words[AT] (the mode's
 * name, MODE) make, into OUT. 0 or -EINVAL with ERR.
 */
int ctl_parse_rule(const struct ctl_line *line, size_t at, const struct fault_mode *mode,
                   struct fault_rule *out, struct ff_error *err);

#endif
