/*
 * Fault rules: what one active fault does to the requests it matches.
 *
 * A rule is built from a named mode (eio_read, eio_write, slow) and the
 * arguments of its ctl line. Later rule kinds (sector ranges, errno choice,
 * probability, counts, corruption) add fields here and arguments in the
 * parser; the table and the request path only ask a rule two questions:
 * how long to delay a request, and which errno to fail it with.
 */
#ifndef FAULTFS_FAULT_RULE_H
#define FAULTFS_FAULT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Directions, as bits so a rule can cover both. */
enum fault_dir {
    FAULT_READ = 1u << 0,
    FAULT_WRITE = 1u << 1, /* writes, discards and write-zeroes alike */
    FAULT_FLUSH = 1u << 2, /* fsync / fdatasync: no mode of the seed's covers them */
};

/* One guest request as the fault table sees it. */
struct fault_request {
    enum fault_dir dir;
    uint64_t offset; /* bytes */
    uint64_t length; /* bytes */
};

/* A named mode of the control protocol and what it does by default. */
struct fault_mode {
    const char *name;
    unsigned directions;       /* enum fault_dir bits it applies to */
    int error;                 /* errno a matching request fails with; 0 = none */
    uint64_t default_delay_ns; /* delay of a bare "NAME"; 0 = takes no duration */
};

enum fault_mode_id {
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

struct fault_rule {
    const struct fault_mode *mode;
    unsigned directions; /* enum fault_dir bits */
    int error;           /* errno to fail with; 0 = never fails */
    uint64_t delay_ns;   /* sleep before the I/O; 0 = no delay */
};

/* The rule a bare "NAME" line makes. */
struct fault_rule fault_rule_default(const struct fault_mode *mode);

/* Whether RULE applies to RQ. */
bool fault_rule_matches(const struct fault_rule *rule, const struct fault_request *rq);

/* Longest line fault_rule_format() writes, with its NUL. */
#define FAULT_RULE_TEXT_MAX 128

/* Writes RULE as the ctl line that recreates it, e.g. "slow 50ms". */
void fault_rule_format(const struct fault_rule *rule, char buf[FAULT_RULE_TEXT_MAX]);

#endif
