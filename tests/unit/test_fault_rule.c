#include "ctl_parse.h"
#include "duration.h"
#include "fault_table.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct fault_table table;

static void setup(void)
{
    cr_assert_eq(fault_table_init(&table), 0);
}

static void teardown(void)
{
    fault_table_destroy(&table);
}

TestSuite(fault_rule, .init = setup, .fini = teardown);

/* Applies ctl TEXT to the table, which must accept it. */
static void apply(const char *text)
{
    struct ctl_batch batch;
    struct ff_error err;
    int rc = ctl_parse(CTL_SCOPE_DISK, text, strlen(text), &batch, &err);
    cr_assert_eq(rc, 0, "'%s': %s", text, err.msg);
    cr_assert_eq(ctl_batch_apply_faults(&batch, &table), 0);
    ctl_batch_free(&batch);
}

/* The one rule TEXT makes. */
static struct fault_rule rule_of(const char *text)
{
    struct ctl_batch batch;
    struct ff_error err;
    cr_assert_eq(ctl_parse(CTL_SCOPE_DISK, text, strlen(text), &batch, &err), 0, "%s", err.msg);
    struct fault_rule r = batch.commands[0].edit.rule;
    ctl_batch_free(&batch);
    return r;
}

static struct fault_request read_at(uint64_t sector, uint64_t count)
{
    return (struct fault_request){.dir = FAULT_READ, .offset = sector * 512, .length = count * 512};
}

static int check(struct fault_request rq)
{
    return fault_table_check(&table, &rq, NULL);
}

static const char *listing(void)
{
    static char text[8192];
    cr_assert_geq(fault_table_render(&table, text, sizeof text), 0);
    return text;
}

Test(fault_rule, a_range_rule_fails_exactly_the_requests_that_overlap_it)
{
    apply("eio_read sectors=100-199\n");
    cr_assert_eq(check(read_at(90, 10)), 0, "sectors 90-99 end just before");
    cr_assert_eq(check(read_at(91, 10)), -EIO, "sectors 91-100 touch the first");
    cr_assert_eq(check(read_at(199, 1)), -EIO);
    cr_assert_eq(check(read_at(200, 8)), 0, "sector 200 is just after");
    struct fault_request wr = {.dir = FAULT_WRITE, .offset = 150 * 512, .length = 512};
    cr_assert_eq(check(wr), 0, "eio_read leaves writes alone");
}

Test(fault_rule, several_ranges_and_single_sectors)
{
    apply("eio_read sectors=10,30-31,20\n");
    cr_assert_str_eq(listing(), "eio_read sectors=10-10,20-20,30-31  # matched=0 fired=0\n");
    cr_assert_eq(check(read_at(11, 9)), 0);
    cr_assert_eq(check(read_at(20, 1)), -EIO);
    cr_assert_eq(check(read_at(31, 4)), -EIO);
}

Test(fault_rule, ten_thousand_range_rules_find_the_one_that_matches)
{
    char line[96];
    for (int i = 0; i < 10000; i++) {
        snprintf(line, sizeof line, "eio_read sectors=%d-%d\n", 1000000 + i * 10, 1000000 + i * 10 + 3);
        apply(line);
    }
    cr_assert_eq(check(read_at(0, 2048)), 0, "far below all of them");
    cr_assert_eq(check(read_at(1000000 + 5000 * 10 + 4, 6)), 0, "in a gap");
    cr_assert_eq(check(read_at(1000000 + 5000 * 10 + 3, 1)), -EIO, "on the last sector of one");
}

Test(fault_rule, times_fires_n_times_then_the_rule_is_spent_but_listed)
{
    apply("eio_read times=3\n");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(check(read_at(0, 1)), -EIO, "request %d", i);
    cr_assert_eq(check(read_at(0, 1)), 0, "spent");
    cr_assert_eq(check(read_at(0, 1)), 0);
    cr_assert_str_eq(listing(), "eio_read times=3  # matched=5 fired=3\n");
}

Test(fault_rule, after_lets_the_first_matching_requests_through)
{
    apply("eio_read sectors=0-7 after=2\n");
    cr_assert_eq(check(read_at(100, 1)), 0, "a request it does not match does not count");
    cr_assert_eq(check(read_at(0, 1)), 0);
    cr_assert_eq(check(read_at(0, 1)), 0);
    cr_assert_eq(check(read_at(0, 1)), -EIO);
}

Test(fault_rule, the_same_seed_gives_the_same_sequence_request_by_request)
{
    char first[200], second[200];
    for (int round = 0; round < 2; round++) {
        char *out = round ? second : first;
        fault_table_destroy(&table);
        fault_table_init(&table);
        apply("eio_read prob=30% seed=42\n");
        for (int i = 0; i < 199; i++)
            out[i] = check(read_at(0, 1)) ? 'x' : '.';
        out[199] = '\0';
    }
    cr_assert_str_eq(first, second);
    int fired = 0;
    for (int i = 0; i < 199; i++)
        fired += first[i] == 'x';
    cr_assert(fired > 30 && fired < 90, "about 30%% of 199 fire: %d (%s)", fired, first);

    fault_table_destroy(&table);
    fault_table_init(&table);
    apply("eio_read prob=30% seed=43\n");
    for (int i = 0; i < 199; i++)
        second[i] = check(read_at(0, 1)) ? 'x' : '.';
    cr_assert_str_neq(first, second, "another seed, another sequence");
}

Test(fault_rule, errno_and_the_first_added_error_rule_wins)
{
    apply("eio_read sectors=0-9 errno=ENOSPC\neio_read errno=ETIMEDOUT\n");
    cr_assert_eq(check(read_at(5, 1)), -ENOSPC, "added first, and it matches");
    cr_assert_eq(check(read_at(50, 1)), -ETIMEDOUT);
    uint64_t fired[FAULT_MODE_COUNT];
    fault_table_fired(&table, fired);
    cr_assert_eq(fired[FAULT_MODE_EIO_READ], 2);
}

Test(fault_rule, a_line_equal_to_a_rule_replaces_it_keeping_its_counts)
{
    apply("slow\neio_read sectors=0-9\n");
    struct fault_request rq = read_at(0, 1);
    fault_table_delay_ns(&table, &rq);
    check(rq);
    apply("slow 200ms\neio_read sectors=0-9 errno=EROFS\neio_read sectors=10-19\n");
    cr_assert_str_eq(listing(), "eio_read errno=EROFS sectors=0-9  # matched=1 fired=1\n"
                                "eio_read sectors=10-19  # matched=0 fired=0\n"
                                "slow 200ms  # matched=1 fired=1\n");
    apply("clear eio_read sectors=0-9\n");
    cr_assert_str_eq(listing(), "eio_read sectors=10-19  # matched=0 fired=0\n"
                                "slow 200ms  # matched=1 fired=1\n");
    apply("clear eio_read\n");
    cr_assert_str_eq(listing(), "slow 200ms  # matched=1 fired=1\n");
}

Test(fault_rule, slow_directions_and_delays)
{
    apply("slow 5ms write flush\n");
    struct fault_request rd = read_at(0, 1);
    struct fault_request wr = {.dir = FAULT_WRITE, .length = 512};
    struct fault_request fl = {.dir = FAULT_FLUSH};
    cr_assert_eq(fault_table_delay_ns(&table, &rd), 0);
    cr_assert_eq(fault_table_delay_ns(&table, &wr), 5 * DURATION_NS_PER_MS);
    cr_assert_eq(fault_table_delay_ns(&table, &fl), 5 * DURATION_NS_PER_MS);

    struct fault_rule u = rule_of("slow 10ms..20ms seed=1");
    for (int i = 0; i < 100; i++) {
        uint64_t d = fault_rule_delay_ns(&u);
        cr_assert(d >= 10 * DURATION_NS_PER_MS && d <= 20 * DURATION_NS_PER_MS, "%llu",
                  (unsigned long long)d);
    }
    struct fault_rule tail = rule_of("slow mean=5ms p99=50ms seed=9");
    uint64_t sum = 0, above = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t d = fault_rule_delay_ns(&tail);
        sum += d;
        above += d > 50 * DURATION_NS_PER_MS;
    }
    double mean_ms = (double)sum / 20000 / 1e6;
    cr_assert(mean_ms > 4.0 && mean_ms < 6.0, "mean %.2f ms", mean_ms);
    cr_assert(above > 100 && above < 320, "about 1%% above p99: %llu of 20000",
              (unsigned long long)above);
}

Test(fault_rule, flush_and_discard_modes)
{
    apply("eio_flush\neio_discard sectors=8-15\n");
    struct fault_request fl = {.dir = FAULT_FLUSH};
    struct fault_request dsync = {.dir = FAULT_WRITE | FAULT_FLUSH, .length = 512};
    struct fault_request discard = {.dir = FAULT_WRITE | FAULT_DISCARD, .offset = 8 * 512, .length = 4096};
    struct fault_request wr = {.dir = FAULT_WRITE, .offset = 8 * 512, .length = 4096};
    cr_assert_eq(check(fl), -EIO);
    cr_assert_eq(check(dsync), -EIO, "eio_flush fails the sync of an O_DSYNC write");
    cr_assert_eq(check(discard), -EIO);
    cr_assert_eq(check(wr), 0, "eio_discard leaves plain writes alone");
}

Test(fault_rule, canonical_lines_write_back_to_the_same_rules)
{
    const char *lines = "eio_discard times=2\n"
                        "eio_read errno=ENOSPC sectors=0-7,16-31 prob=12.5% seed=3 times=4 after=1\n"
                        "slow 1ms..2s read flush seed=5\n"
                        "slow mean=2ms p99=20ms\n";
    apply(lines);
    char first[8192];
    snprintf(first, sizeof first, "%s", listing());
    fault_table_destroy(&table);
    fault_table_init(&table);
    apply(first);
    cr_assert_str_eq(listing(), first);
    cr_assert(strstr(first, "prob=12.5%"), "%s", first);
}

Test(fault_rule, the_recheck_sees_only_rules_added_since_the_check)
{
    apply("eio_read times=1\n");
    struct fault_request rq = read_at(0, 1);
    uint64_t seen;
    cr_assert_eq(fault_table_check(&table, &rq, &seen), -EIO);
    cr_assert_eq(fault_table_recheck(&table, &rq, seen, NULL), 0, "the rule decided once already");
    fault_table_destroy(&table);
    fault_table_init(&table);
    cr_assert_eq(fault_table_check(&table, &rq, &seen), 0);
    apply("eio_read\n");
    cr_assert_eq(fault_table_recheck(&table, &rq, seen, NULL), -EIO, "switched on during the I/O");
}

/* ---- data faults (SPEC 2b) ---- */

static struct fault_verdict decide(struct fault_request rq)
{
    struct fault_verdict v;
    fault_table_decide(&table, &rq, NULL, &v);
    return v;
}

Test(fault_rule, a_data_fault_gives_its_effect_and_its_sectors_within_the_request)
{
    apply("corrupt_read bits=5 sectors=10-11,20-29");
    struct fault_verdict v = decide(read_at(8, 16)); /* sectors 8-23 */
    cr_assert_eq(v.error, 0);
    cr_assert_str_eq(v.mode->name, "corrupt_read");
    cr_assert_eq(v.bits, 5);
    cr_assert_eq(v.nranges, 2);
    cr_assert_eq(v.ranges[0].first, 10);
    cr_assert_eq(v.ranges[0].last, 11);
    cr_assert_eq(v.ranges[1].first, 20);
    cr_assert_eq(v.ranges[1].last, 23, "cut at the request's end");
}

Test(fault_rule, the_first_added_rule_that_fires_wins_errors_and_data_alike)
{
    apply("drop_write\neio_write");
    struct fault_request wr = {.dir = FAULT_WRITE, .offset = 0, .length = 512};
    struct fault_verdict v = decide(wr);
    cr_assert_str_eq(v.mode->name, "drop_write");
    cr_assert_eq(v.error, 0);
    apply("clear\neio_write times=1\ndrop_write");
    cr_assert_eq(decide(wr).error, -EIO);
    cr_assert_str_eq(decide(wr).mode->name, "drop_write", "once the error rule is spent");
}

Test(fault_rule, data_faults_pass_discards_and_the_stored_view_by)
{
    apply("drop_write\ntorn_write\ncorrupt_write");
    struct fault_request discard = {.dir = FAULT_WRITE | FAULT_DISCARD, .offset = 0, .length = 512};
    cr_assert_null(decide(discard).mode);
    struct fault_request stored = {.dir = FAULT_WRITE, .offset = 0, .length = 512, .errors_only = true};
    cr_assert_null(decide(stored).mode);
    cr_assert_str_eq(listing(), "corrupt_write  # matched=0 fired=0\ndrop_write  # matched=0 fired=0\n"
                                "torn_write  # matched=0 fired=0\n");
}

Test(fault_rule, a_torn_write_with_errno_carries_the_error_in_its_verdict)
{
    apply("torn_write keep=3 errno=EROFS");
    struct fault_verdict v = decide((struct fault_request){.dir = FAULT_WRITE, .length = 8192});
    cr_assert_str_eq(v.mode->name, "torn_write");
    cr_assert_eq(v.keep, 3);
    cr_assert_eq(v.error, -EROFS);
    cr_assert_str_eq(listing(), "torn_write errno=EROFS keep=3  # matched=1 fired=1\n");
}

Test(fault_rule, the_recheck_sees_only_error_rules)
{
    uint64_t seen;
    struct fault_request rq = read_at(0, 8);
    cr_assert_eq(fault_table_check(&table, &rq, &seen), 0);
    apply("corrupt_read");
    cr_assert_eq(fault_table_recheck(&table, &rq, seen, NULL), 0, "too late to corrupt");
    apply("eio_read");
    cr_assert_eq(fault_table_recheck(&table, &rq, seen, NULL), -EIO);
}

Test(fault_rule, bad_sectors_heal_sector_by_sector_and_split_past_eight_ranges)
{
    apply("bad_sectors sectors=0-99");
    cr_assert_eq(check(read_at(50, 1)), -EIO);
    cr_assert_eq(fault_table_heal(&table, 50 * 512 + 1, 512, NULL, NULL), 0, "no sector covered whole");
    /* Every other sector mended: the rule splits into more rules, in its place. */
    int64_t mended = 0;
    for (uint64_t s = 1; s < 20; s += 2)
        mended += fault_table_heal(&table, s * 512, 512, NULL, NULL);
    cr_assert_eq(mended, 10);
    cr_assert_eq(check(read_at(1, 1)), 0);
    cr_assert_eq(check(read_at(2, 1)), -EIO);
    /* The part split off takes the counts the rule had then. */
    cr_assert_str_eq(listing(), "bad_sectors sectors=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14  # matched=2 fired=2\n"
                                "bad_sectors sectors=16-16,18-18,20-99  # matched=1 fired=1\n");
    cr_assert_eq(fault_table_heal(&table, 0, 100 * 512, NULL, NULL), 90);
    cr_assert_str_eq(listing(), "", "no bad sector left, no rule");
    cr_assert_eq(check(read_at(50, 1)), 0);
}

Test(fault_rule, data_fault_keys_and_their_canonical_lines)
{
    apply("corrupt_write bits=1 sectors=5\nvolatile limit=2048K\ntorn_write keep=4 times=2");
    cr_assert_str_eq(listing(), "corrupt_write sectors=5-5  # matched=0 fired=0\n"
                                "torn_write keep=4 times=2  # matched=0 fired=0\n"
                                "volatile limit=2M  # matched=0 fired=0\n");
    cr_assert_eq(fault_table_cache_limit(&table), 2 << 20);
    apply("volatile");
    cr_assert_eq(fault_table_cache_limit(&table), FAULT_CACHE_LIMIT_DEFAULT, "replaced, not added");
}
