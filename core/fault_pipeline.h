/*
 * The order every request follows, as the seed specifies:
 *   1. if slow: sleep; 2. check the fault set (an EIO mode for this
 *   direction fails the request before any byte moves); 3. do the I/O;
 *   4. check again: a fault that became active meanwhile still fails it.
 *
 * The daemon runs step 1 through a delay queue and steps 2-4 through
 * fault_pipeline_finish(); synchronous callers run all four with
 * fault_pipeline_run().
 */
#ifndef FAULTFS_FAULT_PIPELINE_H
#define FAULTFS_FAULT_PIPELINE_H

#include "fault_table.h"

#include <stdbool.h>
#include <sys/types.h>

/* Where each step reads the fault set from: a live table, or one reloaded per look. */
struct fault_source {
    /* The table to consult now, or NULL with *ERR set to -errno. */
    struct fault_table *(*table)(void *ctx, int *err);
    /* Optional: whether the caller wants out; a sleep then ends early with -EINTR. */
    bool (*interrupted)(void *ctx);
    void *ctx;
};

/* The I/O of step 3: bytes moved, or -errno. */
typedef ssize_t (*fault_io_fn)(void *ctx);

/* Steps 2-4. Returns what IO returned, or the -errno of a fault or of the source. */
ssize_t fault_pipeline_finish(const struct fault_source *src, const struct fault_request *rq,
                              fault_io_fn io, void *io_ctx);

/*
 * Steps 1-4, sleeping in the calling thread (in short slices when SRC can
 * interrupt it, each of which also sees a delay cleared or shortened).
 */
ssize_t fault_pipeline_run(const struct fault_source *src, const struct fault_request *rq,
                           fault_io_fn io, void *io_ctx);

#endif
