/*
 * The Disk's I/O and faults. read_sectors and write_sectors read and write
 * the raw image bytes through MOUNT/<vm>.<id>/image, so the daemon runs them
 * through the very pipeline the guest's requests take (sleep if slow, check,
 * I/O, re-check; counted in stats): no QEMU in between, no second copy of
 * the fault rules here; they go through ID/stored, so what they see is what
 * the image holds, whatever data faults the guest is given. fault_inject,
 * clear_faults, active_faults, powercut, mark and trace write and read the
 * disk's ctl; read_trace reads ID/trace.
 */
#include "ldisk_i.h"

#include "ctl_parse.h"
#include "lutil.h"
#include "sector_io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *errno_name(int err)
{
    const char *name = strerrorname_np(err);
    return name ? name : "E?";
}

/* ---- the disk's faults as its ctl lists them ---- */

/* Replaces the local table with what ctl says now (all or nothing). */
static int disk_reload_faults(LDisk *d, const LMount *m)
{
    char rel[DISK_ID_MAX + 8];
    snprintf(rel, sizeof rel, "%s/ctl", d->mount_id);
    char *text = lmount_read(m, rel);
    if (!text)
        return -errno;
    size_t len = strlen(text);
    char *batch_text = malloc(len + sizeof "clear\n");
    if (!batch_text) {
        free(text);
        return -ENOMEM;
    }
    memcpy(batch_text, "clear\n", 6);
    memcpy(batch_text + 6, text, len + 1);
    struct ctl_batch batch;
    struct ff_error err;
    int rc = ctl_parse(CTL_SCOPE_DISK, batch_text, len + 6, &batch, &err);
    if (rc == 0)
        rc = ctl_batch_apply_faults(&batch, &d->faults);
    ctl_batch_free(&batch);
    free(batch_text);
    free(text);
    return rc;
}

/* ---- sector I/O ---- */

struct sector_call {
    LDisk *disk;
    uint64_t sector;
    char *buf;
    size_t len;
};

int ldisk_image_size(const LDisk *d, uint64_t *size)
{
    struct stat st;
    if (fstat(d->fd, &st) < 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

/*
 * Moves the call's bytes through the mount; each request the kernel makes
 * of it may sleep, fail or be re-checked by the daemon. A signal that asks
 * the runner to stop ends the wait (the daemon answers the parked request
 * EINTR); -ERANGE if the range is not inside the disk.
 */
static ssize_t sector_transfer(struct sector_call *c, bool write)
{
    uint64_t size, off = c->sector * SECTOR_SIZE; /* checked below before it is used */
    int rc = ldisk_image_size(c->disk, &size);
    if (rc < 0)
        return rc;
    if (c->sector > UINT64_MAX / SECTOR_SIZE || !sector_io_in_bounds(off, c->len, size))
        return -ERANGE;
    size_t done = 0;
    while (done < c->len) {
        ssize_t n = write ? pwrite(c->disk->fd, c->buf + done, c->len - done, (off_t)(off + done))
                          : pread(c->disk->fd, c->buf + done, c->len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR && !lutil_stop_requested)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ERANGE; /* the image shrank under the call */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Raises the error of a failed sector call, naming what failed and why. */
static int sector_error(lua_State *L, const char *what, const LDisk *d, const struct sector_call *c,
                        int rc)
{
    uint64_t size = 0;
    if (rc == -ERANGE) {
        ldisk_image_size(d, &size);
        /* Byte offsets only where they exist: a huge sector number or no bytes at all. */
        if (c->len == 0 || c->sector > (UINT64_MAX - c->len) / SECTOR_SIZE)
            return luaL_error(L,
                              "%s: sector %I is past the end of disk '%s' (%I bytes, %I sectors)",
                              what, (lua_Integer)c->sector, d->id, (lua_Integer)size,
                              (lua_Integer)(size / SECTOR_SIZE));
        return luaL_error(L,
                          "%s: bytes %I..%I are past the end of disk '%s' (%I bytes, %I sectors)",
                          what, (lua_Integer)(c->sector * SECTOR_SIZE),
                          (lua_Integer)(c->sector * SECTOR_SIZE + c->len - 1), d->id,
                          (lua_Integer)size, (lua_Integer)(size / SECTOR_SIZE));
    }
    if (rc == -EINTR)
        return luaL_error(L, "provium: interrupted");
    if (rc == -EIO)
        return luaL_error(L, "%s: EIO (Input/output error) at sector %I of disk '%s'", what,
                          (lua_Integer)c->sector, d->id);
    return luaL_error(L, "%s: %s (%s) on disk '%s'", what, errno_name(-rc), strerror(-rc), d->id);
}

static lua_Integer check_sector_arg(lua_State *L, int arg, const char *what, const char *name)
{
    if (!lua_isinteger(L, arg)) {
        if (lua_type(L, arg) == LUA_TNUMBER)
            luaL_error(L, "%s: %s must be a whole number of sectors (got %s)", what, name,
                       lua_tostring(L, arg));
        luaL_error(L, "%s: %s must be an integer (got %s)", what, name, luaL_typename(L, arg));
    }
    lua_Integer v = lua_tointeger(L, arg);
    if (v < 0)
        luaL_error(L, "%s: %s must not be negative (got %I)", what, name, v);
    return v;
}

/* disk:read_sectors(offset, count) -> string of count * 512 bytes */
int ldisk_read_sectors(lua_State *L)
{
    LDisk *d = ldisk_live(L, "read_sectors");
    lua_Integer off = check_sector_arg(L, 2, "read_sectors", "offset");
    lua_Integer count = check_sector_arg(L, 3, "read_sectors", "count");
    if (count < 1 || count > LDISK_MAX_SECTORS)
        return luaL_error(L, "read_sectors: count must be between 1 and %d sectors (got %I)",
                          LDISK_MAX_SECTORS, count);
    if (!d->image)
        return luaL_error(L, "read_sectors: %s", LDISK_NO_IMAGE);

    luaL_Buffer b;
    struct sector_call c = {.disk = d, .sector = (uint64_t)off, .len = (size_t)count * SECTOR_SIZE};
    c.buf = luaL_buffinitsize(L, &b, c.len);
    ssize_t rc = sector_transfer(&c, false);
    if (rc < 0)
        return sector_error(L, "read_sectors", d, &c, (int)rc);
    luaL_pushresultsize(&b, c.len);
    return 1;
}

/* disk:write_sectors(offset, data): writes exactly #data bytes at offset * 512 */
int ldisk_write_sectors(lua_State *L)
{
    LDisk *d = ldisk_live(L, "write_sectors");
    lua_Integer off = check_sector_arg(L, 2, "write_sectors", "offset");
    if (lua_type(L, 3) != LUA_TSTRING)
        return luaL_error(L, "write_sectors: data must be a string (got %s)", luaL_typename(L, 3));
    size_t len;
    const char *data = lua_tolstring(L, 3, &len);
    if (!d->image)
        return luaL_error(L, "write_sectors: %s", LDISK_NO_IMAGE);

    struct sector_call c = {.disk = d, .sector = (uint64_t)off, .buf = (char *)data, .len = len};
    ssize_t rc = sector_transfer(&c, true);
    if (rc < 0)
        return sector_error(L, "write_sectors", d, &c, (int)rc);
    return 0;
}

/* ---- faults ---- */

/* Sends TEXT (one batch for the disk's ctl), or applies it locally without an image. */
int ldisk_send(lua_State *L, LDisk *d, const char *what, const char *text)
{
    struct ctl_batch batch;
    struct ff_error err;
    int rc = ctl_parse(CTL_SCOPE_DISK, text, strlen(text), &batch, &err);
    if (rc == 0 && !d->in_mount)
        rc = ctl_batch_apply_faults(&batch, &d->faults);
    ctl_batch_free(&batch);
    if (rc == -EINVAL)
        return luaL_error(L, "%s: %s", what, err.msg);
    if (rc < 0)
        return luaL_error(L, "%s: %s", what, strerror(-rc));
    if (d->in_mount) {
        char rel[DISK_ID_MAX + 8];
        snprintf(rel, sizeof rel, "%s/ctl", d->mount_id);
        rc = lmount_send(ldisk_mount(L, 1), rel, text, &err);
        if (rc < 0)
            return luaL_error(L, "%s: %s/%s: %s", what, ldisk_mount(L, 1)->dir, rel, err.msg);
    }
    return 0;
}

static bool word_ok(const char *s)
{
    return *s && strcspn(s, " \t\r\n#") == strlen(s);
}

/* ---- a rule's line from a mode and an options table ---- */

/* A ctl line being built; a line too long for it raises. */
struct line_buf {
    lua_State *L;
    const char *what;
    char text[4096];
    size_t len;
};

static void line_add(struct line_buf *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_add(struct line_buf *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof l->text - l->len)
        luaL_error(l->L, "%s: the rule is too long", l->what);
    l->len += (size_t)n;
}

/* A whole sector number at INDEX, or a raise naming WHAT is wrong. */
static lua_Integer sector_at(struct line_buf *l, int index)
{
    if (!lua_isinteger(l->L, index))
        luaL_error(l->L, "%s: sectors: a sector is a whole number, a range {first, last}", l->what);
    return lua_tointeger(l->L, index);
}

/* sectors = "A-B,C-D" | N | {A, B} | {{A, B}, N, ...}, as the ctl text "A-B,C-D". */
static void add_sectors(struct line_buf *l, int index)
{
    lua_State *L = l->L;
    if (lua_type(L, index) == LUA_TSTRING) {
        line_add(l, "%s", lua_tostring(L, index));
        return;
    }
    if (lua_isinteger(L, index)) {
        line_add(l, "%lld", (long long)lua_tointeger(L, index));
        return;
    }
    if (!lua_istable(L, index))
        luaL_error(L, "%s: sectors must be a string, a sector or a table of ranges (got %s)",
                   l->what, luaL_typename(L, index));
    lua_geti(L, index, 1);
    bool pair = luaL_len(L, index) == 2 && lua_isinteger(L, -1);
    lua_pop(L, 1);
    lua_Integer n = pair ? 1 : luaL_len(L, index);
    for (lua_Integer i = 1; i <= n; i++) {
        if (pair)
            lua_pushvalue(L, index);
        else
            lua_geti(L, index, i);
        int item = lua_gettop(L);
        if (i > 1)
            line_add(l, ",");
        if (lua_istable(L, item)) {
            lua_geti(L, item, 1);
            lua_geti(L, item, 2);
            line_add(l, "%lld-%lld", (long long)sector_at(l, -2), (long long)sector_at(l, -1));
            lua_pop(L, 2);
        } else {
            line_add(l, "%lld", (long long)sector_at(l, item));
        }
        lua_pop(L, 1);
    }
}

static const char *const rule_options[] = {"delay", "directions", "sectors", "errno",
                                           "prob",  "seed",       "times",   "after",
                                           "mean",  "p99",        "bits",    "keep",
                                           "limit"};
#define RULE_OPTIONS (sizeof rule_options / sizeof rule_options[0])

/* The ctl line of PREFIX (a mode, or "clear MODE") with what OPTS says; pushed and returned. */
static const char *rule_line(lua_State *L, const char *what, const char *prefix, int opts)
{
    struct line_buf l = {.L = L, .what = what};
    line_add(&l, "%s", prefix);
    if (lua_type(L, opts) == LUA_TSTRING) {
        line_add(&l, " %s", lua_tostring(L, opts)); /* the seed's form: ("slow", "20ms") */
    } else if (lua_istable(L, opts)) {
        lua_pushnil(L);
        while (lua_next(L, opts)) {
            size_t k = 0;
            while (k < RULE_OPTIONS && !(lua_type(L, -2) == LUA_TSTRING &&
                                         strcmp(lua_tostring(L, -2), rule_options[k]) == 0))
                k++;
            if (k == RULE_OPTIONS)
                luaL_error(L, "%s: unknown option '%s' (expected delay, directions, sectors, "
                              "errno, prob, seed, times, after, mean, p99, bits, keep, limit)",
                           what, luaL_tolstring(L, -2, NULL));
            lua_pop(L, 1);
        }
        for (size_t k = 0; k < RULE_OPTIONS; k++) {
            int t = lua_getfield(L, opts, rule_options[k]);
            int v = lua_gettop(L);
            if (t == LUA_TNIL) {
            } else if (k == 1 && t == LUA_TTABLE) { /* directions = {"write", "flush"} */
                for (lua_Integer i = 1; i <= luaL_len(L, v); i++) {
                    lua_geti(L, v, i);
                    line_add(&l, " %s", luaL_tolstring(L, -1, NULL));
                    lua_pop(L, 2);
                }
            } else if (k <= 1) { /* delay = "5ms" | "1ms..5ms"; directions = "write flush" */
                line_add(&l, " %s", luaL_tolstring(L, v, NULL));
                lua_pop(L, 1);
            } else if (k == 2) {
                line_add(&l, " sectors=");
                add_sectors(&l, v);
            } else {
                line_add(&l, " %s=%s%s", rule_options[k], luaL_tolstring(L, v, NULL),
                         k == 4 && t == LUA_TNUMBER ? "%" : ""); /* prob = 25 means 25% */
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    } else if (!lua_isnoneornil(L, opts)) {
        luaL_error(L, "%s: options must be a table (got %s)", what, luaL_typename(L, opts));
    }
    line_add(&l, "\n");
    lua_pushlstring(L, l.text, l.len);
    return lua_tostring(L, -1);
}

/*
 * disk:fault_inject(mode [, duration | options]): the seed's modes, or a rule:
 *   disk:fault_inject("eio_read", {sectors = "2048-4095", prob = 25, seed = 7, times = 3})
 */
int ldisk_fault_inject(lua_State *L)
{
    LDisk *d = ldisk_live(L, "fault_inject");
    const char *mode = luaL_checkstring(L, 2);
    if (!word_ok(mode) || !fault_mode_find(mode, strlen(mode)))
        return luaL_error(L, "fault_inject: unknown mode '%s' (expected " CTL_MODE_NAMES ")",
                          mode);
    if (lua_type(L, 3) == LUA_TSTRING && !word_ok(lua_tostring(L, 3)))
        return luaL_error(L, "fault_inject: bad duration '%s'", lua_tostring(L, 3));
    return ldisk_send(L, d, "fault_inject", rule_line(L, "fault_inject", mode, 3));
}

/* disk:clear_faults([mode [, options]]): every rule, a mode's, or the one rule OPTIONS make */
int ldisk_clear_faults(lua_State *L)
{
    LDisk *d = ldisk_live(L, "clear_faults");
    const char *mode = luaL_optstring(L, 2, NULL);
    if (mode && !word_ok(mode)) /* one word: the parser names an unknown one */
        return luaL_error(L, "clear_faults: unknown mode '%s' (expected " CTL_MODE_NAMES ")",
                          mode);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "clear %s", mode ? mode : "");
    if (mode)
        rule_line(L, "clear_faults", prefix, 3); /* nothing pushed before: 3 is the options */
    else
        lua_pushliteral(L, "clear\n");
    ldisk_send(L, d, "clear_faults", lua_tostring(L, -1));
    /* A VM paused on this disk's error retries now, as a device would. */
    lua_getiuservalue(L, 1, 1);
    d->vm->service(L, lua_gettop(L));
    return 0;
}

/* disk:active_faults() -> {"eio_read", "slow"}: the active modes, sorted */
int ldisk_active_faults(lua_State *L)
{
    LDisk *d = ldisk_live(L, "active_faults");
    bool active[FAULT_MODE_COUNT];
    if (d->in_mount) {
        int rc = disk_reload_faults(d, ldisk_mount(L, 1));
        if (rc < 0)
            return luaL_error(L, "active_faults: reading %s/ctl: %s", d->mount_id, strerror(-rc));
    }
    fault_table_modes(&d->faults, active);
    lua_createtable(L, FAULT_MODE_COUNT, 0);
    lua_Integer n = 0;
    for (size_t i = 0; i < FAULT_MODE_COUNT; i++) { /* fault_modes is sorted by name */
        if (active[i]) {
            lua_pushstring(L, fault_modes[i].name);
            lua_rawseti(L, -2, ++n);
        }
    }
    return 1;
}

/* ---- one-shot commands and the trace ---- */

/*
 * disk:powercut([{keep = N, seed = S}]): what the volatile cache holds and no
 * flush stored is lost, but for KEEP blocks the seed picks
 */
int ldisk_powercut(lua_State *L)
{
    LDisk *d = ldisk_live(L, "powercut");
    luaL_Buffer b;
    lua_settop(L, 2); /* the buffer takes the next slot */
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "powercut");
    if (lua_istable(L, 2)) {
        static const char *const keys[] = {"keep", "seed"};
        for (int i = 0; i < 2; i++) {
            lua_getfield(L, 2, keys[i]);
            if (!lua_isnil(L, -1)) {
                if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
                    return luaL_error(L, "powercut: %s must be a whole number (got %s)", keys[i],
                                      luaL_tolstring(L, -1, NULL));
                lua_pushfstring(L, " %s=%I", keys[i], lua_tointeger(L, -1));
                luaL_addvalue(&b);
            }
            lua_pop(L, 1);
        }
    } else if (!lua_isnoneornil(L, 2)) {
        return luaL_error(L, "powercut: options must be a table (got %s)", luaL_typename(L, 2));
    }
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    return ldisk_send(L, d, "powercut", lua_tostring(L, -1));
}

/* disk:mark(text): a mark in the disk's trace */
int ldisk_mark(lua_State *L)
{
    LDisk *d = ldisk_live(L, "mark");
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    if (!d->in_mount)
        return luaL_error(L, "mark: %s", LDISK_NO_IMAGE);
    if (len == 0 || strcspn(text, "\n\r#") != len || memchr(text, '\0', len))
        return luaL_error(L, "mark: text '%s' must be one line, not empty, without '#'", text);
    lua_pushfstring(L, "mark %s\n", text);
    return ldisk_send(L, d, "mark", lua_tostring(L, -1));
}

/* disk:trace(true | false | "on" | "off" | "clear") */
int ldisk_trace(lua_State *L)
{
    LDisk *d = ldisk_live(L, "trace");
    const char *how;
    if (lua_isboolean(L, 2))
        how = lua_toboolean(L, 2) ? "on" : "off";
    else
        how = luaL_checkstring(L, 2);
    if (strcmp(how, "on") && strcmp(how, "off") && strcmp(how, "clear"))
        return luaL_error(L, "trace: '%s' is not on, off or clear (or true / false)", how);
    if (!d->in_mount)
        return luaL_error(L, "trace: %s", LDISK_NO_IMAGE);
    lua_pushfstring(L, "trace %s\n", how);
    return ldisk_send(L, d, "trace", lua_tostring(L, -1));
}

/* disk:read_trace([{after_mark = TEXT}]) -> {entry, ...}: ID/trace, each line a table */
int ldisk_read_trace(lua_State *L)
{
    LDisk *d = ldisk_live(L, "read_trace");
    const char *after = NULL;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "after_mark");
        after = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    } else if (!lua_isnoneornil(L, 2)) {
        return luaL_error(L, "read_trace: options must be a table (got %s)", luaL_typename(L, 2));
    }
    if (!d->in_mount)
        return luaL_error(L, "read_trace: %s", LDISK_NO_IMAGE);
    char rel[DISK_ID_MAX + 8];
    snprintf(rel, sizeof rel, "%s/trace", d->mount_id);
    char *text = lmount_read(ldisk_mount(L, 1), rel);
    if (!text)
        return luaL_error(L, "read_trace: %s/%s: %s", ldisk_mount(L, 1)->dir, rel, strerror(errno));
    lua_newtable(L);
    int out = lua_gettop(L);
    lua_Integer n = 0;
    bool found = after == NULL;
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        json_t *entry = json_loads(line, 0, NULL);
        const char *mark = json_string_value(json_object_get(entry, "mark"));
        if (after && mark && strcmp(mark, after) == 0) {
            /* Everything after the last such mark: start again. */
            lua_newtable(L);
            lua_replace(L, out);
            n = 0;
            found = true;
        } else if (entry) {
            lutil_push_json(L, entry);
            lua_seti(L, out, ++n);
        }
        json_decref(entry);
    }
    free(text);
    if (!found)
        return luaL_error(L, "read_trace: no mark '%s' in the trace", after);
    return 1;
}
