/* QEMU machines: launch, boot, reset, hot-plug, stop. */
#include "machine.h"

#include "duration.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define QMP_TIMEOUT_NS (30 * DURATION_NS_PER_S)
#define UNPLUG_TIMEOUT_NS (20 * DURATION_NS_PER_S)
#define QUIT_TIMEOUT_NS (5 * DURATION_NS_PER_S)

/* What QEMU and we leave in a machine's directory: removed at stop. */
static const char *const machine_files[] = {"qmp.sock", "agent.sock", "console.log", "qemu.log"};

/* ---- the guest ---- */

void vm_guest_free(struct vm_guest *g)
{
    free(g->name);
    free(g->kernel);
    free(g->initrd);
    free(g->cmdline);
    memset(g, 0, sizeof *g);
}

int vm_guest_load(const char *dir, struct vm_guest *g, struct ff_error *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    memset(g, 0, sizeof *g);
    snprintf(path, sizeof path, "%s/guest.json", dir);
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        return ff_error_set(err, -ENOENT, "cannot read %s: %s", path, jerr.text);
    const char *pvh = json_string_value(json_object_get(j, "kernel_pvh"));
    const char *kernel = json_string_value(json_object_get(j, "kernel"));
    const char *initrd = json_string_value(json_object_get(j, "initrd"));
    const char *cmdline = json_string_value(json_object_get(j, "cmdline"));
    const char *name = json_string_value(json_object_get(j, "name"));
    if ((!pvh && !kernel) || !initrd || !cmdline || !name) {
        json_decref(j);
        return ff_error_set(err, -EINVAL, "%s lacks kernel, initrd, cmdline or name", path);
    }
    /* PVH boots the uncompressed kernel directly: seconds faster under TCG. */
    g->kernel = strdup(pvh && access(pvh, R_OK) == 0 ? pvh : kernel);
    g->initrd = strdup(initrd);
    g->cmdline = strdup(cmdline);
    g->name = strdup(name);
    json_decref(j);
    if (!g->kernel || !g->initrd || !g->cmdline || !g->name) {
        vm_guest_free(g);
        return ff_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

int vm_guest_build(const char *builder, struct vm_guest *g, struct ff_error *err)
{
    char cmd[PATH_MAX + 32], line[PATH_MAX] = "", last[PATH_MAX] = "";
    memset(g, 0, sizeof *g);
    if (access(builder, X_OK) != 0)
        return ff_error_set(err, -ENOENT, "no guest: the guest builder %s is missing",
                            builder);
    /* Its progress goes to our stderr; the last line of stdout is the guest's directory. */
    snprintf(cmd, sizeof cmd, "'%s'", builder);
    FILE *p = popen(cmd, "r");
    if (!p) {
        int e = errno;
        return ff_error_set(err, -e, "cannot run %s: %s", builder, strerror(e));
    }
    while (fgets(line, sizeof line, p))
        snprintf(last, sizeof last, "%s", line);
    int status = pclose(p);
    last[strcspn(last, "\n")] = '\0';
    if (status != 0 || !last[0])
        return ff_error_set(err, -EIO, "%s failed (status %d): the guest could not be built",
                            builder, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return vm_guest_load(last, g, err);
}

/* ---- the command line ---- */

static bool machine_use_kvm(enum vm_accel accel)
{
    if (accel != VM_ACCEL_AUTO)
        return accel == VM_ACCEL_KVM;
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return false;
    /* A /dev/kvm without kvm_intel or kvm_amd (kvm_pvm, say) cannot run a stock kernel. */
    return access("/sys/module/kvm_intel", F_OK) == 0 || access("/sys/module/kvm_amd", F_OK) == 0;
}

/*
 * The format node NODE (raw or qcow2) over a file node of the image: the one
 * blockdev both the command line (-blockdev) and a hot-plug (blockdev-add) give.
 */
static json_t *drive_blockdev(const struct vm_drive *d)
{
    const char *aio = d->aio ? d->aio : "threads";
    const char *format = d->format ? d->format : "raw";
    /* native and io_uring need O_DIRECT: cache.direct=on, what cache=none means. */
    bool direct = strcmp(aio, "threads") != 0;
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:b}}}", "driver", format, "node-name",
                     d->node, "file", "driver", "file", "filename", d->path, "aio", aio, "cache",
                     "direct", direct);
}

static const char *drive_error_action(const struct vm_drive *d)
{
    return d->stop_on_error ? "stop" : "report";
}

static char *drive_device(const struct vm_drive *d)
{
    char *text = NULL;
    if (asprintf(&text, "virtio-blk-pci,drive=%s,id=dev-%s,serial=%s,rerror=%s,werror=%s", d->node,
                 d->node, d->serial, drive_error_action(d), drive_error_action(d)) < 0)
        return NULL;
    return text;
}

struct argv_list {
    char **argv;
    size_t count;
    size_t capacity;
    bool failed; /* an allocation failed: the list is incomplete */
};

/* Adds a copy of ARG (ARG may be NULL: an allocation that failed upstream). */
static void argv_add(struct argv_list *a, const char *arg)
{
    if (a->count + 2 > a->capacity) {
        size_t cap = a->capacity ? a->capacity * 2 : 64;
        char **grown = realloc(a->argv, cap * sizeof *grown);
        if (!grown) {
            a->failed = true;
            return;
        }
        a->argv = grown;
        a->capacity = cap;
    }
    char *copy = arg ? strdup(arg) : NULL;
    if (!copy) {
        a->failed = true;
        return;
    }
    a->argv[a->count++] = copy;
    a->argv[a->count] = NULL;
}

/* Adds FLAG and its VALUE. */
static void argv_option(struct argv_list *a, const char *flag, const char *value)
{
    argv_add(a, flag);
    argv_add(a, value);
}

static void argv_free(struct argv_list *a)
{
    for (size_t i = 0; i < a->count; i++)
        free(a->argv[i]);
    free(a->argv);
}

/* QEMU's command line for M booting G with DRIVES. */
static void machine_argv(struct argv_list *a, const struct vm_machine *m, const struct vm_guest *g,
                         const struct vm_drive *drives, size_t ndrives, unsigned mem_mb)
{
    char arg[PATH_MAX + 128];
    argv_add(a, "qemu-system-x86_64");
    argv_option(a, "-machine", m->kvm ? "pc,accel=kvm" : "pc,accel=tcg");
    if (m->kvm)
        argv_option(a, "-cpu", "host");
    snprintf(arg, sizeof arg, "%u", mem_mb);
    argv_option(a, "-m", arg);
    argv_add(a, "-nodefaults");
    argv_add(a, "-no-user-config");
    argv_option(a, "-display", "none");
    argv_option(a, "-kernel", g->kernel);
    argv_option(a, "-initrd", g->initrd);
    argv_option(a, "-append", g->cmdline);
    snprintf(arg, sizeof arg, "file:%s", m->console_path);
    argv_option(a, "-serial", arg);
    snprintf(arg, sizeof arg, "unix:%s/qmp.sock,server=on,wait=off", m->dir);
    argv_option(a, "-qmp", arg);
    argv_option(a, "-device", "virtio-serial-pci,id=agent-bus");
    snprintf(arg, sizeof arg, "socket,id=agent,path=%s/agent.sock,server=on,wait=off", m->dir);
    argv_option(a, "-chardev", arg);
    argv_option(a, "-device", "virtserialport,chardev=agent,name=" AGENT_PROTO_PORT);
    for (size_t i = 0; i < ndrives; i++) {
        json_t *bd = drive_blockdev(&drives[i]);
        char *text = bd ? json_dumps(bd, JSON_COMPACT) : NULL;
        char *dev = drive_device(&drives[i]);
        argv_option(a, "-blockdev", text);
        argv_option(a, "-device", dev);
        free(text);
        free(dev);
        json_decref(bd);
    }
}

/* ---- the machine ---- */

static void read_tail(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");
    out[0] = '\0';
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, len > (long)size - 1 ? len - (long)size + 1 : 0, SEEK_SET);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    fclose(f);
}

bool vm_machine_alive(struct vm_machine *m)
{
    int status;
    if (m->pid <= 0)
        return false;
    if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
        m->pid = 0;
        return false;
    }
    return true;
}

/*
 * Connects C to the unix socket PATH that QEMU serves, retrying while QEMU
 * has not made it yet, until DEADLINE. Each try is a single connect(), and
 * QEMU's life is checked between tries: a QEMU that dies early (a kernel it
 * cannot open) leaves its socket file behind, and waiting on that until the
 * boot deadline would only delay its message. 0; -ESRCH when QEMU has
 * exited; -ETIMEDOUT at DEADLINE; or another -errno.
 */
static int machine_connect(struct vm_machine *m, struct line_conn *c, const char *path,
                           uint64_t deadline)
{
    for (;;) {
        int rc = line_conn_open(c, path);
        if (rc == 0)
            return 0;
        if (rc != -ENOENT && rc != -ECONNREFUSED)
            return rc;
        if (!vm_machine_alive(m))
            return -ESRCH;
        if (duration_now_ns() >= deadline)
            return -ETIMEDOUT;
        duration_sleep(20 * DURATION_NS_PER_MS);
    }
}

/*
 * Brings up a QEMU just started: its monitor, then its guest agent's hello,
 * every step waiting until DEADLINE however slow the host is. 0, or -errno
 * with ERR; on -ETIMEDOUT, ERR names the step it was waiting at.
 */
static int machine_come_up(struct vm_machine *m, uint64_t deadline, struct ff_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/qmp.sock", m->dir);
    int rc = machine_connect(m, &m->qmp.conn, path, deadline);
    if (rc == -ETIMEDOUT)
        return ff_error_set(err, rc, "waiting for QEMU's QMP socket");
    if (rc < 0)
        return ff_error_set(err, rc, "cannot connect to QMP at %s: %s", path, strerror(-rc));
    rc = qmp_handshake(&m->qmp, deadline, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/agent.sock", m->dir);
    rc = machine_connect(m, &m->agent.conn, path, deadline);
    if (rc == -ETIMEDOUT)
        return ff_error_set(err, rc, "waiting for QEMU's guest agent socket");
    if (rc < 0)
        return ff_error_set(err, rc, "cannot connect to the guest agent at %s: %s", path,
                            strerror(-rc));
    return agent_wait_hello(&m->agent, deadline, err);
}

/* Starts QEMU for M with the command line A; its output goes to M's qemu.log. 0 or -errno. */
static int machine_spawn(struct vm_machine *m, struct argv_list *a)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/qemu.log", m->dir);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        /* No QEMU outlives the harness, whatever ends it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        signal(SIGINT, SIG_IGN); /* the harness handles Ctrl-C, then stops us */
        execvp(a->argv[0], a->argv);
        fprintf(stderr, "cannot run %s: %s\n", a->argv[0], strerror(errno));
        _exit(127);
    }
    m->pid = pid;
    return 0;
}

/* After a failed come-up: QEMU's own last words if it died, and no QEMU left running. */
static int machine_abandon(struct vm_machine *m, int rc, struct ff_error *err)
{
    /*
     * A QEMU that fails closes its sockets a moment before it exits: give
     * it that moment. One that is merely slow gets none: its time is up.
     */
    for (int i = 0; rc != -ETIMEDOUT && i < 50 && vm_machine_alive(m); i++)
        duration_sleep(20 * DURATION_NS_PER_MS);
    if (!vm_machine_alive(m)) {
        char path[PATH_MAX], tail[600];
        snprintf(path, sizeof path, "%s/qemu.log", m->dir);
        read_tail(path, tail, sizeof tail);
        rc = ff_error_set(err, -ESRCH, "QEMU exited: %s", tail[0] ? tail : "no message");
    }
    /*
     * No polite quit for a guest that never came up: it would add its own
     * seconds on a busy host after the deadline. Nothing is lost that a
     * guest was promised: all QEMU may hold in memory (a qcow2 image's
     * metadata cache) is what no guest flush has asked for.
     */
    if (vm_machine_alive(m)) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        m->pid = 0;
    }
    vm_machine_stop(m);
    return rc;
}

int vm_machine_start(const struct vm_guest *g, const struct vm_drive *drives, size_t ndrives,
                     const struct vm_options *opts, struct vm_machine **out, struct ff_error *err)
{
    char dir[] = "/tmp/provium-vm-XXXXXX";
    uint64_t deadline = duration_now_ns() + opts->timeout_ns;
    *out = NULL;

    if (!mkdtemp(dir)) {
        int e = errno;
        return ff_error_set(err, -e, "cannot make a directory for the VM: %s", strerror(e));
    }
    struct vm_machine *m = calloc(1, sizeof *m);
    if (!m) {
        rmdir(dir);
        return ff_error_set(err, -ENOMEM, "out of memory");
    }
    /* Closed, not fd 0: stopping a machine that never connected must close nothing. */
    qmp_init(&m->qmp);
    agent_init(&m->agent);
    m->dir = strdup(dir);
    if (m->dir && asprintf(&m->console_path, "%s/console.log", dir) < 0)
        m->console_path = NULL;
    if (!m->console_path) {
        if (!m->dir)
            rmdir(dir);
        vm_machine_stop(m);
        return ff_error_set(err, -ENOMEM, "out of memory");
    }
    m->kvm = machine_use_kvm(opts->accel);

    struct argv_list a = {0};
    machine_argv(&a, m, g, drives, ndrives, opts->mem_mb);
    int rc = a.failed ? ff_error_set(err, -ENOMEM, "out of memory") : machine_spawn(m, &a);
    argv_free(&a);
    if (rc < 0) {
        if (rc != -ENOMEM)
            ff_error_set(err, rc, "cannot start QEMU: fork: %s", strerror(-rc));
        vm_machine_stop(m);
        return rc;
    }
    rc = machine_come_up(m, deadline, err);
    if (rc < 0)
        return machine_abandon(m, rc, err);
    *out = m;
    return 0;
}

int vm_machine_reset(struct vm_machine *m, uint64_t timeout_ns, struct ff_error *err)
{
    uint64_t deadline = duration_now_ns() + timeout_ns;
    /* A hello already waiting (the guest rebooted by itself) must not pass for the new one. */
    agent_drain(&m->agent);
    int rc = qmp_command(&m->qmp, "system_reset", NULL, deadline, NULL, err);
    if (rc < 0)
        return rc;
    return agent_wait_hello(&m->agent, deadline, err);
}

void vm_machine_stop(struct vm_machine *m)
{
    if (!m)
        return;
    if (vm_machine_alive(m) && m->qmp.conn.fd >= 0) {
        uint64_t deadline = duration_now_ns() + QUIT_TIMEOUT_NS;
        qmp_command(&m->qmp, "quit", NULL, deadline, NULL, NULL);
        while (vm_machine_alive(m) && duration_now_ns() < deadline)
            duration_sleep(10 * DURATION_NS_PER_MS);
    }
    if (vm_machine_alive(m)) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
    }
    qmp_close(&m->qmp);
    agent_close(&m->agent);
    if (m->dir) {
        char path[PATH_MAX];
        for (size_t i = 0; i < sizeof machine_files / sizeof machine_files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", m->dir, machine_files[i]);
            unlink(path);
        }
        rmdir(m->dir); /* a leftover directory in /tmp would be harmless */
    }
    free(m->dir);
    free(m->console_path);
    free(m);
}

/* Runs COMMAND with ARGS on M's monitor within QMP_TIMEOUT_NS; the return value is dropped. */
static int machine_qmp(struct vm_machine *m, const char *command, json_t *args,
                       struct ff_error *err)
{
    return qmp_command(&m->qmp, command, args, duration_now_ns() + QMP_TIMEOUT_NS, NULL, err);
}

int vm_machine_plug(struct vm_machine *m, const struct vm_drive *d, struct ff_error *err)
{
    char dev[64];
    int rc = machine_qmp(m, "blockdev-add", drive_blockdev(d), err);
    if (rc < 0)
        return rc;
    snprintf(dev, sizeof dev, "dev-%s", d->node);
    rc = machine_qmp(m, "device_add",
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci",
                               "drive", d->node, "id", dev, "serial", d->serial, "rerror",
                               drive_error_action(d), "werror", drive_error_action(d)),
                     err);
    if (rc < 0)
        machine_qmp(m, "blockdev-del", json_pack("{s:s}", "node-name", d->node), NULL);
    return rc;
}

int vm_machine_resume_after_error(struct vm_machine *m)
{
    json_t *status;
    int rc = qmp_command(&m->qmp, "query-status", NULL, duration_now_ns() + QMP_TIMEOUT_NS, &status,
                         NULL);
    if (rc < 0)
        return rc;
    const char *state = json_string_value(json_object_get(status, "status"));
    bool paused = state && strcmp(state, "io-error") == 0;
    json_decref(status);
    if (!paused)
        return 0;
    rc = machine_qmp(m, "cont", NULL, NULL);
    return rc < 0 ? rc : 1;
}

int vm_machine_unplug(struct vm_machine *m, const char *node, struct ff_error *err)
{
    char dev[64];
    snprintf(dev, sizeof dev, "dev-%s", node);
    int rc = machine_qmp(m, "device_del", json_pack("{s:s}", "id", dev), err);
    if (rc < 0)
        return rc; /* -ENODEV: QEMU's DeviceNotFound */
    json_t *match = json_pack("{s:s}", "device", dev);
    json_t *ev = qmp_wait_event(&m->qmp, "DEVICE_DELETED", match, UNPLUG_TIMEOUT_NS);
    json_decref(match);
    if (!ev)
        return ff_error_set(err, -ETIMEDOUT, "the guest did not release device %s", dev);
    json_decref(ev);
    machine_qmp(m, "blockdev-del", json_pack("{s:s}", "node-name", node), NULL);
    return 0;
}
