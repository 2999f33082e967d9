-- POST BENCH_PATH .. a random ticket id: an urlencoded update that changes
-- the impact and urgency (a history row each), which no list depends on.
-- The values are random, so about one update in nine finds both already
-- set and changes nothing (204, the transaction rolled back).
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local b = require "bench"

setup = b.setup
done = b.done

local headers

function init(args)
    b.init()
    headers = b.headers({
        ["Content-Type"] = "application/x-www-form-urlencoded" })
end

function request()
    local body = "ImpactId=" .. math.random(3) .. "&UrgencyId="
                 .. math.random(3)
    return wrk.format("POST", b.path .. b.ticket_id(), headers, body)
end
