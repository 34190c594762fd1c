/*
 * The transports a mount runs on: the /dev/fuse loop always (FUSE_INIT,
 * forgets, interrupts, and every request on the classic transport), and the
 * ring beside it when it is asked for and the kernel takes it.
 */
#include "transport.h"

#include "fs_ops.h"
#include "ring_loop.h"
#include "session_loop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool transport_tries_ring(const struct fuse_cmdline_opts *opts, enum transport_choice choice)
{
    if (opts->singlethread)
        return false;
    return choice == TRANSPORT_URING || (choice == TRANSPORT_AUTO && ring_loop_kernel_enabled());
}

/* The transport the daemon runs on, and why the ring was not taken. */
struct transport_state {
    struct faultfs *fs;
    enum transport_choice choice;
    bool debug;
    _Atomic int ring_error; /* the kernel refused the ring: -errno */
};

static struct transport_state transport_state;

/* The ring's threads call this once the kernel accepted or refused the ring. */
static void transport_ready(void *userdata, int error)
{
    struct transport_state *t = &transport_state;
    (void)userdata;
    if (error == 0) {
        atomic_store(&t->fs->transport, "uring");
        if (t->debug)
            fprintf(stderr, "faultfs: transport: FUSE over io_uring\n");
        return;
    }
    atomic_store(&t->ring_error, error);
    if (t->choice == TRANSPORT_URING) {
        fprintf(stderr, "faultfs: -o transport=uring: the kernel refused the ring: %s\n",
                strerror(-error));
        fuse_session_exit(t->fs->session);
        kill(getpid(), SIGTERM); /* wakes the thread waiting in run_session */
    } else if (t->debug) {
        fprintf(stderr, "faultfs: transport: /dev/fuse (the kernel refused the ring: %s)\n",
                strerror(-error));
    }
}

static bool ring_intercept(void *ctx, const void *buf, size_t len)
{
    return ring_loop_intercept(ctx, buf, len);
}

int transport_run(struct faultfs *fs, const struct fuse_cmdline_opts *opts,
                  enum transport_choice choice, const sigset_t *wait_mask)
{
    struct ring_loop *ring = NULL;
    struct session_loop_intercept intercept = {0};

    transport_state = (struct transport_state){.fs = fs, .choice = choice, .debug = opts->debug};
    atomic_store(&fs->transport, "dev");
    if (opts->singlethread) {
        pthread_sigmask(SIG_SETMASK, wait_mask, NULL);
        int rc = fuse_session_loop(fs->session);
        parking_stop(&fs->parked);
        return rc;
    }
    if (transport_tries_ring(opts, choice)) {
        struct ring_loop_config config = {.ops = &faultfs_ops,
                                          .userdata = fs,
                                          .on_ready = transport_ready,
                                          .max_held_bytes = fs->parked.budget};
        int rc = ring_loop_start(fs->session, &config, &ring);
        if (rc < 0) {
            if (choice == TRANSPORT_URING) {
                fprintf(stderr, "faultfs: -o transport=uring: %s\n", strerror(-rc));
                parking_stop(&fs->parked);
                return rc;
            }
            ring = NULL;
        }
        intercept = (struct session_loop_intercept){.fn = ring_intercept, .ctx = ring};
    } else if (opts->debug) {
        fprintf(stderr, "faultfs: transport: /dev/fuse\n");
    }
    int rc = session_loop_run(fs->session, opts->max_threads, wait_mask, ring ? &intercept : NULL);
    /* Held requests are answered while the ring's threads still submit their replies. */
    parking_stop(&fs->parked);
    if (ring)
        ring_loop_stop(ring);
    if (choice == TRANSPORT_URING && atomic_load(&transport_state.ring_error))
        return atomic_load(&transport_state.ring_error);
    return rc;
}
