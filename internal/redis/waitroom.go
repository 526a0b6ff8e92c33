package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/waitroom"
)

// WaitingRooms keeps the virtual waiting rooms. Each event's room is six
// keys sharing the hash tag {<event>} (one Redis Cluster slot), so that
// every script below is atomic on one slot:
//
//	waitroom:{E}          hash: next (ticket counter), serving, waiting,
//	                      total (admitted so far), units and at (the
//	                      admission token bucket and when it was filled)
//	waitroom:{E}:tickets  hash: user → "number:joined_ms", with
//	                      ":admitted_ms:until_ms" appended on admission
//	waitroom:{E}:numbers  hash: number → user, for numbers still waiting
//	waitroom:{E}:active   sorted set: admitted users scored by admission
//	                      expiry (ms), trimmed as they lapse
//	waitroom:{E}:window   sorted set: the last minute's admission batches
//	                      ("serving:count" scored by time)
//	waitroom:{E}:chain    string "chain:step": the admission chain that
//	                      holds the room and the step it expects next,
//	                      with a lease TTL
//
// A poll reads two hash fields and the booking check one sorted-set score:
// O(1) whatever the length of the queue.
type WaitingRooms struct {
	rdb *goredis.Client
}

var _ waitroom.Queue = (*WaitingRooms)(nil)

// NewWaitingRooms returns the waiting rooms on rdb.
func NewWaitingRooms(rdb *goredis.Client) *WaitingRooms { return &WaitingRooms{rdb: rdb} }

const (
	// chainLease is how long an admission chain holds a room without
	// running. It must exceed the pause between runs (1s admitting, 5s
	// idle) plus asynq's forwarding delay; when a chain dies (a crash
	// lost its task) the room is free again this long after its last run,
	// and the next join or re-arm starts a new chain.
	chainLease = 30 * time.Second
	// roomKeep is how long a room's keys outlive its last join or
	// admission run.
	roomKeep = 7 * 24 * time.Hour
	// maxWalk bounds the numbers one admission run steps over (numbers of
	// users who left are skipped without using up the rate).
	maxWalk = 10_000
)

type roomKeys struct {
	room, tickets, numbers, active, window, chain string
}

func keysOf(eventID uuid.UUID) roomKeys {
	p := "waitroom:{" + eventID.String() + "}"
	return roomKeys{
		room:    p,
		tickets: p + ":tickets",
		numbers: p + ":numbers",
		active:  p + ":active",
		window:  p + ":window",
		chain:   p + ":chain",
	}
}

// luaFields splits a ticket "a:b:c:d" into numbers.
const luaFields = `
local function fields(s)
  local out = {}
  for f in string.gmatch(s, '[^:]+') do out[#out + 1] = tonumber(f) end
  return out
end
`

// joinScript: KEYS room, tickets, numbers, active, chain; ARGV user,
// now_ms, chain id, lease_ms, keep_ms. Returns {ticket, serving, armed}.
var joinScript = goredis.NewScript(luaFields + `
local now = tonumber(ARGV[2])
local serving = tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0
local t = redis.call('HGET', KEYS[2], ARGV[1])
if t then
  local f = fields(t)
  if f[1] <= serving then
    if f[4] and f[4] > now then return {t, serving, 0} end
    -- the admission lapsed: queue again at the back
    redis.call('ZREM', KEYS[4], ARGV[1])
    t = false
  end
end
if not t then
  local n = redis.call('HINCRBY', KEYS[1], 'next', 1)
  t = n .. ':' .. ARGV[2]
  redis.call('HSET', KEYS[2], ARGV[1], t)
  redis.call('HSET', KEYS[3], n, ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'waiting', 1)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
end
local armed = 0
if redis.call('SET', KEYS[5], ARGV[3] .. ':0', 'NX', 'PX', ARGV[4]) then armed = 1 end
return {t, serving, armed}
`)

// placeScript: KEYS room, tickets; ARGV user. Returns {ticket, serving}
// or nil.
var placeScript = goredis.NewScript(`
local t = redis.call('HGET', KEYS[2], ARGV[1])
if not t then return false end
return {t, tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0}
`)

// leaveScript: KEYS room, tickets, numbers, active; ARGV user.
var leaveScript = goredis.NewScript(`
local t = redis.call('HGET', KEYS[2], ARGV[1])
if not t then return 0 end
local n = tonumber(string.match(t, '^(%d+)'))
if n > (tonumber(redis.call('HGET', KEYS[1], 'serving')) or 0) then
  redis.call('HDEL', KEYS[3], n)
  redis.call('HINCRBY', KEYS[1], 'waiting', -1)
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// admitScript runs one admission step. KEYS room, tickets, numbers,
// active, window, chain. ARGV now_ms, chain id, step, lease_ms, keep_ms,
// paused (1|0), admit_per_minute, max_active (0: no cap),
// admission_ttl_ms, burst (admissions), start (admissions), max walk.
// Returns {outcome, admitted, waiting, active, total, last_minute,
// released}; outcome 0 ran, 1 already ran, 2 stale.
//
// The token bucket counts in units of 1/60,000 admission, so that filling
// it at admit_per_minute units per millisecond stays in integers.
//
// The step fences the chain: the chain key holds the step it expects, a
// run of an older step or of another chain is stale, and a run of the
// step just done is a retry that only needs its successor scheduled. When
// the key has lapsed (the chain stalled or its task was lost), the run
// takes the room back.
var admitScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local step = tonumber(ARGV[3])
local holder = redis.call('GET', KEYS[6])
if holder then
  local id, s = string.match(holder, '^(.+):(%d+)$')
  s = tonumber(s)
  if id ~= ARGV[2] or (s ~= step and s ~= step + 1) then return {2} end
  if s == step + 1 then return {1} end
end
local st = redis.call('HMGET', KEYS[1], 'next', 'serving', 'waiting', 'total', 'units', 'at')
local nxt = tonumber(st[1]) or 0
local serving = tonumber(st[2]) or 0
local waiting = tonumber(st[3]) or 0
local total = tonumber(st[4]) or 0
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 60000)
local active = redis.call('ZCARD', KEYS[4])
local recent = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  recent = recent + tonumber(string.match(m, ':(%d+)$'))
end
local admitted = 0
if ARGV[6] == '0' then
  local apm = tonumber(ARGV[7])
  local unit = 60000
  local units, at = tonumber(st[5]), tonumber(st[6])
  if step == 0 or units == nil then
    units, at = tonumber(ARGV[11]) * unit, now
  elseif now > at then
    units, at = math.min(tonumber(ARGV[10]) * unit, units + (now - at) * apm), now
  end
  local budget = math.min(math.floor(units / unit), apm - recent, waiting)
  local maxActive = tonumber(ARGV[8])
  if maxActive > 0 then budget = math.min(budget, maxActive - active) end
  local untilMs = now + tonumber(ARGV[9])
  local walked, limit = 0, tonumber(ARGV[12])
  while admitted < budget and serving < nxt and walked < limit do
    serving = serving + 1
    walked = walked + 1
    local user = redis.call('HGET', KEYS[3], serving)
    if user then
      redis.call('HDEL', KEYS[3], serving)
      local t = redis.call('HGET', KEYS[2], user)
      if t then
        redis.call('HSET', KEYS[2], user, t .. ':' .. now .. ':' .. untilMs)
        redis.call('ZADD', KEYS[4], untilMs, user)
        admitted = admitted + 1
      end
    end
  end
  units = units - admitted * unit
  waiting, total = waiting - admitted, total + admitted
  active, recent = active + admitted, recent + admitted
  redis.call('HSET', KEYS[1], 'serving', serving, 'waiting', waiting, 'total', total, 'units', units, 'at', at)
  if admitted > 0 then redis.call('ZADD', KEYS[5], now, serving .. ':' .. admitted) end
end
local released = 0
if waiting > 0 then
  redis.call('SET', KEYS[6], ARGV[2] .. ':' .. (step + 1), 'PX', ARGV[4])
else
  redis.call('DEL', KEYS[6])
  released = 1
end
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return {0, admitted, waiting, active, total, recent, released}
`)

// armScript: KEYS room, chain; ARGV chain id, lease_ms. Hands the room to
// the chain when someone waits and no chain holds it.
var armScript = goredis.NewScript(`
if (tonumber(redis.call('HGET', KEYS[1], 'waiting')) or 0) <= 0 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1] .. ':0', 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`)

// releaseChainScript: KEYS chain; ARGV chain id. Deletes the chain key if that
// chain holds it.
var releaseChainScript = goredis.NewScript(`
local h = redis.call('GET', KEYS[1])
if h and string.sub(h, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then return redis.call('DEL', KEYS[1]) end
return 0
`)

// countsScript: KEYS room, active, window; ARGV now_ms. Returns {waiting,
// active, total, last_minute}.
var countsScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'waiting', 'total')
local active = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf')
local recent = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (now - 60000), '+inf')) do
  recent = recent + tonumber(string.match(m, ':(%d+)$'))
end
return {tonumber(st[1]) or 0, active, tonumber(st[2]) or 0, recent}
`)

// Join implements waitroom.Queue.
func (w *WaitingRooms) Join(ctx context.Context, eventID, userID uuid.UUID, now time.Time, chain string) (waitroom.Place, bool, error) {
	k := keysOf(eventID)
	res, err := joinScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.active, k.chain},
		userID.String(), now.UnixMilli(), chain, chainLease.Milliseconds(), roomKeep.Milliseconds()).Slice()
	if err != nil {
		return waitroom.Place{}, false, fmt.Errorf("join waiting room event=%s: %w", eventID, err)
	}
	p, err := placeOf(res)
	if err != nil {
		return waitroom.Place{}, false, fmt.Errorf("join waiting room event=%s: %w", eventID, err)
	}
	return p, res[2].(int64) == 1, nil
}

// Place implements waitroom.Queue.
func (w *WaitingRooms) Place(ctx context.Context, eventID, userID uuid.UUID) (waitroom.Place, bool, error) {
	k := keysOf(eventID)
	res, err := placeScript.Run(ctx, w.rdb, []string{k.room, k.tickets}, userID.String()).Slice()
	if errors.Is(err, goredis.Nil) {
		return waitroom.Place{}, false, nil
	}
	if err == nil {
		var p waitroom.Place
		if p, err = placeOf(res); err == nil {
			return p, true, nil
		}
	}
	return waitroom.Place{}, false, fmt.Errorf("read waiting room ticket event=%s: %w", eventID, err)
}

// Leave implements waitroom.Queue.
func (w *WaitingRooms) Leave(ctx context.Context, eventID, userID uuid.UUID) error {
	k := keysOf(eventID)
	if err := leaveScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.active}, userID.String()).Err(); err != nil {
		return fmt.Errorf("leave waiting room event=%s: %w", eventID, err)
	}
	return nil
}

// Admitted implements waitroom.Queue (and so booking.Admission): one
// ZSCORE.
func (w *WaitingRooms) Admitted(ctx context.Context, eventID, userID uuid.UUID, now time.Time) (bool, error) {
	until, err := w.rdb.ZScore(ctx, keysOf(eventID).active, userID.String()).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check admission event=%s: %w", eventID, err)
	}
	return int64(until) > now.UnixMilli(), nil
}

// Admit implements waitroom.Queue.
func (w *WaitingRooms) Admit(ctx context.Context, run waitroom.Run, p waitroom.Policy, now time.Time) (waitroom.Batch, error) {
	k := keysOf(run.EventID)
	paused := 0
	if p.Paused {
		paused = 1
	}
	res, err := admitScript.Run(ctx, w.rdb, []string{k.room, k.tickets, k.numbers, k.active, k.window, k.chain},
		now.UnixMilli(), run.Chain, run.Step, chainLease.Milliseconds(), roomKeep.Milliseconds(),
		paused, p.AdmitPerMinute, p.MaxActive, p.AdmissionTTL.Milliseconds(), p.Burst, p.Start, maxWalk,
	).Int64Slice()
	if err != nil {
		return waitroom.Batch{}, fmt.Errorf("admit event=%s chain=%s step=%d: %w", run.EventID, run.Chain, run.Step, err)
	}
	switch res[0] {
	case 1:
		return waitroom.Batch{Outcome: waitroom.AlreadyRan}, nil
	case 2:
		return waitroom.Batch{Outcome: waitroom.Stale}, nil
	}
	return waitroom.Batch{
		Outcome:  waitroom.Ran,
		Admitted: res[1],
		Counts:   waitroom.Counts{Waiting: res[2], Active: res[3], AdmittedTotal: res[4], AdmittedLastMinute: res[5]},
		Released: res[6] == 1,
	}, nil
}

// Arm implements waitroom.Queue.
func (w *WaitingRooms) Arm(ctx context.Context, eventID uuid.UUID, chain string) (bool, error) {
	k := keysOf(eventID)
	n, err := armScript.Run(ctx, w.rdb, []string{k.room, k.chain}, chain, chainLease.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("arm waiting room event=%s: %w", eventID, err)
	}
	return n == 1, nil
}

// Release implements waitroom.Queue.
func (w *WaitingRooms) Release(ctx context.Context, eventID uuid.UUID, chain string) error {
	if err := releaseChainScript.Run(ctx, w.rdb, []string{keysOf(eventID).chain}, chain).Err(); err != nil {
		return fmt.Errorf("release waiting room event=%s chain=%s: %w", eventID, chain, err)
	}
	return nil
}

// Counts implements waitroom.Queue.
func (w *WaitingRooms) Counts(ctx context.Context, eventID uuid.UUID, now time.Time) (waitroom.Counts, error) {
	k := keysOf(eventID)
	res, err := countsScript.Run(ctx, w.rdb, []string{k.room, k.active, k.window}, now.UnixMilli()).Int64Slice()
	if err != nil {
		return waitroom.Counts{}, fmt.Errorf("waiting room counts event=%s: %w", eventID, err)
	}
	return waitroom.Counts{Waiting: res[0], Active: res[1], AdmittedTotal: res[2], AdmittedLastMinute: res[3]}, nil
}

// placeOf decodes {ticket, serving}: a ticket is "number:joined_ms" or,
// once admitted, "number:joined_ms:admitted_ms:until_ms".
func placeOf(res []any) (waitroom.Place, error) {
	if len(res) < 2 {
		return waitroom.Place{}, fmt.Errorf("unexpected reply %v", res)
	}
	raw, _ := res[0].(string)
	serving, _ := res[1].(int64)
	parts := strings.Split(raw, ":")
	if len(parts) != 2 && len(parts) != 4 {
		return waitroom.Place{}, fmt.Errorf("malformed ticket %q", raw)
	}
	nums := make([]int64, len(parts))
	for i, s := range parts {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return waitroom.Place{}, fmt.Errorf("malformed ticket %q", raw)
		}
		nums[i] = n
	}
	p := waitroom.Place{Number: nums[0], Serving: serving, JoinedAt: time.UnixMilli(nums[1]).UTC()}
	if len(nums) == 4 {
		at, until := time.UnixMilli(nums[2]).UTC(), time.UnixMilli(nums[3]).UTC()
		p.AdmittedAt, p.AdmittedUntil = &at, &until
	}
	return p, nil
}
