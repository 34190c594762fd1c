-- The provium runner: runs test scripts written as in the Provium docs.
--   provium [--junit FILE] [--filter PATTERN] [--list] [--mount DIR] [-v]
--           [-j N] [--shard K/N] [--guest-alias NAME=GUEST]... SCRIPT.lua...
-- Each script gets the globals `provium` and `test(name, fn)`, its own faultfs
-- mount (unless --mount names one), and its VMs and mount torn down at the end,
-- whatever happens. Prints a line per test and "N passed, N failed".
-- With -j N, scripts run in copies of provium (workers), N at a time, each
-- writing its results to a file (the internal --worker-report) that this one
-- reads back for the summary and the JUnit report.
local faultfs = require "faultfs"
local args, interrupted, workers = ...

local usage = [[
usage: provium [options] SCRIPT.lua...

Runs the test(name, fn) blocks of each script and prints one line per test,
then "N passed, N failed". Exits 1 if any test failed.

  --filter PATTERN         run only tests whose name matches the Lua PATTERN
  --list                   list the tests (the scripts' top level still runs)
  --junit FILE             also write a JUnit XML report to FILE
  --mount DIR              use the faultfs mount at DIR instead of starting one
  --guest-alias NAME=GUEST run scripts that ask for guest NAME on GUEST (e.g. peios=pebble)
  -j, --jobs N             run N scripts at a time, each with its own mount and VMs;
                           a script's output is printed in one piece when it ends
  --shard K/N              run only the K-th of N shares of the tests (1 <= K <= N),
                           the same share on every machine: for a CI matrix
  -v, --verbose            print each script's mount and each VM's console log
  -h, --help               print this help
  -V, --version            print the version
]]

local function usage_error(text)
  io.stderr:write("provium: " .. text .. "\n")
  os.exit(2)
end

local opts = {scripts = {}, aliases = {}, jobs = 1}
local i = 1
local function value(flag)
  i = i + 1
  if args[i] == nil then usage_error(flag .. " needs a value") end
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
      usage_error("--filter: bad Lua pattern '" .. opts.filter .. "'")
    end
  elseif a == "--list" then
    opts.list = true
  elseif a == "--junit" then
    opts.junit = value(a)
  elseif a == "--mount" then
    opts.mount = value(a)
  elseif a == "-v" or a == "--verbose" then
    opts.verbose = true
  elseif a == "-j" or a == "--jobs" then
    local n = value(a)
    opts.jobs = n:match("^%d+$") and tonumber(n) or 0
    if opts.jobs < 1 then usage_error(a .. ": expected a number of scripts to run at a time (1 or more), got '" .. n .. "'") end
  elseif a == "--shard" then
    local text = value(a)
    local k, n = text:match("^(%d+)/(%d+)$")
    k, n = tonumber(k), tonumber(n)
    if not k or k < 1 or k > n then
      usage_error("--shard: expected K/N with 1 <= K <= N (e.g. 2/3), got '" .. text .. "'")
    end
    opts.shard = {k = k, n = n, text = text}
  elseif a == "--worker-report" then -- internal: how a worker of -j hands back its results
    opts.worker_report = value(a)
  elseif a == "--guest-alias" then
    local alias = value(a)
    local name, guest = alias:match("^([^=]+)=([^=]+)$")
    if not name then usage_error("--guest-alias: expected NAME=GUEST, got '" .. alias .. "'") end
    faultfs.alias_guest(name, guest)
    opts.aliases[#opts.aliases + 1] = alias
  elseif a == "--" then -- the rest are scripts, whatever their names
    for k = i + 1, #args do opts.scripts[#opts.scripts + 1] = args[k] end
    break
  elseif a:sub(1, 1) == "-" then
    usage_error("unknown option '" .. a .. "' (see provium --help)")
  else
    opts.scripts[#opts.scripts + 1] = a
  end
  i = i + 1
end
if #opts.scripts == 0 then
  io.stderr:write(usage)
  return 2
end
-- Parallel scripts on one mount would trip over each other's disks (<vm>.<id>).
if opts.jobs > 1 and opts.mount then
  usage_error("-j " .. opts.jobs .. " and --mount cannot go together: each parallel script needs a mount of its own")
end
-- Mistakes in the command line are usage errors, found before any test runs.
for _, path in ipairs(opts.scripts) do
  local f = io.open(path, "r")
  if not f then usage_error("cannot read script '" .. path .. "'") end
  f:close()
end
if opts.junit then
  local f, why = io.open(opts.junit, "a")
  if not f then usage_error("--junit: cannot write '" .. opts.junit .. "': " .. tostring(why)) end
  f:close()
end
if opts.verbose then
  faultfs.on_vm_boot(function(vm, console)
    print("# vm " .. vm:name() .. ": console " .. console)
    io.stdout:flush()
  end)
end

-- ---- assertions ----

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.message end

local Skip = {}
Skip.__tostring = function(f) return f.message end

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

-- t:skip([reason]): stops the test and counts it as skipped, neither passed nor failed.
function T:skip(reason)
  error(setmetatable({message = reason ~= nil and tostring(reason) or "skipped"}, Skip), 2)
end

local function describe(err)
  if getmetatable(err) == Failure then
    return err.message .. " (at " .. err.where .. ")"
  end
  if type(err) == "table" and err.message then return err.message end
  return tostring(err)
end

local function on_error(err)
  if getmetatable(err) == Failure or getmetatable(err) == Skip then return err end
  -- A runtime error: its message already names file:line; keep the script's frames,
  -- not the runner's own or C's.
  local lines = {}
  for line in debug.traceback(tostring(err), 2):gmatch("[^\n]+") do
    -- The runner is the chunk "provium" (provium.c), C functions are "[C]".
    if not line:find("^\tprovium:%d+:") and not line:find("^\t%[C%]") then
      lines[#lines + 1] = line
    end
  end
  return {message = table.concat(lines, "\n"), error = true}
end

-- ---- choosing the tests: --filter, then --shard ----

-- 32-bit FNV-1a: a hash that is the same on every machine and every Lua build.
local function fnv1a(text)
  local h = 0x811c9dc5
  for k = 1, #text do
    h = ((h ~ text:byte(k)) * 0x01000193) & 0xffffffff
  end
  return h
end

-- Whether the INDEX-th of a script's selected tests is in this run's shard. A script's
-- tests are dealt round-robin, starting at a shard its file name picks: every test is in
-- exactly one shard of N, each shard gets its share of every script, and the deal depends
-- only on the script's file name and its tests' order, not on where it was checked out.
local function in_shard(path, index)
  if not opts.shard then return true end
  local offset = fnv1a(path:match("([^/]*)$"))
  return (offset + index - 1) % opts.shard.n == opts.shard.k - 1
end

local function selected(path, tests)
  local chosen = {}
  for _, t in ipairs(tests) do
    if not opts.filter or t.name:find(opts.filter) then chosen[#chosen + 1] = t end
  end
  local share = {}
  for index, t in ipairs(chosen) do
    if in_shard(path, index) then share[#share + 1] = t end
  end
  return share
end

-- ---- running ----

local totals = {passed = 0, failed = 0, skipped = 0}
local suites = {}

local function now() return faultfs.monotonic() end

-- Counts a test in SUITE and the totals. KIND: nil (passed), "failure" (an assertion),
-- "error" (anything else that stopped it) or "skipped".
local function tally(case)
  if not case.kind then
    totals.passed = totals.passed + 1
  elseif case.kind == "skipped" then
    totals.skipped = totals.skipped + 1
  else
    totals.failed = totals.failed + 1
  end
end

local function count(suite, case)
  suite.cases[#suite.cases + 1] = case
  tally(case)
end

local function report(suite, name, kind, message, seconds)
  count(suite, {name = name, kind = kind, message = message, time = seconds})
  if not kind then
    print(string.format("ok - %s (%d ms)", name, math.floor(seconds * 1000 + 0.5)))
  elseif kind == "skipped" then
    print(string.format("skip - %s: %s", name, message))
  else
    local first, rest = message:match("^([^\n]*)\n?(.*)$")
    print(string.format("not ok - %s: %s", name, first))
    if rest ~= "" then
      print((rest:gsub("[^\n]+", "    %0")))
    end
  end
  io.stdout:flush()
end

local function run_script(path)
  local suite = {name = path, cases = {}, started = os.time()}
  suites[#suites + 1] = suite
  print("# " .. path)

  local ok, mount = pcall(faultfs.mount, opts.mount)
  if not ok then
    report(suite, path .. " (set-up)", "error", "cannot start faultfs: " .. tostring(mount), 0)
    return
  end
  if opts.verbose then
    print("# mount " .. mount:path() .. (opts.mount and " (given with --mount)" or ""))
    io.stdout:flush()
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
    for _, t in ipairs(selected(path, tests)) do print(path .. ": " .. t.name) end
  else
    for _, t in ipairs(selected(path, tests)) do
      local ctx = setmetatable({name = t.name, script = path}, T)
      local t0 = now()
      local test_ok, err = xpcall(t.fn, on_error, ctx)
      if interrupted() then break end
      local kind = nil
      if not test_ok then
        kind = getmetatable(err) == Failure and "failure" or getmetatable(err) == Skip and "skipped" or "error"
      end
      report(suite, t.name, kind, test_ok and "" or describe(err), now() - t0)
    end
  end

  -- Tear down whatever the script made, also after an error or an interrupt.
  for k = #vms, 1, -1 do pcall(vms[k].shutdown, vms[k]) end
  _G.provium, _G.test = nil, nil
  package.path = saved_path
  mount:close()
end

-- ---- -j: scripts in workers ----

local function worker_args(path, report_file)
  local a = {}
  local function add(...) for _, v in ipairs({...}) do a[#a + 1] = v end end
  if opts.verbose then add("-v") end
  if opts.list then add("--list") end
  if opts.filter then add("--filter", opts.filter) end
  if opts.shard then add("--shard", opts.shard.text) end
  for _, alias in ipairs(opts.aliases) do add("--guest-alias", alias) end
  add("--worker-report", report_file, "--", path)
  return a
end

-- A worker's results, as the Lua table it wrote; nil if it wrote none.
local function read_worker_report(file)
  local f = io.open(file, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local chunk = load(text, "=worker report", "t", {})
  local ok, result = pcall(chunk or error)
  return ok and type(result) == "table" and result or nil
end

local function write_worker_report(file)
  local out = assert(io.open(file, "w"))
  out:write("return {\n")
  for _, s in ipairs(suites) do
    out:write(string.format("{name = %q, started = %d, cases = {\n", s.name, s.started))
    for _, c in ipairs(s.cases) do
      out:write(string.format("{name = %q, kind = %s, message = %q, time = %.6f},\n", c.name,
        c.kind and string.format("%q", c.kind) or "nil", c.message, c.time))
    end
    out:write("}},\n")
  end
  out:write("}\n")
  out:close()
end

-- Runs every script in a worker, opts.jobs at a time; prints each one's output when it
-- ends and gathers its suites, in the scripts' order.
local function run_workers()
  local pending, running, by_pid, done = {}, {}, {}, {}
  for k, path in ipairs(opts.scripts) do pending[#pending + 1] = {index = k, path = path} end

  local function start_more()
    while #pending > 0 and #running < opts.jobs do
      local job = table.remove(pending, 1)
      job.output, job.report, job.started = os.tmpname(), os.tmpname(), os.time()
      job.pid = workers.spawn(worker_args(job.path, job.report), job.output)
      running[#running + 1] = job
      by_pid[job.pid] = job
    end
  end

  -- The worker PID ended with STATUS: print its output in one piece, keep its suites.
  local function finish(pid, status)
    local job = by_pid[pid]
    if not job then return end
    by_pid[pid] = nil
    for k, other in ipairs(running) do
      if other == job then table.remove(running, k) break end
    end
    local f = io.open(job.output, "r")
    if f then
      io.write(f:read("a"))
      f:close()
    end
    local result = read_worker_report(job.report)
    os.remove(job.output)
    os.remove(job.report)
    if not result or (status ~= 0 and status ~= 1 and status ~= 130) then
      -- It crashed or was killed: what it ran stays, and the crash is an error of its own.
      local suite = result and result[1] or {name = job.path, started = job.started, cases = {}}
      local why = string.format("provium exited with status %d%s", status,
        result and "" or " before it reported its tests")
      print(string.format("not ok - %s (runner): %s", job.path, why))
      suite.cases[#suite.cases + 1] = {name = job.path .. " (runner)", kind = "error", message = why, time = 0}
      result = {suite}
    end
    io.stdout:flush()
    done[job.index] = result
  end

  local ok, err = pcall(function()
    start_more()
    while #running > 0 and not interrupted() do
      local pid, status = workers.wait()
      if pid then
        finish(pid, status)
        if not interrupted() then start_more() end
      end
    end
  end)
  -- After an interrupt (or an error of ours): stop the workers, let each tear down its
  -- mount and VMs, and still print what they did. A second signal only interrupts a wait.
  if not ok or interrupted() then
    for _, job in ipairs(running) do workers.stop(job.pid) end
    while #running > 0 do
      local waited, pid, status = pcall(workers.wait)
      if waited and pid then
        finish(pid, status)
      elseif not waited and not tostring(pid):find("interrupted", 1, true) then
        break
      end
    end
    if not ok and not interrupted() then error(err, 0) end
  end

  for k = 1, #opts.scripts do
    for _, s in ipairs(done[k] or {}) do
      suites[#suites + 1] = s
      for _, c in ipairs(s.cases) do tally(c) end
    end
  end
end

-- ---- JUnit ----

-- Text for XML 1.0: escaped, and only characters XML allows, as valid UTF-8 (a message
-- may carry a sector's raw bytes); anything else becomes "?".
local function xml(s)
  s = tostring(s)
  local clean, pos = {}, 1
  while pos <= #s do
    local len, bad = utf8.len(s, pos)
    if len then
      clean[#clean + 1] = s:sub(pos)
      break
    end
    clean[#clean + 1] = s:sub(pos, bad - 1) .. "?"
    pos = bad + 1
    -- Skip the rest of a broken sequence (its continuation bytes).
    while pos <= #s and s:byte(pos) >= 0x80 and s:byte(pos) < 0xC0 do pos = pos + 1 end
  end
  s = table.concat(clean)
  return (s:gsub("[&<>\"]", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;"})
    :gsub("[%z\1-\8\11\12\14-\31]", "?"):gsub("\xEF\xBF[\xBE\xBF]", "?"))
end

-- The class of a script's tests: its file name without ".lua", with no dot left in it,
-- so Jenkins and GitLab do not split "example.lua" into package "example", class "lua".
local function classname(path)
  return (path:match("([^/]*)$"):gsub("%.lua$", ""):gsub("%.", "_"))
end

-- The report, as the Jenkins JUnit schema has it (tests/data/junit/jenkins-junit.xsd):
-- counts per <testsuite> (skipped only there: <testsuites> has no such attribute), then
-- <properties> when there are any, then the <testcase>s.
local function write_junit(file)
  local out = assert(io.open(file, "w"))
  local hostname = (io.open("/proc/sys/kernel/hostname") or io.open("/etc/hostname"))
  hostname = hostname and hostname:read("l") or "localhost"
  local all_time, errors, failures = 0, 0, 0
  local properties = {}
  if opts.shard then properties[#properties + 1] = {"shard", opts.shard.text} end
  for _, s in ipairs(suites) do
    s.time, s.failures, s.errors, s.skipped = 0, 0, 0, 0
    for _, c in ipairs(s.cases) do
      s.time = s.time + c.time
      if c.kind == "failure" then s.failures = s.failures + 1 end
      if c.kind == "error" then s.errors = s.errors + 1 end
      if c.kind == "skipped" then s.skipped = s.skipped + 1 end
    end
    all_time, errors, failures = all_time + s.time, errors + s.errors, failures + s.failures
  end
  out:write('<?xml version="1.0" encoding="UTF-8"?>\n')
  out:write(string.format('<testsuites tests="%d" failures="%d" errors="%d" time="%.3f">\n',
    totals.passed + totals.failed + totals.skipped, failures, errors, all_time))
  for _, s in ipairs(suites) do
    out:write(string.format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" skipped="%d" ' ..
      'time="%.3f" timestamp="%s" hostname="%s">\n', xml(s.name), #s.cases, s.failures, s.errors,
      s.skipped, s.time, os.date("!%Y-%m-%dT%H:%M:%S", s.started), xml(hostname)))
    if #properties > 0 then
      out:write("    <properties>\n")
      for _, p in ipairs(properties) do
        out:write(string.format('      <property name="%s" value="%s"/>\n', xml(p[1]), xml(p[2])))
      end
      out:write("    </properties>\n")
    end
    for _, c in ipairs(s.cases) do
      out:write(string.format('    <testcase classname="%s" name="%s" time="%.3f"', xml(classname(s.name)),
        xml(c.name), c.time))
      if not c.kind then
        out:write("/>\n")
      elseif c.kind == "skipped" then
        -- The reason as text: the schema's <skipped> has no attributes.
        out:write(string.format(">\n      <skipped>%s</skipped>\n    </testcase>\n", xml(c.message)))
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

-- ---- main ----

if opts.jobs > 1 and #opts.scripts > 1 then
  run_workers()
else
  for _, path in ipairs(opts.scripts) do
    run_script(path)
    if interrupted() then break end
  end
end

if opts.worker_report then write_worker_report(opts.worker_report) end
if opts.junit then write_junit(opts.junit) end
if not opts.list and not opts.worker_report then
  print(string.format("%d passed, %d failed%s", totals.passed, totals.failed,
    totals.skipped > 0 and string.format(", %d skipped", totals.skipped) or ""))
end
if interrupted() then
  io.stderr:write("provium: interrupted; VMs and mounts were torn down\n")
  return 130
end
return totals.failed == 0 and 0 or 1
