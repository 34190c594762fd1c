/*
 * The fault table of one disk: the active rules, switched by ctl writes while
 * requests consult it from many threads.
 *
 * Lock order: a fault table's lock is a leaf; nothing else is taken under it.
 */
#ifndef FAULTFS_FAULT_TABLE_H
#define FAULTFS_FAULT_TABLE_H

#include "fault_rule.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#define FAULT_TABLE_MAX_RULES 64

enum fault_edit_op {
    FAULT_EDIT_SET,        /* activate rule (replacing the rule of its mode) */
    FAULT_EDIT_CLEAR_MODE, /* drop every rule of rule.mode */
    FAULT_EDIT_CLEAR_ALL,  /* drop every rule */
};

/* One change to a table; a ctl line parses into one. */
struct fault_edit {
    enum fault_edit_op op;
    struct fault_rule rule; /* SET: the rule; CLEAR_MODE: only rule.mode counts */
};

struct fault_table {
    /*
     * Directions some active rule covers, read without the lock: a request
     * whose direction is not in it skips the table, so a disk with no faults
     * pays one atomic load per request.
     */
    _Atomic unsigned active_dirs;
    pthread_mutex_t lock; /* guards rules, nrules and fired */
    struct fault_rule rules[FAULT_TABLE_MAX_RULES]; /* sorted by mode name */
    size_t nrules;
    uint64_t fired[FAULT_MODE_COUNT]; /* requests each mode delayed or failed */
};

int fault_table_init(struct fault_table *table);
void fault_table_destroy(struct fault_table *table);

/*
 * Applies EDITS in order, all or nothing: returns 0, or -ENOSPC (the table
 * would exceed FAULT_TABLE_MAX_RULES) with the table unchanged.
 */
int fault_table_apply(struct fault_table *table, const struct fault_edit *edits, size_t count);

/* Nanoseconds RQ must sleep before its I/O (0 = none); counts the delay as a fire. */
uint64_t fault_table_delay_ns(struct fault_table *table, const struct fault_request *rq);

/* The delay the rules now in force give RQ, counted as nothing (to re-time a held request). */
uint64_t fault_table_current_delay_ns(struct fault_table *table, const struct fault_request *rq);

/* 0 if RQ may proceed, else -errno of the first rule failing it (counted as a fire). */
int fault_table_check(struct fault_table *table, const struct fault_request *rq);

/* Copies up to MAX active rules into OUT, sorted by mode name; returns how many are active. */
size_t fault_table_snapshot(struct fault_table *table, struct fault_rule *out, size_t max);

/*
 * Writes the active rules, one ctl line each, sorted by name, so that writing
 * the text back recreates them. Returns the length, or -ENOSPC if SIZE is short.
 */
ssize_t fault_table_render(struct fault_table *table, char *buf, size_t size);

/* Copies the per-mode fire counts. */
void fault_table_fired(struct fault_table *table, uint64_t out[FAULT_MODE_COUNT]);

#endif
