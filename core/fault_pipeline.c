/* Sleep, check, I/O, re-check: the order of every faulted request. */
#include "fault_pipeline.h"

#include "duration.h"

#include <errno.h>

/* How often an interruptible sleep looks whether it should end. */
#define PIPELINE_SLICE_NS (50 * DURATION_NS_PER_MS)

static ssize_t pipeline_check(const struct fault_source *src, const struct fault_request *rq)
{
    int err = 0;
    struct fault_table *table = src->table(src->ctx, &err);
    if (!table)
        return err;
    return fault_table_check(table, rq);
}

ssize_t fault_pipeline_finish(const struct fault_source *src, const struct fault_request *rq,
                              fault_io_fn io, void *io_ctx)
{
    ssize_t rc = pipeline_check(src, rq);
    if (rc < 0)
        return rc;
    ssize_t moved = io(io_ctx);
    if (moved < 0)
        return moved;
    rc = pipeline_check(src, rq);
    return rc < 0 ? rc : moved;
}

ssize_t fault_pipeline_run(const struct fault_source *src, const struct fault_request *rq,
                           fault_io_fn io, void *io_ctx)
{
    int err = 0;
    struct fault_table *table = src->table(src->ctx, &err);
    if (!table)
        return err;
    uint64_t delay = fault_table_delay_ns(table, rq);
    if (delay && !src->interrupted) {
        duration_sleep(delay);
    } else if (delay) {
        uint64_t start = duration_now_ns(), end = start + delay;
        for (uint64_t now = start; now < end; now = duration_now_ns()) {
            if (src->interrupted(src->ctx))
                return -EINTR;
            uint64_t left = end - now;
            duration_sleep(left < PIPELINE_SLICE_NS ? left : PIPELINE_SLICE_NS);
            /* As the daemon's parked requests: a cleared or shortened delay ends the sleep. */
            if (!(table = src->table(src->ctx, &err)))
                return err;
            uint64_t now_due = start + fault_table_current_delay_ns(table, rq);
            if (now_due < end)
                end = now_due;
        }
    }
    return fault_pipeline_finish(src, rq, io, io_ctx);
}
