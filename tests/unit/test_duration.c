#include "duration.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t parse_ok(const char *s)
{
    uint64_t ns = 0;
    const char *why = NULL;
    cr_assert_eq(duration_parse(s, strlen(s), &ns, &why), 0, "'%s' refused: %s", s, why);
    return ns;
}

static const char *parse_err(const char *s)
{
    uint64_t ns = 0;
    const char *why = NULL;
    cr_assert_eq(duration_parse(s, strlen(s), &ns, &why), -EINVAL, "'%s' accepted", s);
    return why;
}

Test(duration, units_of_the_protocol)
{
    cr_assert_eq(parse_ok("50ms"), 50000000ull);
    cr_assert_eq(parse_ok("1s"), 1000000000ull);
    cr_assert_eq(parse_ok("250us"), 250000ull);
    cr_assert_eq(parse_ok("7ns"), 7ull);
    cr_assert_eq(parse_ok("2m"), 120000000000ull);
    cr_assert_eq(parse_ok("1h"), 3600000000000ull);
}

Test(duration, fractions_are_exact)
{
    cr_assert_eq(parse_ok("1.5s"), 1500000000ull);
    cr_assert_eq(parse_ok("0.25ms"), 250000ull);
    cr_assert_eq(parse_ok(".5s"), 500000000ull);
    cr_assert_str_eq(parse_err("0.5ns"), "finer than a nanosecond");
    cr_assert_str_eq(parse_err("0.0015us"), "finer than a nanosecond");
}

Test(duration, bad_text_says_why)
{
    cr_assert_str_eq(parse_err("50"), "missing unit (ns, us, ms, s, m or h)");
    cr_assert_str_eq(parse_err("5x"), "unknown unit (use ns, us, ms, s, m or h)");
    cr_assert_str_eq(parse_err("ms"), "expected a number such as 50ms");
    cr_assert_str_eq(parse_err(""), "expected a number such as 50ms");
    cr_assert_str_eq(parse_err("-5ms"), "expected a number such as 50ms");
    cr_assert_str_eq(parse_err("2h"), "longer than the 1h limit");
    cr_assert_str_eq(parse_err("99999999999999999999999s"), "longer than the 1h limit");
}

Test(duration, format_uses_the_largest_exact_unit)
{
    char buf[DURATION_TEXT_MAX];
    duration_format(50000000ull, buf);
    cr_assert_str_eq(buf, "50ms");
    duration_format(1500000000ull, buf);
    cr_assert_str_eq(buf, "1500ms");
    duration_format(2000000000ull, buf);
    cr_assert_str_eq(buf, "2s");
    duration_format(250000ull, buf);
    cr_assert_str_eq(buf, "250us");
    duration_format(120000000000ull, buf);
    cr_assert_str_eq(buf, "2m");
    duration_format(3ull, buf);
    cr_assert_str_eq(buf, "3ns");
}

Test(duration, sleep_lasts_at_least_the_duration)
{
    uint64_t start = duration_now_ns();
    duration_sleep(20 * DURATION_NS_PER_MS);
    cr_assert_geq(duration_now_ns() - start, 20 * DURATION_NS_PER_MS);
}
