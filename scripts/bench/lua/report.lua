-- Always first in a composed script: thread numbering, "key=value" arguments, init hooks,
-- and done(), which prints one machine-readable line:  BENCH_RESULT {json}
-- Other pieces add counters as globals of each thread (bench_status, bench_sent, ...).

local bench_threads = {}
bench_init_hooks = {}
bench_args = {}

function setup(thread)
   table.insert(bench_threads, thread)
   thread:set("bench_tid", #bench_threads)
end

function init(args)
   for _, arg in ipairs(args) do
      local key, value = string.match(arg, "^([%w_]+)=(.*)$")
      if key then bench_args[key] = value end
   end
   for _, hook in ipairs(bench_init_hooks) do hook() end
end

local function bench_sum(name)
   local total, seen = 0, false
   for _, t in ipairs(bench_threads) do
      local value = t:get(name)
      if type(value) == "number" then
         total = total + value
         seen = true
      end
   end
   if seen then return total end
   return nil
end

local function bench_field(name, value)
   if value == nil then return string.format('"%s":null', name) end
   return string.format('"%s":%.17g', name, value)
end

function done(summary, latency, requests)
   local statuses, any_status = {}, false
   for _, t in ipairs(bench_threads) do
      local counts = t:get("bench_status")
      if type(counts) == "table" then
         for code, n in pairs(counts) do
            statuses[code] = (statuses[code] or 0) + n
            any_status = true
         end
      end
   end
   local status_parts = {}
   for code, n in pairs(statuses) do
      table.insert(status_parts, string.format('"%d":%d', code, n))
   end
   local status_json = "null"
   if any_status then status_json = "{" .. table.concat(status_parts, ",") .. "}" end
   local e = summary.errors
   local fields = {
      bench_field("duration_us", summary.duration),
      bench_field("requests", summary.requests),
      bench_field("bytes", summary.bytes),
      bench_field("err_connect", e.connect),
      bench_field("err_read", e.read),
      bench_field("err_write", e.write),
      bench_field("err_status", e.status),
      bench_field("err_timeout", e.timeout),
      bench_field("lat_mean_us", latency.mean),
      bench_field("lat_max_us", latency.max),
      bench_field("p50_us", latency:percentile(50)),
      bench_field("p90_us", latency:percentile(90)),
      bench_field("p99_us", latency:percentile(99)),
      bench_field("p999_us", latency:percentile(99.9)),
      bench_field("sent", bench_sum("bench_sent")),
      bench_field("answered", bench_sum("bench_answered")),
      bench_field("in_window", bench_sum("bench_in_window")),
      '"statuses":' .. status_json,
   }
   io.write("BENCH_RESULT {" .. table.concat(fields, ",") .. "}\n")
end
