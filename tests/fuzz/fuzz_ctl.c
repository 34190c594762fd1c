/*
 * libFuzzer target for the control protocol: the parser in both scopes, the
 * fault table a disk batch edits, the render -> parse -> render round trip,
 * the size and duration parsers and error formatting.
 *
 * The first byte picks the scope (bit 0: 0 = a disk's ctl, 1 = the mount's);
 * the rest is the text of one write. Every broken promise calls abort(), so
 * libFuzzer keeps the input as a crash. Attach is parsed, never applied: the
 * target touches no file.
 */
#include "ctl_parse.h"
#include "disk_id.h"
#include "duration.h"
#include "fault_table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for every rule a table can hold, one line each. */
#define FUZZ_RENDER_MAX (FAULT_TABLE_MAX_RULES * FAULT_RULE_TEXT_MAX + 1)

static void fuzz_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_ctl: broken promise: %s\n", what);
        abort();
    }
}

/* An error names a place and carries printable text that ends inside its buffer. */
static void fuzz_check_error(const struct ff_error *err, size_t len, size_t lines)
{
    fuzz_require(memchr(err->msg, '\0', sizeof err->msg) != NULL, "error text is terminated");
    fuzz_require(err->msg[0] != '\0', "error text is not empty");
    for (const char *p = err->msg; *p; p++)
        fuzz_require((unsigned char)*p >= 0x20 && *p != 0x7f, "error text has no control bytes");
    fuzz_require(err->line >= 1 && err->line <= lines, "error line lies in the batch");
    fuzz_require(err->column >= 1 && err->column <= len + 2, "error column lies near the line");

    /* Formatting fits any buffer, cut and terminated. */
    char full[FF_ERROR_MSG_MAX + 64];
    ff_error_format(err, full, sizeof full);
    fuzz_require(strstr(full, err->msg) != NULL, "formatted error quotes the text");
    for (size_t cut = 1; cut <= 16; cut *= 2) {
        char small[16];
        memset(small, 'x', sizeof small);
        ff_error_format(err, small, cut);
        fuzz_require(strlen(small) == cut - 1 && strncmp(small, full, cut - 1) == 0,
                     "a cut error is a terminated prefix");
    }
}

/* Every command of a parsed batch belongs to its scope and holds well-formed values. */
static void fuzz_check_batch(enum ctl_scope scope, const struct ctl_batch *batch, size_t lines)
{
    unsigned last_line = 0;
    for (size_t i = 0; i < batch->count; i++) {
        const struct ctl_command *cmd = &batch->commands[i];
        const char *why;
        fuzz_require(cmd->line > last_line && cmd->line <= lines, "commands keep line order");
        last_line = cmd->line;
        if (cmd->op == CTL_OP_FAULT) {
            /* A one-shot command edits nothing; a mark carries its text. */
            fuzz_require((cmd->action == CTL_ACTION_NONE) == (cmd->edit.op != FAULT_EDIT_NONE),
                         "a command is an edit or an action, never both");
            fuzz_require((cmd->action == CTL_ACTION_MARK) ==
                             (cmd->text && cmd->text[0] && strlen(cmd->text) <= CTL_MARK_MAX),
                         "a mark, and only a mark, has its text");
            fuzz_require(cmd->edit.op == FAULT_EDIT_CLEAR_ALL || cmd->edit.op == FAULT_EDIT_NONE ||
                             cmd->edit.rule.mode != NULL,
                         "a set or clear of one mode names the mode");
            fuzz_require(cmd->edit.rule.delay_a_ns <= DURATION_MAX_NS, "delays stay under the limit");
            fuzz_require(cmd->edit.rule.nranges <= FAULT_RULE_MAX_RANGES, "ranges fit the rule");
            /* In the mount's ctl a fault edit is an "ID: COMMAND" line, for a valid ID. */
            fuzz_require(scope == CTL_SCOPE_MOUNT ? disk_id_check(cmd->id, strlen(cmd->id), &why) == 0
                                                  : cmd->id[0] == '\0',
                         "a fault edit names a disk exactly in the mount's ctl");
            continue;
        }
        fuzz_require(scope == CTL_SCOPE_MOUNT, "a disk batch holds only fault edits");
        fuzz_require(cmd->op == CTL_OP_ATTACH || cmd->op == CTL_OP_DETACH,
                     "a mount batch holds attach, detach and ID: COMMAND");
        fuzz_require(disk_id_check(cmd->id, strlen(cmd->id), &why) == 0, "the disk id is valid");
        if (cmd->op == CTL_OP_ATTACH) {
            fuzz_require(cmd->image && cmd->image[0] == '/', "the image path is absolute");
            fuzz_require(strpbrk(cmd->image, " \t\r\n") == NULL, "the image path is one word");
        } else {
            fuzz_require(cmd->image == NULL, "detach carries no image");
        }
    }
}

static void fuzz_render(struct fault_table *table, char buf[FUZZ_RENDER_MAX], size_t *len)
{
    ssize_t n = fault_table_render(table, buf, FUZZ_RENDER_MAX);
    fuzz_require(n >= 0 && (size_t)n < FUZZ_RENDER_MAX, "a full table renders");
    fuzz_require(strlen(buf) == (size_t)n, "the rendering is terminated text");
    *len = (size_t)n;
}

/* Apply, then render -> parse -> apply to a fresh table -> render: the same bytes. */
static void fuzz_round_trip(const struct ctl_batch *batch)
{
    static char first[FUZZ_RENDER_MAX], second[FUZZ_RENDER_MAX];
    struct fault_table table, again;
    size_t first_len, second_len;

    fuzz_require(fault_table_init(&table) == 0, "fault_table_init");
    int rc = ctl_batch_apply_faults(batch, &table);
    fuzz_require(rc == 0 || rc == -ENOSPC, "apply returns 0 or -ENOSPC");
    fuzz_render(&table, first, &first_len);
    if (rc < 0)
        fuzz_require(first_len == 0, "a refused batch leaves the fresh table empty");

    /* The table answers requests of both directions without surprise. */
    for (unsigned dir = FAULT_READ; dir <= FAULT_WRITE; dir <<= 1) {
        struct fault_request rq = {.dir = (enum fault_dir)dir, .offset = 0, .length = 4096};
        fuzz_require(fault_table_delay_ns(&table, &rq) <= FAULT_TABLE_MAX_RULES * DURATION_MAX_NS,
                     "delays add up within bounds");
        struct fault_verdict v;
        int check = fault_table_decide(&table, &rq, NULL, &v);
        fuzz_require(check <= 0 && check > -4096, "a check fails with -errno or passes");
        fuzz_require(v.nranges <= FAULT_RULE_MAX_RANGES, "a verdict's ranges fit");
        for (size_t i = 0; i < v.nranges; i++)
            fuzz_require(v.ranges[i].first <= v.ranges[i].last && v.ranges[i].last < 8,
                         "a verdict's sectors lie within the request");
    }

    struct ctl_batch reparsed;
    struct ff_error err;
    rc = ctl_parse(CTL_SCOPE_DISK, first, first_len, &reparsed, &err);
    if (rc != 0) {
        char msg[FF_ERROR_MSG_MAX + 64];
        ff_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "fuzz_ctl: rendered table does not parse: %s\n%s", msg, first);
        abort();
    }
    fuzz_require(fault_table_init(&again) == 0, "fault_table_init");
    fuzz_require(ctl_batch_apply_faults(&reparsed, &again) == 0, "a rendered table applies");
    fuzz_render(&again, second, &second_len);
    if (first_len != second_len || memcmp(first, second, first_len) != 0) {
        fprintf(stderr, "fuzz_ctl: round trip changed the table:\n--- first\n%s--- second\n%s",
                first, second);
        abort();
    }
    /* Writing the first sectors mends them: none stays bad, and the rest still renders. */
    fuzz_require(fault_table_heal(&again, 0, 8 * 512, NULL, NULL) >= 0, "heal");
    struct fault_request first_sectors = {.dir = FAULT_READ, .offset = 0, .length = 8 * 512};
    size_t n;
    struct fault_rule *rules = fault_table_copy(&again, &n);
    for (size_t i = 0; rules && i < n; i++)
        fuzz_require(!rules[i].mode->heals || !fault_rule_covers(&rules[i], &first_sectors),
                     "a healed sector is in no bad_sectors rule");
    free(rules);
    fuzz_render(&again, second, &second_len);
    ctl_batch_free(&reparsed);
    fault_table_destroy(&again);
    fault_table_destroy(&table);
}

/* A size that parses prints as digits that parse to the same value. */
static void fuzz_size(const char *text, size_t len)
{
    uint64_t value = 0, back = 0;
    const char *why = NULL;
    if (ctl_parse_size(text, len, &value, &why) < 0) {
        fuzz_require(why != NULL && why[0] != '\0', "a refused size says why");
        return;
    }
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, value);
    fuzz_require(ctl_parse_size(digits, (size_t)n, &back, &why) == 0 && back == value,
                 "a size prints and parses back");
}

/* A duration that parses is within the limit and formats to text that parses back. */
static void fuzz_duration(const char *text, size_t len)
{
    uint64_t ns = 0, back = 0;
    const char *why = NULL;
    if (duration_parse(text, len, &ns, &why) < 0) {
        fuzz_require(why != NULL && why[0] != '\0', "a refused duration says why");
        return;
    }
    fuzz_require(ns <= DURATION_MAX_NS, "a duration stays under the limit");
    char formatted[DURATION_TEXT_MAX];
    duration_format(ns, formatted);
    fuzz_require(duration_parse(formatted, strlen(formatted), &back, &why) == 0 && back == ns,
                 "a duration formats and parses back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum ctl_scope scope = (data[0] & 1) ? CTL_SCOPE_MOUNT : CTL_SCOPE_DISK;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';

    struct ctl_batch batch;
    struct ff_error err;
    int rc = ctl_parse(scope, text, len, &batch, &err);
    fuzz_require(rc == 0 || rc == -EINVAL || rc == -ENOMEM,
                 "ctl_parse returns 0, -EINVAL or -ENOMEM");
    if (rc == -EINVAL)
        fuzz_check_error(&err, len, lines);
    if (rc == 0) {
        fuzz_check_batch(scope, &batch, lines);
        if (scope == CTL_SCOPE_DISK)
            fuzz_round_trip(&batch);
    }
    ctl_batch_free(&batch);

    fuzz_size(text, len);
    fuzz_duration(text, len);
    return 0;
}
