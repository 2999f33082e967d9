-- bench/wrk/bench.lua: what the wrk scripts of make bench share.
--
-- Parameters come from the environment (bench/run sets them):
--   BENCH_TOKEN        the bearer token
--   BENCH_PATH         the path (or path prefix) to request
--   BENCH_MIN_ID/_MAX_ID  the generated tickets (bench/generate.sql)
--   BENCH_MEMBERS      how many generated members there are
-- Every 200th ticket id is a deleted ticket (bench/generate.sql): random
-- ids skip them, so that every request finds its ticket.

local M = {}

M.token   = os.getenv("BENCH_TOKEN") or ""
M.path    = os.getenv("BENCH_PATH") or "/"
M.min_id  = tonumber(os.getenv("BENCH_MIN_ID") or "37")
M.max_id  = tonumber(os.getenv("BENCH_MAX_ID") or "1000036")
M.members = tonumber(os.getenv("BENCH_MEMBERS") or "5000")

local nthreads = 0

-- each thread gets its own number, for its own random sequence
function M.setup(thread)
    nthreads = nthreads + 1
    thread:set("bench_thread", nthreads)
end

function M.init()
    math.randomseed(os.time() * 1000 + (bench_thread or 0) * 7919)
    for _ = 1, 10 do math.random() end
end

function M.headers(extra)
    local h = { ["Authorization"] = "Bearer " .. M.token }
    for k, v in pairs(extra or {}) do h[k] = v end
    return h
end

function M.ticket_id()
    local id
    repeat
        id = math.random(M.min_id, M.max_id)
    until id % 200 ~= 0
    return id
end

-- the id of a generated member (bench/generate.sql)
function M.member_id()
    return string.format("00000000-0000-4000-c000-%012d",
                         math.random(1, M.members))
end

local objects = { "Laptop", "Outlook", "VPN", "Printer", "Teams", "Monitor",
                  "Docking station", "Shared mailbox", "Headset", "Scanner" }
local problems = { "does not start", "keeps crashing", "is very slow",
                   "shows an error", "cannot connect", "freezes randomly" }

function M.title()
    return objects[math.random(#objects)] .. " "
        .. problems[math.random(#problems)]
end

function M.urlencode(s)
    return (s:gsub("[^%w%-%._~ ]", function(c)
        return string.format("%%%02X", string.byte(c))
    end):gsub(" ", "+"))
end

function M.form(fields)
    local parts = {}
    for i = 1, #fields, 2 do
        parts[#parts + 1] = M.urlencode(fields[i]) .. "="
                            .. M.urlencode(fields[i + 1])
    end
    return table.concat(parts, "&")
end

-- One line that bench/run reads: counts, latencies in microseconds.
function M.done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d "
        .. "mean_us=%.1f max_us=%d bytes=%d status_errors=%d "
        .. "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
        summary.requests, summary.duration, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.mean,
        latency.max, summary.bytes, e.status, e.connect, e.read, e.write,
        e.timeout))
end

return M
