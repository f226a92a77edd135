-- The fair-start window (docs/API.md, "The fair-start window"). In an fcfs round whose meta
-- carries `fs_end`, a student's select that arrives before it, or after it while held selects
-- are still undecided, is not decided on arrival: it is kept in the round's slot and decided
-- later by the window's one decider (selection/fair_start.py), through select.lua itself.
-- Its keys (quota/keys.py): the window's hash (`n` arrivals, `done`, the decider's `lease` and
-- its `until`), the held requests (ticket -> request), the outcomes (ticket -> the reply) and
-- the count of each student's requests held in the window (which pass each one belongs to).

-- Set when this call decides a held request: its ticket and the keys its outcome goes to.
local HELD = nil

-- The decider's call: only the lease's holder decides, and each held request once. Returns nil
-- to go on deciding, or the reply that ends the call (nothing decided).
local function take_held(k_fs, k_req, k_out, ticket, lease, now)
  if lease == '' then return nil end
  local holder = redis.call('HMGET', k_fs, 'lease', 'until')
  if holder[1] ~= lease or tonumber(holder[2] or '0') <= now then return {'err', 'lease_lost', '{}'} end
  local request = redis.call('HGET', k_req, ticket)
  if not request then return {'gone'} end
  HELD = {ticket = ticket, fs = k_fs, req = k_req, out = k_out, at = tonumber(cjson.decode(request)['at'])}
  return nil
end

-- A student's select arriving now: held, or nil to decide it at once. A request held after the
-- window's end (k = 0) is decided after every pass, in arrival order: it never overtakes them.
local function hold(meta, now, k_fs, k_req, k_count, ticket, request)
  local ends = tonumber(meta['fs_end'] or '')
  if ends == nil then return nil end
  if now >= ends and (redis.call('EXISTS', k_fs) == 0 or redis.call('HGET', k_fs, 'done') == '1') then
    return nil
  end
  request['n'] = redis.call('HINCRBY', k_fs, 'n', 1)
  request['k'] = 0
  if now < ends then request['k'] = redis.call('HINCRBY', k_count, request['student'], 1) end
  request['at'] = int(now)
  redis.call('HSET', k_req, ticket, cjson.encode(request))
  return {'held', ticket, int(ends)}
end

-- A decided held request leaves the held ones and its reply is kept for whoever waits for it,
-- in the same atomic step as the decision: a decider that dies after it cannot decide it again.
-- A call that decided nothing keeps it held, and gives up the lease, so that the rest of the
-- decider's batch decides nothing either (the order of the passes holds across a takeover).
local settle_claim = settle
local function settle(reply)
  if HELD and reply[1] ~= 'gone' then
    if reply[1] == 'err' and (reply[2] == 'unavailable' or reply[2] == 'lease_lost') then
      redis.call('HDEL', HELD.fs, 'lease', 'until')
    else
      redis.call('HDEL', HELD.req, HELD.ticket)
      redis.call('HSET', HELD.out, HELD.ticket, cjson.encode(reply))
    end
  end
  return settle_claim(reply)
end
