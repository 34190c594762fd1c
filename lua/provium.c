/*
 * provium: the test runner. A Lua 5.4 state with the faultfs module built in
 * runs the embedded runner (provium_runner.lua) over the scripts given.
 *
 * SIGINT and SIGTERM stop the test at its next Lua instruction; the runner
 * then tears down its VMs and mounts before exiting with 130.
 */
#include "lfaultfs.h"
#include "lutil.h"
#include "provium_runner.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    lua_call(L, 2, 1);
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
