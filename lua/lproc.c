/*
 * Commands in the guest: results, processes and workers.
 *
 *   vm:run(cmd) -> result         result.stdout, .stderr, .status, .ok, result:assert_ok()
 *   vm:run_async(cmd) -> proc     proc:wait("5s") -> result, proc:kill(), proc:is_done()
 *
 * Every command runs as `/bin/sh -c CMD` through the guest agent; any number
 * run at once. A Proc's uservalue 1 is its VM, reached through p->vm.
 */
#include "lproc.h"

#include "duration.h"
#include "lutil.h"
#include "machine.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FAULTFS_PROC "faultfs.Proc"
#define PROC_KILL_GRACE_NS (5 * DURATION_NS_PER_S)

#define FAULTFS_RESULT "faultfs.Result"

/* Commands can be long (a script, a heredoc): messages quote the start of one. */
#define CMD_QUOTE_MAX 80

static const char *short_cmd(const char *cmd, char buf[CMD_QUOTE_MAX + 4])
{
    size_t n = strlen(cmd);
    if (n <= CMD_QUOTE_MAX)
        return cmd;
    memcpy(buf, cmd, CMD_QUOTE_MAX);
    strcpy(buf + CMD_QUOTE_MAX, "...");
    return buf;
}

/* ---- results ---- */

/* Pushes {cmd, status, stdout, stderr, ok} for R (which it frees). */
static int push_result(lua_State *L, const char *cmd, struct agent_result *r)
{
    lua_createtable(L, 0, 5);
    lua_pushstring(L, cmd);
    lua_setfield(L, -2, "cmd");
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, r->out ? r->out : "", r->out_len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, r->err ? r->err : "", r->err_len);
    lua_setfield(L, -2, "stderr");
    lua_pushboolean(L, r->status == 0);
    lua_setfield(L, -2, "ok");
    luaL_setmetatable(L, FAULTFS_RESULT);
    agent_result_free(r);
    return 1;
}

/* result:assert_ok([msg]) -> result; raises when the command's status was not 0 */
static int result_assert_ok(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *msg = luaL_optstring(L, 2, NULL);
    lua_getfield(L, 1, "status");
    lua_Integer status = lua_tointeger(L, -1);
    if (status == 0) {
        lua_settop(L, 1);
        return 1;
    }
    lua_getfield(L, 1, "cmd");
    lua_getfield(L, 1, "stderr");
    char quote[CMD_QUOTE_MAX + 4];
    return luaL_error(L, "%s%scommand '%s' failed with status %I: %s", msg ? msg : "",
                      msg ? ": " : "", short_cmd(lua_tostring(L, -2), quote), status,
                      lua_tostring(L, -1));
}

static int result_tostring(lua_State *L)
{
    lua_getfield(L, 1, "cmd");
    lua_getfield(L, 1, "status");
    char quote[CMD_QUOTE_MAX + 4];
    lua_pushfstring(L, "result of '%s' (status %s)", short_cmd(lua_tostring(L, -2), quote),
                    lua_tostring(L, -1));
    return 1;
}

static const char *lost_text(int rc)
{
    return rc == -ENOENT ? "the vm was restarted or shut down since it started"
                         : "the connection to the guest agent was lost";
}

/* Pushes the Result of a finished wait (RC 0), or raises why there is none. */
static int push_outcome(lua_State *L, const char *what, const char *cmd, int rc,
                        struct agent_result *r)
{
    char quote[CMD_QUOTE_MAX + 4];
    if (rc < 0)
        return luaL_error(L, "%s: '%s': %s", what, short_cmd(cmd, quote), lost_text(rc));
    if (r->failure) {
        lua_pushfstring(L, "%s: '%s': %s", what, short_cmd(cmd, quote), r->failure);
        agent_result_free(r);
        return lua_error(L);
    }
    return push_result(L, cmd, r);
}

/* ---- running to completion ---- */

/* agent_wait in slices, letting a VM paused on a retry disk's error retry in between. */
static int wait_serviced(lua_State *L, int vm_index, const struct lproc_vm_ops *vm,
                         struct vm_machine *m, const char *id, uint64_t deadline,
                         struct agent_result *r)
{
    for (;;) {
        uint64_t slice = duration_now_ns() + 50 * DURATION_NS_PER_MS;
        int rc = agent_wait(&m->agent, id, slice < deadline ? slice : deadline, r);
        if (rc != -ETIMEDOUT || duration_now_ns() >= deadline)
            return rc;
        lutil_check_stop(L);
        vm->service(L, vm_index);
    }
}

int lproc_run(lua_State *L, int vm_index, const struct lproc_vm_ops *vm, const char *cmd,
              uint64_t timeout_ns)
{
    struct vm_machine *m = vm->running(L, vm_index, "run");
    char id[AGENT_ID_SIZE], quote[CMD_QUOTE_MAX + 4];
    struct agent_result r;
    const char *shown = short_cmd(cmd, quote);
    int rc = agent_start(&m->agent, cmd, id);
    if (rc == -E2BIG)
        return luaL_error(L, "run: '%s' is %I bytes, over the %d the guest agent takes", shown,
                          (lua_Integer)strlen(cmd), AGENT_PROTO_COMMAND_MAX);
    if (rc < 0)
        return luaL_error(L, "run: cannot start '%s': %s", shown, strerror(-rc));
    rc = wait_serviced(L, vm_index, vm, m, id, duration_now_ns() + timeout_ns, &r);
    if (rc == -ETIMEDOUT) {
        char text[DURATION_TEXT_MAX];
        agent_kill(&m->agent, id);
        if (agent_wait(&m->agent, id, duration_now_ns() + PROC_KILL_GRACE_NS, &r) == 0)
            agent_result_free(&r);
        else
            agent_forget(&m->agent, id);
        duration_format(timeout_ns, text);
        return luaL_error(L, "run: '%s' did not finish within %s (it was killed)", shown, text);
    }
    return push_outcome(L, "run", cmd, rc, &r);
}

/* ---- processes ---- */

typedef struct LProc {
    char id[AGENT_ID_SIZE];
    char *cmd;
    bool started;                  /* the agent took it */
    bool collected;                /* its result is in uservalue 2 */
    const struct lproc_vm_ops *vm; /* what it asks of its VM (uservalue 1) */
} LProc;

#define toproc(L) ((LProc *)luaL_checkudata(L, 1, FAULTFS_PROC))

int lproc_start(lua_State *L, int vm_index, const struct lproc_vm_ops *vm, const char *cmd)
{
    struct vm_machine *m = vm->running(L, vm_index, "run_async");
    vm_index = lua_absindex(L, vm_index);
    LProc *p = lua_newuserdatauv(L, sizeof *p, 2);
    memset(p, 0, sizeof *p);
    p->vm = vm;
    luaL_setmetatable(L, FAULTFS_PROC);
    lua_pushvalue(L, vm_index);
    lua_setiuservalue(L, -2, 1);
    if (!(p->cmd = strdup(cmd)))
        return luaL_error(L, "run_async: out of memory");
    char quote[CMD_QUOTE_MAX + 4];
    int rc = agent_start(&m->agent, cmd, p->id);
    if (rc == -E2BIG)
        return luaL_error(L, "run_async: '%s' is %I bytes, over the %d the guest agent takes",
                          short_cmd(cmd, quote), (lua_Integer)strlen(cmd), AGENT_PROTO_COMMAND_MAX);
    if (rc < 0)
        return luaL_error(L, "run_async: cannot start '%s': %s", short_cmd(cmd, quote),
                          strerror(-rc));
    p->started = true;
    return 1;
}

/* proc:wait([timeout]) -> result; an error (the command runs on) when it is still running */
static int proc_wait(lua_State *L)
{
    LProc *p = toproc(L);
    if (p->collected) {
        lua_getiuservalue(L, 1, 2);
        return 1;
    }
    uint64_t timeout = lutil_duration(L, 2, 60 * DURATION_NS_PER_S, "wait");
    lua_getiuservalue(L, 1, 1);
    int vm = lua_gettop(L);
    struct vm_machine *m = p->vm->running(L, vm, "wait");
    struct agent_result r;
    int rc = wait_serviced(L, vm, p->vm, m, p->id, duration_now_ns() + timeout, &r);
    char quote[CMD_QUOTE_MAX + 4];
    const char *shown = short_cmd(p->cmd, quote);
    if (rc == -ETIMEDOUT) {
        char text[DURATION_TEXT_MAX];
        duration_format(timeout, text);
        return luaL_error(L, "wait: '%s' is still running after %s", shown, text);
    }
    push_outcome(L, "wait", p->cmd, rc, &r);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 2);
    p->collected = true;
    return 1;
}

/* proc:kill(): SIGKILLs the command's process group; wait() then reports status 137 */
static int proc_kill(lua_State *L)
{
    LProc *p = toproc(L);
    if (p->collected)
        return 0;
    lua_getiuservalue(L, 1, 1);
    struct vm_machine *m = p->vm->running(L, lua_gettop(L), "kill");
    agent_kill(&m->agent, p->id);
    return 0;
}

static int proc_is_done(lua_State *L)
{
    LProc *p = toproc(L);
    if (p->collected) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_getiuservalue(L, 1, 1);
    struct vm_machine *m = p->vm->running(L, lua_gettop(L), "is_done");
    lua_pushboolean(L, agent_done(&m->agent, p->id));
    return 1;
}

/* __gc: a command nobody will wait for is forgotten by the agent client. */
static int proc_gc(lua_State *L)
{
    LProc *p = toproc(L);
    if (p->started && !p->collected) {
        lua_getiuservalue(L, 1, 1);
        struct vm_machine *m = p->vm ? p->vm->machine(L, lua_gettop(L)) : NULL;
        if (m)
            agent_forget(&m->agent, p->id);
        p->collected = true;
    }
    free(p->cmd);
    p->cmd = NULL;
    return 0;
}

static int proc_tostring(lua_State *L)
{
    LProc *p = toproc(L);
    char quote[CMD_QUOTE_MAX + 4];
    lua_pushfstring(L, "proc '%s' (%s)", p->cmd ? short_cmd(p->cmd, quote) : "?",
                    p->collected ? "done" : p->id);
    return 1;
}

static const luaL_Reg proc_methods[] = {
    {"wait", proc_wait},
    {"kill", proc_kill},
    {"is_done", proc_is_done},
    {NULL, NULL},
};

static const luaL_Reg proc_metamethods[] = {
    {"__gc", proc_gc},
    {"__tostring", proc_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg result_methods[] = {
    {"assert_ok", result_assert_ok},
    {NULL, NULL},
};

static const luaL_Reg result_metamethods[] = {
    {"__tostring", result_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

void lproc_open(lua_State *L)
{
    lutil_new_class(L, FAULTFS_PROC, proc_methods, proc_metamethods, 0);
    lutil_new_class(L, FAULTFS_RESULT, result_methods, result_metamethods, 0);
}
