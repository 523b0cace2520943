-- For write cases: count every response by status, and stop sending after a deadline
-- (window=<seconds>) while wrk keeps running a little longer, so every request sent gets
-- its answer counted; otherwise requests in flight when wrk stops would be committed by the
-- service but missing from the 201 count. Throughput = responses within the window / window.
-- Needs LuaJIT (wrk's interpreter) for a millisecond clock.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local bench_ts = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1
local IDLE_MS = 3600000

local function bench_now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, bench_ts)
   return tonumber(bench_ts.tv_sec) * 1000 + tonumber(bench_ts.tv_nsec) / 1e6
end

bench_status = {}
bench_sent = 0
bench_answered = 0
bench_in_window = 0
bench_deadline_ms = math.huge

table.insert(bench_init_hooks, function()
   local window_s = tonumber(bench_args.window)
   if window_s then bench_deadline_ms = bench_now_ms() + window_s * 1000 end
end)

function delay()
   if bench_now_ms() >= bench_deadline_ms then return IDLE_MS end
   return 0
end

function response(status, headers, body)
   bench_answered = bench_answered + 1
   bench_status[status] = (bench_status[status] or 0) + 1
   if bench_now_ms() <= bench_deadline_ms then bench_in_window = bench_in_window + 1 end
end
