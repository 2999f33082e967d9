-- POST BENCH_PATH a multipart register form with a 100 KiB attachment
-- (a .log file): bodies are built once per thread and used in turn.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local b = require "bench"

setup = b.setup
done = b.done

local SIZE = 100 * 1024
local requests = {}
local next_request = 1

local function part(boundary, name, value)
    return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\""
        .. name .. "\"\r\n\r\n" .. value .. "\r\n"
end

function init(args)
    b.init()

    -- 100 KiB of log-like text, different per thread
    local line = {}
    for i = 1, 64 do
        line[i] = string.char(97 + math.random(0, 25))
    end
    local chunk = table.concat(line) .. "\n"
    local file = string.rep(chunk, math.floor(SIZE / #chunk))
    file = file .. string.rep("x", SIZE - #file)

    for i = 1, 16 do
        local boundary = "BenchBoundary" .. math.random(1e9) .. i
        local body = part(boundary, "Title", b.title())
            .. part(boundary, "Description", "Log attached.")
            .. part(boundary, "CreatorId", b.member_id())
            .. part(boundary, "SiteId", "1")
            .. part(boundary, "DepartmentId", "1")
            .. part(boundary, "TicketStatusId", "1")
            .. part(boundary, "TicketType", "Incident")
            .. part(boundary, "TicketPriorityId", tostring(math.random(4)))
            .. "--" .. boundary .. "\r\nContent-Disposition: form-data;"
            .. " name=\"Uploads\"; filename=\"app-" .. i .. ".log\"\r\n"
            .. "Content-Type: text/plain\r\n\r\n" .. file .. "\r\n"
            .. "--" .. boundary .. "--\r\n"
        requests[i] = wrk.format("POST", b.path, b.headers({
            ["Content-Type"] = "multipart/form-data; boundary=" .. boundary
        }), body)
    end
end

function request()
    local r = requests[next_request]
    next_request = next_request % #requests + 1
    return r
end
