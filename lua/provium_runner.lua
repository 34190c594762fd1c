-- The provium runner: runs test scripts written as in the Provium docs.
--   provium [--junit FILE] [--filter PATTERN] [--list] [--mount DIR]
--           [--guest-alias NAME=GUEST]... SCRIPT.lua...
-- Each script gets the globals `provium` and `test(name, fn)`, its own faultfs
-- mount (unless --mount names one), and its VMs and mount torn down at the end,
-- whatever happens. Prints a line per test and "N passed, N failed".
local faultfs = require "faultfs"
local args, interrupted = ...

local usage = [[
usage: provium [options] SCRIPT.lua...

Runs the test(name, fn) blocks of each script and prints one line per test,
then "N passed, N failed". Exits 1 if any test failed.

  --filter PATTERN         run only tests whose name matches the Lua PATTERN
  --list                   list the tests (the scripts' top level still runs)
  --junit FILE             also write a JUnit XML report to FILE
  --mount DIR              use the faultfs mount at DIR instead of starting one
  --guest-alias NAME=GUEST run scripts that ask for guest NAME on GUEST (e.g. peios=pebble)
  -h, --help               print this help
  -V, --version            print the version
]]

local opts = {scripts = {}}
local i = 1
local function value(flag)
  i = i + 1
  if args[i] == nil then
    io.stderr:write("provium: " .. flag .. " needs a value\n")
    os.exit(2)
  end
  return args[i]
end
while i <= #args do
  local a = args[i]
  if a == "-h" or a == "--help" then
    io.write(usage)
    return 0
  elseif a == "-V" or a == "--version" then
    print("provium " .. faultfs.version)
    return 0
  elseif a == "--filter" then
    opts.filter = value(a)
    if not pcall(string.find, "", opts.filter) then
      io.stderr:write("provium: --filter: bad Lua pattern '" .. opts.filter .. "'\n")
      return 2
    end
  elseif a == "--list" then
    opts.list = true
  elseif a == "--junit" then
    opts.junit = value(a)
  elseif a == "--mount" then
    opts.mount = value(a)
  elseif a == "--guest-alias" then
    local alias = value(a)
    local name, guest = alias:match("^([^=]+)=([^=]+)$")
    if not name then
      io.stderr:write("provium: --guest-alias: expected NAME=GUEST, got '" .. alias .. "'\n")
      return 2
    end
    faultfs.alias_guest(name, guest)
  elseif a:sub(1, 1) == "-" then
    io.stderr:write("provium: unknown option '" .. a .. "' (see provium --help)\n")
    return 2
  else
    opts.scripts[#opts.scripts + 1] = a
  end
  i = i + 1
end
if #opts.scripts == 0 then
  io.stderr:write(usage)
  return 2
end
-- Mistakes in the command line are usage errors, found before any test runs.
for _, path in ipairs(opts.scripts) do
  local f = io.open(path, "r")
  if not f then
    io.stderr:write("provium: cannot read script '" .. path .. "'\n")
    return 2
  end
  f:close()
end
if opts.junit then
  local f, why = io.open(opts.junit, "a")
  if not f then
    io.stderr:write("provium: --junit: cannot write '" .. opts.junit .. "': " .. tostring(why) .. "\n")
    return 2
  end
  f:close()
end

-- ---- assertions ----

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.message end

local T = {}
T.__index = T

-- t:assert(cond [, msg]): fails the test (and stops it) when cond is false or nil.
function T:assert(cond, msg)
  if cond then return cond end
  -- Name the line of the test script, even when a helper module made the call.
  local where
  for level = 2, 20 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    local here = info.short_src .. ":" .. (info.currentline or "?")
    where = where or here
    if info.source == "@" .. self.script then
      where = here
      break
    end
  end
  error(setmetatable({message = msg ~= nil and tostring(msg) or "assertion failed", where = where or "?"}, Failure), 2)
end

local function describe(err)
  if getmetatable(err) == Failure then
    return err.message .. " (at " .. err.where .. ")"
  end
  if type(err) == "table" and err.message then return err.message end
  return tostring(err)
end

local function on_error(err)
  if getmetatable(err) == Failure then return err end
  -- A runtime error: its message already names file:line; keep the script's frames,
  -- not the runner's own or C's.
  local lines = {}
  for line in debug.traceback(tostring(err), 2):gmatch("[^\n]+") do
    if not line:find("provium_runner", 1, true) and not line:find("^\t%[C%]") then
      lines[#lines + 1] = line
    end
  end
  return {message = table.concat(lines, "\n"), error = true}
end

-- ---- running ----

local totals = {passed = 0, failed = 0}
local suites = {}

local function now() return faultfs.monotonic() end

-- KIND: nil (passed), "failure" (an assertion) or "error" (anything else that stopped it).
local function report(suite, name, kind, message, seconds)
  local ok = kind == nil
  suite.cases[#suite.cases + 1] = {name = name, kind = kind, message = message, time = seconds}
  if ok then
    totals.passed = totals.passed + 1
    print(string.format("ok - %s (%d ms)", name, math.floor(seconds * 1000 + 0.5)))
  else
    totals.failed = totals.failed + 1
    if kind == "failure" then
      suite.failures = suite.failures + 1
    else
      suite.errors = suite.errors + 1
    end
    local first, rest = message:match("^([^\n]*)\n?(.*)$")
    print(string.format("not ok - %s: %s", name, first))
    if rest ~= "" then
      print((rest:gsub("[^\n]+", "    %0")))
    end
  end
  io.stdout:flush()
end

local function run_script(path)
  local suite = {name = path, cases = {}, failures = 0, errors = 0, started = os.time()}
  suites[#suites + 1] = suite
  print("# " .. path)

  local ok, mount = pcall(faultfs.mount, opts.mount)
  if not ok then
    report(suite, path .. " (set-up)", "error", "cannot start faultfs: " .. tostring(mount), 0)
    return
  end
  local provium = faultfs.provium(mount)
  local vms = {}
  local vm_of = provium.vm
  provium.vm = function(self, ...)
    local vm = vm_of(self, ...)
    vms[#vms + 1] = vm
    return vm
  end

  local tests = {}
  _G.provium = provium
  _G.test = function(name, fn)
    if type(name) ~= "string" or type(fn) ~= "function" then
      error("test(name, fn): expected a string and a function", 2)
    end
    tests[#tests + 1] = {name = name, fn = fn}
  end

  -- A script may require modules that sit beside it.
  local saved_path = package.path
  package.path = (path:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. saved_path
  local chunk, load_err = loadfile(path)
  local started = now()
  local top_ok, top_err = false, load_err
  if chunk then
    top_ok, top_err = xpcall(chunk, on_error)
  end
  if not top_ok then
    report(suite, path .. " (top level)", "error", describe(top_err), now() - started)
  elseif opts.list then
    for _, t in ipairs(tests) do
      if not opts.filter or t.name:find(opts.filter) then print(path .. ": " .. t.name) end
    end
  else
    for _, t in ipairs(tests) do
      if not opts.filter or t.name:find(opts.filter) then
        local ctx = setmetatable({name = t.name, script = path}, T)
        local t0 = now()
        local test_ok, err = xpcall(t.fn, on_error, ctx)
        if interrupted() then break end
        local kind = not test_ok and (getmetatable(err) == Failure and "failure" or "error") or nil
        report(suite, t.name, kind, test_ok and "" or describe(err), now() - t0)
      end
    end
  end

  -- Tear down whatever the script made, also after an error or an interrupt.
  for k = #vms, 1, -1 do pcall(vms[k].shutdown, vms[k]) end
  _G.provium, _G.test = nil, nil
  package.path = saved_path
  mount:close()
end

local function xml(s)
  return (tostring(s):gsub("[&<>\"]", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;"})
    :gsub("[%z\1-\8\11\12\14-\31]", "?"))
end

-- The class of a script's tests: its file name without ".lua", with no dot left in it,
-- so Jenkins and GitLab do not split "example.lua" into package "example", class "lua".
local function classname(path)
  return (path:match("([^/]*)$"):gsub("%.lua$", ""):gsub("%.", "_"))
end

local function write_junit(file)
  local out = assert(io.open(file, "w"))
  local hostname = (io.open("/proc/sys/kernel/hostname") or io.open("/etc/hostname"))
  hostname = hostname and hostname:read("l") or "localhost"
  local all_time, errors, failures = 0, 0, 0
  for _, s in ipairs(suites) do
    errors, failures = errors + s.errors, failures + s.failures
    for _, c in ipairs(s.cases) do all_time = all_time + c.time end
  end
  out:write('<?xml version="1.0" encoding="UTF-8"?>\n')
  out:write(string.format('<testsuites tests="%d" failures="%d" errors="%d" skipped="0" time="%.3f">\n',
    totals.passed + totals.failed, failures, errors, all_time))
  for _, s in ipairs(suites) do
    local time = 0
    for _, c in ipairs(s.cases) do time = time + c.time end
    out:write(string.format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" skipped="0" ' ..
      'time="%.3f" timestamp="%s" hostname="%s">\n', xml(s.name), #s.cases, s.failures, s.errors, time,
      os.date("!%Y-%m-%dT%H:%M:%S", s.started), xml(hostname)))
    for _, c in ipairs(s.cases) do
      out:write(string.format('    <testcase classname="%s" name="%s" time="%.3f"', xml(classname(s.name)),
        xml(c.name), c.time))
      if not c.kind then
        out:write("/>\n")
      else
        out:write(string.format('>\n      <%s message="%s">%s</%s>\n    </testcase>\n', c.kind,
          xml(c.message:match("^[^\n]*")), xml(c.message), c.kind))
      end
    end
    out:write("  </testsuite>\n")
  end
  out:write("</testsuites>\n")
  out:close()
end

for _, path in ipairs(opts.scripts) do
  run_script(path)
  if interrupted() then break end
end

if opts.junit then write_junit(opts.junit) end
if not opts.list then
  print(string.format("%d passed, %d failed", totals.passed, totals.failed))
end
if interrupted() then
  io.stderr:write("provium: interrupted; VMs and mounts were torn down\n")
  return 130
end
return totals.failed == 0 and 0 or 1
