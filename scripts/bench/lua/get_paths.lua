-- GET requests cycling through the paths listed in a file (paths=<file>, one per line),
-- preformatted once, so the per-request cost is one table lookup.

local bench_requests = {}
local bench_next = 1

table.insert(bench_init_hooks, function()
   for line in io.lines(bench_args.paths) do
      if line ~= "" then table.insert(bench_requests, wrk.format("GET", line)) end
   end
   assert(#bench_requests > 0, "no paths in " .. tostring(bench_args.paths))
   -- Threads start at different places of the list.
   bench_next = ((bench_tid - 1) * 97) % #bench_requests + 1
end)

function request()
   local req = bench_requests[bench_next]
   bench_next = bench_next % #bench_requests + 1
   return req
end
