/*
 * Disk: the seed's Disk API.
 *
 * A Disk names a disk of a VM. With a backing image it is also attached to
 * the faultfs mount as MOUNT/<vm>.<id>; its faults live in that disk's ctl
 * (where a shell, faultctl or the guest's I/O path meet them). Without an
 * image the Disk only models a size and keeps its faults locally.
 *
 * This file: attach_disk, with_image, detach, the accessors and the class.
 * ldisk_io.c: sector I/O and faults. Uservalues: 1 = its VM, 2 = the Mount.
 * What it needs of the VM goes through d->vm (struct ldisk_vm_ops).
 */
#include "ldisk_i.h"

#include "ctl_parse.h"
#include "lutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

LDisk *ldisk_live(lua_State *L, const char *what)
{
    LDisk *d = todisk(L);
    if (d->detached)
        luaL_error(L, "%s: disk is detached", what);
    return d;
}

LMount *ldisk_mount(lua_State *L, int di)
{
    lua_getiuservalue(L, di, 2);
    LMount *m = lmount_check(L, -1);
    lua_pop(L, 1);
    return m;
}

/* ---- life cycle ---- */

/* Detaches from the mount, closes and forgets the image. DI: the Disk's index. */
static void disk_drop_image(lua_State *L, int di, LDisk *d)
{
    if (d->in_mount) {
        char line[DISK_ID_MAX + 16];
        lua_getiuservalue(L, di, 2);
        LMount *m = luaL_testudata(L, -1, FAULTFS_MOUNT);
        if (m && m->dir) {
            struct ff_error ignored;
            snprintf(line, sizeof line, "detach %s\n", d->mount_id);
            lmount_send(m, "ctl", line, &ignored); /* best effort: the mount may be gone */
        }
        lua_pop(L, 1);
        d->in_mount = false;
    }
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    free(d->image);
    d->image = NULL;
}

/*
 * Attaches IMAGE to the mount and opens it there for sector I/O; DI is the
 * Disk's index. The daemon decides what an image may be (it walks the path
 * safely); its reason is raised with WHAT in front.
 */
static void disk_set_image(lua_State *L, int di, LDisk *d, const char *what, const char *image)
{
    LMount *m = ldisk_mount(L, di);
    char path[PATH_MAX], cwd[PATH_MAX], line[PATH_MAX + DISK_ID_MAX + 16];
    struct ff_error err;
    /* The protocol takes absolute paths; a script may name a relative one. */
    if (image[0] == '/')
        snprintf(path, sizeof path, "%s", image);
    else if (!getcwd(cwd, sizeof cwd) ||
             snprintf(path, sizeof path, "%s/%s", cwd, image) >= (int)sizeof path)
        luaL_error(L, "%s: image '%s': %s", what, image, strerror(errno ? errno : ENAMETOOLONG));
    if (strcspn(path, " \t\n") != strlen(path))
        luaL_error(L, "%s: image '%s': paths with blanks are not supported", what, path);
    snprintf(line, sizeof line, "attach %s %s\n", d->mount_id, path);
    int rc = lmount_send(m, "ctl", line, &err);
    if (rc == -ENOENT)
        luaL_error(L,
                   "%s: image '%s' does not exist (Provium does not auto-create; create it first)",
                   what, image);
    if (rc == -EEXIST)
        luaL_error(L, "%s: the mount already has a disk '%s'", what, d->mount_id);
    if (rc < 0) {
        /* The daemon names the command; the script called WHAT. */
        const char *why = strncmp(err.msg, "attach: ", 8) == 0 ? err.msg + 8 : err.msg;
        luaL_error(L, "%s: %s", what, why);
    }
    d->in_mount = true;
    /*
     * Sector I/O goes through the mount: the daemon's pipeline, faults and
     * counts apply. Through ID/stored, the image as stored: data faults and
     * the volatile cache are the guest's view, and these calls the truth.
     */
    snprintf(line, sizeof line, "%s/stored", d->mount_id);
    int fd = lmount_open_file(m, line, O_RDWR);
    if (fd < 0) {
        disk_drop_image(L, di, d); /* nothing stays attached */
        luaL_error(L, "%s: cannot open %s/%s read-write: %s", what, m->dir, line, strerror(-fd));
    }
    d->image = strdup(path);
    d->fd = fd;
}

/* Detaches from the mount, closes the image and marks the disk detached; safe to call twice. */
static void disk_release(lua_State *L, int di, LDisk *d)
{
    disk_drop_image(L, di, d);
    d->detached = true;
}

/* disk:detach(): unplug from the running VM (best effort), detach, mark detached */
static int disk_detach(lua_State *L)
{
    LDisk *d = ldisk_live(L, "detach");
    struct ldisk_drive drive;
    bool plugged = ldisk_drive(L, 1, &drive);
    lua_getiuservalue(L, 1, 1);
    d->vm->detach(L, lua_gettop(L), d->id, plugged ? &drive : NULL);
    lua_pop(L, 1);
    disk_release(L, 1, d);
    return 0;
}

void ldisk_release(lua_State *L, int index)
{
    LDisk *d = luaL_checkudata(L, index, FAULTFS_DISK);
    disk_release(L, lua_absindex(L, index), d);
}

/* __gc and __close: safe to call twice. */
static int disk_gc(lua_State *L)
{
    LDisk *d = todisk(L);
    if (!d->detached)
        disk_release(L, 1, d);
    free(d->image);
    d->image = NULL;
    if (d->faults_ready) {
        fault_table_destroy(&d->faults);
        d->faults_ready = false;
    }
    return 0;
}

/* disk:with_image(path) -> disk: gives an image-less disk its backing file */
static int disk_with_image(lua_State *L)
{
    LDisk *d = ldisk_live(L, "with_image");
    const char *image = luaL_checkstring(L, 2);
    if (d->image)
        return luaL_error(L, "with_image: disk '%s' already has image '%s'", d->id, d->image);
    disk_set_image(L, 1, d, "with_image", image);
    /* Faults set while it had no image carry over to the mount's table. */
    size_t size = fault_table_render_size(&d->faults);
    char *text = malloc(size);
    if (text && fault_table_render(&d->faults, text, size) > 0)
        ldisk_send(L, d, "with_image", text);
    free(text);
    struct ldisk_drive drive;
    ldisk_drive(L, 1, &drive);
    lua_getiuservalue(L, 1, 1);
    if (d->vm->plug(L, lua_gettop(L), &drive) < 0) {
        disk_drop_image(L, 1, d); /* back to the image-less disk it was */
        return luaL_error(L, "with_image: %s", lua_tostring(L, -1));
    }
    lua_settop(L, 1);
    return 1;
}

static int disk_is_detached(lua_State *L)
{
    lua_pushboolean(L, todisk(L)->detached);
    return 1;
}

/* disk:size(): the image's live size when it has one, else the modelled size */
static int disk_size_method(lua_State *L)
{
    LDisk *d = ldisk_live(L, "size");
    uint64_t size;
    if (!d->image) {
        lua_pushinteger(L, d->size);
        return 1;
    }
    int rc = ldisk_image_size(d, &size);
    if (rc < 0)
        return luaL_error(L, "size: %s", strerror(-rc));
    lua_pushinteger(L, (lua_Integer)size);
    return 1;
}

static int disk_id_method(lua_State *L)
{
    lua_pushstring(L, todisk(L)->id);
    return 1;
}

static int disk_image(lua_State *L)
{
    LDisk *d = todisk(L);
    if (d->image)
        lua_pushstring(L, d->image);
    else
        lua_pushnil(L);
    return 1;
}

/* disk:path([file]): MOUNT/<vm>.<id>[/file], where a shell or QEMU reaches the disk */
static int disk_path(lua_State *L)
{
    LDisk *d = ldisk_live(L, "path");
    const char *file = luaL_optstring(L, 2, NULL);
    if (!d->in_mount)
        return luaL_error(L, "path: %s", LDISK_NO_IMAGE);
    LMount *m = ldisk_mount(L, 1);
    if (file)
        lua_pushfstring(L, "%s/%s/%s", m->dir, d->mount_id, file);
    else
        lua_pushfstring(L, "%s/%s", m->dir, d->mount_id);
    return 1;
}

bool ldisk_drive(lua_State *L, int index, struct ldisk_drive *out)
{
    LDisk *d = luaL_checkudata(L, index, FAULTFS_DISK);
    if (d->detached || !d->in_mount)
        return false;
    lua_getiuservalue(L, index, 2);
    LMount *m = lmount_check(L, -1);
    lua_pop(L, 1);
    snprintf(out->node, sizeof out->node, "d%u", d->slot);
    out->slot = d->slot;
    /* The id itself when it fits the 20 bytes virtio-blk gives a serial. */
    size_t id_len = strlen(d->id);
    if (id_len < sizeof out->serial)
        memcpy(out->serial, d->id, id_len + 1);
    else
        snprintf(out->serial, sizeof out->serial, "disk%u", d->slot);
    snprintf(out->path, sizeof out->path, "%s/%s/image", m->dir, d->mount_id);
    out->retry = d->retry;
    out->aio = d->aio;
    out->format = d->format;
    return true;
}

/* disk:guest_device() -> "/dev/vdb": where the running guest sees this disk */
static int disk_guest_device(lua_State *L)
{
    ldisk_live(L, "guest_device");
    struct ldisk_drive drive;
    if (!ldisk_drive(L, 1, &drive))
        return luaL_error(L, "guest_device: %s", LDISK_NO_IMAGE);
    LDisk *d = todisk(L);
    lua_getiuservalue(L, 1, 1);
    return d->vm->guest_device(L, lua_gettop(L), drive.serial);
}

static int disk_tostring(lua_State *L)
{
    LDisk *d = todisk(L);
    if (d->detached)
        lua_pushfstring(L, "disk %s (detached)", d->id);
    else
        lua_pushfstring(L, "disk %s (%s)", d->id, d->image ? d->image : "no image");
    return 1;
}

/* ---- attach_disk ---- */

void ldisk_options_parse(lua_State *L, int opts_index, const char *vm_name,
                         struct ldisk_options *out)
{
    static const char *const aio_modes[] = {"threads", "native", "io_uring", NULL};
    static const char *const formats[] = {"raw", "qcow2", NULL};
    const char *why;
    int opts = lua_isnoneornil(L, opts_index) ? 0 : lua_absindex(L, opts_index);

    *out = (struct ldisk_options){
        .size = LDISK_DEFAULT_SIZE, .aio = aio_modes[0], .format = formats[0]};
    snprintf(out->id, sizeof out->id, "attached-%s", vm_name);
    if (!opts)
        return;
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(key, "id") && strcmp(key, "size") && strcmp(key, "image") &&
            strcmp(key, "on_error") && strcmp(key, "aio") && strcmp(key, "format"))
            luaL_error(L,
                       "attach_disk: unknown option '%s' (expected id, size, image, on_error, aio, "
                       "format)",
                       key);
        lua_pop(L, 1);
    }

    lua_getfield(L, opts, "id");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "attach_disk: id must be a string (got %s)", luaL_typename(L, -1));
        if (disk_id_check(lua_tostring(L, -1), lua_rawlen(L, -1), &why) < 0)
            luaL_error(L, "attach_disk: bad disk id '%s': %s", lua_tostring(L, -1), why);
        snprintf(out->id, sizeof out->id, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);

    lua_getfield(L, opts, "size");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
            luaL_error(L, "attach_disk: size must be a positive whole number of bytes (got %s)",
                       luaL_tolstring(L, -1, NULL));
        out->size = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);

    lua_getfield(L, opts, "on_error");
    const char *policy = lua_tostring(L, -1);
    if (!lua_isnil(L, -1) && (!policy || (strcmp(policy, "report") && strcmp(policy, "retry"))))
        luaL_error(L, "attach_disk: on_error must be \"report\" or \"retry\" (got %s)",
                   luaL_tolstring(L, -1, NULL));
    out->retry = policy && strcmp(policy, "retry") == 0;
    lua_pop(L, 1);

    lua_getfield(L, opts, "aio");
    if (!lua_isnil(L, -1)) {
        const char *want = lua_tostring(L, -1);
        out->aio = NULL;
        for (int i = 0; want && aio_modes[i]; i++) {
            if (strcmp(want, aio_modes[i]) == 0)
                out->aio = aio_modes[i];
        }
        if (!out->aio)
            luaL_error(L,
                       "attach_disk: aio must be \"threads\", \"native\" or \"io_uring\" (got %s)",
                       luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);

    lua_getfield(L, opts, "format");
    if (!lua_isnil(L, -1)) {
        const char *want = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        out->format = NULL;
        for (int i = 0; want && formats[i]; i++) {
            if (strcmp(want, formats[i]) == 0)
                out->format = formats[i];
        }
        if (!out->format)
            luaL_error(L, "attach_disk: format must be \"raw\" or \"qcow2\" (got %s)",
                       luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);

    lua_getfield(L, opts, "image");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "attach_disk: image must be a path string (got %s)", luaL_typename(L, -1));
    out->image = lua_tostring(L, -1); /* the options table keeps the string alive */
    lua_pop(L, 1);
}

void ldisk_attach(lua_State *L, const struct ldisk_owner *owner, const struct ldisk_options *o)
{
    int vm = lua_absindex(L, owner->vm_index), mount = lua_absindex(L, owner->mount_index);

    /* Closed (detached, no fd) first: a failure below leaves a harmless object. */
    LDisk *d = lua_newuserdatauv(L, sizeof *d, 2);
    memset(d, 0, sizeof *d);
    d->fd = -1;
    d->detached = true;
    d->vm = owner->ops;
    luaL_setmetatable(L, FAULTFS_DISK);
    int self = lua_gettop(L);
    lua_pushvalue(L, vm);
    lua_setiuservalue(L, self, 1);
    lua_pushvalue(L, mount);
    lua_setiuservalue(L, self, 2);
    if (fault_table_init(&d->faults) < 0)
        luaL_error(L, "attach_disk: out of memory");
    d->faults_ready = true;
    snprintf(d->id, sizeof d->id, "%s", o->id);
    if ((size_t)snprintf(d->mount_id, sizeof d->mount_id, "%s.%s", owner->vm_name, o->id) >=
        sizeof d->mount_id)
        luaL_error(L, "attach_disk: vm name and disk id '%s.%s' exceed %d characters",
                   owner->vm_name, o->id, DISK_ID_MAX);
    d->size = o->size;
    d->slot = owner->slot;
    d->retry = o->retry;
    d->aio = o->aio;
    d->format = o->format;
    d->detached = false;
    if (o->image)
        disk_set_image(L, self, d, "attach_disk", o->image);
}

/* disk:stats() -> the disk's counters, as MOUNT/<vm>.<id>/stats has them (JSON as a table) */
static int disk_stats(lua_State *L)
{
    LDisk *d = ldisk_live(L, "stats");
    if (!d->in_mount)
        return luaL_error(L, "stats: %s", LDISK_NO_IMAGE);
    char rel[DISK_ID_MAX + 8];
    json_error_t jerr;
    snprintf(rel, sizeof rel, "%s/stats", d->mount_id);
    char *text = lmount_read(ldisk_mount(L, 1), rel);
    json_t *stats = text ? json_loads(text, 0, &jerr) : NULL;
    free(text);
    if (!stats)
        return luaL_error(L, "stats: cannot read %s/%s", ldisk_mount(L, 1)->dir, rel);
    lutil_push_json(L, stats);
    json_decref(stats);
    return 1;
}

static const luaL_Reg disk_methods[] = {
    {"stats", disk_stats},
    {"read_sectors", ldisk_read_sectors},
    {"write_sectors", ldisk_write_sectors},
    {"fault_inject", ldisk_fault_inject},
    {"clear_faults", ldisk_clear_faults},
    {"active_faults", ldisk_active_faults},
    {"powercut", ldisk_powercut},
    {"mark", ldisk_mark},
    {"trace", ldisk_trace},
    {"read_trace", ldisk_read_trace},
    {"detach", disk_detach},
    {"is_detached", disk_is_detached},
    {"size", disk_size_method},
    {"with_image", disk_with_image},
    {"id", disk_id_method},
    {"image", disk_image},
    {"path", disk_path},
    {"guest_device", disk_guest_device},
    {NULL, NULL},
};

static const luaL_Reg disk_metamethods[] = {
    {"__gc", disk_gc}, {"__close", disk_gc}, {"__tostring", disk_tostring},
    {"__index", NULL}, {NULL, NULL},
};

void ldisk_open(lua_State *L)
{
    lutil_new_class(L, FAULTFS_DISK, disk_methods, disk_metamethods, 0);
}
