#include "duration.h"
#include "fault_pipeline.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

static struct fault_table table;

static void setup(void)
{
    fault_table_init(&table);
}

static void teardown(void)
{
    fault_table_destroy(&table);
}

TestSuite(fault_pipeline, .init = setup, .fini = teardown);

static struct fault_table *live_table(void *ctx, int *err)
{
    (void)err;
    return ctx;
}

static const struct fault_source src = {.table = live_table, .ctx = &table};

static void set(const char *name)
{
    struct fault_edit e = {.op = FAULT_EDIT_SET,
                           .rule = fault_rule_default(fault_mode_find(name, strlen(name)))};
    cr_assert_eq(fault_table_apply(&table, &e, 1), 0);
}

struct io_probe {
    int calls;
    const char *flip; /* mode to switch on while the I/O runs, or NULL */
};

static ssize_t probe_io(void *ctx)
{
    struct io_probe *p = ctx;
    p->calls++;
    if (p->flip)
        set(p->flip);
    return 512;
}

static const struct fault_request rd = {.dir = FAULT_READ, .length = 512};
static const struct fault_request wr = {.dir = FAULT_WRITE, .length = 512};

Test(fault_pipeline, no_fault_does_the_io)
{
    struct io_probe p = {0};
    cr_assert_eq(fault_pipeline_run(&src, &rd, probe_io, &p), 512);
    cr_assert_eq(p.calls, 1);
}

Test(fault_pipeline, active_fault_fails_before_the_io)
{
    struct io_probe p = {0};
    set("eio_read");
    cr_assert_eq(fault_pipeline_run(&src, &rd, probe_io, &p), -EIO);
    cr_assert_eq(p.calls, 0, "nothing may be read once the fault is active");
    cr_assert_eq(fault_pipeline_run(&src, &wr, probe_io, &p), 512, "writes are not affected");
}

Test(fault_pipeline, fault_switched_on_during_the_io_still_fails)
{
    struct io_probe p = {.flip = "eio_read"};
    cr_assert_eq(fault_pipeline_run(&src, &rd, probe_io, &p), -EIO);
    cr_assert_eq(p.calls, 1, "the I/O ran; the re-check after it failed the request");
}

Test(fault_pipeline, write_fault_during_a_write_fails_it)
{
    struct io_probe p = {.flip = "eio_write"};
    cr_assert_eq(fault_pipeline_finish(&src, &wr, probe_io, &p), -EIO);
    cr_assert_eq(p.calls, 1);
}

Test(fault_pipeline, other_direction_flip_does_not_fail)
{
    struct io_probe p = {.flip = "eio_write"};
    cr_assert_eq(fault_pipeline_run(&src, &rd, probe_io, &p), 512);
}

Test(fault_pipeline, slow_sleeps_before_the_io)
{
    struct io_probe p = {0};
    set("slow");
    uint64_t start = duration_now_ns();
    cr_assert_eq(fault_pipeline_run(&src, &rd, probe_io, &p), 512);
    cr_assert_geq(duration_now_ns() - start, 50 * DURATION_NS_PER_MS);
}

static void *flip_after_10ms(void *arg)
{
    (void)arg;
    duration_sleep(10 * DURATION_NS_PER_MS);
    set("eio_read");
    return NULL;
}

Test(fault_pipeline, fault_switched_on_during_the_sleep_fails_before_the_io)
{
    struct io_probe p = {0};
    pthread_t t;
    set("slow");
    pthread_create(&t, NULL, flip_after_10ms, NULL);
    cr_assert_eq(fault_pipeline_run(&src, &rd, probe_io, &p), -EIO);
    pthread_join(t, NULL);
    cr_assert_eq(p.calls, 0);
}

static struct fault_table *gone(void *ctx, int *err)
{
    (void)ctx;
    *err = -ENXIO;
    return NULL;
}

Test(fault_pipeline, source_errors_pass_through)
{
    struct io_probe p = {0};
    const struct fault_source missing = {.table = gone};
    cr_assert_eq(fault_pipeline_run(&missing, &rd, probe_io, &p), -ENXIO);
    cr_assert_eq(p.calls, 0);
}

static ssize_t failing_io(void *ctx)
{
    (void)ctx;
    return -ENOSPC;
}

Test(fault_pipeline, io_errors_pass_through)
{
    cr_assert_eq(fault_pipeline_run(&src, &wr, failing_io, NULL), -ENOSPC);
}

static int looks;

static bool interrupt_on_second_look(void *ctx)
{
    (void)ctx;
    return ++looks >= 2;
}

Test(fault_pipeline, an_interruptible_sleep_ends_early)
{
    struct io_probe p = {0};
    const struct fault_source src_int = {
        .table = live_table, .interrupted = interrupt_on_second_look, .ctx = &table};
    struct fault_edit e = {.op = FAULT_EDIT_SET,
                           .rule = fault_rule_default(fault_mode_find("slow", 4))};
    e.rule.delay_ns = 10 * DURATION_NS_PER_S;
    cr_assert_eq(fault_table_apply(&table, &e, 1), 0);
    uint64_t start = duration_now_ns();
    cr_assert_eq(fault_pipeline_run(&src_int, &rd, probe_io, &p), -EINTR);
    cr_assert_lt(duration_now_ns() - start, 2 * DURATION_NS_PER_S);
    cr_assert_eq(p.calls, 0, "an interrupted request does no I/O");
}

static bool never_interrupted(void *ctx)
{
    (void)ctx;
    return false;
}

static void *clear_after_100ms(void *arg)
{
    struct fault_edit e = {.op = FAULT_EDIT_CLEAR_ALL};
    (void)arg;
    duration_sleep(100 * DURATION_NS_PER_MS);
    fault_table_apply(&table, &e, 1);
    return NULL;
}

Test(fault_pipeline, a_delay_cleared_during_the_sleep_ends_it)
{
    const struct fault_source sliced = {
        .table = live_table, .interrupted = never_interrupted, .ctx = &table};
    struct fault_edit e = {.op = FAULT_EDIT_SET,
                           .rule = fault_rule_default(fault_mode_find("slow", 4))};
    e.rule.delay_ns = 20 * DURATION_NS_PER_S;
    cr_assert_eq(fault_table_apply(&table, &e, 1), 0);
    pthread_t t;
    pthread_create(&t, NULL, clear_after_100ms, NULL);
    struct io_probe p = {0};
    uint64_t start = duration_now_ns();
    cr_assert_eq(fault_pipeline_run(&sliced, &rd, probe_io, &p), 512);
    uint64_t took = duration_now_ns() - start;
    pthread_join(t, NULL);
    cr_assert_eq(p.calls, 1);
    cr_assert_lt(took, 5 * DURATION_NS_PER_S, "the sleep went on after clear: %llu ns",
                 (unsigned long long)took);
}
