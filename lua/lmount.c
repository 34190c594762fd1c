/*
 * Mount: a faultfs daemon started for this Lua state, or an existing mount.
 *
 * faultfs.mount()            starts `faultfs -f` on a fresh temporary directory
 * faultfs.mount(PATH)        uses the faultfs mount already at PATH
 * m:path()  m:close()  __gc/__close  __tostring
 *
 * The daemon gets SIGTERM if this process dies, so a crashed test run never
 * leaves a mount behind; close() stops it with SIGTERM, on which it unmounts.
 */
#include "lmount.h"

#include "ctl_client.h"
#include "lutil.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define tomount(L) ((LMount *)luaL_checkudata(L, 1, FAULTFS_MOUNT))

/* How long a daemon may take to mount, or to stop. */
#define MOUNT_WAIT_MS 10000

static void sleep_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&t, NULL);
}

LMount *lmount_check(lua_State *L, int index)
{
    LMount *m = luaL_checkudata(L, index, FAULTFS_MOUNT);
    if (!m->dir)
        luaL_error(L, "faultfs mount is closed");
    return m;
}

int lmount_open_file(const LMount *m, const char *relpath, int flags)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", m->dir, relpath);
    int fd = open(path, flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int lmount_send(const LMount *m, const char *relpath, const char *text, struct ff_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", m->dir, relpath);
    return ctl_client_send(path, text, err);
}

char *lmount_read(const LMount *m, const char *relpath)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", m->dir, relpath);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            free(buf);
            buf = NULL;
            errno = saved;
            break;
        }
        if (n == 0) {
            buf[len] = '\0';
            break;
        }
        len += (size_t)n;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return buf;
}

/* ---- starting and stopping the daemon ---- */

static bool is_fuse_mount(const char *dir)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    char line[PATH_MAX * 2];
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(line, sizeof line, f)) {
        char where[PATH_MAX], type[64];
        if (sscanf(line, "%*s %4095s %63s", where, type) == 2)
            found = strcmp(where, dir) == 0 && strncmp(type, "fuse", 4) == 0;
    }
    fclose(f);
    return found;
}

static void log_tail(const char *work, char *out, size_t size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/faultfs.log", work);
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
}

/* Starts DAEMON on M's directory and waits for the mount. 0, or -errno with ERR. */
static int mount_start(LMount *m, const char *daemon, struct ff_error *err)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/faultfs.log", m->work);

    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        return ff_error_set(err, -e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* The daemon must not outlive us, whatever ends us. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        signal(SIGINT, SIG_IGN); /* a Ctrl-C is ours to handle, then we stop it */
        execlp(daemon, "faultfs", "-f", m->dir, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", daemon, strerror(errno));
        _exit(127);
    }
    m->pid = pid;
    for (int waited = 0; waited < MOUNT_WAIT_MS; waited += 10) {
        if (is_fuse_mount(m->dir))
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            m->pid = 0;
            char tail[256];
            log_tail(m->work, tail, sizeof tail);
            return ff_error_set(err, -ECHILD, "faultfs did not start: %s",
                                tail[0] ? tail : "no output");
        }
        sleep_ms(10);
    }
    return ff_error_set(err, -ETIMEDOUT, "faultfs did not mount %s within %d s", m->dir,
                        MOUNT_WAIT_MS / 1000);
}

static void mount_stop(LMount *m)
{
    if (m->pid > 0) {
        /* SIGTERM: the daemon answers what it holds, unmounts and exits. */
        kill(m->pid, SIGTERM);
        int status, waited = 0;
        while (waitpid(m->pid, &status, WNOHANG) == 0) {
            if (waited >= MOUNT_WAIT_MS) {
                kill(m->pid, SIGKILL);
                waitpid(m->pid, &status, 0);
                break;
            }
            sleep_ms(10);
            waited += 10;
        }
        m->pid = 0;
    }
    if (m->work) {
        char path[PATH_MAX];
        if (is_fuse_mount(m->dir))
            umount2(m->dir, MNT_DETACH);
        rmdir(m->dir);
        snprintf(path, sizeof path, "%s/faultfs.log", m->work);
        unlink(path);
        rmdir(m->work);
    }
}

/* ---- methods ---- */

static int mount_close(lua_State *L)
{
    LMount *m = tomount(L);
    if (m->dir) {
        mount_stop(m);
        free(m->dir);
        free(m->work);
        m->dir = m->work = NULL;
    }
    return 0;
}

static int mount_path(lua_State *L)
{
    lua_pushstring(L, lmount_check(L, 1)->dir);
    return 1;
}

static int mount_tostring(lua_State *L)
{
    LMount *m = tomount(L);
    if (m->dir)
        lua_pushfstring(L, "faultfs mount (%s)", m->dir);
    else
        lua_pushliteral(L, "faultfs mount (closed)");
    return 1;
}

/* faultfs.mount([PATH]); upvalue 1: the faultfs binary */
static int mount_new(lua_State *L)
{
    const char *existing = luaL_optstring(L, 1, NULL);
    struct ff_error err;

    /* Closed state first, so an error below leaves nothing half-built. */
    LMount *m = lua_newuserdatauv(L, sizeof *m, 0);
    memset(m, 0, sizeof *m);
    luaL_setmetatable(L, FAULTFS_MOUNT);

    if (existing) {
        char real[PATH_MAX];
        if (!realpath(existing, real) || !is_fuse_mount(real))
            return luaL_error(L, "mount: '%s' is not a faultfs mount", existing);
        if (!(m->dir = strdup(real)))
            return luaL_error(L, "mount: out of memory");
        /* Another FUSE filesystem is no faultfs: its ctl must list disks. */
        char *list = lmount_read(m, "ctl");
        bool ours = list && strstr(list, "\"disks\"") && list[0] == '{';
        free(list);
        if (!ours) {
            free(m->dir);
            m->dir = NULL;
            return luaL_error(L, "mount: '%s' is not a faultfs mount (no disk list in its ctl)",
                              existing);
        }
        return 1;
    }
    char work[] = "/tmp/provium-XXXXXX";
    if (!mkdtemp(work))
        return luaL_error(L, "mount: cannot make a temporary directory: %s", strerror(errno));
    m->work = strdup(work);
    size_t len = strlen(work) + sizeof "/mnt";
    m->dir = malloc(len);
    if (!m->work || !m->dir)
        return luaL_error(L, "mount: out of memory");
    snprintf(m->dir, len, "%s/mnt", work);
    int made = mkdir(m->dir, 0755) < 0 ? -errno : 0;
    if (made < 0)
        ff_error_set(&err, made, "%s", strerror(-made));
    else if (mount_start(m, lua_tostring(L, lua_upvalueindex(1)), &err) == 0)
        return 1;
    lua_pushcfunction(L, mount_close);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return luaL_error(L, "mount: %s", err.msg);
}

static const luaL_Reg mount_methods[] = {
    {"path", mount_path},
    {"close", mount_close},
    {NULL, NULL},
};

static const luaL_Reg mount_metamethods[] = {
    {"__gc", mount_close},
    {"__close", mount_close},
    {"__tostring", mount_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

void lmount_open(lua_State *L, const char *daemon)
{
    lutil_new_class(L, FAULTFS_MOUNT, mount_methods, mount_metamethods, 0);
    lua_pushstring(L, daemon);
    lua_pushcclosure(L, mount_new, 1);
}
