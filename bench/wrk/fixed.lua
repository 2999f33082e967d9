-- GET of one fixed URL (given to wrk), with the bearer token: the list
-- types, search, and the static ceilings.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local b = require "bench"

wrk.headers["Authorization"] = "Bearer " .. b.token
setup = b.setup
done = b.done
