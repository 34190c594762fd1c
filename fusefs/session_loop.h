/* The request loop of the daemon (see session_loop.c for why it is ours, not libfuse's). */
#ifndef FAULTFS_SESSION_LOOP_H
#define FAULTFS_SESSION_LOOP_H

#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdbool.h>

/*
 * A look at each request read from /dev/fuse before libfuse gets it: FN
 * returns true if it took the request (libfuse then never sees it).
 */
struct session_loop_intercept {
    bool (*fn)(void *ctx, const void *buf, size_t len);
    void *ctx;
};

/*
 * Serves SE until it is unmounted or a stop signal arrives, with at most
 * MAX_SPARES threads beyond one per CPU; the calling thread waits under
 * WAIT_MASK and every other thread must block the stop signals. INTERCEPT
 * may be NULL. 0 or -errno.
 */
int session_loop_run(struct fuse_session *se, unsigned max_spares, const sigset_t *wait_mask,
                     const struct session_loop_intercept *intercept);

/*
 * Blocks the stop signals (SIGINT, SIGTERM, SIGHUP) in the calling thread,
 * before it starts any other, so that every thread inherits the block; the
 * mask to wait under, as before, goes into *WAIT_MASK.
 */
void session_loop_block_stop_signals(sigset_t *wait_mask);

#endif
