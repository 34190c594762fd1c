# Turns provium_runner.lua into a C array (no quoting to get wrong).
file(READ ${INPUT} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUTPUT} "/* Generated from provium_runner.lua. */\nstatic const char provium_runner_lua[] = {${bytes} 0};\n")
