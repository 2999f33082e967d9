-- POST BENCH_PATH an urlencoded register form: a random requester, title
-- and priority (so that the SLA policy of the priority applies).
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
    local body = b.form({
        "Title", b.title(),
        "Description", "Registered by the benchmark. It stopped working "
                       .. "this morning; nothing was changed.",
        "CreatorId", b.member_id(),
        "SiteId", "1", "DepartmentId", "1", "TicketStatusId", "1",
        "TicketType", "Incident", "TicketPriorityId", tostring(math.random(4)),
        "TicketCategoryId", "1", "GroupId", tostring(math.random(8)) })
    return wrk.format("POST", b.path, headers, body)
end
