/*
 * Fault rules: one effect and the conditions under which it applies to a
 * request, as one ctl line writes it (SPEC §2a):
 *
 *   MODE [DELAY] [read] [write] [flush] [KEY=VALUE]...
 *
 * The effect is a mode's: fail with an errno (eio_read, eio_write,
 * eio_flush, eio_discard, bad_sectors), delay (slow: a fixed DURATION,
 * MIN..MAX uniform, or mean=D p99=D, a log-normal tail), or change the data
 * (SPEC §2b: corrupt_read and corrupt_write flip bits=N bits, drop_write
 * stores nothing, torn_write stores the first keep=K sectors); volatile
 * turns on the disk's write cache (limit=SIZE). The conditions: the directions (slow
 * names them with words), sectors=A-B[,C-D...] (the request overlaps one),
 * after=N (the first N matching requests pass), prob=P% with seed=N (a
 * reproducible draw per matching request), times=N (fires N times, then is
 * spent but stays listed).
 *
 * A rule's identity is its mode and conditions; its effect parameters (the
 * delay, errno=, bits=, keep=, limit=) are not part of it, so "slow 200ms"
 * replaces "slow".
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
    unsigned dir;     /* enum fault_dir bits */
    uint64_t offset;  /* bytes */
    uint64_t length;  /* bytes */
    bool errors_only; /* data faults pass it by (the stored view of the image) */
};

/* What a mode's rule does to a request it fires for. */
enum fault_effect {
    FAULT_EFFECT_ERROR,   /* fails it before the I/O */
    FAULT_EFFECT_DELAY,   /* delays it */
    FAULT_EFFECT_CORRUPT, /* flips bits: in what a read returns, or in what a write stores */
    FAULT_EFFECT_DROP,    /* a write is acknowledged and not stored */
    FAULT_EFFECT_TEAR,    /* a write stores only its first sectors */
    FAULT_EFFECT_CACHE,   /* no request effect: the disk's volatile write cache is on */
};

/* A named mode of the control protocol. */
struct fault_mode {
    const char *name;
    unsigned directions; /* what a bare NAME applies to */
    int error;           /* errno a matching request fails with (0: none) */
    enum fault_effect effect;
    bool heals;          /* bad_sectors: a write that covers a sector mends it */
};

/* Sorted by name, as fault_modes is. */
enum fault_mode_id {
    FAULT_MODE_BAD_SECTORS,
    FAULT_MODE_CORRUPT_READ,
    FAULT_MODE_CORRUPT_WRITE,
    FAULT_MODE_DROP_WRITE,
    FAULT_MODE_EIO_DISCARD,
    FAULT_MODE_EIO_FLUSH,
    FAULT_MODE_EIO_READ,
    FAULT_MODE_EIO_WRITE,
    FAULT_MODE_SLOW,
    FAULT_MODE_TORN_WRITE,
    FAULT_MODE_VOLATILE,
    FAULT_MODE_COUNT
};

/* The volatile cache's bound when volatile names none. */
#define FAULT_CACHE_LIMIT_DEFAULT (64ull << 20)

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
    int error;              /* errno to fail with; 0 = never fails (torn_write: after storing) */
    enum fault_delay_kind delay;
    uint64_t delay_a_ns, delay_b_ns;
    uint32_t bits;          /* corrupt_*: bits flipped per request */
    uint64_t keep;          /* torn_write: sectors stored; 0 = half of the write's */
    uint64_t limit;         /* volatile: bytes the cache holds at most */
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

/* A number from RULE's seeded sequence: where a firing corrupt rule flips its bits. */
uint64_t fault_rule_draw(struct fault_rule *rule);

/* Copies the effect (and not the conditions or counts) of FROM into TO. */
void fault_rule_set_effect(struct fault_rule *to, const struct fault_rule *from);

/*
 * Element X of the sequence seeded SEED: how a data effect, given one draw
 * of its rule, picks as many positions as it needs, reproducibly.
 */
uint64_t fault_sequence(uint64_t seed, uint64_t x);

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
