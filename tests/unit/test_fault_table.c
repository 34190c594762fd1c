#include "fault_table.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

TestSuite(fault_table, .init = setup, .fini = teardown);

static const struct fault_mode *mode(const char *name)
{
    const struct fault_mode *m = fault_mode_find(name, strlen(name));
    cr_assert_not_null(m, "no mode %s", name);
    return m;
}

static void set(const char *name, uint64_t delay_ns)
{
    struct fault_edit e = {.op = FAULT_EDIT_SET, .rule = fault_rule_default(mode(name))};
    if (delay_ns)
        e.rule.delay_a_ns = delay_ns;
    cr_assert_eq(fault_table_apply(&table, &e, 1), 0);
}

static const struct fault_request rd = {.dir = FAULT_READ, .offset = 0, .length = 512};
static const struct fault_request wr = {.dir = FAULT_WRITE, .offset = 0, .length = 512};

/* The rules as ctl lists them, without their counts (see rules_are_listed_with_their_counts). */
static const char *render(void)
{
    static char text[4096], rules[4096];
    cr_assert_geq(fault_table_render(&table, text, sizeof text), 0);
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        const char *hash = strstr(p, "  # ");
        const char *nl = strchr(p, '\n');
        const char *end = hash && hash < nl ? hash : nl;
        memcpy(rules + n, p, (size_t)(end - p));
        n += (size_t)(end - p);
        rules[n++] = '\n';
        p = nl;
    }
    rules[n] = '\0';
    return rules;
}

Test(fault_table, empty_table_passes_everything)
{
    cr_assert_eq(fault_table_check(&table, &rd, NULL), 0);
    cr_assert_eq(fault_table_check(&table, &wr, NULL), 0);
    cr_assert_eq(fault_table_delay_ns(&table, &rd), 0);
    cr_assert_str_eq(render(), "");
}

Test(fault_table, eio_read_fails_reads_only)
{
    set("eio_read", 0);
    cr_assert_eq(fault_table_check(&table, &rd, NULL), -EIO);
    cr_assert_eq(fault_table_check(&table, &wr, NULL), 0);
    cr_assert_eq(fault_table_delay_ns(&table, &rd), 0);
}

Test(fault_table, eio_write_fails_writes_only)
{
    set("eio_write", 0);
    cr_assert_eq(fault_table_check(&table, &wr, NULL), -EIO);
    cr_assert_eq(fault_table_check(&table, &rd, NULL), 0);
}

Test(fault_table, slow_delays_both_directions_and_fails_none)
{
    set("slow", 0);
    cr_assert_eq(fault_table_delay_ns(&table, &rd), 50000000ull);
    cr_assert_eq(fault_table_delay_ns(&table, &wr), 50000000ull);
    cr_assert_eq(fault_table_check(&table, &rd, NULL), 0);
    set("slow", 200000000ull);
    cr_assert_eq(fault_table_delay_ns(&table, &rd), 200000000ull, "re-activating replaces the delay");
}

Test(fault_table, modes_combine_and_render_sorted)
{
    set("slow", 0);
    set("eio_write", 0);
    set("eio_read", 0);
    set("eio_read", 0); /* again: not an error, still one rule */
    cr_assert_str_eq(render(), "eio_read\neio_write\nslow 50ms\n");
    cr_assert_eq(fault_table_delay_ns(&table, &rd), 50000000ull);
    cr_assert_eq(fault_table_check(&table, &rd, NULL), -EIO);
}

Test(fault_table, clear_one_and_clear_all)
{
    set("slow", 0);
    set("eio_read", 0);
    struct fault_edit clear_slow = {.op = FAULT_EDIT_CLEAR_MODE, .rule = fault_rule_default(mode("slow"))};
    cr_assert_eq(fault_table_apply(&table, &clear_slow, 1), 0);
    cr_assert_str_eq(render(), "eio_read\n");
    cr_assert_eq(fault_table_apply(&table, &clear_slow, 1), 0, "clearing an inactive mode is fine");
    struct fault_edit clear = {.op = FAULT_EDIT_CLEAR_ALL};
    cr_assert_eq(fault_table_apply(&table, &clear, 1), 0);
    cr_assert_str_eq(render(), "");
    cr_assert_eq(fault_table_check(&table, &rd, NULL), 0);
}

Test(fault_table, fire_counts_per_mode)
{
    uint64_t fired[FAULT_MODE_COUNT];
    set("eio_read", 0);
    set("slow", 0);
    fault_table_delay_ns(&table, &rd);
    fault_table_check(&table, &rd, NULL);
    fault_table_check(&table, &rd, NULL);
    fault_table_check(&table, &wr, NULL);
    fault_table_fired(&table, fired);
    cr_assert_eq(fired[FAULT_MODE_EIO_READ], 2);
    cr_assert_eq(fired[FAULT_MODE_EIO_WRITE], 0);
    cr_assert_eq(fired[FAULT_MODE_SLOW], 1);
}

Test(fault_table, render_refuses_a_short_buffer)
{
    char small[4];
    set("eio_read", 0);
    cr_assert_eq(fault_table_render(&table, small, sizeof small), -ENOSPC);
}

/* ---- concurrency: setters and checkers at once ---- */

struct race {
    _Atomic int stop;
    _Atomic unsigned long checks;
    _Atomic unsigned long bad;
};

static void *checker(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        int rc = fault_table_check(&table, &rd, NULL);
        /* Only two outcomes exist; anything else is a torn table. */
        if (rc != 0 && rc != -EIO)
            atomic_fetch_add(&r->bad, 1);
        uint64_t d = fault_table_delay_ns(&table, &wr);
        if (d != 0 && d != 50000000ull)
            atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->checks, 1);
    }
    return NULL;
}

Test(fault_table, concurrent_set_and_clear_while_checking)
{
    struct race r = {0};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, checker, &r);
    struct fault_edit on[2] = {{.op = FAULT_EDIT_SET, .rule = fault_rule_default(mode("eio_read"))},
                               {.op = FAULT_EDIT_SET, .rule = fault_rule_default(mode("slow"))}};
    struct fault_edit off = {.op = FAULT_EDIT_CLEAR_ALL};
    /* Race for real: start flipping once the checkers run, and keep on while they do. */
    while (atomic_load(&r.checks) == 0)
        sched_yield();
    for (int i = 0; i < 20000 || atomic_load(&r.checks) < 20000; i++) {
        cr_assert_eq(fault_table_apply(&table, on, 2), 0);
        cr_assert_eq(fault_table_apply(&table, &off, 1), 0);
    }
    cr_assert_eq(fault_table_apply(&table, on, 2), 0);
    /* Once a setter returns, every later check sees the fault. */
    cr_assert_eq(fault_table_check(&table, &rd, NULL), -EIO);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(atomic_load(&r.bad), 0);
    cr_assert_gt(atomic_load(&r.checks), 0);
    cr_assert_str_eq(render(), "eio_read\nslow 50ms\n");
}
