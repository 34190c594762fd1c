/*
 * The control protocol parser, shared by the daemon, faultctl and the Lua
 * module so each can tell the user the exact reason a command is refused.
 *
 * Text, one command per line, '#' at the start of a word starts a comment.
 * A batch is applied all or nothing; for a ctl file it is everything written
 * through one open file, applied when the file is closed.
 */
#ifndef FAULTFS_CTL_PARSE_H
#define FAULTFS_CTL_PARSE_H

#include "disk_id.h"
#include "fault_table.h"
#include "ff_error.h"

#include <stddef.h>
#include <stdint.h>

/* Most bytes one ctl write may carry. */
#define CTL_WRITE_MAX (64 * 1024)

/* The modes, as errors list them. */
#define CTL_MODE_NAMES                                                                         \
    "eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, "        \
    "drop_write, torn_write, bad_sectors, volatile"

enum ctl_scope {
    CTL_SCOPE_DISK,  /* ID/ctl: rules, clear, and the one-shot commands */
    CTL_SCOPE_MOUNT, /* MOUNT/ctl: attach, detach, and "ID: COMMAND" for a disk */
};

enum ctl_op {
    CTL_OP_FAULT,  /* a disk's command (a fault table edit or an action): of the disk whose
                      ctl it is, or in MOUNT/ctl of ID */
    CTL_OP_ATTACH, /* attach ID IMAGE [size=BYTES] */
    CTL_OP_DETACH, /* detach ID */
};

/* A disk's one-shot commands (SPEC §2b), run once the batch's rule changes are in. */
enum ctl_action {
    CTL_ACTION_NONE,        /* the command is a fault table edit */
    CTL_ACTION_POWERCUT,    /* powercut [keep=N] [seed=N]: drop what the volatile cache holds */
    CTL_ACTION_MARK,        /* mark TEXT: a mark in the trace */
    CTL_ACTION_TRACE_ON,    /* trace on */
    CTL_ACTION_TRACE_OFF,   /* trace off: the trace stays readable */
    CTL_ACTION_TRACE_CLEAR, /* trace clear: empty it */
};

/* Longest mark TEXT, in bytes. */
#define CTL_MARK_MAX 256

struct ctl_command {
    enum ctl_op op;
    unsigned line;                 /* 1-based line of the batch */
    struct fault_edit edit;        /* CTL_OP_FAULT, action CTL_ACTION_NONE */
    enum ctl_action action;        /* CTL_OP_FAULT */
    char *text;                    /* CTL_ACTION_MARK: the mark, owned by the batch */
    uint64_t keep, seed;           /* CTL_ACTION_POWERCUT: cached blocks that make it, chosen by seed */
    char id[DISK_ID_MAX + 1];      /* CTL_OP_ATTACH, CTL_OP_DETACH; CTL_OP_FAULT in MOUNT/ctl */
    char *image;                   /* CTL_OP_ATTACH: absolute path, owned by the batch */
    uint64_t size_limit;           /* CTL_OP_ATTACH: bytes visible; 0 = the whole image */
};

struct ctl_batch {
    struct ctl_command *commands;
    size_t count;
    size_t capacity;
};

/*
 * Parses LEN bytes of TEXT into OUT (which the caller frees with
 * ctl_batch_free, also on error). Returns 0, or -EINVAL with ERR filled;
 * -ENOMEM if memory runs out.
 */
int ctl_parse(enum ctl_scope scope, const char *text, size_t len, struct ctl_batch *out,
              struct ff_error *err);

/*
 * Parses more lines of a batch written in pieces: appends their commands to
 * OUT (which holds the earlier ones); FIRST_LINE is the number of the first
 * line of TEXT. Returns as ctl_parse; on error OUT may hold some of them.
 */
int ctl_parse_more(enum ctl_scope scope, const char *text, size_t len, unsigned first_line,
                   struct ctl_batch *out, struct ff_error *err);

void ctl_batch_free(struct ctl_batch *batch);

/*
 * Applies the fault edits of a disk batch to TABLE, all or nothing (see
 * fault_table_apply); the actions are the disk's to run (disk_control.h).
 */
int ctl_batch_apply_faults(const struct ctl_batch *batch, struct fault_table *table);

/*
 * Parses a byte count: digits with an optional K, M, G or T suffix (powers
 * of 1024). Returns 0 or -EINVAL with *WHY set.
 */
int ctl_parse_size(const char *text, size_t len, uint64_t *out, const char **why);

#endif
