/* The per-disk fault table: all-or-nothing edits, an index of sector ranges, the decisions. */
#include "fault_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fault_table_init(struct fault_table *table)
{
    memset(table, 0, sizeof *table);
    atomic_init(&table->active_dirs, 0);
    table->next_id = 1;
    int rc = pthread_mutex_init(&table->lock, NULL);
    return rc ? -rc : 0;
}

static void table_free_arrays(struct fault_entry *entries, size_t *whole, struct fault_span *spans,
                              uint64_t *span_max)
{
    free(entries);
    free(whole);
    free(spans);
    free(span_max);
}

void fault_table_destroy(struct fault_table *table)
{
    table_free_arrays(table->entries, table->whole, table->spans, table->span_max);
    pthread_mutex_destroy(&table->lock);
}

/* ---- the index ---- */

static int span_cmp(const void *a, const void *b)
{
    const struct fault_span *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* span_max[mid] = the largest last in [lo, hi), the subtree whose root is its middle. */
static uint64_t index_build_max(struct fault_span *spans, uint64_t *span_max, size_t lo, size_t hi)
{
    if (lo >= hi)
        return 0;
    size_t mid = lo + (hi - lo) / 2;
    uint64_t m = spans[mid].last;
    uint64_t l = index_build_max(spans, span_max, lo, mid);
    uint64_t r = index_build_max(spans, span_max, mid + 1, hi);
    m = m > l ? m : l;
    m = m > r ? m : r;
    span_max[mid] = m;
    return m;
}


static int index_build(const struct fault_entry *entries, size_t count, struct fault_index *ix)
{
    size_t nspans = 0, nwhole = 0;
    memset(ix, 0, sizeof *ix);
    for (size_t i = 0; i < count; i++) {
        nspans += entries[i].rule.nranges;
        nwhole += entries[i].rule.nranges == 0;
        ix->dirs |= entries[i].rule.directions;
        if (entries[i].rule.mode->heals)
            ix->dirs |= FAULT_TABLE_HEALS;
    }
    ix->whole = malloc((nwhole ? nwhole : 1) * sizeof *ix->whole);
    ix->spans = malloc((nspans ? nspans : 1) * sizeof *ix->spans);
    ix->span_max = malloc((nspans ? nspans : 1) * sizeof *ix->span_max);
    if (!ix->whole || !ix->spans || !ix->span_max) {
        table_free_arrays(NULL, ix->whole, ix->spans, ix->span_max);
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const struct fault_rule *r = &entries[i].rule;
        if (r->nranges == 0)
            ix->whole[ix->nwhole++] = i;
        for (size_t k = 0; k < r->nranges; k++) {
            uint64_t last = r->ranges[k].last;
            ix->spans[ix->nspans++] = (struct fault_span){
                .first = r->ranges[k].first * 512,
                .last = last >= UINT64_MAX / 512 ? UINT64_MAX : last * 512 + 511,
                .entry = i};
        }
    }
    qsort(ix->spans, ix->nspans, sizeof *ix->spans, span_cmp);
    index_build_max(ix->spans, ix->span_max, 0, ix->nspans);
    return 0;
}

/* Entry indexes a request may concern, gathered in a vector that grows past its start. */
struct candidates {
    size_t *at;
    size_t count, capacity;
    size_t inline_slots[32];
};

static void candidates_add(struct candidates *c, size_t entry)
{
    if (c->count == c->capacity) {
        size_t cap = c->capacity * 2;
        size_t *grown = c->at == c->inline_slots ? malloc(cap * sizeof *grown)
                                                 : realloc(c->at, cap * sizeof *grown);
        if (!grown)
            return; /* out of memory: the rest are not looked at */
        if (c->at == c->inline_slots)
            memcpy(grown, c->inline_slots, sizeof c->inline_slots);
        c->at = grown;
        c->capacity = cap;
    }
    c->at[c->count++] = entry;
}

static void index_query(const struct fault_table *t, size_t lo, size_t hi, uint64_t first,
                        uint64_t last, struct candidates *c)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->span_max[mid] < first)
            return; /* nothing in this subtree reaches the request */
        index_query(t, lo, mid, first, last, c);
        if (t->spans[mid].first > last)
            return; /* this span and all after it start past the request */
        if (t->spans[mid].last >= first)
            candidates_add(c, t->spans[mid].entry);
        lo = mid + 1;
    }
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The entries RQ may concern, in the order they were added. Caller holds the lock. */
static void table_candidates(const struct fault_table *t, const struct fault_request *rq,
                             struct candidates *c)
{
    c->at = c->inline_slots;
    c->count = 0;
    c->capacity = sizeof c->inline_slots / sizeof c->inline_slots[0];
    for (size_t i = 0; i < t->nwhole; i++)
        candidates_add(c, t->whole[i]);
    if (t->nspans && rq->length) {
        uint64_t last = rq->offset + rq->length - 1;
        index_query(t, 0, t->nspans, rq->offset, last < rq->offset ? UINT64_MAX : last, c);
    }
    if (t->nspans) {
        qsort(c->at, c->count, sizeof *c->at, size_cmp);
        size_t kept = 0; /* a rule with several ranges may come more than once */
        for (size_t i = 0; i < c->count; i++) {
            if (kept == 0 || c->at[kept - 1] != c->at[i])
                c->at[kept++] = c->at[i];
        }
        c->count = kept;
    }
}

static void candidates_free(struct candidates *c)
{
    if (c->at != c->inline_slots)
        free(c->at);
}

/* ---- edits ---- */

static ssize_t entries_find(const struct fault_entry *entries, size_t n,
                            const struct fault_rule *rule)
{
    for (size_t i = 0; i < n; i++) {
        if (fault_rule_same(&entries[i].rule, rule))
            return (ssize_t)i;
    }
    return -1;
}

static size_t entries_remove_if(struct fault_entry *entries, size_t n,
                                const struct fault_edit *e)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fault_rule *r = &entries[i].rule;
        bool drop = e->op == FAULT_EDIT_CLEAR_ALL ||
                    (e->op == FAULT_EDIT_CLEAR_MODE && r->mode == e->rule.mode) ||
                    (e->op == FAULT_EDIT_CLEAR_RULE && fault_rule_same(r, &e->rule));
        if (!drop)
            entries[kept++] = entries[i];
    }
    return kept;
}

int fault_table_prepare(struct fault_table *table, const struct fault_edit *edits, size_t count,
                        struct fault_change *change)
{
    int rc = 0;
    pthread_mutex_lock(&table->lock);
    size_t n = table->count, capacity = table->count + count;
    uint64_t next_id = table->next_id;
    struct fault_entry *next = malloc((capacity ? capacity : 1) * sizeof *next);
    if (!next) {
        pthread_mutex_unlock(&table->lock);
        return -ENOMEM;
    }
    if (n)
        memcpy(next, table->entries, n * sizeof *next);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const struct fault_edit *e = &edits[i];
        if (e->op != FAULT_EDIT_SET) {
            n = entries_remove_if(next, n, e);
            continue;
        }
        ssize_t same = entries_find(next, n, &e->rule);
        if (same >= 0) {
            /* The same rule with a new effect: it keeps its place and its counts. */
            fault_rule_set_effect(&next[same].rule, &e->rule);
        } else if (n == FAULT_TABLE_MAX_RULES) {
            rc = -ENOSPC;
        } else {
            next[n] = (struct fault_entry){.id = next_id++, .rule = e->rule};
            next[n].rule.matched = next[n].rule.fired = next[n].rule.draws = 0;
            n++;
        }
    }
    if (rc == 0)
        rc = index_build(next, n, &change->index);
    if (rc < 0) {
        pthread_mutex_unlock(&table->lock);
        free(next);
        return rc;
    }
    change->entries = next;
    change->count = n;
    change->next_id = next_id;
    return 0; /* the table stays locked until commit or abandon */
}

void fault_table_commit(struct fault_table *table, struct fault_change *change)
{
    struct fault_entry *old = table->entries;
    size_t *old_whole = table->whole;
    struct fault_span *old_spans = table->spans;
    uint64_t *old_max = table->span_max;
    table->entries = change->entries;
    table->count = change->count;
    table->next_id = change->next_id;
    table->whole = change->index.whole;
    table->nwhole = change->index.nwhole;
    table->spans = change->index.spans;
    table->span_max = change->index.span_max;
    table->nspans = change->index.nspans;
    atomic_store_explicit(&table->active_dirs, change->index.dirs, memory_order_release);
    pthread_mutex_unlock(&table->lock);
    table_free_arrays(old, old_whole, old_spans, old_max);
}

void fault_table_abandon(struct fault_table *table, struct fault_change *change)
{
    pthread_mutex_unlock(&table->lock);
    table_free_arrays(change->entries, change->index.whole, change->index.spans,
                      change->index.span_max);
}

int fault_table_apply(struct fault_table *table, const struct fault_edit *edits, size_t count)
{
    struct fault_change change;
    int rc = fault_table_prepare(table, edits, count, &change);
    if (rc == 0)
        fault_table_commit(table, &change);
    return rc;
}

/* ---- decisions ---- */

static bool table_may_match(struct fault_table *table, const struct fault_request *rq)
{
    return (atomic_load_explicit(&table->active_dirs, memory_order_acquire) & rq->dir) != 0;
}

uint64_t fault_table_delay_ns(struct fault_table *table, const struct fault_request *rq)
{
    struct candidates c;
    uint64_t delay = 0;
    if (!table_may_match(table, rq))
        return 0;
    pthread_mutex_lock(&table->lock);
    table_candidates(table, rq, &c);
    for (size_t i = 0; i < c.count; i++) {
        struct fault_rule *r = &table->entries[c.at[i]].rule;
        if (r->delay != FAULT_DELAY_NONE && fault_rule_covers(r, rq) && fault_rule_fires(r)) {
            delay += fault_rule_delay_ns(r);
            table->fired[fault_mode_id(r->mode)]++;
        }
    }
    pthread_mutex_unlock(&table->lock);
    candidates_free(&c);
    return delay;
}

uint64_t fault_table_current_delay_ns(struct fault_table *table, const struct fault_request *rq)
{
    struct candidates c;
    uint64_t delay = 0;
    if (!table_may_match(table, rq))
        return 0;
    pthread_mutex_lock(&table->lock);
    table_candidates(table, rq, &c);
    for (size_t i = 0; i < c.count; i++) {
        const struct fault_rule *r = &table->entries[c.at[i]].rule;
        if (r->delay == FAULT_DELAY_NONE || !fault_rule_covers(r, rq) ||
            (r->times && r->fired >= r->times))
            continue;
        delay += r->delay == FAULT_DELAY_FIXED ? r->delay_a_ns : r->delay_b_ns;
    }
    pthread_mutex_unlock(&table->lock);
    candidates_free(&c);
    return delay;
}

/* Whether RULE's effect can apply to RQ (a data effect needs data: no discards). */
static bool effect_applies(const struct fault_rule *rule, const struct fault_request *rq,
                           bool errors_only)
{
    switch (rule->mode->effect) {
    case FAULT_EFFECT_ERROR:
        return true;
    case FAULT_EFFECT_CORRUPT:
    case FAULT_EFFECT_DROP:
    case FAULT_EFFECT_TEAR:
        return !errors_only && !rq->errors_only && !(rq->dir & FAULT_DISCARD);
    default:
        return false;
    }
}

/* The verdict of the rule E, which fired for RQ. */
static int verdict_of(struct fault_entry *e, const struct fault_request *rq,
                      struct fault_verdict *v)
{
    const struct fault_rule *r = &e->rule;
    *v = (struct fault_verdict){
        .error = -r->error, .mode = r->mode, .rule_id = e->id, .bits = r->bits, .keep = r->keep};
    if (r->mode->effect == FAULT_EFFECT_CORRUPT)
        v->draw = fault_rule_draw(&e->rule);
    /* A data effect lands only on the rule's sectors, where the request has some. */
    uint64_t first = rq->offset / 512, last = (rq->offset + rq->length - 1) / 512;
    for (size_t i = 0; i < r->nranges; i++) {
        struct fault_range in = r->ranges[i];
        if (in.last < first || in.first > last)
            continue;
        v->ranges[v->nranges++] = (struct fault_range){
            .first = in.first > first ? in.first : first, .last = in.last < last ? in.last : last};
    }
    return v->error;
}

/* The first rule added after SEEN that fires for RQ: its -errno, or 0; the verdict in *V. */
static int table_check_since(struct fault_table *table, const struct fault_request *rq,
                             uint64_t seen, uint64_t *mark, bool errors_only,
                             struct fault_verdict *v)
{
    struct candidates c;
    int rc = 0;
    v->mode = NULL;
    v->error = 0;
    v->nranges = 0;
    if (!table_may_match(table, rq)) {
        /* No rule for this direction: anything added later is new to this request. */
        if (mark)
            *mark = seen;
        return 0;
    }
    pthread_mutex_lock(&table->lock);
    if (mark)
        *mark = table->next_id - 1;
    table_candidates(table, rq, &c);
    for (size_t i = 0; i < c.count && !v->mode; i++) {
        struct fault_entry *e = &table->entries[c.at[i]];
        if (e->id > seen && effect_applies(&e->rule, rq, errors_only) &&
            fault_rule_covers(&e->rule, rq) && fault_rule_fires(&e->rule)) {
            table->fired[fault_mode_id(e->rule.mode)]++;
            rc = verdict_of(e, rq, v);
        }
    }
    pthread_mutex_unlock(&table->lock);
    candidates_free(&c);
    return rc;
}

int fault_table_decide(struct fault_table *table, const struct fault_request *rq, uint64_t *seen,
                       struct fault_verdict *verdict)
{
    struct fault_verdict unused;
    uint64_t mark;
    int rc = table_check_since(table, rq, 0, &mark, false, verdict ? verdict : &unused);
    if (seen)
        *seen = mark;
    return rc;
}

int fault_table_check(struct fault_table *table, const struct fault_request *rq, uint64_t *seen)
{
    return fault_table_decide(table, rq, seen, NULL);
}

int fault_table_recheck(struct fault_table *table, const struct fault_request *rq, uint64_t seen,
                        struct fault_verdict *verdict)
{
    struct fault_verdict v;
    int rc = table_check_since(table, rq, seen, NULL, true, &v);
    if (rc < 0 && verdict)
        *verdict = v;
    return rc;
}

/* ---- bad sectors mend when written ---- */

/* RULE's ranges less [FIRST, LAST], into OUT (room for nranges + 1): how many. */
static size_t ranges_minus(const struct fault_rule *rule, uint64_t first, uint64_t last,
                           struct fault_range *out, uint64_t *mended, fault_mended_fn tell,
                           void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < rule->nranges; i++) {
        struct fault_range r = rule->ranges[i];
        if (r.last < first || r.first > last) {
            out[n++] = r;
            continue;
        }
        uint64_t lo = r.first > first ? r.first : first, hi = r.last < last ? r.last : last;
        *mended += hi - lo + 1;
        if (tell)
            tell(ctx, lo, hi, rule->error);
        if (r.first < first)
            out[n++] = (struct fault_range){r.first, first - 1};
        if (r.last > last)
            out[n++] = (struct fault_range){last + 1, r.last};
    }
    return n;
}

int64_t fault_table_heal(struct fault_table *table, uint64_t offset, uint64_t length,
                         fault_mended_fn tell, void *ctx)
{
    /* Only sectors the write covers whole. */
    uint64_t first = (offset + 511) / 512, end = (offset + length) / 512;
    if (end <= first ||
        !(atomic_load_explicit(&table->active_dirs, memory_order_acquire) & FAULT_TABLE_HEALS))
        return 0;
    uint64_t last = end - 1, mended = 0;
    const struct fault_request rq = {.dir = FAULT_READ, .offset = first * 512,
                                     .length = (last - first + 1) * 512};
    struct candidates c;
    pthread_mutex_lock(&table->lock);
    table_candidates(table, &rq, &c);
    size_t hit = 0;
    for (size_t i = 0; i < c.count; i++)
        hit += table->entries[c.at[i]].rule.mode->heals &&
               fault_rule_covers(&table->entries[c.at[i]].rule, &rq);
    candidates_free(&c);
    if (hit == 0) {
        pthread_mutex_unlock(&table->lock);
        return 0;
    }
    /* Each rule hit may split in two: one more range each, and a rule holds at most 8. */
    size_t cap = table->count + hit;
    struct fault_entry *next = malloc(cap * sizeof *next);
    struct fault_index ix;
    if (!next) {
        pthread_mutex_unlock(&table->lock);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < table->count; i++) {
        const struct fault_entry *e = &table->entries[i];
        if (!e->rule.mode->heals || !fault_rule_covers(&e->rule, &rq)) {
            next[n++] = *e;
            continue;
        }
        struct fault_range left[FAULT_RULE_MAX_RANGES + 1];
        size_t nleft = ranges_minus(&e->rule, first, last, left, &mended, tell, ctx);
        /* What is left stays one rule, or two that share its place when it no longer fits. */
        for (size_t at = 0; at < nleft; at += FAULT_RULE_MAX_RANGES) {
            size_t k = nleft - at < FAULT_RULE_MAX_RANGES ? nleft - at : FAULT_RULE_MAX_RANGES;
            next[n] = *e;
            memcpy(next[n].rule.ranges, left + at, k * sizeof left[0]);
            next[n].rule.nranges = k;
            n++;
        }
    }
    if (index_build(next, n, &ix) < 0) {
        pthread_mutex_unlock(&table->lock);
        free(next);
        return -ENOMEM;
    }
    struct fault_change change = {.entries = next, .count = n, .next_id = table->next_id,
                                  .index = ix};
    fault_table_commit(table, &change);
    return (int64_t)mended;
}

uint64_t fault_table_cache_limit(struct fault_table *table)
{
    uint64_t limit = 0;
    pthread_mutex_lock(&table->lock);
    for (size_t i = 0; i < table->count && !limit; i++) {
        if (table->entries[i].rule.mode->effect == FAULT_EFFECT_CACHE)
            limit = table->entries[i].rule.limit;
    }
    pthread_mutex_unlock(&table->lock);
    return limit;
}

/* ---- views ---- */

/* Entry indexes sorted by mode name, then age. Caller holds the lock and frees. */
static size_t *table_order(const struct fault_table *table)
{
    size_t *order = malloc((table->count ? table->count : 1) * sizeof *order);
    size_t n = 0;
    if (!order)
        return NULL;
    for (size_t m = 0; m < FAULT_MODE_COUNT; m++) {
        for (size_t i = 0; i < table->count; i++) {
            if (fault_mode_id(table->entries[i].rule.mode) == m)
                order[n++] = i;
        }
    }
    return order;
}

struct fault_rule *fault_table_copy(struct fault_table *table, size_t *count)
{
    pthread_mutex_lock(&table->lock);
    size_t n = table->count;
    size_t *order = table_order(table);
    struct fault_rule *out = order ? malloc((n ? n : 1) * sizeof *out) : NULL;
    for (size_t i = 0; out && i < n; i++)
        out[i] = table->entries[order[i]].rule;
    pthread_mutex_unlock(&table->lock);
    free(order);
    *count = out ? n : 0;
    return out;
}

void fault_table_modes(struct fault_table *table, bool out[FAULT_MODE_COUNT])
{
    memset(out, 0, FAULT_MODE_COUNT * sizeof *out);
    pthread_mutex_lock(&table->lock);
    for (size_t i = 0; i < table->count; i++)
        out[fault_mode_id(table->entries[i].rule.mode)] = true;
    pthread_mutex_unlock(&table->lock);
}

size_t fault_table_render_size(struct fault_table *table)
{
    pthread_mutex_lock(&table->lock);
    size_t n = table->count;
    pthread_mutex_unlock(&table->lock);
    return n * FAULT_RULE_TEXT_MAX + 1;
}

ssize_t fault_table_render(struct fault_table *table, char *buf, size_t size)
{
    size_t len = 0;
    ssize_t rc = 0;
    pthread_mutex_lock(&table->lock);
    size_t *order = table_order(table);
    for (size_t i = 0; order && i < table->count && rc == 0; i++) {
        char line[FAULT_RULE_TEXT_MAX];
        fault_rule_format(&table->entries[order[i]].rule, true, line);
        size_t l = strlen(line);
        if (len + l + 2 > size) {
            rc = -ENOSPC;
            break;
        }
        memcpy(buf + len, line, l);
        len += l;
        buf[len++] = '\n';
    }
    pthread_mutex_unlock(&table->lock);
    if (!order)
        return -ENOMEM;
    free(order);
    if (rc < 0)
        return rc;
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
