/*
 * What a VM shows beside its life cycle: its QMP events, and the views a
 * script takes of it (tables {vm = VM} with a class of their own).
 *
 *   vm:events([name])    vm:wait_event(name [, timeout])
 *   vm:console()         console:read_log(), console:path()
 *   vm:clock()           clock:sleep(duration), clock:now()
 *   vm:spawn_worker()    worker:run(cmd [, timeout]), worker:run_async(cmd)
 */
#include "lvm_i.h"

#include "lproc.h"
#include "lutil.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#define FAULTFS_CONSOLE "faultfs.Console"
#define FAULTFS_CLOCK "faultfs.Clock"
#define FAULTFS_WORKER "faultfs.Worker"

/* How often a waiting harness lets a VM paused on a retry disk's error retry. */
#define LVM_SERVICE_NS (50 * DURATION_NS_PER_MS)

/* ---- QMP events ---- */


/* vm:events([name]) -> the QMP events received (and not yet taken), e.g. "BLOCK_IO_ERROR" */
int lvm_events(lua_State *L)
{
    struct vm_machine *m = lvm_machine_any(L, 1, "events");
    json_t *events = qmp_take_events(&m->qmp, luaL_optstring(L, 2, NULL));
    lutil_push_json(L, events);
    json_decref(events);
    return 1;
}

/* vm:wait_event(name [, timeout]) -> the event, or nil at the timeout */
int lvm_wait_event(lua_State *L)
{
    struct vm_machine *m = lvm_running(L, 1, "wait_event");
    const char *name = luaL_checkstring(L, 2);
    uint64_t timeout = lutil_duration(L, 3, 10 * DURATION_NS_PER_S, "wait_event");
    json_t *ev = qmp_wait_event(&m->qmp, name, NULL, timeout);
    if (!ev) {
        lua_pushnil(L);
        return 1;
    }
    lutil_push_json(L, ev);
    json_decref(ev);
    return 1;
}

/* ---- views: console, clock, worker ---- */

/* console:read_log() -> everything the guest printed on its serial console since boot */
static int console_read_log(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "vm");
    struct vm_machine *m = lvm_machine_any(L, -1, "read_log");
    FILE *f = fopen(m->console_path, "rb");
    if (!f)
        return luaL_error(L, "read_log: %s: %s", m->console_path, strerror(errno));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        luaL_addlstring(&b, chunk, n);
    fclose(f);
    luaL_pushresult(&b);
    return 1;
}

static int console_path(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "vm");
    lua_pushstring(L, lvm_machine_any(L, -1, "path")->console_path);
    return 1;
}

/* clock:sleep(duration): waits on the host while the guest runs on */
static int clock_sleep(lua_State *L)
{
    uint64_t deadline = duration_now_ns() + lutil_duration(L, 2, 0, "sleep");
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "vm");
    int vm = lua_gettop(L);
    for (uint64_t now = duration_now_ns(); now < deadline; now = duration_now_ns()) {
        uint64_t left = deadline - now;
        duration_sleep(left < LVM_SERVICE_NS ? left : LVM_SERVICE_NS);
        lutil_check_stop(L);
        lvm_service(L, vm);
    }
    return 0;
}

static int clock_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)duration_now_ns() / (lua_Number)DURATION_NS_PER_S);
    return 1;
}

/* Pushes {vm = VM} with the metatable CLASS. */
static int push_view(lua_State *L, const char *class)
{
    tovm(L);
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "vm");
    luaL_setmetatable(L, class);
    return 1;
}

int lvm_console(lua_State *L)
{
    return push_view(L, FAULTFS_CONSOLE);
}

int lvm_clock(lua_State *L)
{
    return push_view(L, FAULTFS_CLOCK);
}

/* vm:spawn_worker() -> worker: a handle that runs commands beside the test's own */
int lvm_spawn_worker(lua_State *L)
{
    lvm_running(L, 1, "spawn_worker");
    return push_view(L, FAULTFS_WORKER);
}

/* The VM of the view at 1, pushed; returns its index. */
static int view_vm(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "vm");
    return lua_gettop(L);
}

static int worker_run(lua_State *L)
{
    const char *cmd = luaL_checkstring(L, 2);
    uint64_t timeout = lutil_duration(L, 3, 120 * DURATION_NS_PER_S, "run");
    return lproc_run(L, view_vm(L), &lvm_proc_ops, cmd, timeout);
}

static int worker_run_async(lua_State *L)
{
    const char *cmd = luaL_checkstring(L, 2);
    return lproc_start(L, view_vm(L), &lvm_proc_ops, cmd);
}

static const luaL_Reg console_methods[] = {
    {"read_log", console_read_log},
    {"path", console_path},
    {NULL, NULL},
};

static const luaL_Reg clock_methods[] = {
    {"sleep", clock_sleep},
    {"now", clock_now},
    {NULL, NULL},
};

static const luaL_Reg worker_methods[] = {
    {"run", worker_run},
    {"run_async", worker_run_async},
    {NULL, NULL},
};

void lvm_views_open(lua_State *L)
{
    lutil_new_class(L, FAULTFS_CONSOLE, console_methods, NULL, 0);
    lutil_new_class(L, FAULTFS_CLOCK, clock_methods, NULL, 0);
    lutil_new_class(L, FAULTFS_WORKER, worker_methods, NULL, 0);
}
