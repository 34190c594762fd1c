/*
 * bench-null: the benchmark's ceiling. A minimal FUSE server that serves one
 * file, MOUNTPOINT/image, answering reads from memory and taking writes into
 * it, with the mount and connection settings faultfs uses (direct_io,
 * max_read, max_background, async direct I/O, auto_unmount). What it reaches
 * is what a daemon that must see every request can reach on this transport;
 * tools/bench prints faultfs's figures as a ratio to it.
 *
 * Why libfuse's low-level API and not raw /dev/fuse: per request libfuse adds
 * a small allocation and a lock, well under 1 µs, against 30-40 µs of the
 * round trip through the kernel on our machines; what sets the ceiling is the
 * number of syscalls and wake-ups per request, and those are the same. Over
 * libfuse the ceiling also answers the question the benchmark asks: what a
 * libfuse daemon of this shape can reach, which faultfs is.
 *
 * Threads: by default the very loop faultfs runs (fusefs/session_loop.c), so
 * that the ratio to this ceiling is what faultfs's own work costs; -s and
 * -o readers=N run libfuse's loops instead, to compare loops on equal terms
 * (the README's performance section has the figures that chose ours).
 */
#include "request.h"
#include "ring_loop.h"
#include "session_loop.h"

#include <fuse_lowlevel.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NULL_MAX_READ (512 * 1024) /* as faultfs's FAULTFS_MAX_READ */
#define NULL_MAX_BACKGROUND 4096  /* as faultfs's FAULTFS_MAX_BACKGROUND */
#define NULL_INO_IMAGE 2

struct null_fs {
    char *data;      /* the file's bytes */
    size_t size;     /* its size, fixed */
    time_t mounted;  /* every time the file shows */
    char *size_text; /* -o size=BYTES, as given */
    char *transport; /* -o transport=dev|uring, as given (NULL: dev) */
    unsigned readers; /* -o readers=N: libfuse's multi-threaded loop; 0 = ours */
};

static void null_usage(FILE *out)
{
    fprintf(out,
            "usage: bench-null [options] MOUNTPOINT\n"
            "\n"
            "Serves MOUNTPOINT/image from memory: the ceiling tools/bench measures faultfs\n"
            "against. Reads answer from memory, writes go into it; nothing else happens.\n"
            "\n"
            "options:\n"
            "    -f                     stay in the foreground\n"
            "    -s                     libfuse's single-threaded loop instead of faultfs's\n"
            "    -o size=BYTES          the file's size (default 512M; K, M, G)\n"
            "    -o transport=T         dev: the classic /dev/fuse transport (the default);\n"
            "                           uring: FUSE over io_uring, as faultfs -o transport=uring\n"
            "    -o readers=N           libfuse's multi-threaded loop with N threads blocking\n"
            "                           in read() instead of faultfs's loop\n"
            "    -o max_threads=N       spare threads of faultfs's loop (default 10)\n"
            "    -h, --help             print this help and exit\n");
}

static const struct fuse_opt null_opt_spec[] = {
    {"size=%s", offsetof(struct null_fs, size_text), 0},
    {"transport=%s", offsetof(struct null_fs, transport), 0},
    {"readers=%u", offsetof(struct null_fs, readers), 0},
    FUSE_OPT_END,
};

/* "512M" and the like: 0, or -1 with WHY set. */
static int null_parse_size(const char *text, size_t *size, const char **why)
{
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    unsigned shift = 0;
    if (end == text) {
        *why = "not a number";
        return -1;
    }
    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    default: break;
    }
    if (*end != '\0' || n == 0 || n > (SIZE_MAX >> shift)) {
        *why = "expected a size such as 512M";
        return -1;
    }
    *size = (size_t)n << shift;
    return 0;
}

/* ---- the file system: a root holding one file ---- */

static struct null_fs *null_of(struct request req)
{
    return request_userdata(req);
}

static void null_stat(const struct null_fs *fs, fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_atime = st->st_mtime = st->st_ctime = fs->mounted;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0644;
        st->st_nlink = 1;
        st->st_size = (off_t)fs->size;
        st->st_blocks = (blkcnt_t)(fs->size / 512);
    }
}

static void null_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    conn->max_background = NULL_MAX_BACKGROUND;
    conn->congestion_threshold = NULL_MAX_BACKGROUND * 3 / 4;
    if (conn->capable & FUSE_CAP_ASYNC_DIO)
        conn->want |= FUSE_CAP_ASYNC_DIO;
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_read = NULL_MAX_READ;
}

static void null_lookup(struct request req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e = {0};
    if (parent != FUSE_ROOT_ID || strcmp(name, "image") != 0)
        return (void)request_reply_err(req, ENOENT);
    e.ino = NULL_INO_IMAGE;
    null_stat(null_of(req), e.ino, &e.attr);
    request_reply_entry(req, &e);
}

static void null_getattr(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    (void)fi;
    if (ino != FUSE_ROOT_ID && ino != NULL_INO_IMAGE)
        return (void)request_reply_err(req, ENOENT);
    null_stat(null_of(req), ino, &st);
    request_reply_attr(req, &st, 0);
}

static void null_open(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != NULL_INO_IMAGE)
        return (void)request_reply_err(req, EISDIR);
    fi->direct_io = 1; /* as faultfs: every request reaches the daemon */
    fi->keep_cache = 0;
    request_reply_open(req, fi);
}

/* The bytes of [OFF, OFF+SIZE) that lie inside the file. */
static size_t null_clip(const struct null_fs *fs, size_t size, off_t off)
{
    if (off < 0 || (size_t)off >= fs->size)
        return 0;
    return size < fs->size - (size_t)off ? size : fs->size - (size_t)off;
}

static void null_read(struct request req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    struct null_fs *fs = null_of(req);
    (void)ino;
    (void)fi;
    request_reply_buf(req, fs->data + (off >= 0 ? off : 0), null_clip(fs, size, off));
}

static void null_write(struct request req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    struct null_fs *fs = null_of(req);
    size_t n = null_clip(fs, size, off);
    (void)ino;
    (void)fi;
    if (n == 0 && size > 0)
        return (void)request_reply_err(req, ENOSPC);
    memcpy(fs->data + off, buf, n);
    request_reply_write(req, n);
}

static void null_ok(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    request_reply_err(req, 0);
}

static void null_fsync(struct request req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    null_ok(req, ino, fi);
}

static void null_opendir(struct request req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != FUSE_ROOT_ID)
        return (void)request_reply_err(req, ENOTDIR);
    request_reply_open(req, fi);
}

static void null_readdir(struct request req, fuse_ino_t ino, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
    static const char *const names[] = {".", "..", "image"};
    static const fuse_ino_t inos[] = {FUSE_ROOT_ID, FUSE_ROOT_ID, NULL_INO_IMAGE};
    char buf[512];
    size_t used = 0;
    (void)fi;
    if (ino != FUSE_ROOT_ID)
        return (void)request_reply_err(req, ENOTDIR);
    if (size > sizeof buf)
        size = sizeof buf;
    for (off_t i = off; i < 3; i++) {
        struct stat st = {.st_ino = inos[i], .st_mode = i < 2 ? S_IFDIR : S_IFREG};
        size_t need = fuse_add_direntry(NULL, buf + used, size - used, names[i], &st, i + 1);
        if (need > size - used)
            break;
        used += need;
    }
    request_reply_buf(req, buf, used);
}

static const struct request_ops null_ops = {
    .lookup = null_lookup,
    .getattr = null_getattr,
    .open = null_open,
    .read = null_read,
    .write = null_write,
    .flush = null_ok,
    .release = null_ok,
    .fsync = null_fsync,
    .opendir = null_opendir,
    .readdir = null_readdir,
    .releasedir = null_ok,
};

/* ---- the io_uring transport ---- */

static struct fuse_session *null_session;
static _Atomic int null_ring_error;

static void null_ring_ready(void *userdata, int error)
{
    (void)userdata;
    if (error == 0) {
        fprintf(stderr, "bench-null: transport: FUSE over io_uring\n");
        return;
    }
    fprintf(stderr, "bench-null: -o transport=uring: the kernel refused the ring: %s\n",
            strerror(-error));
    atomic_store(&null_ring_error, error);
    fuse_session_exit(null_session);
    kill(getpid(), SIGTERM); /* wakes the thread waiting in session_loop_run */
}

static bool null_intercept(void *ctx, const void *buf, size_t len)
{
    return ring_loop_intercept(ctx, buf, len);
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts opts = {0};
    struct null_fs fs = {.size = 512u << 20};
    struct fuse_session *se = NULL;
    const char *why;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            null_usage(stdout);
            return 0;
        }
    }
    if (fuse_parse_cmdline(&args, &opts) != 0 || fuse_opt_parse(&args, &fs, null_opt_spec, NULL))
        goto err_out1;
    if (!opts.mountpoint) {
        fprintf(stderr, "bench-null: no MOUNTPOINT given (see bench-null --help)\n");
        goto err_out1;
    }
    bool uring = fs.transport && strcmp(fs.transport, "uring") == 0;
    if (fs.transport && !uring && strcmp(fs.transport, "dev") != 0) {
        fprintf(stderr, "bench-null: -o transport='%s': expected dev or uring\n", fs.transport);
        status = 2;
        goto err_out1;
    }
    if (uring && (opts.singlethread || fs.readers)) {
        fprintf(stderr, "bench-null: -o transport=uring runs its own threads: no -s or readers=\n");
        status = 2;
        goto err_out1;
    }
    if (fs.size_text && null_parse_size(fs.size_text, &fs.size, &why) < 0) {
        fprintf(stderr, "bench-null: -o size='%s': %s\n", fs.size_text, why);
        status = 2;
        goto err_out1;
    }
    /* Real pages, not the shared zero page: reads copy what a disk would hold. */
    fs.data = malloc(fs.size);
    if (!fs.data) {
        fprintf(stderr, "bench-null: cannot allocate %zu bytes\n", fs.size);
        goto err_out1;
    }
    memset(fs.data, 0x5a, fs.size);
    fs.mounted = time(NULL);

    char opt[64];
    snprintf(opt, sizeof opt, "-omax_read=%u,auto_unmount", NULL_MAX_READ);
    if (fuse_opt_add_arg(&args, opt) != 0)
        goto err_out2;
    struct fuse_lowlevel_ops lowlevel_ops;
    request_ops_lowlevel(&null_ops, null_init, &lowlevel_ops);
    se = fuse_session_new(&args, &lowlevel_ops, sizeof lowlevel_ops, &fs);
    if (!se)
        goto err_out2;
    if (fuse_set_signal_handlers(se) != 0)
        goto err_out3;
    if (fuse_session_mount(se, opts.mountpoint) != 0)
        goto err_out4;
    fuse_daemonize(opts.foreground);

    /* As faultfs: the loop's threads block the stop signals, this one waits for them. */
    sigset_t wait_mask;
    session_loop_block_stop_signals(&wait_mask);
    int rc;
    if (opts.singlethread) {
        pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
        rc = fuse_session_loop(se);
    } else if (uring) {
        struct ring_loop *ring;
        null_session = se;
        struct ring_loop_config config = {
            .ops = &null_ops, .userdata = &fs, .on_ready = null_ring_ready};
        rc = ring_loop_start(se, &config, &ring);
        if (rc == 0) {
            struct session_loop_intercept intercept = {.fn = null_intercept, .ctx = ring};
            rc = session_loop_run(se, opts.max_threads, &wait_mask, &intercept);
            ring_loop_stop(ring);
            if (null_ring_error)
                rc = null_ring_error;
        }
    } else if (fs.readers == 0) {
        rc = session_loop_run(se, opts.max_threads, &wait_mask, NULL);
    } else {
        pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
        struct fuse_loop_config *config = fuse_loop_cfg_create();
        fuse_loop_cfg_set_idle_threads(config, fs.readers);
        fuse_loop_cfg_set_max_threads(config, fs.readers);
        rc = fuse_session_loop_mt(se, config);
        fuse_loop_cfg_destroy(config);
    }
    status = rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP ? 0 : 1;

    fuse_session_unmount(se);
err_out4:
    fuse_remove_signal_handlers(se);
err_out3:
    fuse_session_destroy(se);
err_out2:
    free(fs.data);
err_out1:
    free(fs.size_text);
    free(fs.transport);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return status;
}
