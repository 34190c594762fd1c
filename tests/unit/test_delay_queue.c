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

Test(delay_queue, a_cancelled_job_never_runs_and_the_others_keep_their_order)
{
    struct delay_queue q;
    struct timed_job jobs[4] = {{.job.run = record}, {.job.run = record}, {.job.run = record},
                                {.job.run = record}};
    atomic_store(&next_order, 0);
    cr_assert_eq(delay_queue_start(&q, 1), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(delay_queue_add(&q, &jobs[i].job, (uint64_t)(40 + 10 * i) * DURATION_NS_PER_MS), 0);
    cr_assert(delay_queue_cancel(&q, &jobs[1].job), "a queued job is removed");
    cr_assert(!delay_queue_cancel(&q, &jobs[1].job), "and only once");
    duration_sleep(150 * DURATION_NS_PER_MS);
    cr_assert(!delay_queue_cancel(&q, &jobs[0].job), "a job that ran cannot be cancelled");
    delay_queue_stop(&q);
    cr_assert_eq(jobs[1].ran_at, 0, "the cancelled job never ran, not even at stop");
    cr_assert_eq(jobs[0].order, 0);
    cr_assert_eq(jobs[2].order, 1);
    cr_assert_eq(jobs[3].order, 2);
}

Test(delay_queue, a_job_cancelled_before_it_is_added_is_refused)
{
    struct delay_queue q;
    struct timed_job job = {.job.run = record};
    cr_assert_eq(delay_queue_start(&q, 1), 0);
    cr_assert(!delay_queue_cancel(&q, &job.job), "not queued yet: the caller does not own it back");
    cr_assert_eq(delay_queue_add(&q, &job.job, 0), -ECANCELED);
    delay_queue_stop(&q);
    cr_assert_eq(job.ran_at, 0);
}

static uint64_t no_delay(const struct delay_job *job, void *ctx)
{
    (void)job, (void)ctx;
    return 0;
}

static uint64_t longer_delay(const struct delay_job *job, void *ctx)
{
    (void)job, (void)ctx;
    return 3600 * DURATION_NS_PER_S;
}

Test(delay_queue, rescheduling_brings_an_owners_jobs_forward_never_back)
{
    struct delay_queue q;
    static const int disk_a = 0, disk_b = 0;
    struct timed_job mine = {.job.run = record, .job.owner = &disk_a};
    struct timed_job other = {.job.run = record, .job.owner = &disk_b};
    struct timed_job soon = {.job.run = record, .job.owner = &disk_a};
    cr_assert_eq(delay_queue_start(&q, 1), 0);
    uint64_t start = duration_now_ns();
    cr_assert_eq(delay_queue_add(&q, &mine.job, 3600 * DURATION_NS_PER_S), 0);
    cr_assert_eq(delay_queue_add(&q, &other.job, 3600 * DURATION_NS_PER_S), 0);
    cr_assert_eq(delay_queue_add(&q, &soon.job, 30 * DURATION_NS_PER_MS), 0);
    delay_queue_reschedule(&q, &disk_a, longer_delay, NULL);
    delay_queue_reschedule(&q, &disk_a, no_delay, NULL);
    duration_sleep(100 * DURATION_NS_PER_MS);
    cr_assert_neq(mine.ran_at, 0, "its owner's jobs run at once");
    cr_assert_lt(mine.ran_at - start, 80 * DURATION_NS_PER_MS);
    cr_assert_neq(soon.ran_at, 0, "a longer delay never puts a job back");
    cr_assert_eq(other.ran_at, 0, "another owner's job still waits");
    cr_assert(delay_queue_cancel(&q, &other.job));
    delay_queue_stop(&q);
}

Test(delay_queue, random_cancels_keep_the_heap_in_order)
{
    struct delay_queue q;
    static struct timed_job jobs[300];
    atomic_store(&next_order, 0);
    cr_assert_eq(delay_queue_start(&q, 1), 0);
    srand(7);
    for (int i = 0; i < 300; i++) {
        jobs[i] = (struct timed_job){.job.run = record, .order = -1};
        uint64_t delay = (uint64_t)(50 + rand() % 100) * DURATION_NS_PER_MS;
        cr_assert_eq(delay_queue_add(&q, &jobs[i].job, delay), 0);
    }
    int cancelled = 0;
    for (int i = 0; i < 300; i += 3)
        cancelled += delay_queue_cancel(&q, &jobs[(i * 7) % 300].job);
    duration_sleep(300 * DURATION_NS_PER_MS);
    delay_queue_stop(&q);
    cr_assert_eq(atomic_load(&next_order), 300 - cancelled);
    /* One worker: jobs ran in due order, so ran_at grows with due_ns. */
    for (int i = 0; i < 300; i++) {
        for (int k = 0; k < 300; k++) {
            if (jobs[i].order >= 0 && jobs[k].order >= 0 && jobs[i].job.due_ns < jobs[k].job.due_ns)
                cr_assert_lt(jobs[i].order, jobs[k].order, "job %d (due earlier) ran after job %d", i, k);
        }
    }
}
