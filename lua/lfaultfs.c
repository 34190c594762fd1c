/*
 * luaopen_faultfs: the module table.
 *
 *   faultfs.mount([path])          -> Mount (a new daemon, or an existing mount)
 *   faultfs.vm(mount, name, guest) -> VM
 *   faultfs.provium(mount)         -> the runner's `provium` object: provium:vm(name, guest)
 *   faultfs.guests()               -> the guest names provium:vm accepts
 *   faultfs.version, faultfs.SECTOR_SIZE, faultfs.SLOW_FAULT_MS
 *
 * Guest names: "pebble" is the embedded default guest. PROVIUM_GUEST_ALIASES
 * ("peios=pebble,other=pebble") lets scripts written for another guest name
 * run unchanged on it.
 */
#include "lfaultfs.h"

#include "duration.h"
#include "fault_rule.h"
#include "sector_io.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const known_guests[] = {"pebble", NULL};

/* Aliases given with faultfs.alias_guest, kept in the registry under this key. */
static const char alias_key = 'a';

static const char *known_guest(const char *name)
{
    for (int i = 0; known_guests[i]; i++) {
        if (strcmp(name, known_guests[i]) == 0)
            return known_guests[i];
    }
    return NULL;
}

/* The guest NAME stands for: itself if known, else its alias, else NULL. */
static const char *guest_resolve(lua_State *L, const char *name, char *buf, size_t size)
{
    if (known_guest(name))
        return known_guest(name);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &alias_key);
    if (lua_istable(L, -1) && lua_getfield(L, -1, name) == LUA_TSTRING) {
        const char *real = known_guest(lua_tostring(L, -1));
        lua_pop(L, 2);
        return real;
    }
    lua_settop(L, 3);
    const char *aliases = getenv("PROVIUM_GUEST_ALIASES");
    size_t n = strlen(name);
    for (const char *p = aliases; p && *p;) {
        const char *end = p + strcspn(p, ",");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == n && memcmp(p, name, n) == 0) {
            snprintf(buf, size, "%.*s", (int)(end - eq - 1), eq + 1);
            if (known_guest(buf))
                return known_guest(buf);
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

/* faultfs.vm(mount, name, guest) */
static int faultfs_vm(lua_State *L)
{
    const char *name = luaL_checkstring(L, 2);
    const char *guest = luaL_checkstring(L, 3);
    char buf[64];
    lua_settop(L, 3);
    const char *real = guest_resolve(L, guest, buf, sizeof buf);
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
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &alias_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &alias_key);
    }
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
    {NULL, NULL},
};

void lfaultfs_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                        const luaL_Reg *metamethods)
{
    luaL_newmetatable(L, name);
    if (metamethods)
        luaL_setfuncs(L, metamethods, 0);
    lua_newtable(L);
    if (methods)
        luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

volatile sig_atomic_t lfaultfs_stop_requested;

void lfaultfs_check_stop(lua_State *L)
{
    if (lfaultfs_stop_requested)
        luaL_error(L, "provium: interrupted");
}

uint64_t lfaultfs_duration(lua_State *L, int index, uint64_t default_ns, const char *what)
{
    if (lua_isnoneornil(L, index))
        return default_ns;
    if (lua_type(L, index) == LUA_TNUMBER) {
        lua_Number s = lua_tonumber(L, index);
        if (!(s >= 0 && s <= 3600))
            luaL_error(L, "%s: bad duration %s (seconds from 0 to 3600)", what, lua_tostring(L, index));
        return (uint64_t)(s * 1e9);
    }
    size_t len;
    const char *text = luaL_checklstring(L, index, &len);
    uint64_t ns;
    const char *why;
    if (duration_parse(text, len, &ns, &why) < 0)
        luaL_error(L, "%s: bad duration '%s': %s", what, text, why);
    return ns;
}

int luaopen_faultfs(lua_State *L);

int luaopen_faultfs(lua_State *L)
{
    ldisk_open(L);
    lvm_open(L);
    lproc_open(L);
    luaL_newlib(L, faultfs_functions);
    lmount_open(L);
    lua_setfield(L, -2, "mount");
    lua_pushliteral(L, FAULTFS_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, SECTOR_SIZE);
    lua_setfield(L, -2, "SECTOR_SIZE");
    lua_pushinteger(L, SLOW_FAULT_MS);
    lua_setfield(L, -2, "SLOW_FAULT_MS");
    return 1;
}
