/*
 * provium: the test runner. A Lua 5.4 state with the faultfs module built in
 * runs the embedded runner (provium_runner.lua) over the scripts given.
 *
 * SIGINT and SIGTERM stop the test at its next Lua instruction; the runner
 * then tears down its VMs and mounts before exiting with 130.
 *
 * For -j N the runner starts copies of this program, one per script, through
 * the "workers" table it is handed: workers.spawn, workers.wait, workers.stop.
 */
#include "lfaultfs.h"
#include "lutil.h"
#include "provium_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static lua_State *running;
static volatile sig_atomic_t interrupted;

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "provium: interrupted");
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    lutil_stop_requested = 1;
    /* lua_sethook is the one Lua call that is safe in a signal handler. */
    if (running)
        lua_sethook(running, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int runner_interrupted(lua_State *L)
{
    lua_pushboolean(L, interrupted);
    return 1;
}

/* ---- workers: copies of provium for -j ---- */

/*
 * workers.spawn({arg1, arg2, ...}, OUTPUT) -> pid: runs this program with
 * those arguments, its stdout and stderr both into the file OUTPUT (so a
 * script's output stays in one piece). It gets SIGTERM if we die.
 */
static int workers_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *output = luaL_checkstring(L, 2);
    lua_Integer n = luaL_len(L, 1);
    const char **argv = lua_newuserdatauv(L, (size_t)(n + 2) * sizeof *argv, 0);
    argv[0] = "provium";
    luaL_checkstack(L, (int)n, "too many arguments");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        argv[i] = luaL_checkstring(L, -1); /* stays on the stack, and so alive, until we return */
    }
    argv[n + 1] = NULL;
    /* Our own binary by its real name, so the worker shows as "provium", not "exe". */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len < 0)
        return luaL_error(L, "cannot find provium itself: %s", strerror(errno));
    self[len] = '\0';
    int fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return luaL_error(L, "cannot write '%s': %s", output, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(130); /* we died between fork and prctl */
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(self, (char *const *)argv);
        fprintf(stderr, "provium: cannot run %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    int e = errno;
    close(fd);
    if (pid < 0)
        return luaL_error(L, "fork: %s", strerror(e));
    lua_pushinteger(L, pid);
    return 1;
}

/*
 * workers.wait() -> pid, status once a worker ended (status: its exit code,
 * or 128 + the signal that killed it); nothing when a signal interrupted the
 * wait. Raises when there is no worker to wait for.
 */
static int workers_wait(lua_State *L)
{
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR)
        return 0;
    if (pid < 0)
        return luaL_error(L, "wait: %s", strerror(errno));
    lua_pushinteger(L, pid);
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 2;
}

/* workers.stop(pid): SIGTERM, on which a worker tears down as after Ctrl-C. */
static int workers_stop(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    if (pid > 0)
        kill(pid, SIGTERM);
    return 0;
}

static const luaL_Reg workers_functions[] = {
    {"spawn", workers_spawn},
    {"wait", workers_wait},
    {"stop", workers_stop},
    {NULL, NULL},
};

static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    luaL_requiref(L, "faultfs", luaopen_faultfs, 0);
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, provium_runner_lua, sizeof provium_runner_lua - 1, "=provium") != LUA_OK)
        return lua_error(L);
    lua_createtable(L, argc, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_pushcfunction(L, runner_interrupted);
    luaL_newlib(L, workers_functions);
    lua_call(L, 3, 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "provium: cannot create a Lua state\n");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    running = L;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = 1;
    if (lua_pcall(L, 2, 1, 0) != LUA_OK)
        fprintf(stderr, "provium: %s\n", lua_tostring(L, -1));
    else
        status = (int)lua_tointeger(L, -1);
    running = NULL;
    lua_close(L); /* collects what is left: mounts stop, VMs die */
    return status;
}
