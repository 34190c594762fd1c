/* The per-disk fault table: all-or-nothing edits, lock-free when empty. */
#include "fault_table.h"

#include <errno.h>
#include <string.h>

int fault_table_init(struct fault_table *table)
{
    memset(table, 0, sizeof *table);
    atomic_init(&table->active_dirs, 0);
    int rc = pthread_mutex_init(&table->lock, NULL);
    return rc ? -rc : 0;
}

void fault_table_destroy(struct fault_table *table)
{
    pthread_mutex_destroy(&table->lock);
}

static void rules_remove_mode(struct fault_rule *rules, size_t *count, const struct fault_mode *mode)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        if (rules[i].mode != mode)
            rules[kept++] = rules[i];
    }
    *count = kept;
}

/* Inserts RULE keeping the array sorted by mode; the caller removed its mode first. */
static int rules_insert(struct fault_rule *rules, size_t *count, const struct fault_rule *rule)
{
    if (*count == FAULT_TABLE_MAX_RULES)
        return -ENOSPC;
    size_t at = *count;
    while (at > 0 && fault_mode_id(rules[at - 1].mode) > fault_mode_id(rule->mode))
        at--;
    memmove(&rules[at + 1], &rules[at], (*count - at) * sizeof rules[0]);
    rules[at] = *rule;
    (*count)++;
    return 0;
}

static unsigned rules_directions(const struct fault_rule *rules, size_t count)
{
    unsigned dirs = 0;
    for (size_t i = 0; i < count; i++)
        dirs |= rules[i].directions;
    return dirs;
}

int fault_table_apply(struct fault_table *table, const struct fault_edit *edits, size_t count)
{
    /* Edit a copy so a failing edit leaves the live rules untouched. */
    struct fault_rule next[FAULT_TABLE_MAX_RULES];
    int rc = 0;

    pthread_mutex_lock(&table->lock);
    size_t n = table->nrules;
    memcpy(next, table->rules, n * sizeof next[0]);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const struct fault_edit *e = &edits[i];
        switch (e->op) {
        case FAULT_EDIT_SET:
            rules_remove_mode(next, &n, e->rule.mode);
            rc = rules_insert(next, &n, &e->rule);
            break;
        case FAULT_EDIT_CLEAR_MODE:
            rules_remove_mode(next, &n, e->rule.mode);
            break;
        case FAULT_EDIT_CLEAR_ALL:
            n = 0;
            break;
        }
    }
    if (rc == 0) {
        memcpy(table->rules, next, n * sizeof next[0]);
        table->nrules = n;
        atomic_store_explicit(&table->active_dirs, rules_directions(next, n),
                              memory_order_release);
    }
    pthread_mutex_unlock(&table->lock);
    return rc;
}

static bool table_may_match(struct fault_table *table, const struct fault_request *rq)
{
    return (atomic_load_explicit(&table->active_dirs, memory_order_acquire) & rq->dir) != 0;
}

/* The delay of RQ under the current rules; COUNT records it as a fire. */
static uint64_t table_delay(struct fault_table *table, const struct fault_request *rq, bool count)
{
    if (!table_may_match(table, rq))
        return 0;
    uint64_t delay = 0;
    pthread_mutex_lock(&table->lock);
    for (size_t i = 0; i < table->nrules; i++) {
        const struct fault_rule *r = &table->rules[i];
        if (r->delay_ns && fault_rule_matches(r, rq)) {
            delay += r->delay_ns;
            if (count)
                table->fired[fault_mode_id(r->mode)]++;
        }
    }
    pthread_mutex_unlock(&table->lock);
    return delay;
}

uint64_t fault_table_delay_ns(struct fault_table *table, const struct fault_request *rq)
{
    return table_delay(table, rq, true);
}

uint64_t fault_table_current_delay_ns(struct fault_table *table, const struct fault_request *rq)
{
    return table_delay(table, rq, false);
}

int fault_table_check(struct fault_table *table, const struct fault_request *rq)
{
    if (!table_may_match(table, rq))
        return 0;
    int rc = 0;
    pthread_mutex_lock(&table->lock);
    for (size_t i = 0; i < table->nrules; i++) {
        const struct fault_rule *r = &table->rules[i];
        if (r->error && fault_rule_matches(r, rq)) {
            table->fired[fault_mode_id(r->mode)]++;
            rc = -r->error;
            break;
        }
    }
    pthread_mutex_unlock(&table->lock);
    return rc;
}

size_t fault_table_snapshot(struct fault_table *table, struct fault_rule *out, size_t max)
{
    pthread_mutex_lock(&table->lock);
    size_t n = table->nrules;
    memcpy(out, table->rules, (n < max ? n : max) * sizeof out[0]);
    pthread_mutex_unlock(&table->lock);
    return n;
}

ssize_t fault_table_render(struct fault_table *table, char *buf, size_t size)
{
    struct fault_rule rules[FAULT_TABLE_MAX_RULES];
    size_t n = fault_table_snapshot(table, rules, FAULT_TABLE_MAX_RULES);
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        char line[FAULT_RULE_TEXT_MAX];
        fault_rule_format(&rules[i], line);
        size_t l = strlen(line);
        if (len + l + 2 > size)
            return -ENOSPC;
        memcpy(buf + len, line, l);
        len += l;
        buf[len++] = '\n';
    }
    if (size > 0)
        buf[len] = '\0';
    return (ssize_t)len;
}

void fault_table_fired(struct fault_table *table, uint64_t out[FAULT_MODE_COUNT])
{
    pthread_mutex_lock(&table->lock);
    memcpy(out, table->fired, sizeof table->fired);
    pthread_mutex_unlock(&table->lock);
}
