/*
 * VM: a machine of the harness, its guest and the disks attached to it.
 *
 * provium:vm(name, guest) makes one; vm:attach_disk(opts), vm:disk(id),
 * vm:disks(), vm:name(). Uservalues: 1 = the Mount, 2 = {id = Disk}.
 */
#include "lfaultfs.h"

#include <stdlib.h>
#include <string.h>

struct LVM {
    char name[DISK_ID_MAX + 1];
    char guest[64];
    bool running; /* a QEMU process serves it */
};

#define tovm(L) ((LVM *)luaL_checkudata(L, 1, FAULTFS_VM))

LVM *lvm_check(lua_State *L, int index)
{
    return luaL_checkudata(L, index, FAULTFS_VM);
}

const char *lvm_name(const LVM *vm)
{
    return vm->name;
}

int lvm_plug_disk(lua_State *L, int vm_index, const char *mount_id)
{
    (void)L, (void)vm_index, (void)mount_id;
    return 0;
}

void lvm_unplug_disk(lua_State *L, int vm_index, const char *mount_id)
{
    (void)L, (void)vm_index, (void)mount_id;
}

/* vm:attach_disk({id=, size=, image=}) -> Disk */
static int vm_attach_disk(lua_State *L)
{
    lvm_check(L, 1);
    return ldisk_attach(L, 1, 2);
}

/* vm:disk(id) -> the Disk attached under ID */
static int vm_disk(lua_State *L)
{
    LVM *vm = tovm(L);
    const char *id = luaL_checkstring(L, 2);
    lua_getiuservalue(L, 1, 2);
    if (lua_getfield(L, -1, id) != LUA_TNIL)
        return 1;
    /* Name the disks it does have, sorted, so the typo is easy to see. */
    luaL_Buffer b;
    int n = 0;
    lua_newtable(L);
    int names = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, -4)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, names, ++n);
    }
    lua_getglobal(L, "table");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "sort");
        lua_pushvalue(L, names);
        lua_call(L, 1, 0);
    }
    lua_pop(L, 1);
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        luaL_addvalue(&b);
        if (i < n)
            luaL_addstring(&b, ", ");
    }
    luaL_pushresult(&b);
    return luaL_error(L, "disk: vm '%s' has no disk '%s' (attached: %s)", vm->name, id,
                      n ? lua_tostring(L, -1) : "none");
}

/* vm:disks() -> {id = Disk} (a copy) */
static int vm_disks(lua_State *L)
{
    tovm(L);
    lua_newtable(L);
    lua_getiuservalue(L, 1, 2);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);
    return 1;
}

static int vm_name_method(lua_State *L)
{
    lua_pushstring(L, tovm(L)->name);
    return 1;
}

static int vm_boot(lua_State *L)
{
    LVM *vm = tovm(L);
    return luaL_error(L, "boot: vm '%s': guests are not available yet (guest '%s' cannot be booted)",
                      vm->name, vm->guest);
}

/* vm:shutdown(): stops the machine and detaches every disk; safe to call twice */
static int vm_shutdown(lua_State *L)
{
    LVM *vm = tovm(L);
    vm->running = false;
    lua_getiuservalue(L, 1, 2);
    int disks = lua_gettop(L);
    /* Collect first: detaching removes entries from the table being walked. */
    lua_newtable(L);
    int list = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, disks)) {
        lua_rawseti(L, list, ++n);
    }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        lua_getfield(L, -1, "detach");
        lua_insert(L, -2);
        lua_pcall(L, 1, 0, 0) == LUA_OK ? (void)0 : lua_pop(L, 1);
    }
    return 0;
}

static int vm_tostring(lua_State *L)
{
    LVM *vm = tovm(L);
    lua_pushfstring(L, "vm %s (%s, %s)", vm->name, vm->guest, vm->running ? "running" : "not running");
    return 1;
}

static const luaL_Reg vm_methods[] = {
    {"attach_disk", vm_attach_disk},
    {"disk", vm_disk},
    {"disks", vm_disks},
    {"name", vm_name_method},
    {"boot", vm_boot},
    {"shutdown", vm_shutdown},
    {NULL, NULL},
};

static const luaL_Reg vm_metamethods[] = {
    {"__tostring", vm_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

int lvm_new(lua_State *L, int mount_index, const char *name, const char *guest)
{
    const char *why;
    lmount_check(L, mount_index);
    if (disk_id_check(name, strlen(name), &why) < 0)
        return luaL_error(L, "vm: bad vm name '%s': %s", name, why);
    LVM *vm = lua_newuserdatauv(L, sizeof *vm, 2);
    memset(vm, 0, sizeof *vm);
    luaL_setmetatable(L, FAULTFS_VM);
    snprintf(vm->name, sizeof vm->name, "%s", name);
    snprintf(vm->guest, sizeof vm->guest, "%s", guest);
    lua_pushvalue(L, mount_index);
    lua_setiuservalue(L, -2, 1);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 2);
    return 1;
}

void lvm_open(lua_State *L)
{
    luaL_newmetatable(L, FAULTFS_VM);
    luaL_setfuncs(L, vm_metamethods, 0);
    luaL_newlibtable(L, vm_methods);
    luaL_setfuncs(L, vm_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
