/*
 * luaopen_faultfs: the module table.
 *
 *   faultfs.mount([path])          -> Mount (a new daemon, or an existing mount)
 *   faultfs.vm(mount, name, guest) -> VM
 *   faultfs.provium(mount)         -> the runner's `provium` object: provium:vm(name, guest)
 *   faultfs.guests()               -> the guest names provium:vm accepts
 *   faultfs.on_vm_boot(fn)         -> fn(vm, console_path) after each vm:boot()
 *   faultfs.version, faultfs.SECTOR_SIZE, faultfs.SLOW_FAULT_MS
 *
 * Guest names: "pebble" is the embedded default guest. Aliases (from
 * faultfs.alias_guest, and PROVIUM_GUEST_ALIASES "peios=pebble,other=pebble"
 * read at load) let scripts written for another guest name run unchanged on it.
 */
#include "lfaultfs.h"

#include "fault_rule.h"
#include "lconfig.h"
#include "ldisk.h"
#include "lmount.h"
#include "lproc.h"
#include "lutil.h"
#include "lvm.h"
#include "sector_io.h"

#include <lauxlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const known_guests[] = {"pebble", NULL};

/* Aliases {name = guest}, kept in the registry under this key. */
static const char alias_key = 'a';

static const char *known_guest(const char *name)
{
    for (int i = 0; known_guests[i]; i++) {
        if (strcmp(name, known_guests[i]) == 0)
            return known_guests[i];
    }
    return NULL;
}

/* Pushes the alias table, made on first use. */
static void aliases_push(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &alias_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &alias_key);
    }
}

/* Adds the aliases of TEXT ("peios=pebble,other=pebble"); the first for a name wins, unknown guests
 * are skipped. */
static void aliases_load(lua_State *L, const char *text)
{
    char name[64], guest[64];
    aliases_push(L);
    for (const char *p = text; p && *p;) {
        const char *end = p + strcspn(p, ",");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && eq - p < (long)sizeof name && end - eq - 1 < (long)sizeof guest) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
            snprintf(guest, sizeof guest, "%.*s", (int)(end - eq - 1), eq + 1);
            bool unset = lua_getfield(L, -1, name) == LUA_TNIL;
            lua_pop(L, 1);
            if (unset && known_guest(guest)) {
                lua_pushstring(L, known_guest(guest));
                lua_setfield(L, -2, name);
            }
        }
        p = *end ? end + 1 : end;
    }
    lua_pop(L, 1);
}

/* The guest NAME stands for: itself if known, else its alias, else NULL. */
static const char *guest_resolve(lua_State *L, const char *name)
{
    const char *real = known_guest(name);
    if (real)
        return real;
    aliases_push(L);
    if (lua_getfield(L, -1, name) == LUA_TSTRING)
        real = known_guest(lua_tostring(L, -1));
    lua_pop(L, 2);
    return real;
}

/* faultfs.vm(mount, name, guest) */
static int faultfs_vm(lua_State *L)
{
    const char *name = luaL_checkstring(L, 2);
    const char *guest = luaL_checkstring(L, 3);
    const char *real = guest_resolve(L, guest);
    if (!real)
        return luaL_error(L,
                          "vm: unknown guest '%s' (known guests: pebble; run scripts written for "
                          "another guest with --guest-alias %s=pebble)",
                          guest, guest);
    return lvm_new(L, 1, name, real);
}

/* provium:vm(name, guest): the mount is the closure's upvalue */
static int provium_vm(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushcfunction(L, faultfs_vm);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_call(L, 3, 1);
    return 1;
}

/* faultfs.provium(mount) -> {vm = ..., mount = mount} */
static int faultfs_provium(lua_State *L)
{
    lmount_check(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, provium_vm, 1);
    lua_setfield(L, -2, "vm");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "mount");
    return 1;
}

/* faultfs.alias_guest(name, guest): scripts asking for NAME get GUEST */
static int faultfs_alias_guest(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *guest = luaL_checkstring(L, 2);
    if (!known_guest(guest))
        return luaL_error(L, "alias_guest: unknown guest '%s' (known guests: pebble)", guest);
    aliases_push(L);
    lua_pushstring(L, guest);
    lua_setfield(L, -2, name);
    return 0;
}

/* faultfs.monotonic() -> seconds on a clock that never jumps */
static int faultfs_monotonic(lua_State *L)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    lua_pushnumber(L, (lua_Number)now.tv_sec + (lua_Number)now.tv_nsec / 1e9);
    return 1;
}

static int faultfs_guests(lua_State *L)
{
    lua_newtable(L);
    for (int i = 0; known_guests[i]; i++) {
        lua_pushstring(L, known_guests[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const luaL_Reg faultfs_functions[] = {
    {"vm", faultfs_vm},
    {"provium", faultfs_provium},
    {"guests", faultfs_guests},
    {"alias_guest", faultfs_alias_guest},
    {"monotonic", faultfs_monotonic},
    {"on_vm_boot", lvm_on_boot},
    {NULL, NULL},
};

int luaopen_faultfs(lua_State *L)
{
    struct lconfig cfg;
    lconfig_read(&cfg);
    ldisk_open(L);
    lproc_open(L);
    lvm_open(L, &cfg.vm);
    aliases_load(L, cfg.guest_aliases);
    luaL_newlib(L, faultfs_functions);
    lmount_open(L, cfg.daemon);
    lua_setfield(L, -2, "mount");
    lua_pushliteral(L, FAULTFS_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, SECTOR_SIZE);
    lua_setfield(L, -2, "SECTOR_SIZE");
    lua_pushinteger(L, SLOW_FAULT_MS);
    lua_setfield(L, -2, "SLOW_FAULT_MS");
    return 1;
}
