/*
 * One rule line: MODE [DELAY] [read] [write] [flush] [KEY=VALUE]... (SPEC §2a).
 * Every refusal names the word and why; the rule is checked whole (keys
 * that do not go together, a tail that no log-normal can have).
 */
#include "ctl_parse_i.h"

#include "duration.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A p99 further than this above the mean has no log-normal (the quadratic has no root). */
#define RULE_TAIL_MAX_RATIO 14.9

struct rule_ctx {
    const struct ctl_line *line;
    const struct ctl_word *w; /* the word being read */
    const struct fault_mode *mode;
    struct fault_rule *rule;
    struct ff_error *err;
    unsigned seen;   /* keys given, one bit each */
    bool delay_set;  /* a DURATION or MIN..MAX */
    bool dirs_set;   /* a direction word */
    uint64_t mean_ns, p99_ns;
};

static int rule_fail(struct rule_ctx *c, const char *fmt, const char *why)
{
    char q[CTL_QUOTE_MAX + 4];
    return ctl_fail(c->err, c->line->number, c->w->column, fmt, c->mode->name, ctl_quote(c->w, q),
                    why);
}

bool ctl_parse_u64(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *out = v;
    return true;
}

static int parse_duration(struct rule_ctx *c, const char *text, size_t len, uint64_t *ns)
{
    const char *why;
    if (duration_parse(text, len, ns, &why) < 0)
        return rule_fail(c, "%s: bad duration '%s': %s", why);
    if (*ns == 0)
        return rule_fail(c, "%s: bad duration '%s': %s", "must be more than 0 (use 'clear slow')");
    return 0;
}

/* ---- keys ---- */

static int key_sectors(struct rule_ctx *c, const char *v, size_t len)
{
    struct fault_range got[FAULT_RULE_MAX_RANGES * 4];
    size_t n = 0, pos = 0;
    while (pos <= len) {
        const char *end = memchr(v + pos, ',', len - pos);
        size_t item = end ? (size_t)(end - (v + pos)) : len - pos;
        const char *dash = memchr(v + pos, '-', item);
        struct fault_range r;
        bool ok = dash ? ctl_parse_u64(v + pos, (size_t)(dash - (v + pos)), &r.first) &&
                             ctl_parse_u64(dash + 1, item - (size_t)(dash - (v + pos)) - 1, &r.last)
                       : ctl_parse_u64(v + pos, item, &r.first) && (r.last = r.first, true);
        if (!ok)
            return rule_fail(c, "%s: bad sectors '%s': %s",
                             "expected A-B[,C-D...], 512-byte sectors, both ends included");
        if (r.first > r.last)
            return rule_fail(c, "%s: bad sectors '%s': %s", "a range ends before it starts");
        if (n == sizeof got / sizeof got[0])
            return rule_fail(c, "%s: bad sectors '%s': %s", "too many ranges");
        got[n++] = r;
        pos += item + 1;
    }
    /* Sorted and merged, so the same ranges always make the same rule. */
    for (size_t i = 1; i < n; i++) {
        for (size_t k = i; k > 0 && got[k].first < got[k - 1].first; k--) {
            struct fault_range t = got[k];
            got[k] = got[k - 1];
            got[k - 1] = t;
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && (got[m - 1].last == UINT64_MAX || got[i].first <= got[m - 1].last + 1)) {
            if (got[i].last > got[m - 1].last)
                got[m - 1].last = got[i].last;
        } else {
            got[m++] = got[i];
        }
    }
    if (m > FAULT_RULE_MAX_RANGES)
        return rule_fail(c, "%s: bad sectors '%s': %s",
                         "at most 8 separate ranges in one rule (use more rules)");
    memcpy(c->rule->ranges, got, m * sizeof got[0]);
    c->rule->nranges = m;
    return 0;
}

static int key_errno(struct rule_ctx *c, const char *v, size_t len)
{
    if (!c->mode->error && c->mode->effect != FAULT_EFFECT_TEAR)
        return rule_fail(c, "%s: '%s': %s",
                         c->mode->effect == FAULT_EFFECT_DELAY
                             ? "errno= goes with the eio_ modes (slow only delays)"
                             : "errno= goes with the eio_ modes, bad_sectors and torn_write");
    int e = fault_errno_by_name(v, len);
    if (!e)
        return rule_fail(c, "%s: bad errno '%s': %s",
                         "expected EIO, ENOSPC, EROFS, ETIMEDOUT, ENODEV, ENOMEM, EAGAIN, EINVAL "
                         "or ENXIO");
    c->rule->error = e;
    return 0;
}

/* "P%": up to four decimals, more than 0 and at most 100. */
static int key_prob(struct rule_ctx *c, const char *v, size_t len)
{
    uint64_t whole = 0, frac = 0;
    size_t digits = 0;
    const char *dot = memchr(v, '.', len);
    bool ok = len >= 2 && v[len - 1] == '%';
    size_t num = len - 1;
    if (ok && dot) {
        digits = num - (size_t)(dot - v) - 1;
        ok = digits >= 1 && digits <= 4 && ctl_parse_u64(v, (size_t)(dot - v), &whole) &&
             ctl_parse_u64(dot + 1, digits, &frac);
    } else if (ok) {
        ok = ctl_parse_u64(v, num, &whole);
    }
    if (!ok)
        return rule_fail(c, "%s: bad probability '%s': %s",
                         "expected a percentage such as 25% or 0.5%");
    for (size_t i = digits; i < 4; i++)
        frac *= 10;
    if (whole > 100)
        return rule_fail(c, "%s: bad probability '%s': %s", "more than 100%");
    uint64_t ppm = whole * 10000 + frac;
    if (ppm == 0 || ppm > 1000000)
        return rule_fail(c, "%s: bad probability '%s': %s", "must be more than 0% and at most 100%");
    c->rule->prob_ppm = (uint32_t)ppm;
    return 0;
}

static int key_count(struct rule_ctx *c, const char *v, size_t len, uint64_t *out, bool positive)
{
    if (!ctl_parse_u64(v, len, out))
        return rule_fail(c, "%s: bad count '%s': %s", "expected a whole number");
    if (positive && *out == 0)
        return rule_fail(c, "%s: bad count '%s': %s", "must be at least 1");
    return 0;
}

static int key_tail(struct rule_ctx *c, const char *v, size_t len, uint64_t *out)
{
    if (c->mode->effect != FAULT_EFFECT_DELAY)
        return rule_fail(c, "%s: '%s': %s", "mean= and p99= go with slow");
    return parse_duration(c, v, len, out);
}

/* Most bits one corrupt rule flips in a request. */
#define RULE_BITS_MAX 65536
/* The volatile cache's bounds: a block at least, and what a test box can spare. */
#define RULE_CACHE_MIN 4096
#define RULE_CACHE_MAX (64ull << 30)

static int key_bits(struct rule_ctx *c, const char *v, size_t len)
{
    uint64_t n;
    if (c->mode->effect != FAULT_EFFECT_CORRUPT)
        return rule_fail(c, "%s: '%s': %s", "bits= goes with corrupt_read and corrupt_write");
    int rc = key_count(c, v, len, &n, true);
    if (rc == 0 && n > RULE_BITS_MAX)
        return rule_fail(c, "%s: bad count '%s': %s", "at most 65536 bits per request");
    c->rule->bits = (uint32_t)n;
    return rc;
}

static int key_keep(struct rule_ctx *c, const char *v, size_t len)
{
    if (c->mode->effect != FAULT_EFFECT_TEAR)
        return rule_fail(c, "%s: '%s': %s", "keep= goes with torn_write");
    return key_count(c, v, len, &c->rule->keep, true);
}

static int key_limit(struct rule_ctx *c, const char *v, size_t len)
{
    const char *why;
    if (c->mode->effect != FAULT_EFFECT_CACHE)
        return rule_fail(c, "%s: '%s': %s", "limit= goes with volatile");
    if (ctl_parse_size(v, len, &c->rule->limit, &why) < 0)
        return rule_fail(c, "%s: bad size '%s': %s", why);
    if (c->rule->limit < RULE_CACHE_MIN || c->rule->limit > RULE_CACHE_MAX)
        return rule_fail(c, "%s: bad size '%s': %s", "must be from 4K to 64G");
    return 0;
}

static const char *const rule_keys[] = {"sectors", "errno", "prob", "seed", "times", "after",
                                        "mean",    "p99",   "bits", "keep", "limit"};

static int rule_key(struct rule_ctx *c, const char *eq)
{
    const char *k = c->w->text, *v = eq + 1;
    size_t klen = (size_t)(eq - k), vlen = c->w->len - klen - 1;
    size_t i = 0;
    while (i < sizeof rule_keys / sizeof rule_keys[0] &&
           !(strlen(rule_keys[i]) == klen && memcmp(rule_keys[i], k, klen) == 0))
        i++;
    if (i == sizeof rule_keys / sizeof rule_keys[0])
        return rule_fail(c, "%s: unknown key in '%s': %s",
                         "expected sectors=, errno=, prob=, seed=, times=, after= (and mean=, "
                         "p99= for slow, bits= for corrupt_*, keep= for torn_write, limit= for "
                         "volatile)");
    if (c->seen & (1u << i))
        return rule_fail(c, "%s: '%s': %s", "this key is given twice");
    c->seen |= 1u << i;
    switch (i) {
    case 0:
        return key_sectors(c, v, vlen);
    case 1:
        return key_errno(c, v, vlen);
    case 2:
        return key_prob(c, v, vlen);
    case 3:
        return key_count(c, v, vlen, &c->rule->seed, false);
    case 4:
        return key_count(c, v, vlen, &c->rule->times, true);
    case 5:
        return key_count(c, v, vlen, &c->rule->after, false);
    case 6:
        return key_tail(c, v, vlen, &c->mean_ns);
    case 7:
        return key_tail(c, v, vlen, &c->p99_ns);
    case 8:
        return key_bits(c, v, vlen);
    case 9:
        return key_keep(c, v, vlen);
    default:
        return key_limit(c, v, vlen);
    }
}

/* ---- bare words: slow's delay and directions ---- */

static int rule_word(struct rule_ctx *c)
{
    static const char *const dir_words[] = {"read", "write", "flush"};
    const struct ctl_word *w = c->w;
    if (c->mode->effect != FAULT_EFFECT_DELAY) {
        char q[CTL_QUOTE_MAX + 4];
        return ctl_fail(c->err, c->line->number, w->column, "%s: unexpected argument '%s'",
                        c->mode->name, ctl_quote(w, q));
    }
    for (unsigned i = 0; i < 3; i++) {
        if (ctl_word_is(w, dir_words[i])) {
            if (!c->dirs_set)
                c->rule->directions = 0;
            if (c->rule->directions & (1u << i))
                return rule_fail(c, "%s: '%s': %s", "this direction is given twice");
            c->dirs_set = true;
            c->rule->directions |= 1u << i;
            return 0;
        }
    }
    if (c->delay_set) {
        char q[CTL_QUOTE_MAX + 4];
        return ctl_fail(c->err, c->line->number, w->column, "%s: unexpected argument '%s'",
                        c->mode->name, ctl_quote(w, q));
    }
    c->delay_set = true;
    const char *dots = w->len >= 2 ? memmem(w->text, w->len, "..", 2) : NULL;
    if (!dots)
        return parse_duration(c, w->text, w->len, &c->rule->delay_a_ns);
    uint64_t lo, hi;
    int rc = parse_duration(c, w->text, (size_t)(dots - w->text), &lo);
    if (rc == 0)
        rc = parse_duration(c, dots + 2, w->len - (size_t)(dots - w->text) - 2, &hi);
    if (rc < 0)
        return rc;
    if (lo > hi)
        return rule_fail(c, "%s: bad delay range '%s': %s", "MIN is more than MAX");
    c->rule->delay = lo == hi ? FAULT_DELAY_FIXED : FAULT_DELAY_UNIFORM;
    c->rule->delay_a_ns = lo;
    c->rule->delay_b_ns = lo == hi ? 0 : hi;
    return 0;
}

/* ---- the rule as a whole ---- */

/* Keys that only the volatile cache's limit= may be given with: the cache is the whole disk's. */
#define RULE_CONDITION_KEYS 0x3du /* sectors prob seed times after (errno: its own message) */

static int rule_finish(struct rule_ctx *c)
{
    struct fault_rule *r = c->rule;
    const struct ctl_word *first = &c->line->words[0];
    if (c->mode->effect == FAULT_EFFECT_CACHE && (c->seen & RULE_CONDITION_KEYS))
        return ctl_fail(c->err, c->line->number, first->column,
                        "volatile: the cache is the whole disk's: it takes limit= only");
    if (c->mode->heals && r->nranges == 0)
        return ctl_fail(c->err, c->line->number, first->column,
                        "bad_sectors: sectors=A-B[,C-D...] is required (the sectors that are bad)");
    if (c->mean_ns || c->p99_ns) {
        char q[CTL_QUOTE_MAX + 4];
        if (!c->mean_ns || !c->p99_ns || c->delay_set)
            return ctl_fail(c->err, c->line->number, first->column,
                            "%s: a tail is mean=DURATION p99=DURATION, without another delay ('%s')",
                            c->mode->name, ctl_quote(first, q));
        if ((double)c->p99_ns <= (double)c->mean_ns ||
            (double)c->p99_ns > (double)c->mean_ns * RULE_TAIL_MAX_RATIO)
            return ctl_fail(c->err, c->line->number, first->column,
                            "%s: p99 must be above the mean and at most %.1f times it",
                            c->mode->name, RULE_TAIL_MAX_RATIO);
        r->delay = FAULT_DELAY_TAIL;
        r->delay_a_ns = c->mean_ns;
        r->delay_b_ns = c->p99_ns;
    }
    return 0;
}

int ctl_parse_rule(const struct ctl_line *line, size_t at, const struct fault_mode *mode,
                   struct fault_rule *out, struct ff_error *err)
{
    struct rule_ctx c = {.line = line, .mode = mode, .rule = out, .err = err};
    *out = fault_rule_default(mode);
    for (size_t i = at + 1; i < line->count; i++) {
        c.w = &line->words[i];
        const char *eq = memchr(c.w->text, '=', c.w->len);
        int rc = eq ? rule_key(&c, eq) : rule_word(&c);
        if (rc < 0)
            return rc;
    }
    return rule_finish(&c);
}
