/*
 * The fault table of one disk: its rules, switched by ctl writes while
 * requests consult them from many threads.
 *
 * Edits are made on a copy and committed whole, so a request never sees
 * half a batch. Rules with sectors= are found through an index (sorted
 * spans with the largest end of each subtree), so a request pays O(log n)
 * for n ranges that do not concern it; a disk with no rule for a request's
 * direction pays one atomic load.
 *
 * A request consults the table three times, in the seed's order:
 * fault_table_delay_ns (step 1), fault_table_check (step 2) and, after the
 * I/O, fault_table_recheck (step 4), which looks only at rules added since
 * the check: each rule decides once per request.
 *
 * Lock order: a fault table's lock is taken last: under the registry's lock,
 * several tables' (fault_table_prepare); nothing else is taken under it.
 */
#ifndef FAULTFS_FAULT_TABLE_H
#define FAULTFS_FAULT_TABLE_H

#include "fault_rule.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

/* Most rules one disk holds. */
#define FAULT_TABLE_MAX_RULES 65536

enum fault_edit_op {
    FAULT_EDIT_SET,        /* add the rule, or replace the one that is the same (fault_rule_same) */
    FAULT_EDIT_CLEAR_MODE, /* drop every rule of rule.mode */
    FAULT_EDIT_CLEAR_RULE, /* drop the rule that is the same as rule, if any */
    FAULT_EDIT_CLEAR_ALL,  /* drop every rule */
    FAULT_EDIT_NONE,       /* no change (a command that is not an edit) */
};

/* One change to a table; a ctl line parses into one. */
struct fault_edit {
    enum fault_edit_op op;
    struct fault_rule rule;
};

/* A rule in the table: the rule and when it was added. */
struct fault_entry {
    uint64_t id; /* order added: the first added wins among error rules */
    struct fault_rule rule;
};

/* A sector range of a rule, in bytes, for the index. */
struct fault_span {
    uint64_t first, last; /* bytes, inclusive */
    size_t entry;         /* index into entries */
};

/* In active_dirs beside the enum fault_dir bits: some rule mends when written (bad_sectors). */
#define FAULT_TABLE_HEALS (1u << 8)

struct fault_table {
    /* enum fault_dir bits some rule covers, read without the lock. */
    _Atomic unsigned active_dirs;
    pthread_mutex_t lock; /* guards everything below */
    struct fault_entry *entries; /* by id */
    size_t count;
    uint64_t next_id;
    size_t *whole; /* entries without sectors */
    size_t nwhole;
    struct fault_span *spans; /* sorted by first */
    uint64_t *span_max;       /* the largest last of each implicit subtree */
    size_t nspans;
    uint64_t fired[FAULT_MODE_COUNT]; /* requests each mode delayed or failed */
};

/* What fault_table_prepare builds: the rules and their index, ready to commit. */
struct fault_index {
    size_t *whole;
    size_t nwhole;
    struct fault_span *spans;
    uint64_t *span_max;
    size_t nspans;
    unsigned dirs;
};

struct fault_change {
    struct fault_entry *entries;
    size_t count;
    uint64_t next_id;
    struct fault_index index;
};

int fault_table_init(struct fault_table *table);
void fault_table_destroy(struct fault_table *table);

/*
 * Applies EDITS in order, all or nothing: returns 0, or -ENOSPC (more than
 * FAULT_TABLE_MAX_RULES) or -ENOMEM with the table unchanged.
 */
int fault_table_apply(struct fault_table *table, const struct fault_edit *edits, size_t count);

/*
 * fault_table_apply in two steps, for a change to several tables that must
 * all happen or none: prepare builds CHANGE and, on success, leaves TABLE
 * locked (-ENOSPC / -ENOMEM: unchanged and unlocked); commit makes the change
 * and unlocks, abandon drops it and unlocks. Whoever prepares several tables
 * at once must do so in one order (the registry holds its lock).
 */
int fault_table_prepare(struct fault_table *table, const struct fault_edit *edits, size_t count,
                        struct fault_change *change);
void fault_table_commit(struct fault_table *table, struct fault_change *change);
void fault_table_abandon(struct fault_table *table, struct fault_change *change);

/* Step 1: the nanoseconds RQ sleeps before its I/O (0 = none); the rules that fire count it. */
uint64_t fault_table_delay_ns(struct fault_table *table, const struct fault_request *rq);

/* The longest delay the rules now in force could give RQ, counted as nothing (to re-time it). */
uint64_t fault_table_current_delay_ns(struct fault_table *table, const struct fault_request *rq);

/* What step 2 decided for one request: the first added rule that fired, if any. */
struct fault_verdict {
    int error;                     /* -errno the request fails with (a data effect: after it) */
    const struct fault_mode *mode; /* of the rule that fired; NULL: none did */
    uint64_t rule_id;
    /* A data effect (mode->effect CORRUPT, DROP or TEAR), to apply during the I/O: */
    uint32_t bits;   /* bits to flip */
    uint64_t keep;   /* sectors a torn write stores; 0 = half */
    uint64_t draw;   /* seeds where the bits go */
    size_t nranges;  /* where the effect lands: these sectors of the request; 0 = all of it */
    struct fault_range ranges[FAULT_RULE_MAX_RANGES];
};

/*
 * Step 2: 0 if RQ may proceed, else -errno of the first added rule that
 * fires. *SEEN (may be NULL) gets the mark fault_table_recheck needs;
 * *VERDICT (may be NULL) the rule that fired and its data effect, which a
 * rule added before any error rule that fires wins.
 */
int fault_table_decide(struct fault_table *table, const struct fault_request *rq, uint64_t *seen,
                       struct fault_verdict *verdict);

/* fault_table_decide without the verdict. */
int fault_table_check(struct fault_table *table, const struct fault_request *rq, uint64_t *seen);

/* Step 4: as the check, for the error rules added since it (SEEN). */
int fault_table_recheck(struct fault_table *table, const struct fault_request *rq, uint64_t seen,
                        struct fault_verdict *verdict);

/* Told of each run of sectors a heal mended, and the errno their rule failed reads with. */
typedef void (*fault_mended_fn)(void *ctx, uint64_t first, uint64_t last, int error);

/*
 * A write stored bytes [OFFSET, OFFSET + LENGTH): the sectors it covers
 * whole are no longer bad (bad_sectors rules lose them; a rule left with
 * none goes). MENDED (may be NULL) hears of each run, under the table's
 * lock. Returns how many sectors were mended, or -ENOMEM.
 */
int64_t fault_table_heal(struct fault_table *table, uint64_t offset, uint64_t length,
                         fault_mended_fn mended, void *ctx);

/* The limit= of the table's volatile rule, or 0 when it has none. */
uint64_t fault_table_cache_limit(struct fault_table *table);

/* The rules, sorted by mode name then age, in a malloc'd array (*COUNT long); NULL if out of memory. */
struct fault_rule *fault_table_copy(struct fault_table *table, size_t *count);

/* Whether some rule of each mode is in the table. */
void fault_table_modes(struct fault_table *table, bool out[FAULT_MODE_COUNT]);

/*
 * Writes the rules, one ctl line each, sorted by mode name then age, each
 * followed by its counts as a comment, so that writing the text back
 * recreates them. Returns the length, or -ENOSPC if SIZE is short.
 */
ssize_t fault_table_render(struct fault_table *table, char *buf, size_t size);

/* The bytes fault_table_render needs now (with room for its NUL). */
size_t fault_table_render_size(struct fault_table *table);

/* Copies the per-mode fire counts. */
void fault_table_fired(struct fault_table *table, uint64_t out[FAULT_MODE_COUNT]);

#endif
