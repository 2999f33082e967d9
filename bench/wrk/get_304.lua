-- GET BENCH_PATH .. a random ticket id with If-None-Match: the ticket's
-- current ETag, "<id>-<version>", which bench/run keeps at the generated
-- version (1 + id % 5, bench/generate.sql; reset_db puts back what an
-- update row changed): the answer is 304 with no body.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local b = require "bench"

setup = b.setup
done = b.done

local headers

function init(args)
    b.init()
    headers = b.headers()
end

function request()
    local id = b.ticket_id()
    headers["If-None-Match"] = string.format('"%d-%d"', id, 1 + id % 5)
    return wrk.format("GET", b.path .. id, headers)
end
