/* Durations as the control protocol and the Lua API write them: "50ms", "1s", "250us". */
#ifndef FAULTFS_DURATION_H
#define FAULTFS_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_NS_PER_US 1000ull
#define DURATION_NS_PER_MS 1000000ull
#define DURATION_NS_PER_S 1000000000ull

/* Longest duration accepted anywhere: an hour is already a hung disk. */
#define DURATION_MAX_NS (3600ull * DURATION_NS_PER_S)

/* Longest text duration_format() writes, with its NUL. */
#define DURATION_TEXT_MAX 32

/*
 * Parses LEN bytes of TEXT: a decimal number (an optional fraction allowed)
 * followed by one of the units ns, us, ms, s, m, h. On error returns -EINVAL
 * and points *WHY at a static explanation ("missing unit", ...).
 */
int duration_parse(const char *text, size_t len, uint64_t *out_ns, const char **why);

/* Writes NS in the largest unit that represents it exactly, e.g. "50ms". */
void duration_format(uint64_t ns, char buf[DURATION_TEXT_MAX]);

/* Sleeps NS nanoseconds in full, resuming after signals. */
void duration_sleep(uint64_t ns);

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t duration_now_ns(void);

#endif
