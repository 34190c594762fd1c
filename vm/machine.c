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

/* ---- the guest ---- */

void vm_guest_free(struct vm_guest *g)
{
    free(g->name);
    free(g->kernel);
    free(g->initrd);
    free(g->cmdline);
    memset(g, 0, sizeof *g);
}

static int guest_load(const char *dir, struct vm_guest *g, char *why, size_t why_size)
{
    char path[PATH_MAX];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/guest.json", dir);
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) {
        snprintf(why, why_size, "cannot read %s: %s", path, jerr.text);
        return -ENOENT;
    }
    const char *pvh = json_string_value(json_object_get(j, "kernel_pvh"));
    const char *kernel = json_string_value(json_object_get(j, "kernel"));
    const char *initrd = json_string_value(json_object_get(j, "initrd"));
    const char *cmdline = json_string_value(json_object_get(j, "cmdline"));
    const char *name = json_string_value(json_object_get(j, "name"));
    if ((!pvh && !kernel) || !initrd || !cmdline || !name) {
        json_decref(j);
        snprintf(why, why_size, "%s lacks kernel, initrd, cmdline or name", path);
        return -EINVAL;
    }
    /* PVH boots the uncompressed kernel directly: seconds faster under TCG. */
    g->kernel = strdup(pvh && access(pvh, R_OK) == 0 ? pvh : kernel);
    g->initrd = strdup(initrd);
    g->cmdline = strdup(cmdline);
    g->name = strdup(name);
    json_decref(j);
    return 0;
}

static void build_guest_path(char *out, size_t size)
{
    const char *env = getenv("FAULTFS_BUILD_GUEST");
    if (env && *env)
        snprintf(out, size, "%s", env);
    else if (access(FAULTFS_SOURCE_DIR "/tools/build-guest", X_OK) == 0)
        snprintf(out, size, "%s", FAULTFS_SOURCE_DIR "/tools/build-guest");
    else
        snprintf(out, size, "%s", FAULTFS_DATADIR "/faultfs/build-guest");
}

int vm_guest_locate(struct vm_guest *g, char *why, size_t why_size)
{
    const char *dir = getenv("PROVIUM_GUEST_DIR");
    char script[PATH_MAX], cmd[PATH_MAX + 32], line[PATH_MAX] = "", last[PATH_MAX] = "";
    memset(g, 0, sizeof *g);
    if (dir && *dir)
        return guest_load(dir, g, why, why_size);

    build_guest_path(script, sizeof script);
    if (access(script, X_OK) != 0) {
        snprintf(why, why_size, "no guest: %s is missing (set PROVIUM_GUEST_DIR)", script);
        return -ENOENT;
    }
    /* Its progress goes to our stderr; the last line of stdout is the guest's directory. */
    snprintf(cmd, sizeof cmd, "'%s'", script);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(why, why_size, "cannot run %s: %s", script, strerror(errno));
        return -errno;
    }
    while (fgets(line, sizeof line, p))
        snprintf(last, sizeof last, "%s", line);
    int status = pclose(p);
    last[strcspn(last, "\n")] = '\0';
    if (status != 0 || !last[0]) {
        snprintf(why, why_size, "%s failed (status %d): the guest could not be built", script,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -EIO;
    }
    return guest_load(last, g, why, why_size);
}

/* ---- the machine ---- */

bool vm_kvm_usable(void)
{
    const char *accel = getenv("PROVIUM_ACCEL");
    if (accel && *accel)
        return strcmp(accel, "kvm") == 0;
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return false;
    /* A /dev/kvm without kvm_intel or kvm_amd (kvm_pvm, say) cannot run a stock kernel. */
    return access("/sys/module/kvm_intel", F_OK) == 0 || access("/sys/module/kvm_amd", F_OK) == 0;
}

static json_t *drive_blockdev(const struct vm_drive *d)
{
    const char *aio = d->aio ? d->aio : "threads";
    /* native and io_uring need O_DIRECT: cache.direct=on, what cache=none means. */
    bool direct = strcmp(aio, "threads") != 0;
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:b}}}", "driver", "raw", "node-name",
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
    if (asprintf(&text, "virtio-blk-pci,drive=%s,id=dev-%s,serial=%s,rerror=%s,werror=%s",
                 d->node, d->node, d->serial, drive_error_action(d), drive_error_action(d)) < 0)
        return NULL;
    return text;
}

struct argv_list {
    char **argv;
    size_t count;
    size_t capacity;
};

static void argv_add(struct argv_list *a, const char *arg)
{
    if (a->count + 2 > a->capacity) {
        a->capacity = a->capacity ? a->capacity * 2 : 64;
        a->argv = realloc(a->argv, a->capacity * sizeof *a->argv);
    }
    a->argv[a->count++] = strdup(arg);
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
        int rc = line_conn_open(c, path, 0);
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
 * with WHY; on -ETIMEDOUT, WHY names the step it was waiting at.
 */
static int machine_come_up(struct vm_machine *m, uint64_t deadline, char *why, size_t why_size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/qmp.sock", m->dir);
    int rc = machine_connect(m, &m->qmp.conn, path, deadline);
    if (rc == -ETIMEDOUT)
        snprintf(why, why_size, "waiting for QEMU's QMP socket");
    else if (rc < 0)
        snprintf(why, why_size, "cannot connect to QMP at %s: %s", path, strerror(-rc));
    if (rc < 0)
        return rc;
    rc = qmp_handshake(&m->qmp, deadline, why, why_size);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/agent.sock", m->dir);
    rc = machine_connect(m, &m->agent.conn, path, deadline);
    if (rc == -ETIMEDOUT)
        snprintf(why, why_size, "waiting for QEMU's guest agent socket");
    else if (rc < 0)
        snprintf(why, why_size, "cannot connect to the guest agent at %s: %s", path, strerror(-rc));
    if (rc < 0)
        return rc;
    return agent_wait_hello(&m->agent, deadline, why, why_size);
}

int vm_machine_start(const struct vm_guest *g, const struct vm_drive *drives, size_t ndrives,
                     unsigned mem_mb, uint64_t timeout_ns, struct vm_machine **out, char *why,
                     size_t why_size)
{
    char dir[] = "/tmp/provium-vm-XXXXXX", path[PATH_MAX], arg[PATH_MAX + 128];
    struct argv_list a = {0};
    uint64_t deadline = duration_now_ns() + timeout_ns;

    if (!mkdtemp(dir)) {
        snprintf(why, why_size, "cannot make a directory for the VM: %s", strerror(errno));
        return -errno;
    }
    struct vm_machine *m = calloc(1, sizeof *m);
    if (!m) {
        rmdir(dir);
        snprintf(why, why_size, "out of memory");
        return -ENOMEM;
    }
    /* Closed, not fd 0: stopping a machine that never connected must close nothing. */
    qmp_init(&m->qmp);
    agent_init(&m->agent);
    m->dir = strdup(dir);
    if (asprintf(&m->console_path, "%s/console.log", dir) < 0)
        m->console_path = NULL;
    m->kvm = vm_kvm_usable();

    argv_add(&a, "qemu-system-x86_64");
    argv_option(&a, "-machine", m->kvm ? "pc,accel=kvm" : "pc,accel=tcg");
    if (m->kvm)
        argv_option(&a, "-cpu", "host");
    snprintf(arg, sizeof arg, "%u", mem_mb);
    argv_option(&a, "-m", arg);
    argv_add(&a, "-nodefaults");
    argv_add(&a, "-no-user-config");
    argv_option(&a, "-display", "none");
    argv_option(&a, "-kernel", g->kernel);
    argv_option(&a, "-initrd", g->initrd);
    argv_option(&a, "-append", g->cmdline);
    snprintf(arg, sizeof arg, "file:%s", m->console_path);
    argv_option(&a, "-serial", arg);
    snprintf(arg, sizeof arg, "unix:%s/qmp.sock,server=on,wait=off", dir);
    argv_option(&a, "-qmp", arg);
    argv_option(&a, "-device", "virtio-serial-pci,id=agent-bus");
    snprintf(arg, sizeof arg, "socket,id=agent,path=%s/agent.sock,server=on,wait=off", dir);
    argv_option(&a, "-chardev", arg);
    argv_option(&a, "-device", "virtserialport,chardev=agent,name=org.faultfs.agent");
    for (size_t i = 0; i < ndrives; i++) {
        json_t *bd = drive_blockdev(&drives[i]);
        char *text = json_dumps(bd, JSON_COMPACT);
        char *dev = drive_device(&drives[i]);
        argv_option(&a, "-blockdev", text);
        argv_option(&a, "-device", dev);
        free(text);
        free(dev);
        json_decref(bd);
    }

    snprintf(path, sizeof path, "%s/qemu.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        /* No QEMU outlives the harness, whatever ends it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        signal(SIGINT, SIG_IGN); /* the harness handles Ctrl-C, then stops us */
        execvp(a.argv[0], a.argv);
        fprintf(stderr, "cannot run %s: %s\n", a.argv[0], strerror(errno));
        _exit(127);
    }
    argv_free(&a);
    m->pid = pid;
    *out = m;
    if (pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        vm_machine_stop(m);
        return -EAGAIN;
    }

    int rc = machine_come_up(m, deadline, why, why_size);
    if (rc < 0) {
        /*
         * A QEMU that fails closes its sockets a moment before it exits: give
         * it that moment. One that is merely slow gets none: its time is up.
         */
        for (int i = 0; rc != -ETIMEDOUT && i < 50 && vm_machine_alive(m); i++)
            duration_sleep(20 * DURATION_NS_PER_MS);
        if (!vm_machine_alive(m)) {
            char tail[600];
            read_tail(path, tail, sizeof tail);
            snprintf(why, why_size, "QEMU exited: %s", tail[0] ? tail : "no message");
            rc = -ESRCH;
        }
        /*
         * No polite quit for a guest that never came up: it would add its own
         * seconds on a busy host after the deadline. Nothing is lost: QEMU
         * keeps no written data of a raw image in its own memory.
         */
        if (vm_machine_alive(m)) {
            kill(m->pid, SIGKILL);
            waitpid(m->pid, NULL, 0);
            m->pid = 0;
        }
        vm_machine_stop(m);
        *out = NULL;
        return rc;
    }
    return 0;
}

int vm_machine_reset(struct vm_machine *m, uint64_t timeout_ns, char *why, size_t why_size)
{
    uint64_t deadline = duration_now_ns() + timeout_ns;
    json_t *ret;
    /* A hello already waiting (the guest rebooted by itself) must not pass for the new one. */
    agent_drain(&m->agent);
    int rc = qmp_command(&m->qmp, "system_reset", NULL, deadline, &ret, why, why_size);
    if (rc < 0)
        return rc;
    json_decref(ret);
    return agent_wait_hello(&m->agent, deadline, why, why_size);
}

void vm_machine_stop(struct vm_machine *m)
{
    char why[256];
    if (!m)
        return;
    if (vm_machine_alive(m) && m->qmp.conn.fd >= 0) {
        json_decref(qmp_execute(&m->qmp, "quit", NULL, QUIT_TIMEOUT_NS, why, sizeof why));
        uint64_t deadline = duration_now_ns() + QUIT_TIMEOUT_NS;
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
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", m->dir);
        if (system(cmd) != 0) {
            /* Nothing more to do: a leftover directory in /tmp is harmless. */
        }
    }
    free(m->dir);
    free(m->console_path);
    free(m);
}

int vm_machine_plug(struct vm_machine *m, const struct vm_drive *d, char *why, size_t why_size)
{
    json_t *ret = qmp_execute(&m->qmp, "blockdev-add", drive_blockdev(d), QMP_TIMEOUT_NS, why,
                              why_size);
    if (!ret)
        return -EIO;
    json_decref(ret);
    char dev[64];
    snprintf(dev, sizeof dev, "dev-%s", d->node);
    ret = qmp_execute(&m->qmp, "device_add",
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci",
                                "drive", d->node, "id", dev, "serial", d->serial, "rerror",
                                drive_error_action(d), "werror", drive_error_action(d)),
                      QMP_TIMEOUT_NS, why, why_size);
    if (!ret) {
        char ignored[128];
        json_decref(qmp_execute(&m->qmp, "blockdev-del", json_pack("{s:s}", "node-name", d->node),
                                QMP_TIMEOUT_NS, ignored, sizeof ignored));
        return -EIO;
    }
    json_decref(ret);
    return 0;
}

int vm_machine_resume_after_error(struct vm_machine *m)
{
    char why[256];
    json_t *status = qmp_execute(&m->qmp, "query-status", NULL, QMP_TIMEOUT_NS, why, sizeof why);
    if (!status)
        return -EIO;
    const char *state = json_string_value(json_object_get(status, "status"));
    bool paused = state && strcmp(state, "io-error") == 0;
    json_decref(status);
    if (!paused)
        return 0;
    json_decref(qmp_execute(&m->qmp, "cont", NULL, QMP_TIMEOUT_NS, why, sizeof why));
    return 1;
}

int vm_machine_unplug(struct vm_machine *m, const char *node, char *why, size_t why_size)
{
    char dev[64], ignored[128];
    snprintf(dev, sizeof dev, "dev-%s", node);
    json_t *ret = qmp_execute(&m->qmp, "device_del", json_pack("{s:s}", "id", dev), QMP_TIMEOUT_NS,
                              why, why_size);
    if (!ret)
        return strstr(why, "not found") ? -ENODEV : -EIO;
    json_decref(ret);
    json_t *match = json_pack("{s:s}", "device", dev);
    json_t *ev = qmp_wait_event(&m->qmp, "DEVICE_DELETED", match, UNPLUG_TIMEOUT_NS);
    json_decref(match);
    if (!ev) {
        snprintf(why, why_size, "the guest did not release device %s", dev);
        return -ETIMEDOUT;
    }
    json_decref(ev);
    json_decref(qmp_execute(&m->qmp, "blockdev-del", json_pack("{s:s}", "node-name", node),
                            QMP_TIMEOUT_NS, ignored, sizeof ignored));
    return 0;
}
