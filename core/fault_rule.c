/* The named fault modes, and what a rule built from one decides for a request. */
#include "fault_rule.h"

#include "duration.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Sorted by name: rendering walks this order. */
const struct fault_mode fault_modes[FAULT_MODE_COUNT] = {
    [FAULT_MODE_BAD_SECTORS] = {.name = "bad_sectors", .directions = FAULT_READ, .error = EIO,
                                .heals = true},
    [FAULT_MODE_CORRUPT_READ] = {.name = "corrupt_read", .directions = FAULT_READ,
                                 .effect = FAULT_EFFECT_CORRUPT},
    [FAULT_MODE_CORRUPT_WRITE] = {.name = "corrupt_write", .directions = FAULT_WRITE,
                                  .effect = FAULT_EFFECT_CORRUPT},
    [FAULT_MODE_DROP_WRITE] = {.name = "drop_write", .directions = FAULT_WRITE,
                               .effect = FAULT_EFFECT_DROP},
    [FAULT_MODE_EIO_DISCARD] = {.name = "eio_discard", .directions = FAULT_DISCARD, .error = EIO},
    [FAULT_MODE_EIO_FLUSH] = {.name = "eio_flush", .directions = FAULT_FLUSH, .error = EIO},
    [FAULT_MODE_EIO_READ] = {.name = "eio_read", .directions = FAULT_READ, .error = EIO},
    [FAULT_MODE_EIO_WRITE] = {.name = "eio_write", .directions = FAULT_WRITE, .error = EIO},
    [FAULT_MODE_SLOW] = {.name = "slow", .directions = FAULT_READ | FAULT_WRITE,
                         .effect = FAULT_EFFECT_DELAY},
    [FAULT_MODE_TORN_WRITE] = {.name = "torn_write", .directions = FAULT_WRITE,
                               .effect = FAULT_EFFECT_TEAR},
    /* No directions: the cache is the disk's, not a request's effect. */
    [FAULT_MODE_VOLATILE] = {.name = "volatile", .effect = FAULT_EFFECT_CACHE},
};

const struct fault_mode *fault_mode_find(const char *name, size_t len)
{
    for (size_t i = 0; i < FAULT_MODE_COUNT; i++) {
        if (strlen(fault_modes[i].name) == len && memcmp(fault_modes[i].name, name, len) == 0)
            return &fault_modes[i];
    }
    return NULL;
}

enum fault_mode_id fault_mode_id(const struct fault_mode *mode)
{
    return (enum fault_mode_id)(mode - fault_modes);
}

struct fault_rule fault_rule_default(const struct fault_mode *mode)
{
    struct fault_rule rule = {
        .mode = mode,
        .directions = mode->directions,
        .prob_ppm = 1000000,
        .error = mode->error,
    };
    if (mode->effect == FAULT_EFFECT_DELAY) {
        rule.delay = FAULT_DELAY_FIXED;
        rule.delay_a_ns = SLOW_FAULT_MS * DURATION_NS_PER_MS;
    }
    if (mode->effect == FAULT_EFFECT_CORRUPT)
        rule.bits = 1;
    if (mode->effect == FAULT_EFFECT_CACHE)
        rule.limit = FAULT_CACHE_LIMIT_DEFAULT;
    return rule;
}

void fault_rule_set_effect(struct fault_rule *to, const struct fault_rule *from)
{
    to->error = from->error;
    to->delay = from->delay;
    to->delay_a_ns = from->delay_a_ns;
    to->delay_b_ns = from->delay_b_ns;
    to->bits = from->bits;
    to->keep = from->keep;
    to->limit = from->limit;
}

/* ---- errno names ---- */

static const struct {
    const char *name;
    int value;
} fault_errnos[] = {
    {"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EROFS", EROFS},   {"ETIMEDOUT", ETIMEDOUT},
    {"ENODEV", ENODEV}, {"ENOMEM", ENOMEM}, {"EAGAIN", EAGAIN}, {"EINVAL", EINVAL},
    {"ENXIO", ENXIO},
};

int fault_errno_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof fault_errnos / sizeof fault_errnos[0]; i++) {
        if (strlen(fault_errnos[i].name) == len && memcmp(fault_errnos[i].name, name, len) == 0)
            return fault_errnos[i].value;
    }
    return 0;
}

const char *fault_errno_name(int err)
{
    for (size_t i = 0; i < sizeof fault_errnos / sizeof fault_errnos[0]; i++) {
        if (fault_errnos[i].value == err)
            return fault_errnos[i].name;
    }
    return "E?";
}

/* ---- matching ---- */

bool fault_rule_covers(const struct fault_rule *rule, const struct fault_request *rq)
{
    if (!(rule->directions & rq->dir))
        return false;
    if (rule->nranges == 0)
        return true;
    /* A request of no bytes (a flush) has no sectors: only a whole-disk rule takes it in. */
    if (rq->length == 0)
        return false;
    uint64_t first = rq->offset / 512, last = (rq->offset + rq->length - 1) / 512;
    for (size_t i = 0; i < rule->nranges; i++) {
        if (rule->ranges[i].first <= last && first <= rule->ranges[i].last)
            return true;
    }
    return false;
}

bool fault_rule_same(const struct fault_rule *a, const struct fault_rule *b)
{
    if (a->mode != b->mode || a->directions != b->directions || a->nranges != b->nranges ||
        a->prob_ppm != b->prob_ppm || a->seed != b->seed || a->times != b->times ||
        a->after != b->after)
        return false;
    for (size_t i = 0; i < a->nranges; i++) {
        if (a->ranges[i].first != b->ranges[i].first || a->ranges[i].last != b->ranges[i].last)
            return false;
    }
    return true;
}

/* ---- seeded draws: draw N of a rule depends on its seed and N alone ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t fault_sequence(uint64_t seed, uint64_t x)
{
    return splitmix64(seed * 0x2545f4914f6cdd1dull + x);
}

static uint64_t rule_draw(struct fault_rule *rule)
{
    return fault_sequence(rule->seed, rule->draws++);
}

uint64_t fault_rule_draw(struct fault_rule *rule)
{
    return rule_draw(rule);
}

/* A uniform double in (0, 1). */
static double rule_unit(struct fault_rule *rule)
{
    return ((double)(rule_draw(rule) >> 11) + 0.5) / 9007199254740992.0;
}

bool fault_rule_fires(struct fault_rule *rule)
{
    rule->matched++;
    if (rule->matched <= rule->after)
        return false;
    if (rule->times && rule->fired >= rule->times)
        return false;
    if (rule->prob_ppm < 1000000 && rule_draw(rule) % 1000000 >= rule->prob_ppm)
        return false;
    rule->fired++;
    return true;
}

/* z of the standard normal distribution at the 99th percentile. */
#define FAULT_Z99 2.3263478740408408

uint64_t fault_rule_delay_ns(struct fault_rule *rule)
{
    switch (rule->delay) {
    case FAULT_DELAY_FIXED:
        return rule->delay_a_ns;
    case FAULT_DELAY_UNIFORM:
        return rule->delay_a_ns + rule_draw(rule) % (rule->delay_b_ns - rule->delay_a_ns + 1);
    case FAULT_DELAY_TAIL: {
        /* Log-normal: mean = exp(mu + s^2/2), p99 = exp(mu + z99 s); the parser checked s exists. */
        double ratio = log((double)rule->delay_b_ns / (double)rule->delay_a_ns);
        double s = FAULT_Z99 - sqrt(FAULT_Z99 * FAULT_Z99 - 2 * ratio);
        double mu = log((double)rule->delay_a_ns) - s * s / 2;
        double u1 = rule_unit(rule), u2 = rule_unit(rule);
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        double ns = exp(mu + s * z);
        return ns >= (double)DURATION_MAX_NS ? DURATION_MAX_NS : (uint64_t)ns;
    }
    default:
        return 0;
    }
}

/* ---- the canonical line ---- */

/* Appends to BUF at *LEN, never past FAULT_RULE_TEXT_MAX. */
static void put(char *buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    if (*len >= FAULT_RULE_TEXT_MAX - 1)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, FAULT_RULE_TEXT_MAX - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < FAULT_RULE_TEXT_MAX - *len ? (size_t)n : FAULT_RULE_TEXT_MAX - 1 - *len;
}

void fault_rule_format(const struct fault_rule *rule, bool counts, char buf[FAULT_RULE_TEXT_MAX])
{
    char a[DURATION_TEXT_MAX], b[DURATION_TEXT_MAX];
    size_t len = 0;
    buf[0] = '\0';
    put(buf, &len, "%s", rule->mode->name);
    duration_format(rule->delay_a_ns, a);
    duration_format(rule->delay_b_ns, b);
    if (rule->delay == FAULT_DELAY_FIXED)
        put(buf, &len, " %s", a);
    else if (rule->delay == FAULT_DELAY_UNIFORM)
        put(buf, &len, " %s..%s", a, b);
    else if (rule->delay == FAULT_DELAY_TAIL)
        put(buf, &len, " mean=%s p99=%s", a, b);
    if (rule->mode->effect == FAULT_EFFECT_DELAY && rule->directions != rule->mode->directions) {
        static const char *const words[] = {"read", "write", "flush"};
        for (unsigned i = 0; i < 3; i++) {
            if (rule->directions & (1u << i))
                put(buf, &len, " %s", words[i]);
        }
    }
    if (rule->error && rule->error != rule->mode->error)
        put(buf, &len, " errno=%s", fault_errno_name(rule->error));
    if (rule->mode->effect == FAULT_EFFECT_CORRUPT && rule->bits != 1)
        put(buf, &len, " bits=%" PRIu32, rule->bits);
    if (rule->keep)
        put(buf, &len, " keep=%" PRIu64, rule->keep);
    if (rule->mode->effect == FAULT_EFFECT_CACHE && rule->limit != FAULT_CACHE_LIMIT_DEFAULT) {
        static const char units[] = "KMGT";
        uint64_t v = rule->limit;
        int u = -1;
        while (u < 3 && v >= 1024 && v % 1024 == 0) {
            v /= 1024;
            u++;
        }
        if (u < 0)
            put(buf, &len, " limit=%" PRIu64, v);
        else
            put(buf, &len, " limit=%" PRIu64 "%c", v, units[u]);
    }
    for (size_t i = 0; i < rule->nranges; i++) {
        const struct fault_range *r = &rule->ranges[i];
        put(buf, &len, "%s%" PRIu64 "-%" PRIu64, i ? "," : " sectors=", r->first, r->last);
    }
    if (rule->prob_ppm < 1000000) {
        put(buf, &len, " prob=%u", rule->prob_ppm / 10000);
        if (rule->prob_ppm % 10000) {
            char frac[8];
            snprintf(frac, sizeof frac, "%04u", rule->prob_ppm % 10000);
            for (int i = 3; i > 0 && frac[i] == '0'; i--)
                frac[i] = '\0';
            put(buf, &len, ".%s", frac);
        }
        put(buf, &len, "%%");
    }
    if (rule->seed)
        put(buf, &len, " seed=%" PRIu64, rule->seed);
    if (rule->times)
        put(buf, &len, " times=%" PRIu64, rule->times);
    if (rule->after)
        put(buf, &len, " after=%" PRIu64, rule->after);
    if (counts)
        put(buf, &len, "  # matched=%" PRIu64 " fired=%" PRIu64, rule->matched, rule->fired);
}
