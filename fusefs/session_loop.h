/* The request loop of the daemon (see session_loop.c for why it is ours, not libfuse's). */
#ifndef FAULTFS_SESSION_LOOP_H
#define FAULTFS_SESSION_LOOP_H

#include <fuse_lowlevel.h>
#include <signal.h>

/*
 * Serves SE until it is unmounted or a stop signal arrives, with at most
 * MAX_SPARES threads beyond one per CPU; the calling thread waits under
 * WAIT_MASK and every other thread must block the stop signals. 0 or -errno.
 */
int session_loop_run(struct fuse_session *se, unsigned max_spares, const sigset_t *wait_mask);

/*
 * Blocks the stop signals (SIGINT, SIGTERM, SIGHUP) in the calling thread,
 * before it starts any other, so that every thread inherits the block; the
 * mask to wait under, as before, goes into *WAIT_MASK.
 */
void session_loop_block_stop_signals(sigset_t *wait_mask);

#endif
