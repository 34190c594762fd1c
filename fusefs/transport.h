/* Which transport the kernel's requests come by, and running the session on it. */
#ifndef FAULTFS_TRANSPORT_H
#define FAULTFS_TRANSPORT_H

#include "faultfs.h"

#include <signal.h>
#include <stdbool.h>

/* -o transport=auto|uring|dev */
enum transport_choice { TRANSPORT_AUTO, TRANSPORT_URING, TRANSPORT_DEV };

/* Whether the daemon offers the kernel a ring (it may still refuse it). */
bool transport_tries_ring(const struct fuse_cmdline_opts *opts, enum transport_choice choice);

/*
 * Serves FS's session until it ends, on the transport CHOICE and OPTS ask
 * for; WAIT_MASK is the signal mask to wait under (the stop signals
 * unblocked). Parked requests are answered before it returns. 0 or -errno
 * (or the signal that stopped it).
 */
int transport_run(struct faultfs *fs, const struct fuse_cmdline_opts *opts,
                  enum transport_choice choice, const sigset_t *wait_mask);

#endif
