#include "delay_queue.h"
#include "duration.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>

struct timed_job {
    struct delay_job job;
    uint64_t ran_at;
    int order;
};

static _Atomic int next_order;

static void record(struct delay_job *job)
{
    struct timed_job *t = (struct timed_job *)job;
    t->ran_at = duration_now_ns();
    t->order = atomic_fetch_add(&next_order, 1);
}

Test(delay_queue, jobs_run_after_their_delay_in_due_order)
{
    struct delay_queue q;
    struct timed_job jobs[3] = {{.job.run = record}, {.job.run = record}, {.job.run = record}};
    atomic_store(&next_order, 0);
    cr_assert_eq(delay_queue_start(&q, 1), 0);
    uint64_t start = duration_now_ns();
    cr_assert_eq(delay_queue_add(&q, &jobs[0].job, 60 * DURATION_NS_PER_MS), 0);
    cr_assert_eq(delay_queue_add(&q, &jobs[1].job, 20 * DURATION_NS_PER_MS), 0);
    cr_assert_eq(delay_queue_add(&q, &jobs[2].job, 40 * DURATION_NS_PER_MS), 0);
    duration_sleep(150 * DURATION_NS_PER_MS);
    delay_queue_stop(&q);
    cr_assert_eq(jobs[1].order, 0);
    cr_assert_eq(jobs[2].order, 1);
    cr_assert_eq(jobs[0].order, 2);
    cr_assert_geq(jobs[1].ran_at - start, 20 * DURATION_NS_PER_MS);
    cr_assert_geq(jobs[0].ran_at - start, 60 * DURATION_NS_PER_MS);
}

Test(delay_queue, stop_runs_what_is_still_queued)
{
    struct delay_queue q;
    struct timed_job job = {.job.run = record};
    cr_assert_eq(delay_queue_start(&q, 2), 0);
    cr_assert_eq(delay_queue_add(&q, &job.job, 3600 * DURATION_NS_PER_S), 0);
    delay_queue_stop(&q);
    cr_assert_neq(job.ran_at, 0, "a held job must still run (its request needs a reply)");
}

Test(delay_queue, many_jobs_all_run)
{
    struct delay_queue q;
    static struct timed_job jobs[500];
    atomic_store(&next_order, 0);
    cr_assert_eq(delay_queue_start(&q, 4), 0);
    for (int i = 0; i < 500; i++) {
        jobs[i].job.run = record;
        cr_assert_eq(delay_queue_add(&q, &jobs[i].job, (uint64_t)(i % 7) * DURATION_NS_PER_MS), 0);
    }
    duration_sleep(100 * DURATION_NS_PER_MS);
    delay_queue_stop(&q);
    cr_assert_eq(atomic_load(&next_order), 500);
}

Test(delay_queue, a_stopped_queue_refuses_jobs)
{
    struct delay_queue q;
    struct timed_job job = {.job.run = record};
    cr_assert_eq(delay_queue_start(&q, 1), 0);
    delay_queue_stop(&q);
    cr_assert_eq(delay_queue_add(&q, &job.job, 0), -ESHUTDOWN);
    cr_assert_eq(job.ran_at, 0);
}
