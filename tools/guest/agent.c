/*
 * faultfs-agent: the pebble guest's command agent.
 *
 * Speaks the line protocol of vm/agent_protocol.h (its messages, limits and
 * version; the host's end is vm/agent.c) with the host over the
 * virtio-serial port named AGENT_PROTO_PORT. tools/build-guest compiles this
 * file with that header and vm/base64.c, and defines GUEST_NAME.
 *
 * One single-threaded poll() loop serves the port, every command's stdout and
 * stderr pipes and a signalfd for SIGCHLD, so no command can stall another
 * and replies never interleave.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, signalfd, memfd_create */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_protocol.h"
#include "base64.h"

#ifndef GUEST_NAME
#error "GUEST_NAME (the guest's name for its hello) comes from tools/build-guest"
#endif
#define ARGV_CMD_MAX 100000 /* longer commands go through a memfd */
#define PORT_WAIT_MS 15000  /* how long to wait for the port */
#define HUP_RECHECK_MS 100  /* host-disconnected re-probe period */

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

struct job {
    struct job *next;
    char id[AGENT_PROTO_ID_MAX + 1];
    pid_t pid;
    bool exited;
    int status; /* exit code, or 128 + signal */
    int fd[2];  /* stdout, stderr read ends; -1 at EOF */
    struct buf out[2];
};

static const char *prog = "faultfs-agent";
static int port_fd = -1;
static int sig_fd = -1;
static bool host_gone;  /* port reports POLLHUP */
static bool discarding; /* skipping the rest of an overlong line */
static struct buf inq, outq;
static size_t outq_off; /* bytes of outq already written */
static struct job *jobs;
static sigset_t orig_mask;

static void logmsg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *what)
{
    logmsg("%s: %s", what, strerror(errno));
    exit(1);
}

/* ---- growable buffers ------------------------------------------------ */

static void buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 4096;
    char *p;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p)
        die("realloc");
    b->data = p;
    b->cap = cap;
}

static void buf_append(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- payloads: base64.h, AGENT_PROTO_EMPTY for none ------------------ */

static void b64_append(struct buf *b, const unsigned char *src, size_t len)
{
    if (len == 0) {
        buf_append(b, AGENT_PROTO_EMPTY, strlen(AGENT_PROTO_EMPTY));
        return;
    }
    buf_reserve(b, base64_encoded_len(len) + 1);
    base64_encode(src, len, b->data + b->len);
    b->len += base64_encoded_len(len);
}

/* Decodes the payload S in place into a NUL-terminated string. */
static bool b64_decode(char *s, size_t *outlen)
{
    long n = strcmp(s, AGENT_PROTO_EMPTY) == 0 ? 0 : base64_decode(s, strlen(s), s);

    if (n < 0)
        return false;
    s[n] = '\0';
    *outlen = (size_t)n;
    return true;
}

/* ---- output queue ------------------------------------------------------ */

static void send_line(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(&outq, (size_t)n + 2);
    va_start(ap, fmt);
    vsnprintf(outq.data + outq.len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    outq.len += (size_t)n;
    buf_append(&outq, "\n", 1);
}

static void send_error(const char *id, const char *msg)
{
    struct buf line = {0};

    buf_append(&line, "error ", 6);
    buf_append(&line, id ? id : "-", strlen(id ? id : "-"));
    buf_append(&line, " ", 1);
    b64_append(&line, (const unsigned char *)msg, strlen(msg));
    buf_append(&line, "\n", 1);
    buf_append(&outq, line.data, line.len);
    buf_free(&line);
}

/* Write as much queued output as the port takes without blocking. */
static void flush_output(void)
{
    while (outq_off < outq.len && !host_gone) {
        ssize_t n = write(port_fd, outq.data + outq_off, outq.len - outq_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            die("write to port");
        }
        outq_off += (size_t)n;
    }
    if (outq_off == outq.len) {
        outq.len = outq_off = 0;
        if (outq.cap > (1u << 20)) /* don't pin a big exit payload forever */
            buf_free(&outq);
    }
}

/* ---- jobs -------------------------------------------------------------- */

static struct job *find_job(const char *id)
{
    struct job *j;

    for (j = jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static void child_fail(const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%s: %s: %s\n", prog, what, strerror(errno));

    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
        _exit(127);
    _exit(127);
}

/* Runs in the forked child: become the command. */
static void exec_command(const char *cmd, int out_w, int err_w, int script_fd)
{
    static char *const envp[] = {"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "HOME=/root", NULL};
    int null_fd;

    /* Own process group so that "kill" reaches everything it spawned. */
    setpgid(0, 0);
    /* Ignored signals survive exec; the agent's SIGPIPE choice must not. */
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &orig_mask, NULL);

    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        child_fail("open /dev/null");
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
        dup2(err_w, STDERR_FILENO) < 0)
        child_fail("dup2");
    if (chdir("/") < 0)
        child_fail("chdir /");
    if (script_fd >= 0) {
        /* Too long for one argv string (MAX_ARG_STRLEN): source it from
         * a memfd instead; its first line closes fd 3 again. */
        if (dup2(script_fd, 3) < 0)
            child_fail("dup2");
        execle("/bin/sh", "sh", "-c", ". /proc/self/fd/3", (char *)NULL, envp);
    } else {
        execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, envp);
    }
    child_fail("exec /bin/sh");
}

static int make_script_fd(const char *cmd, size_t len)
{
    static const char prologue[] = "exec 3<&-\n";
    int fd = memfd_create("faultfs-cmd", MFD_CLOEXEC);
    size_t off = 0;

    if (fd < 0)
        return -1;
    if (write(fd, prologue, sizeof(prologue) - 1) != (ssize_t)(sizeof(prologue) - 1))
        goto fail;
    while (off < len) {
        ssize_t n = write(fd, cmd + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

static void start_job(const char *id, const char *cmd, size_t len)
{
    int out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    int script_fd = -1;
    struct job *j;
    char msg[128];
    pid_t pid;

    if (find_job(id)) {
        send_error(id, "id is already running");
        return;
    }
    if (len > ARGV_CMD_MAX && (script_fd = make_script_fd(cmd, len)) < 0)
        goto fail;
    /* Only our read ends are non-blocking: commands expect a normal
     * blocking stdout. */
    if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
        fcntl(out_p[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(err_p[0], F_SETFL, O_NONBLOCK) < 0)
        goto fail;
    pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        exec_command(cmd, out_p[1], err_p[1], script_fd);
    /* Also set it here: a "kill" may arrive before the child runs. */
    setpgid(pid, pid);
    close(out_p[1]);
    close(err_p[1]);
    if (script_fd >= 0)
        close(script_fd);

    j = calloc(1, sizeof(*j));
    if (!j)
        die("calloc");
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->pid = pid;
    j->fd[0] = out_p[0];
    j->fd[1] = err_p[0];
    j->next = jobs;
    jobs = j;
    return;

fail:
    snprintf(msg, sizeof(msg), "cannot start command: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        if (out_p[i] >= 0)
            close(out_p[i]);
        if (err_p[i] >= 0)
            close(err_p[i]);
    }
    if (script_fd >= 0)
        close(script_fd);
    send_error(id, msg);
}

static void drain_pipe(struct job *j, int k)
{
    char chunk[65536];

    for (;;) {
        ssize_t n = read(j->fd[k], chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            logmsg("read from job %s: %s", j->id, strerror(errno));
            n = 0;
        }
        if (n == 0) {
            close(j->fd[k]);
            j->fd[k] = -1;
            return;
        }
        /* Keep draining past the cap so the command never blocks. */
        if (j->out[k].len < AGENT_PROTO_STREAM_MAX) {
            size_t room = AGENT_PROTO_STREAM_MAX - j->out[k].len;
            buf_append(&j->out[k], chunk, (size_t)n < room ? (size_t)n : room);
        }
    }
}

static void reap_children(void)
{
    struct signalfd_siginfo si;
    int status;
    pid_t pid;

    while (read(sig_fd, &si, sizeof(si)) > 0)
        ;
    /* We are a subreaper, so orphans of commands land here too. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct job *j;
        for (j = jobs; j; j = j->next) {
            if (j->pid == pid && !j->exited) {
                j->exited = true;
                if (WIFEXITED(status))
                    j->status = WEXITSTATUS(status);
                else if (WIFSIGNALED(status))
                    j->status = 128 + WTERMSIG(status);
                else
                    j->status = 255;
                break;
            }
        }
    }
}

/* Report and forget every job whose process exited and whose pipes hit EOF. */
static void finish_jobs(void)
{
    struct job **pp = &jobs;

    while (*pp) {
        struct job *j = *pp;
        if (!j->exited || j->fd[0] >= 0 || j->fd[1] >= 0) {
            pp = &j->next;
            continue;
        }
        char head[64];
        int n = snprintf(head, sizeof(head), "exit %s %d ", j->id, j->status);

        buf_append(&outq, head, (size_t)n);
        b64_append(&outq, (unsigned char *)j->out[0].data, j->out[0].len);
        buf_append(&outq, " ", 1);
        b64_append(&outq, (unsigned char *)j->out[1].data, j->out[1].len);
        buf_append(&outq, "\n", 1);
        *pp = j->next;
        buf_free(&j->out[0]);
        buf_free(&j->out[1]);
        free(j);
    }
}

/* ---- host commands ----------------------------------------------------- */

static bool valid_id(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > AGENT_PROTO_ID_MAX)
        return false;
    return strspn(id, AGENT_PROTO_ID_CHARS) == n;
}

static void handle_line(char *line)
{
    char *argv[4];
    int argc = 0;
    char *p = line;
    size_t len;

    len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    if (line[0] == '\0')
        return; /* blank lines are harmless keepalives */

    /* Fields are separated by exactly one space. */
    while (argc < 4) {
        argv[argc++] = p;
        p = strchr(p, ' ');
        if (!p)
            break;
        *p++ = '\0';
    }
    if (p) {
        send_error(NULL, "too many fields");
        return;
    }
    if (argc < 2 || !valid_id(argv[1])) {
        send_error(NULL, "malformed line: expected VERB ID [ARG]");
        return;
    }

    if (strcmp(argv[0], "run") == 0 && argc == 3) {
        size_t cmdlen;
        if (!b64_decode(argv[2], &cmdlen) || strlen(argv[2]) != cmdlen) {
            send_error(NULL, "run: command is not valid base64 text");
            return;
        }
        start_job(argv[1], argv[2], cmdlen);
    } else if (strcmp(argv[0], "kill") == 0 && argc == 2) {
        struct job *j = find_job(argv[1]);
        if (!j) {
            send_error(argv[1], "kill: no such running id");
            return;
        }
        /* ESRCH just means the group is gone already; exit follows. */
        kill(-j->pid, SIGKILL);
    } else if (strcmp(argv[0], "ping") == 0 && argc == 2) {
        send_line("pong %s", argv[1]);
    } else {
        send_error(NULL, "malformed line: unknown verb or wrong field count");
    }
}

/*
 * Split buffered input into lines; a line may arrive in many reads.  Only
 * bytes from `fresh` on are new, so a huge line is scanned once, not per read.
 */
static void process_input(size_t fresh)
{
    size_t start = 0;

    for (;;) {
        size_t from = fresh > start ? fresh : start;
        char *nl = memchr(inq.data + from, '\n', inq.len - from);
        if (!nl)
            break;
        *nl = '\0';
        if (discarding) {
            discarding = false;
        } else if (memchr(inq.data + start, '\0', (size_t)(nl - inq.data) - start)) {
            send_error(NULL, "malformed line: contains NUL");
        } else {
            handle_line(inq.data + start);
        }
        start = (size_t)(nl - inq.data) + 1;
    }
    memmove(inq.data, inq.data + start, inq.len - start);
    inq.len -= start;
    if (inq.len > AGENT_PROTO_LINE_MAX) {
        if (!discarding)
            send_error(NULL, "line too long");
        discarding = true;
        inq.len = 0;
    }
}

/*
 * The host end closed.  Replies meant for that connection (and any half-read
 * request) go with it; commands keep running and report to the next one.
 */
static void host_disconnected(void)
{
    host_gone = true;
    inq.len = 0;
    discarding = false;
    outq.len = outq_off = 0;
}

/* Every connection starts with a hello, ahead of anything queued meanwhile. */
static void host_connected(void)
{
    char hello[64];
    int n = snprintf(hello, sizeof(hello), "hello %s %d\n", GUEST_NAME, AGENT_PROTO_VERSION);

    host_gone = false;
    buf_reserve(&outq, (size_t)n);
    memmove(outq.data + n, outq.data, outq.len);
    memcpy(outq.data, hello, (size_t)n);
    outq.len += (size_t)n;
}

static void read_port(void)
{
    for (;;) {
        ssize_t n;
        buf_reserve(&inq, 65536);
        n = read(port_fd, inq.data + inq.len, 65536);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            die("read from port");
        }
        if (n == 0) {
            /* virtio-console returns EOF while no host is attached */
            host_disconnected();
            return;
        }
        inq.len += (size_t)n;
        process_input(inq.len - (size_t)n);
    }
}

/* ---- port discovery ---------------------------------------------------- */

static bool find_port(const char *name, char *dev, size_t devlen)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    bool found = false;

    if (!d)
        return false;
    while (!found && (e = readdir(d))) {
        char path[512], got[256];
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(got, sizeof(got), f)) {
            got[strcspn(got, "\n")] = '\0';
            if (strcmp(got, name) == 0) {
                snprintf(dev, devlen, "/dev/%s", e->d_name);
                found = access(dev, F_OK) == 0;
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

static int open_port(const char *name)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    char dev[300];
    int waited = 0, fd;

    /* Module probing and devtmpfs may lag behind us at boot. */
    while (!find_port(name, dev, sizeof(dev))) {
        if (waited >= PORT_WAIT_MS) {
            logmsg("no virtio-serial port named %s", name);
            exit(1);
        }
        nanosleep(&pause, NULL);
        waited += 100;
    }
    fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        die(dev);
    logmsg("listening on %s (%s)", dev, name);
    return fd;
}

/* ---- main loop --------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: %s [--port NAME] [--ready-file PATH]\n"
            "Serve the faultfs guest protocol on virtio-serial port NAME\n"
            "(default " AGENT_PROTO_PORT "); create PATH once the port is open.\n",
            prog);
}

/* virtio-console flags POLLHUP (with POLLIN) while no host is attached. */
static bool port_hung_up(void)
{
    struct pollfd p = {.fd = port_fd, .events = POLLIN};

    while (poll(&p, 1, 0) < 0)
        if (errno != EINTR)
            die("poll");
    return p.revents & POLLHUP;
}

int main(int argc, char **argv)
{
    const char *port_name = AGENT_PROTO_PORT, *ready_file = NULL;
    struct pollfd *pfds = NULL;
    size_t pfd_cap = 0;
    sigset_t mask;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port_name = argv[++i];
        } else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            ready_file = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* Make sure fds 0-2 exist so pipes never land on them. */
    for (i = 0; i < 3; i++)
        if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            die("open /dev/null");

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, &orig_mask) < 0)
        die("sigprocmask");
    sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        die("signalfd");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        logmsg("cannot become subreaper: %s", strerror(errno));

    port_fd = open_port(port_name);
    host_gone = port_hung_up();
    if (!host_gone)
        host_connected();
    if (ready_file) {
        int fd = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            die(ready_file);
        close(fd);
    }

    for (;;) {
        size_t n = 0, njobs = 0;
        struct job *j;
        int timeout = -1, rc;

        if (host_gone && !port_hung_up())
            host_connected();
        flush_output();

        for (j = jobs; j; j = j->next)
            njobs++;
        if (pfd_cap < 2 + 2 * njobs) {
            pfd_cap = 2 * (2 + 2 * njobs);
            pfds = realloc(pfds, pfd_cap * sizeof(*pfds));
            if (!pfds)
                die("realloc");
        }
        pfds[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        if (host_gone) {
            /* POLLHUP would fire nonstop; probe on a timer instead. */
            pfds[n++] = (struct pollfd){.fd = -1};
            timeout = HUP_RECHECK_MS;
        } else {
            short ev = POLLIN;
            if (outq_off < outq.len)
                ev |= POLLOUT;
            pfds[n++] = (struct pollfd){.fd = port_fd, .events = ev};
        }
        for (j = jobs; j; j = j->next)
            for (int k = 0; k < 2; k++)
                pfds[n++] = (struct pollfd){.fd = j->fd[k], .events = POLLIN};

        rc = poll(pfds, n, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }

        if (pfds[0].revents)
            reap_children();
        /* Pipes before the port: new jobs from the port would shift
         * the job list away from the poll set. */
        n = 2;
        for (j = jobs; j; j = j->next)
            for (int k = 0; k < 2; k++, n++)
                if (pfds[n].fd >= 0 && pfds[n].revents)
                    drain_pipe(j, k);
        if (pfds[1].fd >= 0 && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            read_port();
        finish_jobs();
    }
}
