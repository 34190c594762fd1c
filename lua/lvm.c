/*
 * VM: a machine of the harness, its guest and the disks attached to it.
 *
 *   provium:vm(name, guest) -> vm        vm:boot() -> vm       vm:reset() -> vm
 *   vm:attach_disk(opts) -> disk         vm:disk(id)           vm:disks()
 *   vm:run(cmd [, timeout]) -> result    vm:run_async(cmd) -> proc
 *   vm:shutdown()                        vm:is_running()       vm:name()
 *   faultfs.on_vm_boot(fn): fn(vm, console_path) after each boot (provium -v)
 *   (events, console, clock and workers: lvm_views.c)
 *
 * Disks attached before boot() go on QEMU's command line, in the order they
 * were attached (the first is /dev/vda); disks attached to a running VM are
 * hot-plugged from MOUNT/<vm>.<id>/image. Uservalues: 1 = the Mount,
 * 2 = {id = Disk}. The VM's methods share one upvalue: its struct lvm_config.
 * Disks and commands reach back only through vm_disk_ops and lvm_proc_ops.
 */
#include "lvm_i.h"

#include "ldisk.h"
#include "lmount.h"
#include "lproc.h"
#include "lutil.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VM_MEMORY_MB 512
#define VM_PLUG_TIMEOUT_NS (30 * DURATION_NS_PER_S)

#define vm_config(L) ((const struct lvm_config *)lua_touserdata(L, lua_upvalueindex(1)))

struct vm_machine *lvm_machine_any(lua_State *L, int index, const char *what)
{
    LVM *vm = luaL_checkudata(L, index, FAULTFS_VM);
    if (!vm->machine)
        luaL_error(L, "%s: vm '%s' is not booted (call vm:boot() first)", what, vm->name);
    return vm->machine;
}

static struct vm_machine *vm_machine_or_null(lua_State *L, int index)
{
    LVM *vm = luaL_testudata(L, index, FAULTFS_VM);
    return vm ? vm->machine : NULL;
}

struct vm_machine *lvm_running(lua_State *L, int index, const char *what)
{
    LVM *vm = luaL_checkudata(L, index, FAULTFS_VM);
    if (!vm->machine)
        luaL_error(L, "%s: vm '%s' is not booted (call vm:boot() first)", what, vm->name);
    if (!vm_machine_alive(vm->machine))
        luaL_error(L, "%s: vm '%s': QEMU is no longer running (see vm:console():read_log())", what,
                   vm->name);
    return vm->machine;
}

/* How long a boot or a reset may take; raises if a setting of the environment was bad. */
static uint64_t boot_timeout(lua_State *L, const char *what)
{
    const struct lvm_config *cfg = vm_config(L);
    if (cfg->config_error[0])
        luaL_error(L, "%s: %s", what, cfg->config_error);
    return cfg->boot_timeout_ns;
}

void lvm_service(lua_State *L, int vm_index)
{
    LVM *vm = luaL_checkudata(L, vm_index, FAULTFS_VM);
    if (vm->machine && vm_machine_alive(vm->machine))
        vm_machine_resume_after_error(vm->machine);
}

const struct lproc_vm_ops lvm_proc_ops = {
    .running = lvm_running,
    .machine = vm_machine_or_null,
    .service = lvm_service,
};

/* ---- disks ---- */

static int vm_guest_device(lua_State *L, int vm_index, const char *serial)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "for d in /sys/block/vd*; do [ \"$(cat $d/serial 2>/dev/null)\" = '%s' ] && "
             "echo /dev/${d##*/}; done; true",
             serial);
    lproc_run(L, vm_index, &lvm_proc_ops, cmd, 30 * DURATION_NS_PER_S);
    lua_getfield(L, -1, "stdout");
    const char *out = lua_tostring(L, -1);
    size_t len = strcspn(out, "\n");
    if (len == 0)
        return luaL_error(L, "guest_device: the guest has no disk with serial '%s'", serial);
    lua_pushlstring(L, out, len);
    return 1;
}

/* Whether the guest has a disk with SERIAL: 1, 0, or -errno (the agent failed). Never raises. */
static int guest_has_serial(struct vm_machine *m, const char *serial, uint64_t timeout_ns)
{
    char cmd[192], id[AGENT_ID_SIZE];
    struct agent_result r;
    snprintf(cmd, sizeof cmd,
             "for d in /sys/block/vd*; do [ \"$(cat $d/serial 2>/dev/null)\" = '%s' ] && exit 0; "
             "done; exit 1",
             serial);
    int rc = agent_start(&m->agent, cmd, id);
    if (rc == 0)
        rc = agent_wait(&m->agent, id, duration_now_ns() + timeout_ns, &r);
    if (rc < 0) {
        agent_forget(&m->agent, id);
        return rc;
    }
    rc = r.failure ? -EIO : r.status == 0;
    agent_result_free(&r);
    return rc;
}

static struct vm_drive vm_drive_of(const struct ldisk_drive *drive)
{
    return (struct vm_drive){.node = drive->node,
                             .path = drive->path,
                             .serial = drive->serial,
                             .stop_on_error = drive->retry,
                             .aio = drive->aio,
                             .format = drive->format};
}

/* Hot-plugs DRIVE into the VM at VM_INDEX if it runs: 0, or -1 with a message pushed. */
static int vm_plug(lua_State *L, int vm_index, const struct ldisk_drive *drive)
{
    LVM *vm = luaL_checkudata(L, vm_index, FAULTFS_VM);
    struct ff_error err;
    if (!vm->machine)
        return 0;
    const struct vm_drive d = vm_drive_of(drive);
    if (vm_machine_plug(vm->machine, &d, &err) < 0) {
        lua_pushfstring(L, "hot-plug into vm '%s' failed: %s", vm->name, err.msg);
        return -1;
    }
    /* Return once the guest has the disk, so the script can use it at once. */
    uint64_t deadline = duration_now_ns() + VM_PLUG_TIMEOUT_NS;
    int seen;
    while ((seen = guest_has_serial(vm->machine, drive->serial, 10 * DURATION_NS_PER_S)) == 0 &&
           duration_now_ns() < deadline)
        duration_sleep(50 * DURATION_NS_PER_MS);
    if (seen == 1)
        return 0;
    /* Take the device back out, so a failed attach leaves nothing behind. */
    vm_machine_unplug(vm->machine, drive->node, NULL);
    lua_pushfstring(L, "vm '%s' never showed disk '%s' after the hot-plug%s", vm->name,
                    drive->serial, seen < 0 ? " (the guest agent did not answer)" : "");
    return -1;
}

/* The Disk ID leaves the VM at VM_INDEX: unplugged (best effort) and its id free again. */
static void vm_detach(lua_State *L, int vm_index, const char *id, const struct ldisk_drive *drive)
{
    LVM *vm = luaL_checkudata(L, vm_index, FAULTFS_VM);
    /* Best effort, as the seed says: -ENODEV (QEMU's DeviceNotFound) and a slow guest are no
     * errors. */
    if (drive && vm->machine && vm_machine_alive(vm->machine))
        vm_machine_unplug(vm->machine, drive->node, NULL);
    lua_getiuservalue(L, vm_index, 2);
    lua_pushnil(L);
    lua_setfield(L, -2, id);
    lua_pop(L, 1);
}

/* What disks (ldisk.c) ask of their VM. */
static const struct ldisk_vm_ops vm_disk_ops = {
    .plug = vm_plug,
    .detach = vm_detach,
    .service = lvm_service,
    .guest_device = vm_guest_device,
};

/* vm:attach_disk({id=, size=, image=, on_error=, aio=, format=}) -> Disk */
static int vm_attach_disk(lua_State *L)
{
    LVM *vm = tovm(L);
    struct ldisk_options o;
    lua_settop(L, 2);
    ldisk_options_parse(L, 2, vm->name, &o);
    /* One id per VM. */
    lua_getiuservalue(L, 1, 2);
    int disks = lua_gettop(L);
    if (lua_getfield(L, disks, o.id) != LUA_TNIL)
        return luaL_error(L, "attach_disk: vm '%s' already has a disk '%s'", vm->name, o.id);
    lua_pop(L, 1);
    lua_getiuservalue(L, 1, 1);
    const struct ldisk_owner owner = {.vm_index = 1,
                                      .mount_index = lua_gettop(L),
                                      .vm_name = vm->name,
                                      .slot = ++vm->slots,
                                      .ops = &vm_disk_ops};
    ldisk_attach(L, &owner, &o);
    int disk = lua_gettop(L);
    lua_pushvalue(L, disk);
    lua_setfield(L, disks, o.id);
    struct ldisk_drive drive;
    if (ldisk_drive(L, disk, &drive) && vm_plug(L, 1, &drive) < 0) {
        lua_pushnil(L);
        lua_setfield(L, disks, o.id);
        ldisk_release(L, disk);
        return luaL_error(L, "attach_disk: %s", lua_tostring(L, -1));
    }
    lua_settop(L, disk);
    return 1;
}

/* vm:disk(id) -> the Disk attached under ID */
static int vm_disk(lua_State *L)
{
    LVM *vm = tovm(L);
    const char *id = luaL_checkstring(L, 2);
    lua_getiuservalue(L, 1, 2);
    int disks = lua_gettop(L);
    if (lua_getfield(L, disks, id) != LUA_TNIL)
        return 1;
    /* Name the disks it does have, sorted, so a typo is easy to see. */
    lua_newtable(L);
    int names = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, disks)) {
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
    luaL_Buffer b;
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

/* ---- life cycle ---- */

/* The function faultfs.on_vm_boot set, kept in the registry under this key. */
static const char boot_hook_key = 'b';

int lvm_on_boot(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &boot_hook_key);
    return 0;
}

/* Tells the boot hook, if one is set, that the VM at VM_INDEX is up and where its console is. */
static void vm_boot_hook(lua_State *L, int vm_index, const struct vm_machine *m)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &boot_hook_key) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    lua_pushvalue(L, vm_index);
    lua_pushstring(L, m->console_path);
    lua_call(L, 2, 0);
}

static int boot_drive_cmp(const void *a, const void *b)
{
    const struct ldisk_drive *x = a, *y = b;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* vm:boot() -> vm: starts QEMU with the disks attached so far and waits for the guest */
static int vm_boot(lua_State *L)
{
    LVM *vm = tovm(L);
    const struct lvm_config *cfg = vm_config(L);
    struct ff_error err;
    if (vm->machine)
        return luaL_error(L, "boot: vm '%s' is already booted", vm->name);

    lua_getiuservalue(L, 1, 2);
    int disks = lua_gettop(L);
    size_t n = 0, cap = 8;
    struct ldisk_drive *drives = lua_newuserdatauv(L, cap * sizeof *drives, 0);
    lua_pushnil(L);
    while (lua_next(L, disks)) {
        if (n == cap) {
            struct ldisk_drive *grown = lua_newuserdatauv(L, cap * 2 * sizeof *grown, 0);
            memcpy(grown, drives, n * sizeof *grown);
            lua_replace(L, disks + 1);
            drives = grown;
            cap *= 2;
        }
        if (ldisk_drive(L, -1, &drives[n]))
            n++;
        lua_pop(L, 1);
    }
    qsort(drives, n, sizeof *drives, boot_drive_cmp);
    struct vm_drive *vd = lua_newuserdatauv(L, (n ? n : 1) * sizeof *vd, 0);
    for (size_t i = 0; i < n; i++)
        vd[i] = vm_drive_of(&drives[i]);

    const struct vm_options opts = {
        .mem_mb = VM_MEMORY_MB, .accel = cfg->accel, .timeout_ns = boot_timeout(L, "boot")};
    struct vm_guest g;
    int rc = cfg->guest_dir[0] ? vm_guest_load(cfg->guest_dir, &g, &err)
                               : vm_guest_build(cfg->guest_builder, &g, &err);
    if (rc == -ENOENT && !cfg->guest_dir[0])
        return luaL_error(L, "boot: vm '%s': %s (set PROVIUM_GUEST_DIR or FAULTFS_BUILD_GUEST)",
                          vm->name, err.msg);
    if (rc < 0)
        return luaL_error(L, "boot: vm '%s': %s", vm->name, err.msg);
    /* The clock starts once the guest is there: building it the first time is not booting. */
    rc = vm_machine_start(&g, vd, n, &opts, &vm->machine, &err);
    vm_guest_free(&g);
    if (rc == -ETIMEDOUT)
        return luaL_error(L, "boot: vm '%s' (guest %s) did not come up within %s: %s", vm->name,
                          vm->guest, cfg->boot_timeout_text, err.msg);
    if (rc < 0)
        return luaL_error(L, "boot: vm '%s' (guest %s) did not come up: %s", vm->name, vm->guest,
                          err.msg);
    lua_settop(L, 1);
    vm_boot_hook(L, 1, vm->machine);
    return 1;
}

/* vm:reset() -> vm: a hard reset; returns once the guest is back (Booted) */
static int vm_reset(lua_State *L)
{
    LVM *vm = tovm(L);
    struct ff_error err;
    struct vm_machine *m = lvm_running(L, 1, "reset");
    int rc = vm_machine_reset(m, boot_timeout(L, "reset"), &err);
    if (rc == -ETIMEDOUT)
        return luaL_error(L, "reset: vm '%s' did not come back within %s: %s", vm->name,
                          vm_config(L)->boot_timeout_text, err.msg);
    if (rc < 0)
        return luaL_error(L, "reset: vm '%s' did not come back: %s", vm->name, err.msg);
    lua_settop(L, 1);
    return 1;
}

static void vm_stop(LVM *vm)
{
    vm_machine_stop(vm->machine);
    vm->machine = NULL;
}

/* vm:shutdown(): stops QEMU and detaches every disk; safe to call twice */
static int vm_shutdown(lua_State *L)
{
    LVM *vm = tovm(L);
    vm_stop(vm);
    lua_getiuservalue(L, 1, 2);
    int disks = lua_gettop(L);
    /* Collect first: detaching removes entries from the table being walked. */
    lua_newtable(L);
    int list = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, disks))
        lua_rawseti(L, list, ++n);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        lua_getfield(L, -1, "detach");
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    }
    return 0;
}

static int vm_gc(lua_State *L)
{
    vm_stop(tovm(L));
    return 0;
}

static int vm_is_running(lua_State *L)
{
    LVM *vm = tovm(L);
    lua_pushboolean(L, vm->machine && vm_machine_alive(vm->machine));
    return 1;
}

static int vm_name_method(lua_State *L)
{
    lua_pushstring(L, tovm(L)->name);
    return 1;
}

/* ---- commands ---- */

/* vm:run(cmd [, timeout]) -> result {stdout, stderr, status, ok} with :assert_ok() */
static int vm_run(lua_State *L)
{
    const char *cmd = luaL_checkstring(L, 2);
    uint64_t timeout = lutil_duration(L, 3, 120 * DURATION_NS_PER_S, "run");
    return lproc_run(L, 1, &lvm_proc_ops, cmd, timeout);
}

static int vm_run_async(lua_State *L)
{
    return lproc_start(L, 1, &lvm_proc_ops, luaL_checkstring(L, 2));
}

static int vm_tostring(lua_State *L)
{
    LVM *vm = tovm(L);
    lua_pushfstring(L, "vm %s (%s, %s)", vm->name, vm->guest,
                    vm->machine ? (vm->machine->kvm ? "running, kvm" : "running, tcg")
                                : "not running");
    return 1;
}

static const luaL_Reg vm_methods[] = {
    {"attach_disk", vm_attach_disk},
    {"disk", vm_disk},
    {"disks", vm_disks},
    {"name", vm_name_method},
    {"boot", vm_boot},
    {"reset", vm_reset},
    {"shutdown", vm_shutdown},
    {"is_running", vm_is_running},
    {"run", vm_run},
    {"run_async", vm_run_async},
    {"spawn_worker", lvm_spawn_worker},
    {"events", lvm_events},
    {"wait_event", lvm_wait_event},
    {"console", lvm_console},
    {"clock", lvm_clock},
    {NULL, NULL},
};

static const luaL_Reg vm_metamethods[] = {
    {"__gc", vm_gc}, {"__close", vm_shutdown}, {"__tostring", vm_tostring}, {"__index", NULL},
    {NULL, NULL},
};

int lvm_new(lua_State *L, int mount_index, const char *name, const char *guest)
{
    const char *why;
    lmount_check(L, mount_index);
    mount_index = lua_absindex(L, mount_index);
    if (disk_id_check(name, strlen(name), &why) < 0)
        return luaL_error(L, "vm: bad vm name '%s': %s", name, why);
    /* The mount names a disk <vm>.<id>: a dot in the vm's name would make that ambiguous. */
    if (strchr(name, '.'))
        return luaL_error(L, "vm: bad vm name '%s': dots are reserved (disks appear as <vm>.<id>)",
                          name);
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

void lvm_open(lua_State *L, const struct lvm_config *cfg)
{
    struct lvm_config *copy = lua_newuserdatauv(L, sizeof *copy, 0);
    *copy = *cfg;
    lutil_new_class(L, FAULTFS_VM, vm_methods, vm_metamethods, 1);
    lvm_views_open(L);
}
