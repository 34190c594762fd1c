/*
 * The bottom layer of the Lua module: what every class file uses, and
 * nothing that knows a class. Layers, each including only those below it:
 *
 *   lutil  <-  lmount  <-  ldisk  <-  lvm  <-  lfaultfs (+ lconfig)
 *   lutil  <-  lproc   <-------------'
 *
 * A lower layer never calls up: where a Disk or a process needs its VM,
 * the VM hands it plain data and a small table of functions (ldisk.h,
 * lproc.h).
 */
#ifndef FAULTFS_LUTIL_H
#define FAULTFS_LUTIL_H

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdint.h>

/*
 * Registers metatable NAME with METAMETHODS, its __index a table of METHODS
 * (either may be NULL). The NUP values on top of the stack become upvalues
 * of every method and metamethod, and are popped.
 */
void lutil_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *metamethods, int nup);

/*
 * Set from a signal handler (provium's SIGINT/SIGTERM): long waits in C (a
 * guest command, a sleep, a parked sector call) give up at their next slice
 * and raise "provium: interrupted", so the runner can tear down at once.
 */
extern volatile sig_atomic_t lutil_stop_requested;

/* Raises "provium: interrupted" if a stop was requested. */
void lutil_check_stop(lua_State *L);

/* Pushes J as Lua values: objects and arrays as tables, numbers, strings, booleans, nil. */
void lutil_push_json(lua_State *L, json_t *j);

/* The duration at INDEX: a string such as "5s" or "100ms", or a number of seconds. */
uint64_t lutil_duration(lua_State *L, int index, uint64_t default_ns, const char *what);

#endif
