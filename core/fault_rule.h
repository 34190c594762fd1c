/*
 * Fault rules: one effect and the conditions under which it applies to a
 * request, as one ctl line writes it (SPEC §2a):
 *
 *   MODE [DELAY] [read] [write] [flush] [KEY=VALUE]...
 *
 * The effect is a mode's: fail with an errno (eio_read, eio_write,
 * eio_flush, eio_discard) or delay (slow: a fixed DURATION, MIN..MAX uniform,
 * or mean=D p99=D, a log-normal tail). The conditions: the directions (slow
 * names them with words), sectors=A-B[,C-D...] (the request overlaps one),
 * after=N (the first N matching requests pass), prob=P% with seed=N (a
 * reproducible draw per matching request), times=N (fires N times, then is
 * spent but stays listed).
 *
 * A rule's identity is its mode and conditions; its effect parameters (the
 * delay, errno=) are not part of it, so "slow 200ms" replaces "slow".
 */
#ifndef FAULTFS_FAULT_RULE_H
#define FAULTFS_FAULT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Directions, as bits so a rule can cover several. */
enum fault_dir {
    FAULT_READ = 1u << 0,
    FAULT_WRITE = 1u << 1,   /* writes, and discards and write-zeroes alike */
    FAULT_FLUSH = 1u << 2,   /* fsync / fdatasync, and the sync of an O_DSYNC write */
    FAULT_DISCARD = 1u << 3, /* set with FAULT_WRITE on discards and write-zeroes */
};

/* One request as the rules see it. */
struct fault_request {
    unsigned dir;    /* enum fault_dir bits */
    uint64_t offset; /* bytes */
    uint64_t length; /* bytes */
};

/* A named mode of the control protocol. */
struct fault_mode {
    const char *name;
    unsigned directions; /* what a bare NAME applies to */
    int error;           /* errno a matching request fails with; 0 = a delay */
};

enum fault_mode_id {
    FAULT_MODE_EIO_DISCARD,
    FAULT_MODE_EIO_FLUSH,
    FAULT_MODE_EIO_READ,
    FAULT_MODE_EIO_WRITE,
    FAULT_MODE_SLOW,
    FAULT_MODE_COUNT
};

/* SLOW_FAULT_MS of the seed: the delay of a bare "slow". */
#define SLOW_FAULT_MS 50

extern const struct fault_mode fault_modes[FAULT_MODE_COUNT];

/* Mode whose name is LEN bytes of NAME, or NULL. */
const struct fault_mode *fault_mode_find(const char *name, size_t len);

/* Index of MODE in fault_modes. */
enum fault_mode_id fault_mode_id(const struct fault_mode *mode);

/* How a slow rule picks a request's delay. */
enum fault_delay_kind {
    FAULT_DELAY_NONE,
    FAULT_DELAY_FIXED,   /* a = the delay */
    FAULT_DELAY_UNIFORM, /* a..b */
    FAULT_DELAY_TAIL,    /* log-normal with mean a and 99th percentile b */
};

/* Most sector ranges one rule names (more ranges: more rules). */
#define FAULT_RULE_MAX_RANGES 8

struct fault_range {
    uint64_t first, last; /* 512-byte sectors, inclusive */
};

struct fault_rule {
    const struct fault_mode *mode;
    /* Identity: the mode and these conditions. */
    unsigned directions;    /* enum fault_dir bits */
    size_t nranges;         /* 0 = the whole disk */
    struct fault_range ranges[FAULT_RULE_MAX_RANGES]; /* sorted, not overlapping */
    uint32_t prob_ppm;      /* chance to fire, in millionths; 1000000 = always */
    uint64_t seed;          /* of prob's and the delay's draws */
    uint64_t times;         /* fires at most this often; 0 = no limit */
    uint64_t after;         /* matching requests let through first */
    /* Effect. */
    int error;              /* errno to fail with; 0 = never fails */
    enum fault_delay_kind delay;
    uint64_t delay_a_ns, delay_b_ns;
    /* State, kept by the table. */
    uint64_t matched;       /* requests it applied to (after and prob count them) */
    uint64_t fired;         /* requests it delayed or failed */
    uint64_t draws;         /* random draws made so far: the next one is draw DRAWS */
};

/* The rule a bare "NAME" line makes. */
struct fault_rule fault_rule_default(const struct fault_mode *mode);

/* Whether RULE's directions and sectors take in RQ (its other conditions aside). */
bool fault_rule_covers(const struct fault_rule *rule, const struct fault_request *rq);

/* Whether A and B are the same rule: mode and conditions equal. */
bool fault_rule_same(const struct fault_rule *a, const struct fault_rule *b);

/*
 * Decides whether RULE fires for one request it covers, counting it: false
 * while `after` lets requests through, once `times` is spent, or when the
 * draw against prob misses. Deterministic given the seed and the order.
 */
bool fault_rule_fires(struct fault_rule *rule);

/* The delay a firing slow RULE gives one request (draws from its sequence). */
uint64_t fault_rule_delay_ns(struct fault_rule *rule);

/* Longest line fault_rule_format() writes, with its NUL. */
#define FAULT_RULE_TEXT_MAX 512

/*
 * Writes RULE as the ctl line that recreates it, e.g. "slow 50ms" or
 * "eio_read errno=ENOSPC sectors=0-7 times=3"; with COUNTS, followed by
 * "  # matched=N fired=N" (a comment: writing the line back ignores it).
 */
void fault_rule_format(const struct fault_rule *rule, bool counts, char buf[FAULT_RULE_TEXT_MAX]);

/* The errno names errno= takes: the value, or 0 if NAME (LEN bytes) is not one. */
int fault_errno_by_name(const char *name, size_t len);
const char *fault_errno_name(int err);

#endif
