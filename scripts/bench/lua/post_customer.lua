-- POST /customers with a unique userId per request: b<nonce>.<thread>.<counter>@bench.example.com

local bench_counter = 0

function request()
   bench_counter = bench_counter + 1
   bench_sent = bench_sent + 1
   local body = string.format(
      '{"userId":"b%s.%d.%d@bench.example.com","name":"Bench Customer %d",' ..
      '"phone":"+14125550%03d","address":"%d Forbes Ave","city":"Pittsburgh",' ..
      '"state":"PA","zipcode":"15213"}',
      bench_args.nonce, bench_tid, bench_counter, bench_counter,
      bench_counter % 1000, bench_counter % 5000 + 1)
   return wrk.format("POST", bench_args.path or "/customers", nil, body)
end
