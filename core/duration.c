/* Durations: parsing, exact formatting, and full-length sleeps. */
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct duration_unit {
    const char *suffix;
    uint64_t ns;
};

/* Longer suffixes first so "ms" is not read as "m" followed by junk. */
static const struct duration_unit duration_units[] = {
    {"ns", 1},
    {"us", DURATION_NS_PER_US},
    {"ms", DURATION_NS_PER_MS},
    {"s", DURATION_NS_PER_S},
    {"m", 60 * DURATION_NS_PER_S},
    {"h", 3600 * DURATION_NS_PER_S},
};

static const struct duration_unit *duration_find_unit(const char *text, size_t len)
{
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        const struct duration_unit *u = &duration_units[i];
        if (strlen(u->suffix) == len && memcmp(u->suffix, text, len) == 0)
            return u;
    }
    return NULL;
}

int duration_parse(const char *text, size_t len, uint64_t *out_ns, const char **why)
{
    size_t i = 0;
    uint64_t whole = 0;
    uint64_t frac = 0, frac_scale = 1;
    int digits = 0;

    while (i < len && text[i] >= '0' && text[i] <= '9') {
        if (whole > DURATION_MAX_NS)
            goto too_long;
        whole = whole * 10 + (uint64_t)(text[i] - '0');
        i++;
        digits++;
    }
    if (i < len && text[i] == '.') {
        i++;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            /* Nine fractional digits reach nanoseconds of a second. */
            if (frac_scale < DURATION_NS_PER_S) {
                frac = frac * 10 + (uint64_t)(text[i] - '0');
                frac_scale *= 10;
            }
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        *why = "expected a number such as 50ms";
        return -EINVAL;
    }
    if (i == len) {
        *why = "missing unit (ns, us, ms, s, m or h)";
        return -EINVAL;
    }
    const struct duration_unit *unit = duration_find_unit(text + i, len - i);
    if (!unit) {
        *why = "unknown unit (use ns, us, ms, s, m or h)";
        return -EINVAL;
    }
    if (whole > DURATION_MAX_NS / unit->ns)
        goto too_long;
    uint64_t ns = whole * unit->ns;
    /* frac < frac_scale <= 1e9 and unit->ns <= 3.6e12: split to stay in 64 bits. */
    uint64_t frac_ns = (frac * (unit->ns / frac_scale)) +
                       (frac * (unit->ns % frac_scale)) / frac_scale;
    if ((frac * (unit->ns % frac_scale)) % frac_scale != 0) {
        *why = "finer than a nanosecond";
        return -EINVAL;
    }
    ns += frac_ns;
    if (ns > DURATION_MAX_NS)
        goto too_long;
    *out_ns = ns;
    return 0;

too_long:
    *why = "longer than the 1h limit";
    return -EINVAL;
}

void duration_format(uint64_t ns, char buf[DURATION_TEXT_MAX])
{
    static const struct duration_unit exact[] = {
        {"h", 3600 * DURATION_NS_PER_S}, {"m", 60 * DURATION_NS_PER_S}, {"s", DURATION_NS_PER_S},
        {"ms", DURATION_NS_PER_MS},      {"us", DURATION_NS_PER_US},    {"ns", 1},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        if (ns != 0 && ns % exact[i].ns == 0) {
            snprintf(buf, DURATION_TEXT_MAX, "%llu%s", (unsigned long long)(ns / exact[i].ns),
                     exact[i].suffix);
            return;
        }
    }
    snprintf(buf, DURATION_TEXT_MAX, "0ms");
}

void duration_sleep(uint64_t ns)
{
    struct timespec left = {.tv_sec = (time_t)(ns / DURATION_NS_PER_S),
                            .tv_nsec = (long)(ns % DURATION_NS_PER_S)};
    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        ;
}

uint64_t duration_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * DURATION_NS_PER_S + (uint64_t)now.tv_nsec;
}
