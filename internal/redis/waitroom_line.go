package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/waitroom"
)

// The line as the inventory-aware admission sees it: who is active, who
// is still waiting (in line order), and the sold-out mark.

// activeScript: KEYS active, tickets; ARGV now_ms. Returns, for each
// admission that runs past now, its user, when it lapses and when it was
// given (from the user's ticket, "number:joined:admitted:until"; 0 when
// the ticket is gone).
var activeScript = goredis.NewScript(`
local out = {}
for i, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')) do
  if i % 2 == 1 then
    out[#out + 1] = user
  else
    out[#out + 1] = user
    local t = redis.call('HGET', KEYS[2], out[#out - 1])
    local at = 0
    if t then
      local f = {}
      for x in string.gmatch(t, '[^:]+') do f[#f + 1] = x end
      at = f[3] or 0
    end
    out[#out + 1] = at
  end
end
return out
`)

// ActiveAdmissions implements waitroom.Queue: one ZRANGEBYSCORE over the
// admissions that run past now (at most max_active of them), scored by
// when each lapses; withStart, one script that reads their tickets too.
func (w *WaitingRooms) ActiveAdmissions(ctx context.Context, eventID uuid.UUID, now time.Time, withStart bool) ([]waitroom.Admission, error) {
	k := keysOf(eventID)
	var res []string
	var err error
	if withStart {
		res, err = activeScript.Run(ctx, w.rdb, []string{k.active, k.tickets}, now.UnixMilli()).StringSlice()
	} else {
		var members []goredis.Z
		members, err = w.rdb.ZRangeByScoreWithScores(ctx, k.active, &goredis.ZRangeBy{
			Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf",
		}).Result()
		for _, m := range members {
			res = append(res, fmt.Sprint(m.Member), strconv.FormatFloat(m.Score, 'f', -1, 64), "0")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read active admissions event=%s: %w", eventID, err)
	}
	out := make([]waitroom.Admission, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		u, err := uuid.Parse(res[i])
		until, err2 := strconv.ParseFloat(res[i+1], 64)
		at, err3 := strconv.ParseInt(res[i+2], 10, 64)
		if err != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("waiting room event=%s: malformed admission %q", eventID, res[i:i+3])
		}
		a := waitroom.Admission{UserID: u, Until: time.UnixMilli(int64(until)).UTC()}
		if at > 0 {
			a.At = time.UnixMilli(at).UTC()
		}
		out = append(out, a)
	}
	return out, nil
}

// waitersScript: KEYS room, tickets, numbers, pre. Returns the users still
// waiting in number order: the open pre-queue's members past serving, then
// the numbered users past serving. A room that has not opened has nobody
// waiting in line (its pre-queue is not placed yet).
var waitersScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'opened') == 0 then return {} end
local st = redis.call('HMGET', KEYS[1], 'serving', 'prebase', 'pre')
local serving, prebase, pre = tonumber(st[1]) or 0, tonumber(st[2]) or 0, tonumber(st[3]) or 0
local out = {}
local function add(n, user)
  local t = redis.call('HGET', KEYS[2], user)
  if t then out[#out + 1] = {n, user} end
end
if serving < prebase + pre then
  local from = math.max(serving, prebase) - prebase
  for i, user in ipairs(redis.call('ZRANGE', KEYS[4], from, pre - 1)) do
    local t = redis.call('HGET', KEYS[2], user)
    if t and string.sub(t, 1, 2) == '0:' then out[#out + 1] = {prebase + from + i, user} end
  end
end
local kv = redis.call('HGETALL', KEYS[3])
for i = 1, #kv, 2 do
  local n = tonumber(kv[i])
  if n > serving then add(n, kv[i + 1]) end
end
table.sort(out, function(a, b) return a[1] < b[1] end)
local users = {}
for i, e in ipairs(out) do users[i] = e[2] end
return users
`)

// Waiters implements waitroom.Queue. It walks every waiting ticket, so it
// runs once per sell-out, not per poll.
func (w *WaitingRooms) Waiters(ctx context.Context, eventID uuid.UUID) ([]uuid.UUID, error) {
	k := keysOf(eventID)
	members, err := waitersScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.pre}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("list waiting users event=%s: %w", eventID, err)
	}
	return parseUsers(eventID, members)
}

// ToldSoldOut implements waitroom.Queue.
func (w *WaitingRooms) ToldSoldOut(ctx context.Context, eventID uuid.UUID) error {
	if err := w.rdb.HSet(ctx, keysOf(eventID).room, "told", 1).Err(); err != nil {
		return fmt.Errorf("record sold-out notices event=%s: %w", eventID, err)
	}
	return nil
}

func parseUsers(eventID uuid.UUID, members []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(members))
	for i, m := range members {
		u, err := uuid.Parse(m)
		if err != nil {
			return nil, fmt.Errorf("waiting room event=%s: malformed user %q", eventID, m)
		}
		out[i] = u
	}
	return out, nil
}

// capacityArg is the admit script's capacity: -1 when the policy has none.
func capacityArg(p waitroom.Policy) int64 {
	if !p.Capped {
		return -1
	}
	return max(0, p.Capacity)
}
