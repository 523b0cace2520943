-- POST /books with a unique ISBN per request: B<nonce>-<thread>-<counter> (at most 20
-- characters). The nonce (nonce=<6 chars>) differs for every wrk run.

local bench_counter = 0
local GENRES = { "non-fiction", "fiction", "science", "history" }

function request()
   bench_counter = bench_counter + 1
   bench_sent = bench_sent + 1
   local isbn = string.format("B%s-%d-%d", bench_args.nonce, bench_tid, bench_counter)
   local body = string.format(
      '{"ISBN":"%s","title":"Bench title %d","Author":"Bench Author %d",' ..
      '"description":"Created by the benchmark harness.","genre":"%s",' ..
      '"price":%d.%02d,"quantity":%d}',
      isbn, bench_counter, bench_tid, GENRES[bench_counter % #GENRES + 1],
      10 + bench_counter % 90, bench_counter % 100, bench_counter % 50)
   return wrk.format("POST", bench_args.path or "/books", nil, body)
end
