/* faultfs: mount the fault-injecting filesystem. */
#include "faultfs.h"

#include "ctl_parse.h"

#include <errno.h>
#include <limits.h>
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
            "\n"
            "Serves each IMAGE as MOUNTPOINT/ID/image with a fault table switched through\n"
            "MOUNTPOINT/ID/ctl (eio_read, eio_write, slow [DURATION], clear [MODE]).\n"
            "Disks are attached and detached at run time through MOUNTPOINT/ctl.\n"
            "\n"
            "faultfs options:\n"
            "    --disk ID=IMAGE[,size=BYTES]\n"
            "                           attach IMAGE (an existing regular file) as disk ID;\n"
            "                           size= shows only the first BYTES of it (K, M, G, T)\n"
            "    -h, --help             print this help and exit\n"
            "    -V, --version          print the version and exit\n"
            "\n"
            "FUSE options:\n");
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
    char why[CTL_ERROR_TEXT_MAX];
    const char *eq = strchr(spec, '=');
    const char *size = strstr(spec, ",size=");
    struct ctl_batch batch;
    struct ctl_error err;

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
        snprintf(why, sizeof why, "%s", err.text[0] ? err.text : strerror(-rc));
        fprintf(stderr, "faultfs: --disk '%s': %s\n", spec, why);
    }
    return rc;
}

static int run_session(struct fuse_session *se, const struct fuse_cmdline_opts *opts)
{
    if (opts->singlethread)
        return fuse_session_loop(se);
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    if (!config)
        return -ENOMEM;
    fuse_loop_cfg_set_clone_fd(config, (unsigned)opts->clone_fd);
    /* UINT_MAX is libfuse's "not given" for the idle count; leave its default then. */
    if (opts->max_idle_threads != UINT_MAX)
        fuse_loop_cfg_set_idle_threads(config, opts->max_idle_threads);
    fuse_loop_cfg_set_max_threads(config, opts->max_threads);
    int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
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
            fuse_cmdline_help();
            fuse_lowlevel_help();
            return 0;
        }
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("faultfs %s\n", FAULTFS_VERSION);
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
    if (delay_queue_start(&fs.delays, FAULTFS_DELAY_WORKERS) < 0)
        goto err_out3;

    fs.session = fuse_session_new(&args, &faultfs_ops, sizeof faultfs_ops, &fs);
    if (!fs.session)
        goto err_out4;
    if (fuse_set_signal_handlers(fs.session) != 0)
        goto err_out5;
    if (fuse_session_mount(fs.session, opts.mountpoint) != 0)
        goto err_out6;
    fuse_daemonize(opts.foreground);

    /* Stopping on a signal is the normal way out of a foreground daemon. */
    int rc = run_session(fs.session, &opts);
    status = (rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP) ? 0 : 1;
    /* Held requests are answered while the channel to the kernel is still open. */
    delay_queue_stop(&fs.delays);

    fuse_session_unmount(fs.session);
err_out6:
    fuse_remove_signal_handlers(fs.session);
err_out5:
    delay_queue_stop(&fs.delays);
    fuse_session_destroy(fs.session);
    faultfs_free_handles(&fs);
    goto err_out3;
err_out4:
    delay_queue_stop(&fs.delays);
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
