/* The control protocol parser: text in, a batch of commands or a precise error out. */
#include "ctl_parse.h"
#include "ctl_parse_i.h"

#include "duration.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_fail(struct ff_error *err, unsigned line, unsigned column, const char *fmt, ...)
{
    va_list ap;
    err->line = line;
    err->column = column;
    va_start(ap, fmt);
    ff_error_vset(err, -EINVAL, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool ctl_utf8_valid(const char *s, size_t len);

/*
 * Printable copy of a word for an error message (which goes to logs and
 * JSON): control bytes, and every byte past ASCII if the word is not UTF-8,
 * are written as \xNN.
 */
const char *ctl_quote(const struct ctl_word *w, char buf[CTL_QUOTE_MAX + 4])
{
    bool utf8 = ctl_utf8_valid(w->text, w->len);
    size_t out = 0, i = 0;
    for (; i < w->len && out + 4 <= CTL_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)w->text[i];
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            out += (size_t)sprintf(buf + out, "\\x%02x", c);
        else
            buf[out++] = (char)c;
    }
    /* Never cut a UTF-8 sequence in two. */
    while (i < w->len && out > 0 && ((unsigned char)w->text[i] & 0xc0) == 0x80 && utf8) {
        out--;
        i--;
    }
    strcpy(buf + out, i < w->len ? "..." : "");
    return buf;
}

static int ctl_split(const char *text, size_t len, unsigned number, struct ctl_line *line,
                     struct ff_error *err)
{
    size_t i = 0;
    line->count = 0;
    line->number = number;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
            i++;
        if (i == len || text[i] == '#')
            break;
        size_t start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
            i++;
        if (line->count == CTL_MAX_WORDS)
            return ctl_fail(err, number, (unsigned)start + 1, "too many words on one line");
        line->words[line->count++] =
            (struct ctl_word){.text = text + start, .len = i - start, .column = (unsigned)start + 1};
    }
    return 0;
}

bool ctl_word_is(const struct ctl_word *w, const char *s)
{
    return strlen(s) == w->len && memcmp(w->text, s, w->len) == 0;
}

static int ctl_push(struct ctl_batch *batch, struct ctl_command **out)
{
    if (batch->count == batch->capacity) {
        size_t cap = batch->capacity ? batch->capacity * 2 : 8;
        struct ctl_command *grown = realloc(batch->commands, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        batch->commands = grown;
        batch->capacity = cap;
    }
    *out = &batch->commands[batch->count++];
    memset(*out, 0, sizeof **out);
    return 0;
}

int ctl_too_many(const struct ctl_line *line, size_t allowed, const char *what,
                 struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    if (line->count <= allowed)
        return 0;
    const struct ctl_word *extra = &line->words[allowed];
    return ctl_fail(err, line->number, extra->column, "%s: unexpected argument '%s'", what,
                    ctl_quote(extra, q));
}

/* ---- ID/ctl: fault commands ---- */

static int ctl_parse_clear(const struct ctl_line *line, struct ctl_command *cmd,
                           struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    cmd->op = CTL_OP_FAULT;
    cmd->edit.op = FAULT_EDIT_CLEAR_ALL;
    if (line->count == 1)
        return 0;
    const struct ctl_word *w = &line->words[1];
    const struct fault_mode *mode = fault_mode_find(w->text, w->len);
    if (!mode)
        return ctl_fail(err, line->number, w->column, "clear: unknown mode '%s' (expected %s)",
                        ctl_quote(w, q), CTL_MODE_NAMES);
    cmd->edit.op = FAULT_EDIT_CLEAR_MODE;
    cmd->edit.rule = fault_rule_default(mode);
    if (line->count == 2)
        return 0;
    /* "clear LINE": the one rule that LINE makes. */
    cmd->edit.op = FAULT_EDIT_CLEAR_RULE;
    return ctl_parse_rule(line, 1, mode, &cmd->edit.rule, err);
}

static const char *ctl_text_problem(const struct ctl_word *w);

/* mark TEXT: the rest of the line, as written (it goes into the trace's JSON). */
static int ctl_parse_mark(const struct ctl_line *line, struct ctl_command *cmd,
                          struct ff_error *err)
{
    const struct ctl_word *verb = &line->words[0];
    if (line->count < 2)
        return ctl_fail(err, line->number, verb->column + (unsigned)verb->len + 1,
                        "mark: missing TEXT");
    const struct ctl_word *first = &line->words[1], *last = &line->words[line->count - 1];
    struct ctl_word text = {.text = first->text,
                            .len = (size_t)(last->text + last->len - first->text),
                            .column = first->column};
    char q[CTL_QUOTE_MAX + 4];
    const char *why = ctl_text_problem(&text);
    if (why)
        return ctl_fail(err, line->number, text.column, "mark: text '%s' %s", ctl_quote(&text, q),
                        why);
    if (text.len > CTL_MARK_MAX)
        return ctl_fail(err, line->number, text.column, "mark: text '%s' is over %d bytes",
                        ctl_quote(&text, q), CTL_MARK_MAX);
    cmd->action = CTL_ACTION_MARK;
    cmd->text = strndup(text.text, text.len);
    return cmd->text ? 0 : -ENOMEM;
}

static int ctl_parse_trace(const struct ctl_line *line, struct ctl_command *cmd,
                           struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    const struct ctl_word *verb = &line->words[0];
    if (line->count < 2)
        return ctl_fail(err, line->number, verb->column + (unsigned)verb->len + 1,
                        "trace: missing on, off or clear");
    const struct ctl_word *w = &line->words[1];
    if (ctl_word_is(w, "on"))
        cmd->action = CTL_ACTION_TRACE_ON;
    else if (ctl_word_is(w, "off"))
        cmd->action = CTL_ACTION_TRACE_OFF;
    else if (ctl_word_is(w, "clear"))
        cmd->action = CTL_ACTION_TRACE_CLEAR;
    else
        return ctl_fail(err, line->number, w->column,
                        "trace: unknown argument '%s' (expected on, off or clear)",
                        ctl_quote(w, q));
    return ctl_too_many(line, 2, "trace", err);
}

/* powercut [keep=N] [seed=N]: N of the cached blocks, picked by the seed, reach the image first. */
static int ctl_parse_powercut(const struct ctl_line *line, struct ctl_command *cmd,
                              struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    bool seen[2] = {false, false};
    cmd->action = CTL_ACTION_POWERCUT;
    for (size_t i = 1; i < line->count; i++) {
        const struct ctl_word *w = &line->words[i];
        int k = w->len > 5 && memcmp(w->text, "keep=", 5) == 0   ? 0
                : w->len > 5 && memcmp(w->text, "seed=", 5) == 0 ? 1
                                                                 : -1;
        if (k < 0)
            return ctl_fail(err, line->number, w->column,
                            "powercut: unexpected argument '%s' (expected keep=N, seed=N)",
                            ctl_quote(w, q));
        if (seen[k])
            return ctl_fail(err, line->number, w->column, "powercut: '%s': this key is given twice",
                            ctl_quote(w, q));
        seen[k] = true;
        if (!ctl_parse_u64(w->text + 5, w->len - 5, k == 0 ? &cmd->keep : &cmd->seed))
            return ctl_fail(err, line->number, w->column,
                            "powercut: bad count '%s': expected a whole number", ctl_quote(w, q));
    }
    return 0;
}

/* The one-shot commands of a disk: 1 if VERB is one (parsed into CMD), else 0; or -errno. */
static int ctl_parse_action(const struct ctl_line *line, struct ctl_command *cmd,
                            struct ff_error *err)
{
    const struct ctl_word *verb = &line->words[0];
    int rc;
    cmd->edit.op = FAULT_EDIT_NONE;
    if (ctl_word_is(verb, "powercut")) {
        rc = ctl_parse_powercut(line, cmd, err);
    } else if (ctl_word_is(verb, "mark")) {
        rc = ctl_parse_mark(line, cmd, err);
    } else if (ctl_word_is(verb, "trace")) {
        rc = ctl_parse_trace(line, cmd, err);
    } else {
        return 0;
    }
    return rc < 0 ? rc : 1;
}

static int ctl_parse_disk_line(const struct ctl_line *line, struct ctl_command *cmd,
                               struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    const struct ctl_word *verb = &line->words[0];
    const struct fault_mode *mode = fault_mode_find(verb->text, verb->len);
    cmd->op = CTL_OP_FAULT;
    if (mode) {
        cmd->edit.op = FAULT_EDIT_SET;
        return ctl_parse_rule(line, 0, mode, &cmd->edit.rule, err);
    }
    if (ctl_word_is(verb, "clear"))
        return ctl_parse_clear(line, cmd, err);
    int rc = ctl_parse_action(line, cmd, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (ctl_word_is(verb, "attach") || ctl_word_is(verb, "detach"))
        return ctl_fail(err, line->number, verb->column,
                        "'%s' belongs in the mount's ctl, not a disk's", ctl_quote(verb, q));
    return ctl_fail(err, line->number, verb->column,
                    "unknown command '%s' (expected %s, clear, powercut, mark or trace)",
                    ctl_quote(verb, q), CTL_MODE_NAMES);
}

/* ---- MOUNT/ctl: attach and detach ---- */

int ctl_parse_size(const char *text, size_t len, uint64_t *out, const char **why)
{
    uint64_t value = 0;
    size_t i = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        if (value > (UINT64_MAX - 9) / 10) {
            *why = "too large";
            return -EINVAL;
        }
        value = value * 10 + (uint64_t)(text[i] - '0');
        i++;
    }
    if (i == 0) {
        *why = "expected a byte count such as 1048576 or 1M";
        return -EINVAL;
    }
    unsigned shift = 0;
    if (i + 1 == len) {
        switch (text[i]) {
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default:
            *why = "unknown suffix (use K, M, G or T)";
            return -EINVAL;
        }
    } else if (i != len) {
        *why = "expected a byte count such as 1048576 or 1M";
        return -EINVAL;
    }
    /* Sizes are file offsets: at most INT64_MAX bytes. */
    if (value > ((uint64_t)INT64_MAX >> shift)) {
        *why = "too large";
        return -EINVAL;
    }
    *out = value << shift;
    return 0;
}

static int ctl_parse_id(const struct ctl_line *line, size_t at, const char *what,
                        struct ctl_command *cmd, struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    if (line->count <= at)
        return ctl_fail(err, line->number, (unsigned)(line->words[at - 1].column +
                                                      line->words[at - 1].len + 1),
                        "%s: missing disk ID", what);
    const struct ctl_word *w = &line->words[at];
    const char *why;
    if (disk_id_check(w->text, w->len, &why) < 0)
        return ctl_fail(err, line->number, w->column, "%s: bad disk ID '%s': %s", what,
                        ctl_quote(w, q), why);
    memcpy(cmd->id, w->text, w->len);
    cmd->id[w->len] = '\0';
    return 0;
}

/* Whether LEN bytes of S are well-formed UTF-8 (no overlongs, no surrogates). */
static bool ctl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                              : (c & 0xf8) == 0xf0 ? 3 : 4;
        if (n == 4 || n >= len - i)
            return false;
        uint32_t cp = n == 0 ? c : c & (0x3fu >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* An image path or a mark goes into JSON and logs: it must be UTF-8 without control bytes. */
static const char *ctl_text_problem(const struct ctl_word *w)
{
    for (size_t i = 0; i < w->len; i++) {
        unsigned char c = (unsigned char)w->text[i];
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
    }
    return ctl_utf8_valid(w->text, w->len) ? NULL : "is not valid UTF-8";
}

static int ctl_parse_attach(const struct ctl_line *line, struct ctl_command *cmd,
                            struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    cmd->op = CTL_OP_ATTACH;
    int rc = ctl_parse_id(line, 1, "attach", cmd, err);
    if (rc < 0)
        return rc;
    if (line->count < 3)
        return ctl_fail(err, line->number, line->words[1].column + (unsigned)line->words[1].len + 1,
                        "attach: missing IMAGE (absolute path of an existing file)");
    const struct ctl_word *img = &line->words[2];
    if (img->text[0] != '/')
        return ctl_fail(err, line->number, img->column,
                        "attach: image path '%s' is not absolute", ctl_quote(img, q));
    const char *problem = ctl_text_problem(img);
    if (problem)
        return ctl_fail(err, line->number, img->column, "attach: image path '%s' %s",
                        ctl_quote(img, q), problem);
    if (line->count >= 4) {
        const struct ctl_word *opt = &line->words[3];
        const char *why;
        if (opt->len < 5 || memcmp(opt->text, "size=", 5) != 0)
            return ctl_fail(err, line->number, opt->column,
                            "attach: unexpected argument '%s' (expected size=BYTES)",
                            ctl_quote(opt, q));
        if (ctl_parse_size(opt->text + 5, opt->len - 5, &cmd->size_limit, &why) < 0 ||
            (cmd->size_limit == 0 && (why = "must be more than 0")))
            return ctl_fail(err, line->number, opt->column, "attach: bad size '%s': %s",
                            ctl_quote(opt, q), why);
    }
    rc = ctl_too_many(line, 4, "attach", err);
    if (rc < 0)
        return rc;
    cmd->image = strndup(img->text, img->len);
    return cmd->image ? 0 : -ENOMEM;
}

/* "ID: COMMAND" in the mount's ctl: a disk's command, for disk ID. */
static int ctl_parse_disk_command(const struct ctl_line *line, struct ctl_command *cmd,
                                  struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    const struct ctl_word *w = &line->words[0];
    const char *why;
    if (disk_id_check(w->text, w->len - 1, &why) < 0)
        return ctl_fail(err, line->number, w->column, "bad disk ID '%s': %s", ctl_quote(w, q),
                        why);
    if (line->count < 2)
        return ctl_fail(err, line->number, w->column + (unsigned)w->len + 1,
                        "%.*s missing a command for the disk", (int)w->len, w->text);
    struct ctl_line rest = {.count = line->count - 1, .number = line->number};
    memcpy(rest.words, line->words + 1, rest.count * sizeof rest.words[0]);
    int rc = ctl_parse_disk_line(&rest, cmd, err);
    memcpy(cmd->id, w->text, w->len - 1);
    cmd->id[w->len - 1] = '\0';
    return rc;
}

static int ctl_parse_mount_line(const struct ctl_line *line, struct ctl_command *cmd,
                                struct ff_error *err)
{
    char q[CTL_QUOTE_MAX + 4];
    const struct ctl_word *verb = &line->words[0];
    if (ctl_word_is(verb, "attach"))
        return ctl_parse_attach(line, cmd, err);
    if (ctl_word_is(verb, "detach")) {
        cmd->op = CTL_OP_DETACH;
        int rc = ctl_parse_id(line, 1, "detach", cmd, err);
        return rc < 0 ? rc : ctl_too_many(line, 2, "detach", err);
    }
    if (verb->len > 1 && verb->text[verb->len - 1] == ':')
        return ctl_parse_disk_command(line, cmd, err);
    if (fault_mode_find(verb->text, verb->len) || ctl_word_is(verb, "clear") ||
        ctl_word_is(verb, "powercut") || ctl_word_is(verb, "mark") || ctl_word_is(verb, "trace"))
        return ctl_fail(err, line->number, verb->column,
                        "'%s' belongs in a disk's ctl (MOUNT/ID/ctl), or write 'ID: %s'",
                        ctl_quote(verb, q), ctl_quote(verb, q));
    return ctl_fail(err, line->number, verb->column,
                    "unknown command '%s' (expected attach, detach or ID: COMMAND)",
                    ctl_quote(verb, q));
}

/* ---- batches ---- */

int ctl_parse(enum ctl_scope scope, const char *text, size_t len, struct ctl_batch *out,
              struct ff_error *err)
{
    memset(out, 0, sizeof *out);
    return ctl_parse_more(scope, text, len, 1, out, err);
}

int ctl_parse_more(enum ctl_scope scope, const char *text, size_t len, unsigned first_line,
                   struct ctl_batch *out, struct ff_error *err)
{
    memset(err, 0, sizeof *err);
    if (len > CTL_WRITE_MAX)
        return ctl_fail(err, first_line, 1, "batch of %zu bytes is over the %d-byte limit", len,
                        CTL_WRITE_MAX);

    unsigned number = first_line - 1;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *nul = memchr(text + pos, '\0', end - pos);
        struct ctl_line line;
        number++;
        if (nul)
            return ctl_fail(err, number, (unsigned)(nul - (text + pos)) + 1,
                            "NUL byte in a command");
        int rc = ctl_split(text + pos, end - pos, number, &line, err);
        if (rc == 0 && line.count > 0) {
            struct ctl_command *cmd;
            rc = ctl_push(out, &cmd);
            if (rc == 0) {
                cmd->line = number;
                rc = scope == CTL_SCOPE_DISK ? ctl_parse_disk_line(&line, cmd, err)
                                             : ctl_parse_mount_line(&line, cmd, err);
            }
        }
        if (rc < 0)
            return rc;
        pos = end + 1;
    }
    return 0;
}

void ctl_batch_free(struct ctl_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        free(batch->commands[i].image);
        free(batch->commands[i].text);
    }
    free(batch->commands);
    memset(batch, 0, sizeof *batch);
}

int ctl_batch_apply_faults(const struct ctl_batch *batch, struct fault_table *table)
{
    struct fault_edit *edits = calloc(batch->count ? batch->count : 1, sizeof *edits);
    if (!edits)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < batch->count; i++) {
        if (batch->commands[i].op == CTL_OP_FAULT && batch->commands[i].action == CTL_ACTION_NONE)
            edits[n++] = batch->commands[i].edit;
    }
    int rc = fault_table_apply(table, edits, n);
    free(edits);
    return rc;
}
