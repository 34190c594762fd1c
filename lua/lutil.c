/* Helpers of every class of the Lua module: classes, durations, the stop flag. */
#include "lutil.h"

#include <jansson.h>

#include "duration.h"

void lutil_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *metamethods, int nup)
{
    int ups = lua_gettop(L) - nup; /* the upvalues are at ups + 1 .. ups + nup */
    luaL_newmetatable(L, name);
    int mt = lua_gettop(L);
    /* luaL_setfuncs wants the table right under the upvalues, and pops them: push copies. */
    for (int i = 1; i <= nup; i++)
        lua_pushvalue(L, ups + i);
    if (metamethods)
        luaL_setfuncs(L, metamethods, nup);
    lua_settop(L, mt);
    lua_newtable(L);
    for (int i = 1; i <= nup; i++)
        lua_pushvalue(L, ups + i);
    if (methods)
        luaL_setfuncs(L, methods, nup);
    lua_settop(L, mt + 1);
    lua_setfield(L, mt, "__index");
    lua_settop(L, ups);
}

volatile sig_atomic_t lutil_stop_requested;

void lutil_check_stop(lua_State *L)
{
    if (lutil_stop_requested)
        luaL_error(L, "provium: interrupted");
}

uint64_t lutil_duration(lua_State *L, int index, uint64_t default_ns, const char *what)
{
    if (lua_isnoneornil(L, index))
        return default_ns;
    if (lua_type(L, index) == LUA_TNUMBER) {
        lua_Number s = lua_tonumber(L, index);
        if (!(s >= 0 && s <= 3600))
            luaL_error(L, "%s: bad duration %s (seconds from 0 to 3600)", what,
                       lua_tostring(L, index));
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

void lutil_push_json(lua_State *L, json_t *j)
{
    size_t i;
    const char *key;
    json_t *v;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        lua_createtable(L, 0, (int)json_object_size(j));
        json_object_foreach(j, key, v)
        {
            lutil_push_json(L, v);
            lua_setfield(L, -2, key);
        }
        break;
    case JSON_ARRAY:
        lua_createtable(L, (int)json_array_size(j), 0);
        json_array_foreach(j, i, v)
        {
            lutil_push_json(L, v);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(j));
        break;
    default:
        lua_pushnil(L);
    }
}
