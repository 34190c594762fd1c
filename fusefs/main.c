/* faultfs: mount the fault-injecting filesystem. */
#include "faultfs.h"
#include "fs_ops.h"
#include "mount_guard.h"
#include "session_loop.h"
#include "transport.h"

#include "ctl_parse.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Threads finishing requests that a slow fault held back. */
#define FAULTFS_DELAY_WORKERS 4

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultfs [options] [--disk ID=IMAGE[,size=BYTES]]... MOUNTPOINT\n"
            "       fusermount3 -u MOUNTPOINT\n"
            "\n"
            "Serves each IMAGE as MOUNTPOINT/ID/image; every read and write of it passes\n"
            "the rules written to MOUNTPOINT/ID/ctl, one per line (eio_read, eio_write,\n"
            "eio_flush, eio_discard, slow [DELAY]; keys sectors=, errno=, prob=, seed=,\n"
            "times=, after=; clear [MODE]). MOUNTPOINT/ID/stats counts, MOUNTPOINT/ctl\n"
            "attaches and detaches disks (attach ID IMAGE, detach ID, ID: COMMAND).\n"
            "\n"
            "options:\n"
            "    --disk ID=IMAGE[,size=BYTES]\n"
            "                           attach IMAGE (an existing regular file) as disk ID;\n"
            "                           size= shows only the first BYTES of it (K, M, G, T)\n"
            "    -f                     stay in the foreground\n"
            "    -d                     print FUSE debug output (implies -f)\n"
            "    -s                     serve requests on one thread\n"
            "    -o allow_other         let other users reach the mount; the kernel then checks\n"
            "                           the images' own owners and modes (default_permissions),\n"
            "                           and only you (and root) may write the ctl files\n"
            "    -o max_parked=SIZE     write data parked by slow faults may hold (default 128M)\n"
            "    -o noauto_unmount      leave the mount behind if the daemon is killed (by\n"
            "                           default it goes with the daemon: auto_unmount)\n"
            "    -o max_read=BYTES      the largest read request (default 512K)\n"
            "    -o max_threads=N       spare threads when every other one is stuck (default 10)\n"
            "    -o transport=T         how requests come from the kernel: dev (/dev/fuse),\n"
            "                           uring (FUSE over io_uring, Linux 6.14+ with the fuse\n"
            "                           module's enable_uring on), or auto (the default:\n"
            "                           uring where the kernel offers it, else dev)\n"
            "    -o fsname=NAME         the name the mount table shows\n"
            "    -h, --help             print this help and exit\n"
            "    -V, --version          print the version and exit\n"
            "\n"
            "See faultfs(1) for the whole control protocol, faultctl(1) for a command line\n"
            "over it.\n");
}

/* Removes every "--disk SPEC" and "--disk=SPEC" from ARGV, collecting the specs. */
static int take_disk_options(int *argc, char **argv, char ***specs, size_t *nspecs)
{
    int kept = 1;
    *specs = calloc((size_t)*argc, sizeof **specs);
    *nspecs = 0;
    if (!*specs)
        return -ENOMEM;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--disk") == 0) {
            if (i + 1 == *argc) {
                fprintf(stderr, "faultfs: --disk needs ID=IMAGE\n");
                return -EINVAL;
            }
            (*specs)[(*nspecs)++] = argv[++i];
        } else if (strncmp(argv[i], "--disk=", 7) == 0) {
            (*specs)[(*nspecs)++] = argv[i] + 7;
        } else {
            argv[kept++] = argv[i];
        }
    }
    argv[kept] = NULL;
    *argc = kept;
    return 0;
}

/* Attaches one --disk ID=IMAGE[,size=BYTES] through the same parser as MOUNT/ctl. */
static int attach_disk_option(struct disk_registry *disks, const char *spec)
{
    char line[PATH_MAX * 2 + 128];
    char cwd[PATH_MAX];
    char why[FF_ERROR_MSG_MAX];
    const char *eq = strchr(spec, '=');
    const char *size = strstr(spec, ",size=");
    struct ctl_batch batch;
    struct ff_error err;

    if (!eq || eq == spec || eq[1] == '\0' || (size && size < eq)) {
        fprintf(stderr, "faultfs: --disk '%s': expected ID=IMAGE[,size=BYTES]\n", spec);
        return -EINVAL;
    }
    const char *image = eq + 1;
    int image_len = (int)(size ? (size_t)(size - image) : strlen(image));
    if (strcspn(image, " \t\n") < (size_t)image_len) {
        fprintf(stderr, "faultfs: --disk '%s': image paths with blanks are not supported\n", spec);
        return -EINVAL;
    }
    const char *base = "";
    if (image[0] != '/') {
        if (!getcwd(cwd, sizeof cwd - 1))
            return -errno;
        strcat(cwd, "/");
        base = cwd;
    }
    snprintf(line, sizeof line, "attach %.*s %s%.*s%s%s", (int)(eq - spec), spec, base, image_len,
             image, size ? " " : "", size ? size + 1 : "");

    int rc = ctl_parse(CTL_SCOPE_MOUNT, line, strlen(line), &batch, &err);
    if (rc == 0)
        rc = disk_registry_apply(disks, &batch, &err);
    ctl_batch_free(&batch);
    if (rc < 0) {
        snprintf(why, sizeof why, "%s", err.msg[0] ? err.msg : strerror(-rc));
        fprintf(stderr, "faultfs: --disk '%s': %s\n", spec, why);
    }
    return rc;
}

/* The -o options faultfs itself reads (the others go to libfuse). */
struct faultfs_mount_opts {
    unsigned max_read;
    int allow_other; /* allow_other or allow_root */
    int keep_mount;  /* noauto_unmount: a killed daemon leaves its mount behind */
    char *max_parked; /* SIZE text, checked by the ctl parser's size rules */
    char *transport;  /* auto, uring or dev */
};

static const struct fuse_opt faultfs_mount_spec[] = {
    {"max_read=%u", offsetof(struct faultfs_mount_opts, max_read), 0},
    {"allow_other", offsetof(struct faultfs_mount_opts, allow_other), 1},
    {"allow_root", offsetof(struct faultfs_mount_opts, allow_other), 2},
    {"max_parked=%s", offsetof(struct faultfs_mount_opts, max_parked), 0},
    {"transport=%s", offsetof(struct faultfs_mount_opts, transport), 0},
    {"noauto_unmount", offsetof(struct faultfs_mount_opts, keep_mount), 1},
    {"auto_unmount", offsetof(struct faultfs_mount_opts, keep_mount), 0},
    FUSE_OPT_END,
};

/*
 * Takes faultfs's own -o options out of ARGS and puts back what the kernel
 * must see. max_read: libfuse wants the same value from the mount option and
 * from init(), so it is fixed here (FAULTFS_MAX_READ unless given).
 * allow_other / allow_root: other users then reach the mount, so the kernel
 * must check permissions (default_permissions) against the owners and modes
 * faultfs reports: images show their backing file's, control files the
 * mounting user's. auto_unmount is on unless noauto_unmount: a daemon that is
 * killed leaves no dead mount ("Transport endpoint is not connected") behind.
 */
/* What main does with the options beyond handing them on. */
struct main_choices {
    enum transport_choice transport;
    bool auto_unmount;
};

static int take_mount_options(struct fuse_args *args, struct faultfs *fs,
                              struct main_choices *choices)
{
    struct faultfs_mount_opts o = {.max_read = FAULTFS_MAX_READ};
    char opt[64];
    const char *why;
    int rc = 0;

    if (fuse_opt_parse(args, &o, faultfs_mount_spec, NULL) != 0)
        return -EINVAL;
    fs->max_read = o.max_read;
    fs->parked.budget = PARKING_DEFAULT_BUDGET;
    if (o.max_parked && ctl_parse_size(o.max_parked, strlen(o.max_parked), &fs->parked.budget,
                                       &why) < 0) {
        fprintf(stderr, "faultfs: -o max_parked='%s': %s\n", o.max_parked, why);
        rc = -EINVAL;
    }
    free(o.max_parked);
    choices->auto_unmount = !o.keep_mount;
    choices->transport = TRANSPORT_AUTO;
    if (o.transport && strcmp(o.transport, "uring") == 0) {
        choices->transport = TRANSPORT_URING;
    } else if (o.transport && strcmp(o.transport, "dev") == 0) {
        choices->transport = TRANSPORT_DEV;
    } else if (o.transport && strcmp(o.transport, "auto") != 0) {
        fprintf(stderr, "faultfs: -o transport='%s': expected auto, uring or dev\n", o.transport);
        rc = -EINVAL;
    }
    free(o.transport);
    snprintf(opt, sizeof opt, "-omax_read=%u", o.max_read);
    if (rc == 0 && fuse_opt_add_arg(args, opt) != 0)
        rc = -ENOMEM;
    if (rc == 0 && !o.keep_mount && fuse_opt_add_arg(args, "-oauto_unmount") != 0)
        rc = -ENOMEM;
    if (rc == 0 && o.allow_other &&
        fuse_opt_add_arg(args, o.allow_other == 1 ? "-oallow_other,default_permissions"
                                                   : "-oallow_root,default_permissions") != 0)
        rc = -ENOMEM;
    return rc;
}

int main(int argc, char **argv)
{
    struct fuse_cmdline_opts opts = {0};
    struct faultfs fs = {0};
    char **disk_specs = NULL;
    size_t ndisks = 0;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("faultfs %s (BSD-3-Clause)\n", FAULTFS_VERSION);
            fflush(stdout); /* before libfuse's lines, one of them from fusermount3 itself */
            fuse_lowlevel_version();
            return 0;
        }
    }
    if (take_disk_options(&argc, argv, &disk_specs, &ndisks) < 0)
        goto err_out1;

    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    if (fuse_parse_cmdline(&args, &opts) != 0)
        goto err_out2;
    if (!opts.mountpoint) {
        fprintf(stderr, "faultfs: no MOUNTPOINT given (see faultfs --help)\n");
        goto err_out2;
    }
    struct main_choices choices;
    if (take_mount_options(&args, &fs, &choices) < 0)
        goto err_out2;
    if (opts.singlethread && choices.transport == TRANSPORT_URING) {
        fprintf(stderr, "faultfs: -s serves /dev/fuse on one thread; -o transport=uring needs a"
                        " thread per CPU\n");
        goto err_out2;
    }
    fs.owner = getuid();
    fs.mount_root = realpath(opts.mountpoint, NULL);
    if (!fs.mount_root) {
        fprintf(stderr, "faultfs: mountpoint '%s': %s\n", opts.mountpoint, strerror(errno));
        goto err_out2;
    }
    pthread_mutex_init(&fs.handles_lock, NULL);
    if (disk_registry_init(&fs.disks, fs.mount_root) < 0)
        goto err_out2;
    for (size_t i = 0; i < ndisks; i++) {
        if (attach_disk_option(&fs.disks, disk_specs[i]) < 0)
            goto err_out3;
    }
    struct fuse_lowlevel_ops lowlevel_ops;
    request_ops_lowlevel(&faultfs_ops, faultfs_init, &lowlevel_ops);
    fs.session = fuse_session_new(&args, &lowlevel_ops, sizeof lowlevel_ops, &fs);
    if (!fs.session)
        goto err_out3;
    if (fuse_set_signal_handlers(fs.session) != 0)
        goto err_out4;
    if (fuse_session_mount(fs.session, opts.mountpoint) != 0)
        goto err_out5;
    if (disk_registry_guard_mounted(&fs.disks) < 0) {
        fprintf(stderr, "faultfs: cannot find the new mount at %s in /proc/self/mountinfo\n",
                fs.mount_root);
        goto err_out6;
    }
    fuse_daemonize(opts.foreground);
    faultfs_mark_mounted();
    /* Forked before any thread starts; see mount_guard.c for why the ring needs it. */
    pid_t guard = 0;
    if (choices.auto_unmount && transport_tries_ring(&opts, choices.transport)) {
        guard = mount_guard_start(fs.mount_root);
        if (guard < 0)
            fprintf(stderr, "faultfs: cannot start the watcher that unmounts a dead mount: %s\n",
                    strerror((int)-guard));
    }

    /*
     * Threads start only now: the fork in fuse_daemonize keeps the calling thread alone.
     * They all block the stop signals, so a signal always interrupts the thread that
     * waits for it in run_session.
     */
    sigset_t wait_mask;
    session_loop_block_stop_signals(&wait_mask);
    if (parking_start(&fs.parked, fs.parked.budget, FAULTFS_DELAY_WORKERS) == 0) {
        /* Stopping on a signal is the normal way out of a foreground daemon. */
        int rc = transport_run(&fs, &opts, choices.transport, &wait_mask);
        status = (rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP) ? 0 : 1;
    } else {
        parking_stop(&fs.parked);
    }
    pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);

    mount_guard_stop(guard);
err_out6:
    fuse_session_unmount(fs.session);
err_out5:
    fuse_remove_signal_handlers(fs.session);
err_out4:
    fuse_session_destroy(fs.session);
    faultfs_free_handles(&fs);
err_out3:
    disk_registry_destroy(&fs.disks);
err_out2:
    free(fs.mount_root);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
err_out1:
    free(disk_specs);
    return status;
}
