-- GET BENCH_PATH .. a random ticket id: GET /api/TicketsApi/{id}, or the
-- static copy of one answer for the HTTP ceiling.
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
    return wrk.format("GET", b.path .. b.ticket_id(), headers)
end
